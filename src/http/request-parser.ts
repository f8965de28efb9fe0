/**
 * An incremental HTTP/1.1 request parser: bytes in (as they come off the socket), requests or
 * an error code out. Pure: no sockets, no timers, no I/O, and it never throws on bad input.
 *
 *   parser.feed(chunk);
 *   for (let step = parser.next(); step !== PARSE.NEED_MORE; step = parser.next()) {
 *     if (step === PARSE.HEAD) ...      // request line and headers parsed: parser.request
 *     else if (step === PARSE.MESSAGE) ... // body complete too (pipelined requests follow in order)
 *     else { answer(parser.error); break } // ERROR is terminal
 *   }
 *
 * How it stays fast (httparse and undici are the models):
 * - Offsets, not copies. The head is parsed in place; a body that lies inside one chunk is a
 *   subarray of it. Bytes are copied only to join a head split across chunks (InputBuffer).
 * - Resumable. Each stage remembers how far it got, so a head fed one byte at a time is still
 *   read once, not rescanned on every call.
 * - Few allocations: per request, the request object and the target string. The method is an
 *   interned constant; header names and values are decoded only when asked for (`headers`,
 *   `header()`), by re-reading the already-validated bytes.
 * - Bytes, not strings: byte tables for the grammar, special headers picked out by the length
 *   of their name before comparing, Content-Length parsed digit by digit.
 *
 * Strict RFC 9112: anything that could make two parsers disagree about where a message ends is
 * an error, never a guess. docs/conformance.md lists where this differs from llhttp, and why.
 */
import { BodyBuffer } from './body-buffer.js';
import { CH, TARGET, TOKEN, SCHEME } from './byte-tables.js';
import { ChunkedDecoder, type ChunkedBudget } from './chunked-decoder.js';
import { DEFAULT_LIMITS, HTTP_ERROR, MAX_LEADING_EMPTY_LINES, PARSE, type HttpErrorCode, type ParseStep, type ParserLimits } from './constants.js';
import { decodeLatin1, equalsLowercaseToken, FieldLineScanner, LazyFieldSection, LINE } from './field-lines.js';
import { CONNECTION_OPTION, isValidAuthorityForm, isValidHostValue, listsContinue, NAME, parseContentLength, readConnectionOptions, TransferCodings } from './framing.js';
import { InputBuffer } from './input-buffer.js';
import { matchMethod, type KnownMethod } from './methods.js';

export { DEFAULT_LIMITS, HTTP_ERROR, PARSE, reasonForError, statusForError } from './constants.js';
export type { HttpErrorCode, ParseStep, ParserLimits } from './constants.js';

export interface HttpRequest {
  /** Known methods only (others are 501), and always the same interned string. */
  method: string;
  /** The request-target as sent (origin-, absolute-, authority- or asterisk-form). */
  target: string;
  /**
   * What to route by: the target's path and query. The same string as `target` except for an
   * absolute-form target ("GET http://h/age?x HTTP/1.1"), whose path and query it is ("/" when
   * the URI has no path): RFC 9112 §3.2.2, a server MUST accept that form.
   */
  path: string;
  versionMinor: 0 | 1;
  /** Flat [name, value, ...]: names as received, values with OWS trimmed, latin1-decoded on first access. */
  headers: readonly string[];
  /** The first value of a header, by lowercase name. */
  header(lowercaseName: string): string | undefined;
  /**
   * The Host header's value; for an absolute-form target, the target's authority instead
   * (RFC 9112 §3.2.2: the recipient MUST ignore the Host field then). null when absent
   * (possible in HTTP/1.0 only).
   */
  host: string | null;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** May the connection carry another request after this one (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** Expect: 100-continue on an HTTP/1.1 request (RFC 9110 §10.1.1; ignored for 1.0). */
  expectContinue: boolean;
  /** The body once MESSAGE is returned; null when it is empty. */
  body: Buffer | null;
  /** Trailer fields of a chunked body, flat like headers; null when none. */
  trailers: readonly string[] | null;
}

/** Policy switches beyond the limits. */
export interface ParserOptions {
  /**
   * Refuse an HTTP/1.1 request without a Host header (RFC 9112 §3.2: MUST, 400). Default true.
   * The llhttp conformance test turns it off to compare everything else on llhttp's cases,
   * most of which have no Host: llhttp leaves this rule to Node's http layer.
   */
  requireHost?: boolean;
}

class ParsedRequest extends LazyFieldSection implements HttpRequest {
  readonly method: KnownMethod;
  readonly target: string;
  path: string;
  readonly versionMinor: 0 | 1;
  contentLength = -1;
  chunked = false;
  keepAlive = true;
  expectContinue = false;
  body: Buffer | null = null;
  trailers: readonly string[] | null = null;
  private hostValue: string | null | undefined = undefined;

