/**
 * An incremental HTTP/1.1 response parser for the load generator (client side): the same push
 * style as the request parser, and the same chunked decoder.
 *
 *   const parser = new ResponseParser();
 *   parser.expectResponseTo('GET');            // once per request sent, in order
 *   socket.on('data', (chunk) => {
 *     parser.feed(chunk);
 *     for (let step = parser.next(); step !== PARSE.NEED_MORE; step = parser.next()) {
 *       if (step === PARSE.HEAD) firstByte();       // status line + headers parsed
 *       else if (step === PARSE.MESSAGE) done(parser.response);
 *       else { fail(parser.error); break; }         // ERROR is terminal
 *     }
 *   });
 *   socket.on('end', () => { if (parser.finish() === PARSE.MESSAGE) done(parser.response); });
 *
 * Strict where framing is at stake (RFC 9112 §4, §6.3); it only counts body bytes unless built
 * with `{ keepBody: true }`, so a load generator pays nothing to look at bodies it ignores.
 */
import { BodyBuffer } from './body-buffer.js';
import { CH, REASON_PHRASE } from './byte-tables.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { DEFAULT_LIMITS, HTTP_ERROR, PARSE, type HttpErrorCode, type ParseStep, type ParserLimits } from './constants.js';
import { equalsLowercaseToken, FieldLineScanner, LazyFieldSection, LINE } from './field-lines.js';
import { CONNECTION_OPTION, NAME, parseContentLength, readConnectionOptions, TransferCodings } from './framing.js';
import { InputBuffer } from './input-buffer.js';

export interface ResponseParserOptions extends Partial<ParserLimits> {
  /** Collect body bytes into `response.body` (and apply `maxBodyBytes`). Default false: count only. */
  keepBody?: boolean;
}

export interface HttpResponseHead {
  status: number;
  versionMinor: 0 | 1;
  /** Flat [name, value, ...], decoded on first access. */
  readonly headers: readonly string[];
  /** First value of a header, by lowercase name. */
  header(lowercaseName: string): string | undefined;
  /** The Content-Length header's value, -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** May the connection carry another request after this response. */
  keepAlive: boolean;
  /** Body bytes received so far (after chunked decoding). */
  bodyBytes: number;
  /** The body, only with `keepBody`; null when not kept or empty. */
  body: Buffer | null;
}

class ParsedResponse extends LazyFieldSection implements HttpResponseHead {
  status: number;
  versionMinor: 0 | 1;
  contentLength = -1;
  chunked = false;
  keepAlive = true;
  bodyBytes = 0;
  body: Buffer | null = null;

  constructor(status: number, versionMinor: 0 | 1, source: Buffer, fieldsStart: number, fieldsEnd: number) {
    super(source, fieldsStart, fieldsEnd);
    this.status = status;
    this.versionMinor = versionMinor;
  }
}

const PHASE = {
  /** Reading a status line (nothing, or part of one, consumed). */
  STATUS_LINE: 0,
  /** Reading header field lines. */
  FIELDS: 1,
  /** Head returned; the body (if any) comes next. */
  BODY_NONE: 2,
  BODY_LENGTH: 3,
  BODY_CHUNKED: 4,
  /** Read until the server closes (RFC 9112 §6.3 rule 8). */
  BODY_UNTIL_CLOSE: 5,
  /** A message was returned; the next call starts the next one. */
  DONE: 6,
  ERROR: 7,
} as const;
type Phase = (typeof PHASE)[keyof typeof PHASE];

/** "HTTP/1.x NNN " is 13 bytes; then the reason phrase, then CRLF (RFC 9112 §4). */
const STATUS_PREFIX_BYTES = 13;

export class ResponseParser extends InputBuffer {
  response: HttpResponseHead | null = null;
  error: HttpErrorCode | null = null;

  private readonly limits: ParserLimits;
  private readonly keepBody: boolean;
  private phase: Phase = PHASE.STATUS_LINE;
  /** How far the search for the end of the status line got (relative to pos). */
  private statusScan = 0;
  /** Start of the current field line, relative to pos (the head stays unconsumed until done). */
  private lineStart = 0;
  private fieldsStart = 0;
  private status = 0;
  private versionMinor: 0 | 1 = 1;
  private headerCount = 0;
  private contentLength = -1;
  private connectionOptions = 0;
  private readonly codings = new TransferCodings();
  private readonly lines = new FieldLineScanner();
  private readonly chunks = new ChunkedDecoder();
  private remaining = 0;
  /** Kept body bytes, copied (the caller reuses its read buffer) and coalesced: no view per piece. */
  private readonly body = new BodyBuffer({ ownBytes: true });
  /** Pending expectations: true for a request whose response has no body (HEAD). */
  private readonly bodiless: boolean[] = [];
  private bodilessHead = 0;
  private current: ParsedResponse | null = null;
  private noBodyExpected = false;

