/**
 * Everything the HTTP/1.1 parsers and the server agree on: the steps `next()` returns, the
 * limits, and the error codes with the status each one maps to.
 *
 * Codes follow llhttp's names (`HPE_*`, src/llhttp/constants.ts there) where llhttp has the
 * same failure; the ones it lacks (it leaves limits, Host and version policy to Node) get
 * HPE_-style names of their own. A code is a string so that it can be logged, counted and
 * compared without a lookup table; every code maps to exactly one status.
 */

/** What `next()` reports. NEED_MORE is a status, not an error (httparse's `Status::Partial`). */
export const PARSE = { NEED_MORE: 0, HEAD: 1, MESSAGE: 2, ERROR: 3 } as const;
export type ParseStep = (typeof PARSE)[keyof typeof PARSE];

export interface ParserLimits {
  /** Request line (or status line) plus header lines plus the empty line, in bytes → 431. */
  maxHeadBytes: number;
  /** Header field lines per message, trailer lines included → 431. */
  maxHeaders: number;
  /** Bytes of the request-target → 414. */
  maxTargetBytes: number;
  /**
   * Body bytes after transfer decoding → 413. A chunked body is also held to this on the wire,
   * framing included, plus one size line (see chunked-decoder.ts).
   */
  maxBodyBytes: number;
}

/**
 * 16 KiB of head is Node's own default (`--max-http-header-size`); 100 headers and an 8 KiB
 * target are the usual proxy defaults (nginx: 8 KiB large_client_header_buffers). 1 MiB of body
 * is plenty for a JSON API and small enough that a few thousand slow uploads cannot take the
 * machine's memory.
 */
export const DEFAULT_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxHeadBytes: 16 * 1024,
  maxHeaders: 100,
  maxTargetBytes: 8 * 1024,
  maxBodyBytes: 1024 * 1024,
});

/**
 * RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) before the request-line;
 * clients add one after a POST body. A few are skipped, more is garbage.
 */
export const MAX_LEADING_EMPTY_LINES = 4;

/**
 * A chunk-size line (size, extensions, CRLF) longer than this is refused. RFC 9112 §7.1.1 asks a
 * server to bound chunk extensions like any other part of a message; Node's own limit is 16 KiB
 * in total (CVE-2024-22019); one line of 4 KiB is far more than any real client sends.
 */
export const MAX_CHUNK_LINE_BYTES = 4096;