  constructor(
    method: KnownMethod,
    target: string,
    versionMinor: 0 | 1,
    source: Buffer,
    fieldsStart: number,
    fieldsEnd: number,
    private readonly hostStart: number,
    private readonly hostEnd: number,
  ) {
    super(source, fieldsStart, fieldsEnd);
    this.method = method;
    this.target = target;
    this.path = target;
    this.versionMinor = versionMinor;
  }

  get host(): string | null {
    if (this.hostValue === undefined) {
      this.hostValue = this.hostStart < 0 ? null : decodeLatin1(this.source, this.hostStart, this.hostEnd);
    }
    return this.hostValue;
  }
}

/** Where the parser is in the stream. */
const PHASE = {
  HEAD: 0,
  BODY_NONE: 1,
  BODY_LENGTH: 2,
  BODY_CHUNKED: 3,
  /** MESSAGE was returned; the next call moves on. */
  DONE: 4,
  /** The last message closed the connection: no request may follow (RFC 9112 §9.6). */
  CLOSED: 5,
  ERROR: 6,
} as const;
type Phase = (typeof PHASE)[keyof typeof PHASE];

/** Where the head parser is, within PHASE.HEAD. */
const HEAD = {
  /** Before the request-line: skipping empty lines (RFC 9112 §2.2). */
  LEADING: 0,
  METHOD: 1,
  TARGET: 2,
  VERSION: 3,
  FIELDS: 4,
} as const;
type HeadState = (typeof HEAD)[keyof typeof HEAD];

/** "HTTP/x.y" */
const VERSION_BYTES = 8;
/** "HTTP/x.y" CRLF */
const VERSION_LINE_BYTES = 10;

/**
 * HTTP/1.0 or HTTP/1.1, given a well-formed version at `v`. Anything else that is well formed
 * gets 505 (RFC 9110 §15.6.6). RFC 9110 §2.5 would let us read a future HTTP/1.2 as 1.1; no
 * such version exists, and refusing it keeps the rule simple: only what we implement.
 */
function isSupportedVersion(buf: Uint8Array, v: number): boolean {
  return buf[v + 5] === 0x31 && (buf[v + 7] === 0x30 || buf[v + 7] === 0x31);
}

export class RequestParser extends InputBuffer {
  /** Set at HEAD, body filled at MESSAGE; null again once the next message starts. */
  request: HttpRequest | null = null;
  /** Set at ERROR, which is terminal. */
  error: HttpErrorCode | null = null;

  private readonly limits: ParserLimits;
  private readonly requireHost: boolean;
  private phase: Phase = PHASE.HEAD;
  private current: ParsedRequest | null = null;

  // Head progress. Offsets are relative to `pos` (the first byte of the request-line, which
  // stays unconsumed until the head is complete), so they survive the bytes being moved.
  private headState: HeadState = HEAD.LEADING;
  private scan = 0;
  private methodEnd = 0;
  private targetEnd = 0;
  private lineStart = 0;
  private fieldsStart = 0;
  private leadingLines = 0;
  private begun = false;
  private method: KnownMethod = 'GET';
  private versionMinor: 0 | 1 = 1;
  /** For an absolute-form target: where its authority starts and ends (relative to pos); -1 otherwise. */
  private authorityStart = -1;
  private authorityEnd = -1;