  constructor(options: ResponseParserOptions = {}) {
    super();
    this.limits = {
      maxHeadBytes: options.maxHeadBytes ?? DEFAULT_LIMITS.maxHeadBytes,
      maxHeaders: options.maxHeaders ?? DEFAULT_LIMITS.maxHeaders,
      maxTargetBytes: options.maxTargetBytes ?? DEFAULT_LIMITS.maxTargetBytes,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    };
    this.keepBody = options.keepBody === true;
  }

  /**
   * Say which method the next response (in order) answers: a response to HEAD has no body
   * whatever its headers say (RFC 9112 §6.3 rule 1). Call once per request sent; responses
   * with no call pending are read as answers to GET.
   */
  expectResponseTo(method: string): void {
    this.bodiless.push(method === 'HEAD');
  }

  /** Bytes held: input not yet consumed plus the kept body's memory (at most twice the bytes received, plus a few hundred). */
  get retainedBytes(): number {
    return this.end - this.pos + this.body.retainedBytes;
  }

  /** True from the first byte of a response until it is complete (false after ERROR). */
  get midMessage(): boolean {
    if (this.phase === PHASE.STATUS_LINE || this.phase === PHASE.DONE) return this.pos < this.end;
    return this.phase !== PHASE.ERROR;
  }

  next(): ParseStep {
    const step = this.step();
    // The load generator reads every socket into one shared buffer and reuses it as soon as
    // this loop ends: keep nothing that points into it (a split head is rare; this is cheap).
    if (step === PARSE.NEED_MORE || step === PARSE.MESSAGE) this.retainPending();
    return step;
  }

  private step(): ParseStep {
    switch (this.phase) {
      case PHASE.DONE:
        this.startNextResponse();
        return this.readHead();
      case PHASE.STATUS_LINE:
      case PHASE.FIELDS:
        return this.readHead();
      case PHASE.BODY_NONE:
        return this.complete();
      case PHASE.BODY_LENGTH:
        return this.readLengthBody();
      case PHASE.BODY_CHUNKED:
        return this.readChunkedBody();
      case PHASE.BODY_UNTIL_CLOSE:
        return this.readUntilClose();
      default:
        return PARSE.ERROR;
    }
  }

  /**
   * The peer closed the connection. Completes a body that runs until close (MESSAGE); ERROR
   * (HPE_INVALID_EOF_STATE) if a response was cut short; NEED_MORE if no response had begun.
   */
  finish(): ParseStep {
    if (this.phase === PHASE.ERROR) return PARSE.ERROR;
    if (this.phase === PHASE.BODY_UNTIL_CLOSE) {
      this.readUntilClose();
      return this.complete();
    }
    if (this.phase === PHASE.DONE || (this.phase === PHASE.STATUS_LINE && this.pos === this.end)) return PARSE.NEED_MORE;
    if (this.phase === PHASE.BODY_NONE) return this.complete();
    return this.fail(HTTP_ERROR.INVALID_EOF_STATE);
  }

  private startNextResponse(): void {
    this.phase = PHASE.STATUS_LINE;
    this.statusScan = 0;
    this.response = null;
    this.current = null;
  }

  private readHead(): ParseStep {
    for (;;) {
      if (this.phase === PHASE.STATUS_LINE) {
        const step = this.readStatusLine();
        if (step !== PARSE.HEAD) return step;
      }
      const step = this.readFields();
      if (step !== PARSE.HEAD) return step;
      // RFC 9110 §15.2: a client MUST be able to parse 1xx responses before the final one
      // (100 Continue, 103 Early Hints) and they carry no body: skip them.
      if (this.status >= 100 && this.status < 200) {
        this.pos += this.lineStart;
        this.phase = PHASE.STATUS_LINE;
        this.statusScan = 0;
        continue;
      }
      return this.startBody();
    }
  }