export const HTTP_ERROR = {
  // -- request line ---------------------------------------------------------------------------
  /** The method is empty or not a token (RFC 9112 §3.1), or too many empty lines precede it. */
  INVALID_METHOD: 'HPE_INVALID_METHOD',
  /** A well-formed method this server does not know (RFC 9110 §9.1: 501). */
  NOT_IMPLEMENTED: 'HPE_NOT_IMPLEMENTED',
  /** The request-target has a forbidden byte or the wrong form for the method (RFC 9112 §3.2). */
  INVALID_URL: 'HPE_INVALID_URL',
  /** The request-target is longer than `maxTargetBytes` (RFC 9112 §3: 414). */
  URI_TOO_LONG: 'HPE_URI_TOO_LONG',
  /** The HTTP-version is missing or malformed (RFC 9112 §2.3). */
  INVALID_VERSION: 'HPE_INVALID_VERSION',
  /** A well-formed version other than HTTP/1.0 and HTTP/1.1 (RFC 9110 §15.6.6: 505). */
  UNSUPPORTED_VERSION: 'HPE_UNSUPPORTED_VERSION',
  // -- line endings and header fields ---------------------------------------------------------
  /** A bare LF where CRLF is required (RFC 9112 §2.2). */
  CR_EXPECTED: 'HPE_CR_EXPECTED',
  /** A CR not followed by LF (RFC 9112 §2.2). */
  LF_EXPECTED: 'HPE_LF_EXPECTED',
  /** A field name that is empty or not a token, whitespace before the colon, or a forbidden byte (CTL) in a value (RFC 9112 §5, RFC 9110 §5.5). */
  INVALID_HEADER_TOKEN: 'HPE_INVALID_HEADER_TOKEN',
  /** Whitespace at the start of a field line: obs-fold or a space after the start line (RFC 9112 §5.2, §2.2). */
  UNEXPECTED_SPACE: 'HPE_UNEXPECTED_SPACE',
  /** The head is longer than `maxHeadBytes` (RFC 6585 §5: 431). */
  HEADER_OVERFLOW: 'HPE_HEADER_OVERFLOW',
  /** More than `maxHeaders` field lines (431). */
  TOO_MANY_HEADERS: 'HPE_TOO_MANY_HEADERS',
  /** An HTTP/1.1 request without a Host, or any request with more than one (RFC 9112 §3.2). */
  MISSING_HOST: 'HPE_MISSING_HOST',
  /** A Host value that is not uri-host [ ":" port ] (RFC 9112 §3.2, RFC 9110 §7.2). */
  INVALID_HOST: 'HPE_INVALID_HOST',
  // -- framing --------------------------------------------------------------------------------
  /** Content-Length that is not 1*DIGIT or exceeds Number.MAX_SAFE_INTEGER (RFC 9110 §8.6). */
  INVALID_CONTENT_LENGTH: 'HPE_INVALID_CONTENT_LENGTH',
  /** Content-Length twice, or together with Transfer-Encoding (RFC 9112 §6.3 rule 3, §6.1). */
  UNEXPECTED_CONTENT_LENGTH: 'HPE_UNEXPECTED_CONTENT_LENGTH',
  /** Transfer-Encoding whose final coding is not chunked, chunked applied twice, a malformed list, or any in HTTP/1.0 (RFC 9112 §6.1). */
  INVALID_TRANSFER_ENCODING: 'HPE_INVALID_TRANSFER_ENCODING',
  /** A well-formed transfer coding other than chunked (RFC 9112 §6.1: SHOULD 501). */
  TRANSFER_CODING_NOT_IMPLEMENTED: 'HPE_TRANSFER_CODING_NOT_IMPLEMENTED',
  /** A chunk-size that is empty, not hex, or too large (RFC 9112 §7.1). */
  INVALID_CHUNK_SIZE: 'HPE_INVALID_CHUNK_SIZE',
  /** A malformed chunk extension (RFC 9112 §7.1.1). */
  INVALID_CHUNK_EXTENSION: 'HPE_INVALID_CHUNK_EXTENSION',
  /** A chunk-size line longer than MAX_CHUNK_LINE_BYTES (Node's name for it; RFC 9112 §7.1.1). */
  CHUNK_EXTENSIONS_OVERFLOW: 'HPE_CHUNK_EXTENSIONS_OVERFLOW',
  /** The body is longer than `maxBodyBytes` (RFC 9110 §15.5.14: 413). */
  BODY_TOO_LARGE: 'HPE_BODY_TOO_LARGE',
  /** A trailer field that only the header section may carry: framing, routing, connection (RFC 9110 §6.5.1). */
  FORBIDDEN_TRAILER: 'HPE_INVALID_TRAILER',
  /** Bytes after a message that ends the connection: Connection: close, HTTP/1.0 without keep-alive, CONNECT (RFC 9112 §9.6). */
  CLOSED_CONNECTION: 'HPE_CLOSED_CONNECTION',
  // -- responses (client side) ----------------------------------------------------------------
  /** The status line is not `HTTP/1.x NNN reason` (RFC 9112 §4), or an unexpected 101. */
  INVALID_STATUS: 'HPE_INVALID_STATUS',
  /** The peer closed the connection in the middle of a message. */
  INVALID_EOF_STATE: 'HPE_INVALID_EOF_STATE',
} as const;

export type HttpErrorCode = (typeof HTTP_ERROR)[keyof typeof HTTP_ERROR];

/**
 * The status a server answers each code with. Response-side codes map to 502 (Bad Gateway), the
 * status a proxy uses for an upstream's malformed response, so that every code has one.
 */
const STATUS_FOR_ERROR: Readonly<Record<HttpErrorCode, number>> = {
  HPE_INVALID_METHOD: 400,
  HPE_NOT_IMPLEMENTED: 501,
  HPE_INVALID_URL: 400,
  HPE_URI_TOO_LONG: 414,
  HPE_INVALID_VERSION: 400,
  HPE_UNSUPPORTED_VERSION: 505,
  HPE_CR_EXPECTED: 400,
  HPE_LF_EXPECTED: 400,
  HPE_INVALID_HEADER_TOKEN: 400,
  HPE_UNEXPECTED_SPACE: 400,
  HPE_HEADER_OVERFLOW: 431,
  HPE_TOO_MANY_HEADERS: 431,
  HPE_MISSING_HOST: 400,
  HPE_INVALID_HOST: 400,
  HPE_INVALID_CONTENT_LENGTH: 400,
  HPE_UNEXPECTED_CONTENT_LENGTH: 400,
  HPE_INVALID_TRANSFER_ENCODING: 400,
  HPE_TRANSFER_CODING_NOT_IMPLEMENTED: 501,
  HPE_INVALID_CHUNK_SIZE: 400,
  HPE_INVALID_CHUNK_EXTENSION: 400,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  HPE_BODY_TOO_LARGE: 413,
  HPE_INVALID_TRAILER: 400,
  HPE_CLOSED_CONNECTION: 400,
  HPE_INVALID_STATUS: 502,
  HPE_INVALID_EOF_STATE: 502,
};