  // What the header fields said.
  private headerCount = 0;
  private contentLength = -1;
  private hostCount = 0;
  private hostStart = -1;
  private hostEnd = -1;
  private connectionOptions = 0;
  private expectsContinue = false;
  private readonly codings = new TransferCodings();
  private readonly lines = new FieldLineScanner();

  // Body progress.
  private remaining = 0;
  /** Body bytes that came in more than one piece, coalesced (memory bounded by bytes received). */
  private readonly body = new BodyBuffer();
  private readonly chunks = new ChunkedDecoder();
  /** The chunked decoder's budget for the current message; one object, reused. */
  private readonly chunkBudget: ChunkedBudget = { maxBodyBytes: 0, maxTrailerBytes: 0, maxTrailers: 0 };

  constructor(limits: Partial<ParserLimits> = {}, options: ParserOptions = {}) {
    super();
    this.limits = {
      maxHeadBytes: limits.maxHeadBytes ?? DEFAULT_LIMITS.maxHeadBytes,
      maxHeaders: limits.maxHeaders ?? DEFAULT_LIMITS.maxHeaders,
      maxTargetBytes: limits.maxTargetBytes ?? DEFAULT_LIMITS.maxTargetBytes,
      maxBodyBytes: limits.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    };
    this.requireHost = options.requireHost ?? true;
  }

  /**
   * True from the first byte of a message (the request-line; empty lines before it do not
   * count) until the message is complete. False after ERROR: that message will not complete.
   */
  get midMessage(): boolean {
    const phase = this.phase;
    if (phase === PHASE.HEAD) return this.begun || this.messageBytePending();
    if (phase === PHASE.DONE) return this.current?.keepAlive === true && this.messageBytePending();
    return phase === PHASE.BODY_NONE || phase === PHASE.BODY_LENGTH || phase === PHASE.BODY_CHUNKED;
  }

  /**
   * Bytes this parser holds on to: input not yet consumed plus the memory of the body collected
   * so far. Never more than maxHeadBytes + maxBodyBytes once next() has returned NEED_MORE
   * (plus the chunk just fed, before next() runs), and the body part never more than twice
   * the bytes received plus a few hundred, however they were cut: the number to watch for
   * memory per connection.
   */
  get retainedBytes(): number {
    let bytes = this.end - this.pos;
    if (this.phase === PHASE.BODY_LENGTH || this.phase === PHASE.BODY_CHUNKED) bytes += this.body.retainedBytes;
    return bytes;
  }

  /**
   * Lower the body limit of the message whose HEAD was just returned, before calling next()
   * again: a route that reads no body gets 0, so that it is refused with 413 at once instead
   * of buffered up to maxBodyBytes (RFC 9110 §15.5.14). Returns false, with `error` set (ERROR
   * is terminal), when the declared Content-Length is already over it; a chunked body is held
   * to it as it arrives.
   */
  limitBody(maxBytes: number): boolean {
    if (maxBytes >= this.limits.maxBodyBytes) return true;
    if (this.phase === PHASE.BODY_LENGTH) {
      if ((this.current as ParsedRequest).contentLength > maxBytes) {
        this.fail(HTTP_ERROR.BODY_TOO_LARGE);
        return false;
      }
    } else if (this.phase === PHASE.BODY_CHUNKED) {
      // Nothing of the body is decoded yet: start the decoder again under the lower limit.
      this.chunkBudget.maxBodyBytes = maxBytes;
      this.body.reset(maxBytes);
      this.chunks.start(this.body, this.chunkBudget);
    }
    return true;
  }