  /** HEAD here means "the status line is complete" (readFields: "the empty line came"). */
  private readStatusLine(): ParseStep {
    const buf = this.buf;
    const start = this.pos;
    const budgetEnd = start + this.limits.maxHeadBytes;
    const scanEnd = Math.min(budgetEnd, this.end);
    // Remember how far the search got, so a line fed byte by byte is searched once.
    let i = start + this.statusScan;
    while (i < scanEnd && buf[i] !== CH.LF) i++;
    if (i >= scanEnd) {
      if (scanEnd === budgetEnd) return this.fail(HTTP_ERROR.HEADER_OVERFLOW);
      this.statusScan = i - start;
      return PARSE.NEED_MORE;
    }
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4)
    const lf = i;
    if (lf - start < STATUS_PREFIX_BYTES + 1 || buf[lf - 1] !== CH.CR) return this.fail(HTTP_ERROR.INVALID_STATUS);
    if (
      buf[start] !== 0x48 || // H
      buf[start + 1] !== 0x54 || // T
      buf[start + 2] !== 0x54 || // T
      buf[start + 3] !== 0x50 || // P
      buf[start + 4] !== CH.SLASH ||
      buf[start + 5] !== 0x31 || // 1
      buf[start + 6] !== CH.DOT ||
      (buf[start + 7] !== 0x30 && buf[start + 7] !== 0x31) ||
      buf[start + 8] !== CH.SP ||
      buf[start + 12] !== CH.SP
    ) {
      return this.fail(HTTP_ERROR.INVALID_STATUS);
    }
    const d1 = (buf[start + 9] as number) - CH.ZERO;
    const d2 = (buf[start + 10] as number) - CH.ZERO;
    const d3 = (buf[start + 11] as number) - CH.ZERO;
    // status-code = 3DIGIT, and RFC 9110 §15: the first digit is 1 to 5.
    if (d1 < 1 || d1 > 5 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return this.fail(HTTP_ERROR.INVALID_STATUS);
    for (let k = start + STATUS_PREFIX_BYTES; k < lf - 1; k++) {
      if (REASON_PHRASE[buf[k] as number] !== 1) return this.fail(HTTP_ERROR.INVALID_STATUS);
    }
    this.status = d1 * 100 + d2 * 10 + d3;
    // 101 Switching Protocols only answers an Upgrade, which the load generator never sends.
    if (this.status === 101) return this.fail(HTTP_ERROR.INVALID_STATUS);
    this.versionMinor = buf[start + 7] === 0x31 ? 1 : 0;
    this.fieldsStart = lf + 1 - start;
    this.lineStart = this.fieldsStart;
    this.headerCount = 0;
    this.contentLength = -1;
    this.connectionOptions = 0;
    this.codings.reset();
    this.lines.reset();
    this.phase = PHASE.FIELDS;
    return PARSE.HEAD;
  }

  private readFields(): ParseStep {
    const buf = this.buf;
    const start = this.pos;
    const budgetEnd = start + this.limits.maxHeadBytes;
    const scanEnd = Math.min(budgetEnd, this.end);
    for (;;) {
      const lineStart = start + this.lineStart;
      const step = this.lines.scan(buf, lineStart, scanEnd);
      if (step === LINE.FIELD) {
        if (++this.headerCount > this.limits.maxHeaders) return this.fail(HTTP_ERROR.TOO_MANY_HEADERS);
        const error = this.readFramingField(buf, lineStart);
        if (error !== null) return this.fail(error);
        this.lineStart += this.lines.lineLength;
      } else if (step === LINE.END) {
        this.lineStart += this.lines.lineLength;
        return PARSE.HEAD;
      } else if (step === LINE.NEED_MORE) {
        if (scanEnd === budgetEnd) return this.fail(HTTP_ERROR.HEADER_OVERFLOW);
        return PARSE.NEED_MORE;
      } else {
        return this.fail(this.lines.error as HttpErrorCode);
      }
    }
  }

  /** Note Content-Length, Transfer-Encoding and Connection; other fields are left for later. */
  private readFramingField(buf: Buffer, lineStart: number): HttpErrorCode | null {
    const lines = this.lines;
    const nameLength = lines.nameEnd;
    const valueStart = lineStart + lines.valueStart;
    const valueEnd = lineStart + lines.valueEnd;
    if (nameLength === 14 && equalsLowercaseToken(buf, lineStart, NAME.CONTENT_LENGTH)) {
      const length = parseContentLength(buf, valueStart, valueEnd);
      if (length < 0) return HTTP_ERROR.INVALID_CONTENT_LENGTH;
      // RFC 9110 §8.6 lets a recipient accept identical duplicates; we refuse all duplicates,
      // like the request parser (see docs/conformance.md).
      if (this.contentLength >= 0) return HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH;
      this.contentLength = length;
    } else if (nameLength === 17 && equalsLowercaseToken(buf, lineStart, NAME.TRANSFER_ENCODING)) {
      this.codings.addValue(buf, valueStart, valueEnd);
    } else if (nameLength === 10 && equalsLowercaseToken(buf, lineStart, NAME.CONNECTION)) {
      this.connectionOptions |= readConnectionOptions(buf, valueStart, valueEnd);
    }
    return null;
  }

