/**
 * The chunked transfer coding (RFC 9112 §7.1), decoded incrementally. One piece shared by the
 * request parser (server side) and the response parser (load generator side).
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*HEXDIG
 *   last-chunk     = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-val  = token / quoted-string
 *
 * Each byte is handled once: the size line is consumed as it is read (its state is a few
 * numbers), chunk data goes to a BodyBuffer without being looked at, and only a trailer line
 * cut short by the end of the input stays unconsumed, with the scanner remembering how far it
 * got.
 *
 * Limits on what a peer controls, beyond the size line's own (MAX_CHUNK_LINE_BYTES):
 * - the body on the wire, framing included, may take at most maxBodyBytes plus one size
 *   line's worth (so that an empty body "0\r\n" fits under a zero limit). Counting only the
 *   decoded bytes let 1-byte chunks ("1\r\nx\r\n") send six bytes per byte of limit, and
 *   make the recipient do per-chunk work a million times per megabyte (issue 14);
 * - memory: the data is coalesced (BodyBuffer), never one view per chunk;
 * - trailers: fields that decide framing, routing or the connection (Content-Length,
 *   Transfer-Encoding, Host, ...) are refused there (RFC 9110 §6.5.1: they "cannot be
 *   processed outside the header section"), so nothing downstream can merge them.
 */
import type { BodyBuffer } from './body-buffer.js';
import { CH, HEX_VALUE, NOT_HEX, OWS, QDTEXT, QUOTED_PAIR, TOKEN } from './byte-tables.js';
import { HTTP_ERROR, MAX_CHUNK_LINE_BYTES, type HttpErrorCode } from './constants.js';
import { asciiBytes, decodeFieldSection, equalsLowercaseToken, FieldLineScanner, LINE } from './field-lines.js';

const STATE = {
  /** Expecting the first hex digit of a chunk-size. */
  SIZE_START: 0,
  SIZE: 1,
  /** After BWS that followed the size or an extension: only ";" (or "=" after a name) may come. */
  EXT_BWS: 2,
  /** After ";" and optional BWS: the extension name must start. */
  EXT_NAME_START: 3,
  EXT_NAME: 4,
  /** After "=" and optional BWS: a token or a quoted-string must start. */
  EXT_VALUE_START: 5,
  EXT_VALUE_TOKEN: 6,
  EXT_QUOTED: 7,
  EXT_QUOTED_PAIR: 8,
  /** After the closing quote of a quoted-string value. */
  EXT_AFTER_QUOTED: 9,
  /** After the CR that ends the size line. Every state before this one is inside a size line. */
  SIZE_LF: 10,
  DATA: 11,
  /** After chunk data: CR then LF. */
  DATA_CR: 12,
  DATA_LF: 13,
  TRAILERS: 14,
  DONE: 15,
  ERROR: 16,
} as const;
type State = (typeof STATE)[keyof typeof STATE];

/** Largest size before another hex digit could pass Number.MAX_SAFE_INTEGER (2^49 - 1). */
const CHUNK_SIZE_GUARD = Math.floor(Number.MAX_SAFE_INTEGER / 16);

/**
 * Fields refused in a trailer section: framing (Content-Length, Transfer-Encoding, TE,
 * Trailer), routing (Host), the connection (Connection, Keep-Alive, Upgrade) and request
 * modifiers acted on before the content (Expect). RFC 9110 §6.5.1 lists these kinds as ones
 * that "cannot be processed outside the header section"; §6.5.2 forbids merging them into it.
 */
const FORBIDDEN_TRAILERS = ['content-length', 'transfer-encoding', 'host', 'te', 'trailer', 'connection', 'keep-alive', 'upgrade', 'expect'].map(asciiBytes);

function isForbiddenTrailer(buf: Uint8Array, lineStart: number, nameLength: number): boolean {
  for (const name of FORBIDDEN_TRAILERS) {
    if (name.length === nameLength && equalsLowercaseToken(buf, lineStart, name)) return true;
  }
  return false;
}

export interface ChunkedBudget {
  /**
   * Decoded body bytes allowed in total → HPE_BODY_TOO_LARGE; the body on the wire (size
   * lines and CRLFs included) may take this plus MAX_CHUNK_LINE_BYTES. Infinity for none.
   */
  maxBodyBytes: number;
  /** Bytes the trailer section may take (what is left of the head budget) → HPE_HEADER_OVERFLOW. */
  maxTrailerBytes: number;
  /** Trailer field lines allowed (what is left of the header count) → HPE_TOO_MANY_HEADERS. */
  maxTrailers: number;
}