  private messageBytePending(): boolean {
    if (this.pos >= this.end) return false;
    const b = this.buf[this.pos];
    return b !== CH.CR && b !== CH.LF;
  }

  next(): ParseStep {
    switch (this.phase) {
      case PHASE.HEAD:
        return this.readHead();
      case PHASE.BODY_NONE:
        return this.completeMessage();
      case PHASE.BODY_LENGTH:
        return this.readLengthBody();
      case PHASE.BODY_CHUNKED:
        return this.readChunkedBody();
      case PHASE.DONE:
        this.request = null;
        this.phase = (this.current as ParsedRequest).keepAlive ? PHASE.HEAD : PHASE.CLOSED;
        this.current = null;
        this.resetHead();
        return this.next();
      case PHASE.CLOSED:
        return this.readAfterClose();
      default:
        return PARSE.ERROR;
    }
  }

  private resetHead(): void {
    this.headState = HEAD.LEADING;
    this.scan = 0;
    this.leadingLines = 0;
    this.begun = false;
    this.headerCount = 0;
    this.contentLength = -1;
    this.hostCount = 0;
    this.hostStart = -1;
    this.hostEnd = -1;
    this.connectionOptions = 0;
    this.expectsContinue = false;
    this.codings.reset();
    this.lines.reset();
  }

  // -------------------------------------------------------------------------------------------
  // The head: request-line (RFC 9112 §3) and field lines (§5).