  /** Decide the body length (RFC 9112 §6.3) and return HEAD. */
  private startBody(): ParseStep {
    const start = this.pos;
    const headLength = this.lineStart;
    // The field lines are copied (a hundred bytes or so) so that `headers` can be decoded
    // lazily even after the caller has reused the chunk they came in.
    const fieldsStart = start + this.fieldsStart;
    const fieldsEnd = start + headLength - 2;
    const fields = Buffer.allocUnsafe(fieldsEnd - fieldsStart);
    this.buf.copy(fields, 0, fieldsStart, fieldsEnd);
    const response = new ParsedResponse(this.status, this.versionMinor, fields, 0, fields.length);
    this.pos = start + headLength;
    this.current = response;
    this.response = response;
    this.body.reset(this.keepBody ? this.limits.maxBodyBytes : 0);
    this.noBodyExpected = this.bodilessHead < this.bodiless.length ? (this.bodiless[this.bodilessHead++] as boolean) : false;
    if (this.bodilessHead === this.bodiless.length) {
      this.bodiless.length = 0;
      this.bodilessHead = 0;
    }
    const options = this.connectionOptions;
    response.keepAlive = (options & CONNECTION_OPTION.CLOSE) === 0 && (this.versionMinor === 1 || (options & CONNECTION_OPTION.KEEP_ALIVE) !== 0);

    // The header's value even when no body follows (HEAD, 204, 304): what the length would be.
    response.contentLength = this.contentLength;
    const status = this.status;
    // Rule 1: HEAD responses, 204 and 304 never have a body, whatever the headers say.
    if (this.noBodyExpected || status === 204 || status === 304) {
      this.phase = PHASE.BODY_NONE;
      return PARSE.HEAD;
    }
    const codings = this.codings;
    if (codings.present) {
      // Rule 3: both is a smuggling or splitting signal; "ought to be handled as an error".
      if (this.contentLength >= 0) return this.fail(HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH);
      if (codings.malformed || codings.chunkedNotLast) return this.fail(HTTP_ERROR.INVALID_TRANSFER_ENCODING);
      if (codings.chunkedLast) {
        response.chunked = true;
        this.chunks.start(this.keepBody ? this.body : null, {
          maxBodyBytes: this.keepBody ? this.limits.maxBodyBytes : Infinity,
          maxTrailerBytes: this.limits.maxHeadBytes - headLength,
          maxTrailers: this.limits.maxHeaders - this.headerCount,
        });
        this.phase = PHASE.BODY_CHUNKED;
        return PARSE.HEAD;
      }
      // Rule 4: a response whose final coding is not chunked runs until the server closes.
      response.keepAlive = false;
      this.phase = PHASE.BODY_UNTIL_CLOSE;
      return PARSE.HEAD;
    }
    if (this.contentLength >= 0) {
      if (this.keepBody && this.contentLength > this.limits.maxBodyBytes) return this.fail(HTTP_ERROR.BODY_TOO_LARGE);
      this.remaining = this.contentLength;
      this.phase = this.contentLength === 0 ? PHASE.BODY_NONE : PHASE.BODY_LENGTH;
      return PARSE.HEAD;
    }
    // Rule 8: no framing at all: the body is everything until the server closes.
    response.keepAlive = false;
    this.phase = PHASE.BODY_UNTIL_CLOSE;
    return PARSE.HEAD;
  }

  private readLengthBody(): ParseStep {
    const available = this.end - this.pos;
    const take = Math.min(available, this.remaining);
    if (take > 0) this.takeBody(this.pos, this.pos + take);
    this.pos += take;
    this.remaining -= take;
    return this.remaining === 0 ? this.complete() : PARSE.NEED_MORE;
  }

  private readChunkedBody(): ParseStep {
    const chunks = this.chunks;
    const before = chunks.decodedBytes;
    this.pos = chunks.decode(this.buf, this.pos, this.end);
    (this.current as ParsedResponse).bodyBytes += chunks.decodedBytes - before;
    if (chunks.error !== null) return this.fail(chunks.error);
    return chunks.done ? this.complete() : PARSE.NEED_MORE;
  }

  private readUntilClose(): ParseStep {
    if (this.pos < this.end) {
      if (this.keepBody && (this.current as ParsedResponse).bodyBytes + (this.end - this.pos) > this.limits.maxBodyBytes) {
        return this.fail(HTTP_ERROR.BODY_TOO_LARGE);
      }
      this.takeBody(this.pos, this.end);
      this.pos = this.end;
    }
    return PARSE.NEED_MORE;
  }

  private takeBody(from: number, to: number): void {
    (this.current as ParsedResponse).bodyBytes += to - from;
    // Copied, not a subarray: the chunk may be reused by the caller (see next()).
    if (this.keepBody) this.body.append(this.buf, from, to);
  }

  private complete(): ParseStep {
    const response = this.current as ParsedResponse;
    if (this.keepBody) response.body = this.body.take();
    this.phase = PHASE.DONE;
    return PARSE.MESSAGE;
  }

  private fail(code: HttpErrorCode): ParseStep {
    this.error = code;
    this.phase = PHASE.ERROR;
    this.discardInput();
    this.body.take();
    return PARSE.ERROR;
  }
}