export class ChunkedDecoder {
  private state: State = STATE.SIZE_START;
  /** Bytes of chunk data still to come in the current chunk. */
  private remaining = 0;
  /** Bytes of the current size line so far, to bound extensions. */
  private lineBytes = 0;
  /** A ";" on this size line has started the extensions. */
  private inExtensions = false;
  /** The last BWS run may be followed by "=" (it came right after an extension name). */
  private bwsAfterName = false;
  /** Where chunk data goes; null: counted only. */
  private body: BodyBuffer | null = null;
  private budget: ChunkedBudget = { maxBodyBytes: Infinity, maxTrailerBytes: Infinity, maxTrailers: Infinity };
  /** Bytes of the body on the wire so far (framing and data, trailers apart), and their cap. */
  private wireBytes = 0;
  private maxWireBytes = Infinity;
  private readonly lines = new FieldLineScanner();
  private trailerBytes = 0;
  private trailerCount = 0;

  /** Decoded body bytes so far. */
  decodedBytes = 0;
  /** Trailer fields, flat [name, value, ...], once done; null when there were none or not kept. */
  trailers: string[] | null = null;
  error: HttpErrorCode | null = null;

  /** Prepare for a new chunked body; its data goes to `body` (reset by the caller), or is only counted. */
  start(body: BodyBuffer | null, budget: ChunkedBudget): void {
    this.state = STATE.SIZE_START;
    this.remaining = 0;
    this.lineBytes = 0;
    this.inExtensions = false;
    this.bwsAfterName = false;
    this.body = body;
    this.budget = budget;
    this.wireBytes = 0;
    this.maxWireBytes = budget.maxBodyBytes + MAX_CHUNK_LINE_BYTES;
    this.lines.reset();
    this.trailerBytes = 0;
    this.trailerCount = 0;
    this.decodedBytes = 0;
    this.trailers = null;
    this.error = null;
  }

  get done(): boolean {
    return this.state === STATE.DONE;
  }