  private readHead(): ParseStep {
    const buf = this.buf;
    const end = this.end;

    if (this.headState === HEAD.LEADING) {
      // RFC 9112 §2.2: ignore a few empty lines (CRLF) before the request-line.
      let pos = this.pos;
      for (;;) {
        if (pos >= end) {
          this.pos = pos;
          return PARSE.NEED_MORE;
        }
        const b = buf[pos];
        if (b !== CH.CR && b !== CH.LF) break;
        if (b === CH.LF) return this.fail(HTTP_ERROR.CR_EXPECTED);
        if (pos + 1 >= end) {
          this.pos = pos;
          return PARSE.NEED_MORE;
        }
        if (buf[pos + 1] !== CH.LF) return this.fail(HTTP_ERROR.LF_EXPECTED);
        // More empty lines than a client ever sends: this is not a request-line coming.
        if (++this.leadingLines > MAX_LEADING_EMPTY_LINES) return this.fail(HTTP_ERROR.INVALID_METHOD);
        pos += 2;
      }
      this.pos = pos;
      this.begun = true;
      this.headState = HEAD.METHOD;
      this.scan = 0;
    }

    const start = this.pos;
    // The whole head must fit in maxHeadBytes: nothing past budgetEnd is ever looked at, so a
    // peer cannot make us scan (or buffer, beyond one chunk) more than that.
    const budgetEnd = start + this.limits.maxHeadBytes;
    const scanEnd = Math.min(budgetEnd, end);
    let i = start + this.scan;

    if (this.headState === HEAD.METHOD) {
      // method = token (RFC 9112 §3.1), then exactly one SP.
      while (i < scanEnd && TOKEN[buf[i] as number] === 1) i++;
      if (i >= scanEnd) return this.needMoreHead(i - start, scanEnd === budgetEnd);
      if (buf[i] !== CH.SP || i === start) return this.fail(HTTP_ERROR.INVALID_METHOD);
      this.methodEnd = i - start;
      this.headState = HEAD.TARGET;
      i++;
    }

    if (this.headState === HEAD.TARGET) {
      // request-target (RFC 9112 §3.2): its bytes here, its form once the method is known.
      const targetStart = start + this.methodEnd + 1;
      const targetStop = targetStart + this.limits.maxTargetBytes + 1;
      const stop = Math.min(targetStop, scanEnd);
      while (i < stop && TARGET[buf[i] as number] === 1) i++;
      if (i - targetStart > this.limits.maxTargetBytes) return this.fail(HTTP_ERROR.URI_TOO_LONG);
      if (i >= scanEnd) return this.needMoreHead(i - start, scanEnd === budgetEnd);
      const b = buf[i];
      if (b !== CH.SP) {
        // "GET /\r\n" is an HTTP/0.9 request-line: no version, which RFC 9112 §3 requires.
        return this.fail(b === CH.CR || b === CH.LF ? HTTP_ERROR.INVALID_VERSION : HTTP_ERROR.INVALID_URL);
      }
      if (i === targetStart) return this.fail(HTTP_ERROR.INVALID_URL);
      this.targetEnd = i - start;
      this.headState = HEAD.VERSION;
      i++;
    }

    if (this.headState === HEAD.VERSION) {
      // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3), then CRLF.
      const v = start + this.targetEnd + 1;
      if (
        i === v &&
        v + VERSION_LINE_BYTES <= scanEnd &&
        buf[v] === 0x48 && // H
        buf[v + 1] === 0x54 && // T
        buf[v + 2] === 0x54 && // T
        buf[v + 3] === 0x50 && // P
        buf[v + 4] === CH.SLASH &&
        buf[v + 5] === 0x31 && // 1
        buf[v + 6] === CH.DOT &&
        (buf[v + 7] === 0x31 || buf[v + 7] === 0x30) &&
        buf[v + 8] === CH.CR &&
        buf[v + 9] === CH.LF
      ) {
        i = v + VERSION_LINE_BYTES; // the common case, checked in one go
      } else {
        // A well-formed version we do not speak is refused as soon as it is read, before its
        // CRLF is looked at: checking the line end first gave "HTTP/2.0x..." a 400 when it came
        // whole and a 505 when cut after the version (found by the seeded fuzz).
        const versionEnd = Math.min(scanEnd, v + VERSION_BYTES);
        let error = this.checkVersionBytes(buf, v, i, versionEnd);
        if (error !== null) return this.fail(error);
        if (versionEnd === v + VERSION_BYTES && !isSupportedVersion(buf, v)) return this.fail(HTTP_ERROR.UNSUPPORTED_VERSION);
        error = this.checkVersionBytes(buf, v, Math.max(i, versionEnd), scanEnd);
        if (error !== null) return this.fail(error);
        i = Math.min(scanEnd, v + VERSION_LINE_BYTES);
        if (i < v + VERSION_LINE_BYTES) return this.needMoreHead(i - start, scanEnd === budgetEnd);
      }
      const error = this.checkRequestLine(buf, start, v);
      if (error !== null) return this.fail(error);
      this.fieldsStart = i - start;
      this.lineStart = this.fieldsStart;
      this.headState = HEAD.FIELDS;
    }

    // Field lines until the empty line.
    const lines = this.lines;
    for (;;) {
      const lineStart = start + this.lineStart;
      const step = lines.scan(buf, lineStart, scanEnd);
      if (step === LINE.FIELD) {
        if (++this.headerCount > this.limits.maxHeaders) return this.fail(HTTP_ERROR.TOO_MANY_HEADERS);
        const error = this.noteField(buf, lineStart);
        if (error !== null) return this.fail(error);
        this.lineStart += lines.lineLength;
      } else if (step === LINE.END) {
        return this.finishHead(start, this.lineStart + lines.lineLength);
      } else if (step === LINE.NEED_MORE) {
        return this.needMoreHead(this.scan, scanEnd === budgetEnd);
      } else {
        return this.fail(lines.error as HttpErrorCode);
      }
    }
  }

  /** Out of bytes inside the head: wait for more, unless the head budget is what ran out. */
  private needMoreHead(scanned: number, atBudget: boolean): ParseStep {
    if (atBudget) return this.fail(HTTP_ERROR.HEADER_OVERFLOW);
    this.scan = scanned;
    return PARSE.NEED_MORE;
  }