/** The HTTP status a server sends for a parse error. */
export function statusForError(code: HttpErrorCode): number {
  return STATUS_FOR_ERROR[code];
}

/** A short reason for a person, naming the limit that was hit where there is one. */
export function reasonForError(code: HttpErrorCode, limits: Partial<ParserLimits> = DEFAULT_LIMITS): string {
  const limit = { ...DEFAULT_LIMITS, ...limits };
  switch (code) {
    case HTTP_ERROR.INVALID_METHOD:
      return 'request method is not a token';
    case HTTP_ERROR.NOT_IMPLEMENTED:
      return 'request method is not implemented by this server';
    case HTTP_ERROR.INVALID_URL:
      return 'request target has an invalid character or form';
    case HTTP_ERROR.URI_TOO_LONG:
      return `request target exceeds ${limit.maxTargetBytes} bytes`;
    case HTTP_ERROR.INVALID_VERSION:
      return 'HTTP version is missing or malformed';
    case HTTP_ERROR.UNSUPPORTED_VERSION:
      return 'only HTTP/1.0 and HTTP/1.1 are supported';
    case HTTP_ERROR.CR_EXPECTED:
      return 'lines must end with CRLF, got a bare LF';
    case HTTP_ERROR.LF_EXPECTED:
      return 'lines must end with CRLF, got a CR without LF';
    case HTTP_ERROR.INVALID_HEADER_TOKEN:
      return 'header name is not a token or header value has a control character';
    case HTTP_ERROR.UNEXPECTED_SPACE:
      return 'header line starts with whitespace (obsolete line folding)';
    case HTTP_ERROR.HEADER_OVERFLOW:
      return `request headers exceed ${limit.maxHeadBytes} bytes`;
    case HTTP_ERROR.TOO_MANY_HEADERS:
      return `more than ${limit.maxHeaders} header fields`;
    case HTTP_ERROR.MISSING_HOST:
      return 'HTTP/1.1 requires exactly one Host header';
    case HTTP_ERROR.INVALID_HOST:
      return 'Host header is not a valid host[:port]';
    case HTTP_ERROR.INVALID_CONTENT_LENGTH:
      return 'Content-Length must be a non-negative whole number';
    case HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH:
      return 'Content-Length appears twice or together with Transfer-Encoding';
    case HTTP_ERROR.INVALID_TRANSFER_ENCODING:
      return 'Transfer-Encoding must end with chunked, once, and only in HTTP/1.1';
    case HTTP_ERROR.TRANSFER_CODING_NOT_IMPLEMENTED:
      return 'only the chunked transfer coding is implemented';
    case HTTP_ERROR.INVALID_CHUNK_SIZE:
      return 'chunk size is missing, not hexadecimal or too large';
    case HTTP_ERROR.INVALID_CHUNK_EXTENSION:
      return 'chunk extension is malformed';
    case HTTP_ERROR.CHUNK_EXTENSIONS_OVERFLOW:
      return `chunk size line exceeds ${MAX_CHUNK_LINE_BYTES} bytes`;
    case HTTP_ERROR.BODY_TOO_LARGE:
      // A limit of 0 is what a route that reads no body gets (RFC 9110 §15.5.14).
      return limit.maxBodyBytes === 0 ? 'this request takes no body' : `request body exceeds ${limit.maxBodyBytes} bytes`;
    case HTTP_ERROR.FORBIDDEN_TRAILER:
      return 'a trailer may not carry framing, routing or connection fields (Content-Length, Transfer-Encoding, Host, ...)';
    case HTTP_ERROR.CLOSED_CONNECTION:
      return 'data after a request that closes the connection';
    case HTTP_ERROR.INVALID_STATUS:
      return 'response status line is malformed';
    case HTTP_ERROR.INVALID_EOF_STATE:
      return 'connection closed in the middle of a message';
  }
}