  /**
   * Decode from buf[pos, end). Returns the position up to which the input is consumed: at the
   * end of the body when `done`, at `end` or at the start of an unfinished trailer line when
   * more input is needed, anywhere when `error` is set.
   */
  decode(buf: Buffer, pos: number, end: number): number {
    let i = pos;
    let state = this.state;
    while (i < end) {
      if (state < STATE.SIZE_LF) {
        // Inside a size line, which is consumed as it is read: bound it (RFC 9112 §7.1.1).
        if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) return this.fail(HTTP_ERROR.CHUNK_EXTENSIONS_OVERFLOW, i);
        if (++this.wireBytes > this.maxWireBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE, i);
      }
      const b = buf[i] as number;
      switch (state) {
        case STATE.SIZE_START:
        case STATE.SIZE: {
          const digit = HEX_VALUE[b] as number;
          if (digit !== NOT_HEX) {
            if (this.remaining > CHUNK_SIZE_GUARD) return this.fail(HTTP_ERROR.INVALID_CHUNK_SIZE, i);
            this.remaining = this.remaining * 16 + digit;
            // More digits only make the size larger, so the body limits can be applied now.
            if (this.decodedBytes + this.remaining > this.budget.maxBodyBytes || this.wireBytes + this.remaining > this.maxWireBytes) {
              return this.fail(HTTP_ERROR.BODY_TOO_LARGE, i);
            }
            state = STATE.SIZE;
          } else {
            state = state === STATE.SIZE ? this.stateAfterWord(b, false) : STATE.ERROR;
            if (state === STATE.ERROR) return this.fail(HTTP_ERROR.INVALID_CHUNK_SIZE, i);
          }
          i++;
          break;
        }
        case STATE.EXT_BWS: {
          if (b === CH.SEMICOLON) state = STATE.EXT_NAME_START;
          else if (b === CH.EQUALS && this.bwsAfterName) state = STATE.EXT_VALUE_START;
          else if (OWS[b] !== 1) {
            // BWS may only come before ";" or "=" (RFC 9112 §7.1.1): "5 \r\n" and "5 x" are
            // malformed. Before the first ";" that is a bad size, after it a bad extension.
            return this.fail(this.inExtensions ? HTTP_ERROR.INVALID_CHUNK_EXTENSION : HTTP_ERROR.INVALID_CHUNK_SIZE, i);
          }
          i++;
          break;
        }
        case STATE.EXT_NAME_START: {
          this.inExtensions = true;
          if (TOKEN[b] === 1) state = STATE.EXT_NAME;
          else if (OWS[b] !== 1) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          i++;
          break;
        }
        case STATE.EXT_NAME:
        case STATE.EXT_VALUE_TOKEN: {
          if (TOKEN[b] !== 1) {
            state = this.stateAfterWord(b, state === STATE.EXT_NAME);
            if (state === STATE.ERROR) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          }
          i++;
          break;
        }
        case STATE.EXT_VALUE_START: {
          if (TOKEN[b] === 1) state = STATE.EXT_VALUE_TOKEN;
          else if (b === CH.QUOTE) state = STATE.EXT_QUOTED;
          else if (OWS[b] !== 1) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          i++;
          break;
        }
        case STATE.EXT_QUOTED: {
          if (b === CH.BACKSLASH) state = STATE.EXT_QUOTED_PAIR;
          else if (b === CH.QUOTE) state = STATE.EXT_AFTER_QUOTED;
          else if (QDTEXT[b] !== 1) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          i++;
          break;
        }
        case STATE.EXT_QUOTED_PAIR: {
          if (QUOTED_PAIR[b] !== 1) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          state = STATE.EXT_QUOTED;
          i++;
          break;
        }
        case STATE.EXT_AFTER_QUOTED: {
          // A closing quote may be followed by what follows a value, but not by more token bytes.
          state = this.stateAfterWord(b, false);
          if (state === STATE.ERROR) return this.fail(HTTP_ERROR.INVALID_CHUNK_EXTENSION, i);
          i++;
          break;
        }
        case STATE.SIZE_LF: {
          // RFC 9112 §7.1: the size line ends with CRLF; a bare CR is not a line ending.
          if (b !== CH.LF) return this.fail(HTTP_ERROR.LF_EXPECTED, i);
          if (++this.wireBytes > this.maxWireBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE, i);
          i++;
          this.lineBytes = 0;
          this.inExtensions = false;
          if (this.remaining === 0) {
            this.lines.reset();
            state = STATE.TRAILERS;
          } else state = STATE.DATA;
          break;
        }
        case STATE.DATA: {
          const take = Math.min(end - i, this.remaining);
          if (this.body !== null) this.body.append(buf, i, i + take);
          this.decodedBytes += take;
          this.wireBytes += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) state = STATE.DATA_CR;
          break;
        }
        case STATE.DATA_CR: {
          // RFC 9112 §7.1: chunk-data is followed by CRLF; anything else means the size lied.
          if (b !== CH.CR) return this.fail(HTTP_ERROR.CR_EXPECTED, i);
          if (++this.wireBytes > this.maxWireBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE, i);
          state = STATE.DATA_LF;
          i++;
          break;
        }
        case STATE.DATA_LF: {
          if (b !== CH.LF) return this.fail(HTTP_ERROR.LF_EXPECTED, i);
          if (++this.wireBytes > this.maxWireBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE, i);
          state = STATE.SIZE_START;
          i++;
          break;
        }
        case STATE.TRAILERS: {
          this.state = state;
          return this.decodeTrailers(buf, i, end);
        }
        case STATE.DONE:
        case STATE.ERROR: {
          this.state = state;
          return i;
        }
      }
    }
    this.state = state;
    return i;
  }

  /** The state after the byte that ends a chunk-size, an extension name or an extension value. */
  private stateAfterWord(b: number, afterName: boolean): State {
    if (b === CH.CR) return STATE.SIZE_LF;
    if (b === CH.SEMICOLON) return STATE.EXT_NAME_START;
    if (afterName && b === CH.EQUALS) return STATE.EXT_VALUE_START;
    if (OWS[b] === 1) {
      this.bwsAfterName = afterName;
      return STATE.EXT_BWS;
    }
    return STATE.ERROR;
  }

  /** trailer-section = *( field-line CRLF ), then the CRLF that ends the body (RFC 9112 §7.1.2). */
  private decodeTrailers(buf: Buffer, pos: number, end: number): number {
    let lineStart = pos;
    for (;;) {
      const budgetEnd = lineStart + (this.budget.maxTrailerBytes - this.trailerBytes);
      const scanEnd = Math.min(budgetEnd, end);
      const step = this.lines.scan(buf, lineStart, scanEnd);
      if (step === LINE.NEED_MORE) {
        if (scanEnd === budgetEnd && budgetEnd <= end) return this.fail(HTTP_ERROR.HEADER_OVERFLOW, lineStart);
        return lineStart;
      }
      if (step === LINE.ERROR) return this.fail(this.lines.error as HttpErrorCode, lineStart);
      const lineEnd = lineStart + this.lines.lineLength;
      this.trailerBytes += this.lines.lineLength;
      if (step === LINE.END) {
        this.state = STATE.DONE;
        return lineEnd;
      }
      if (++this.trailerCount > this.budget.maxTrailers) return this.fail(HTTP_ERROR.TOO_MANY_HEADERS, lineStart);
      if (isForbiddenTrailer(buf, lineStart, this.lines.nameEnd)) return this.fail(HTTP_ERROR.FORBIDDEN_TRAILER, lineStart);
      if (this.body !== null) {
        // Trailers are rare: decode each line now rather than keep its bytes around.
        const fields = decodeFieldSection(buf, lineStart, lineEnd);
        if (this.trailers === null) this.trailers = fields;
        else this.trailers.push(...fields);
      }
      lineStart = lineEnd;
    }
  }

  private fail(code: HttpErrorCode, at: number): number {
    this.error = code;
    this.state = STATE.ERROR;
    return at;
  }
}