  /** Check the version bytes from `from` up to `to` one by one, for the exact error. */
  private checkVersionBytes(buf: Buffer, v: number, from: number, to: number): HttpErrorCode | null {
    const last = Math.min(to, v + VERSION_LINE_BYTES);
    for (let i = from; i < last; i++) {
      const b = buf[i] as number;
      switch (i - v) {
        case 0:
          if (b !== 0x48) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 1:
        case 2:
          if (b !== 0x54) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 3:
          if (b !== 0x50) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 4:
          if (b !== CH.SLASH) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 5:
        case 7:
          if (b < CH.ZERO || b > CH.NINE) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 6:
          if (b !== CH.DOT) return HTTP_ERROR.INVALID_VERSION;
          break;
        case 8:
          if (b !== CH.CR) return b === CH.LF ? HTTP_ERROR.CR_EXPECTED : HTTP_ERROR.INVALID_VERSION;
          break;
        default:
          if (b !== CH.LF) return HTTP_ERROR.LF_EXPECTED;
      }
    }
    return null;
  }

  /**
   * The request-line is complete and well formed; now what it means, most fundamental first:
   * a version we speak (505), a method we know (501), a target form that fits the method (400).
   */
  private checkRequestLine(buf: Buffer, start: number, v: number): HttpErrorCode | null {
    if (!isSupportedVersion(buf, v)) return HTTP_ERROR.UNSUPPORTED_VERSION;
    this.versionMinor = buf[v + 7] === 0x31 ? 1 : 0;
    const method = matchMethod(buf, start, start + this.methodEnd);
    if (method === null) return HTTP_ERROR.NOT_IMPLEMENTED;
    this.method = method;
    const targetStart = start + this.methodEnd + 1;
    const targetEnd = start + this.targetEnd;
    const first = buf[targetStart];
    this.authorityStart = -1;
    if (method === 'CONNECT') {
      // RFC 9112 §3.2.3: CONNECT takes authority-form and only it.
      return isValidAuthorityForm(buf, targetStart, targetEnd) ? null : HTTP_ERROR.INVALID_URL;
    }
    if (first === CH.SLASH) return null; // origin-form (§3.2.1)
    if (first === CH.STAR) {
      // asterisk-form (§3.2.4) is "*" alone, and only for OPTIONS.
      return targetEnd - targetStart === 1 && method === 'OPTIONS' ? null : HTTP_ERROR.INVALID_URL;
    }
    // absolute-form (§3.2.2), which a server MUST accept. We take the shape of an http(s) URI,
    // scheme "://" authority ... (RFC 9110 §4.2): its host MUST NOT be empty, and requiring
    // the "//" is what tells "GET example.com:80" (authority-form, CONNECT only) from a URI.
    const letter = (first as number) | CH.CASE_BIT;
    if (letter < 0x61 || letter > 0x7a) return HTTP_ERROR.INVALID_URL;
    let i = targetStart + 1;
    while (i < targetEnd && SCHEME[buf[i] as number] === 1) i++;
    const hasAuthority = i + 3 < targetEnd && buf[i] === CH.COLON && buf[i + 1] === CH.SLASH && buf[i + 2] === CH.SLASH && buf[i + 3] !== CH.SLASH;
    if (!hasAuthority) return HTTP_ERROR.INVALID_URL;
    // The authority runs to the path or the query (a fragment cannot be here: '#' is not a target byte).
    const authorityStart = i + 3;
    let authorityEnd = authorityStart;
    while (authorityEnd < targetEnd && buf[authorityEnd] !== CH.SLASH && buf[authorityEnd] !== CH.QUESTION) authorityEnd++;
    // It stands in for Host, so it must be a valid one; userinfo ("user:pass@host") is
    // deprecated in http(s) URIs and a recipient SHOULD treat it as an error (RFC 9110 §4.2.4).
    if (authorityEnd === authorityStart || !isValidHostValue(buf, authorityStart, authorityEnd)) return HTTP_ERROR.INVALID_URL;
    this.authorityStart = authorityStart - start;
    this.authorityEnd = authorityEnd - start;
    return null;
  }

  /** Act on the fields that matter to framing and routing, picked out by name length first. */
  private noteField(buf: Buffer, lineStart: number): HttpErrorCode | null {
    const lines = this.lines;
    const valueStart = lineStart + lines.valueStart;
    const valueEnd = lineStart + lines.valueEnd;
    switch (lines.nameEnd) {
      case 4:
        if (!equalsLowercaseToken(buf, lineStart, NAME.HOST)) return null;
        // RFC 9112 §3.2: 400 for more than one Host line or an invalid Host value.
        if (++this.hostCount > 1) return HTTP_ERROR.MISSING_HOST;
        if (!isValidHostValue(buf, valueStart, valueEnd)) return HTTP_ERROR.INVALID_HOST;
        this.hostStart = valueStart - this.pos;
        this.hostEnd = valueEnd - this.pos;
        return null;
      case 6:
        if (equalsLowercaseToken(buf, lineStart, NAME.EXPECT) && listsContinue(buf, valueStart, valueEnd)) this.expectsContinue = true;
        return null;
      case 10:
        if (equalsLowercaseToken(buf, lineStart, NAME.CONNECTION)) this.connectionOptions |= readConnectionOptions(buf, valueStart, valueEnd);
        return null;
      case 14: {
        if (!equalsLowercaseToken(buf, lineStart, NAME.CONTENT_LENGTH)) return null;
        const length = parseContentLength(buf, valueStart, valueEnd);
        if (length < 0) return HTTP_ERROR.INVALID_CONTENT_LENGTH;
        // RFC 9110 §8.6 lets a recipient collapse identical duplicates; we reject every
        // duplicate (see docs/conformance.md): a proxy in front may have picked the other one.
        if (this.contentLength >= 0) return HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH;
        this.contentLength = length;
        return null;
      }
      case 17:
        if (equalsLowercaseToken(buf, lineStart, NAME.TRANSFER_ENCODING)) this.codings.addValue(buf, valueStart, valueEnd);
        return null;
      default:
        return null;
    }
  }

  /** The empty line arrived: decide the framing (RFC 9112 §6), build the request, return HEAD. */
  private finishHead(start: number, headLength: number): ParseStep {
    const minor = this.versionMinor;
    if (minor === 1 && this.hostCount === 0 && this.requireHost) return this.fail(HTTP_ERROR.MISSING_HOST);
    const codings = this.codings;
    const contentLength = this.contentLength;
    if (codings.present) {
      // §6.3 rule 3 and §6.1: both headers is a smuggling signal; a server MAY reject it and
      // MUST close the connection after it anyway. We reject.
      if (contentLength >= 0) return this.fail(HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH);
      // §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
      if (minor === 0) return this.fail(HTTP_ERROR.INVALID_TRANSFER_ENCODING);
      // §6.1: chunked must be the final coding, applied once, else the length is unknowable: 400.
      if (codings.malformed || codings.chunkedNotLast || !codings.chunkedLast) return this.fail(HTTP_ERROR.INVALID_TRANSFER_ENCODING);
      // §6.1: a coding we do not understand SHOULD get 501 (we would hand the app encoded bytes).
      if (codings.otherCoding) return this.fail(HTTP_ERROR.TRANSFER_CODING_NOT_IMPLEMENTED);
    }
    const method = this.method;
    // RFC 9110 §9.3.6: a CONNECT request has no content; what follows it would be tunnel data.
    const connect = method === 'CONNECT';
    const chunked = codings.present && !connect;
    const bodyLength = connect ? -1 : contentLength;
    if (bodyLength > this.limits.maxBodyBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE);

    const buf = this.buf;
    // RFC 9112 §3.2.2: with an absolute-form target, its authority is the host, whatever Host says.
    const absolute = this.authorityStart >= 0;
    const hostStart = absolute ? this.authorityStart : this.hostStart;
    const hostEnd = absolute ? this.authorityEnd : this.hostEnd;
    const request = new ParsedRequest(
      method,
      decodeLatin1(buf, start + this.methodEnd + 1, start + this.targetEnd),
      minor,
      buf,
      start + this.fieldsStart,
      start + headLength - 2,
      hostStart < 0 ? -1 : start + hostStart,
      start + hostEnd,
    );
    if (absolute) {
      const path = decodeLatin1(buf, start + this.authorityEnd, start + this.targetEnd);
      request.path = path.length === 0 || path.charCodeAt(0) !== CH.SLASH ? `/${path}` : path;
    }
    request.contentLength = bodyLength;
    request.chunked = chunked;
    const options = this.connectionOptions;
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". After
    // CONNECT we never tunnel, and cannot tell tunnel bytes from a request: close.
    request.keepAlive = (options & CONNECTION_OPTION.CLOSE) === 0 && (minor === 1 || (options & CONNECTION_OPTION.KEEP_ALIVE) !== 0) && !connect;
    request.expectContinue = minor === 1 && this.expectsContinue;

    this.pos = start + headLength;
    this.current = request;
    this.request = request;
    if (chunked) {
      const budget = this.chunkBudget;
      budget.maxBodyBytes = this.limits.maxBodyBytes;
      // Trailers count against the same limits as the headers.
      budget.maxTrailerBytes = this.limits.maxHeadBytes - headLength;
      budget.maxTrailers = this.limits.maxHeaders - this.headerCount;
      this.body.reset(this.limits.maxBodyBytes);
      this.chunks.start(this.body, budget);
      this.phase = PHASE.BODY_CHUNKED;
    } else if (bodyLength > 0) {
      this.remaining = bodyLength;
      this.body.reset(bodyLength);
      this.phase = PHASE.BODY_LENGTH;
    } else {
      this.phase = PHASE.BODY_NONE;
    }
    return PARSE.HEAD;
  }

  // -------------------------------------------------------------------------------------------
  // The body (RFC 9112 §6.3).

  private readLengthBody(): ParseStep {
    const pos = this.pos;
    const available = this.end - pos;
    const remaining = this.remaining;
    const take = Math.min(available, remaining);
    // A body that is all in one piece ends up a view of it (no copy): BodyBuffer keeps the first.
    if (take > 0) this.body.append(this.buf, pos, pos + take);
    this.pos = pos + take;
    this.remaining = remaining - take;
    if (this.remaining > 0) return PARSE.NEED_MORE;
    (this.current as ParsedRequest).body = this.body.take();
    return this.completeMessage();
  }

  private readChunkedBody(): ParseStep {
    const chunks = this.chunks;
    this.pos = chunks.decode(this.buf, this.pos, this.end);
    if (chunks.error !== null) return this.fail(chunks.error);
    if (!chunks.done) return PARSE.NEED_MORE;
    const request = this.current as ParsedRequest;
    request.body = this.body.take();
    request.trailers = chunks.trailers;
    return this.completeMessage();
  }

  private completeMessage(): ParseStep {
    this.phase = PHASE.DONE;
    this.begun = false;
    return PARSE.MESSAGE;
  }

  /**
   * After a message that ends the connection, nothing may follow but stray line ends (which
   * llhttp tolerates too): anything else would be a request we must not process (RFC 9112 §9.6).
   */
  private readAfterClose(): ParseStep {
    const buf = this.buf;
    let pos = this.pos;
    while (pos < this.end && (buf[pos] === CH.CR || buf[pos] === CH.LF)) pos++;
    this.pos = pos;
    return pos < this.end ? this.fail(HTTP_ERROR.CLOSED_CONNECTION) : PARSE.NEED_MORE;
  }

  private fail(code: HttpErrorCode): ParseStep {
    this.error = code;
    this.phase = PHASE.ERROR;
    this.begun = false;
    this.discardInput();
    this.body.take();
    return PARSE.ERROR;
  }
}
