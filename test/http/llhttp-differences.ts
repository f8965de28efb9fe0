/**
 * Every llhttp case where our parser deliberately gives a different verdict, with the reason.
 * docs/conformance.md shows the same list as tables; the conformance test checks both ways that
 * each case listed here differs exactly as stated (so the list cannot rot) and that docs and
 * this file name the same cases.
 *
 * `ours` is what our parser does with default options: how many requests it completes, then
 * its error (null: it accepts, or waits for more). `withoutHost` is the same with the
 * Host rule off, when that changes the outcome; for kind HOST it is "agrees with llhttp".
 */
import { HTTP_ERROR, type HttpErrorCode } from '../../src/http/constants.js';

export const DIFFERENCE_KIND = {
  /** HTTP/1.1 without Host: llhttp leaves this rule to Node's http layer; we apply it in the parser. */
  HOST: 'host',
  /** A strict-mode case where we refuse what llhttp accepts. */
  STRICTER: 'stricter',
  /** A case of one of llhttp's opt-in lenient modes: we give the strict verdict. */
  LENIENT_MODE: 'lenient-mode',
  /** Not comparable; not checked against llhttp (still parsed whole and at every split). */
  SKIPPED: 'skipped',
} as const;
export type DifferenceKind = (typeof DIFFERENCE_KIND)[keyof typeof DIFFERENCE_KIND];

export interface Outcome {
  messages: number;
  error: HttpErrorCode | null;
}

export interface Difference {
  /** `file#heading` (with " (2)" for a repeated heading). */
  key: string;
  kind: DifferenceKind;
  reason: string;
  ours: Outcome;
  withoutHost?: Outcome;
}

const MISSING_HOST: Outcome = { messages: 0, error: HTTP_ERROR.MISSING_HOST };

const HOST_REASON =
  'RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host. llhttp leaves this to Node (http.createServer requireHostHeader); with the rule off our parser agrees with llhttp on everything else.';

/** Cases whose only difference is the missing Host header. */
const HOST_ONLY = [
  'connection.md#Setting flag',
  'connection.md#Restarting when keep-alive is explicitly',
  'connection.md#Setting flag on `close`',
  'connection.md#Setting flag on `close` followed by tab',
  'connection.md#Sample',
  'connection.md#Multiple tokens with folding and LWS',
  'connection.md#Setting a flag and pausing',
  'connection.md#Emitting part of body and pausing',
  'content-length.md#`Content-Length` with zeroes',
  'content-length.md#`Content-Length` with follow-up headers',
  'content-length.md#Spaces in `Content-Length` (surrounding)',
  'content-length.md#Tabs in `Content-Length` (surrounding)',
  'finish.md#It should be safe to finish after GET request',
  'method.md#REPORT request',
  'pausing.md#on_message_begin',
  'pausing.md#on_message_complete',
  'pausing.md#on_protocol_complete',
  'pausing.md#on_method_complete',
  'pausing.md#on_url_complete',
  'pausing.md#on_version_complete',
  'pausing.md#on_header_field_complete',
  'pausing.md#on_header_value_complete',
  'pausing.md#on_headers_complete',
  'pausing.md#on_chunk_header',
  'pausing.md#on_chunk_extension_name',
  'pausing.md#on_chunk_extension_value',
  'pausing.md#on_chunk_complete',
  'pipelining.md#Should parse multiple events',
  'sample.md#Simple request',
  'sample.md#Request with method starting with `H`',
  'sample.md#DUMBPACK',
  'sample.md#No headers and no body',
  'sample.md#One header and no body',
  'sample.md#Prefix newline',
  'sample.md#Request starting with CRLF',
  'sample.md#Extended Characters',
  'sample.md#255 ASCII in header value',
  'transfer-encoding.md#Parsing and setting flag',
  'transfer-encoding.md#Parse chunks with lowercase size',
  'transfer-encoding.md#Parse chunks with uppercase size',
  'transfer-encoding.md#POST with `Transfer-Encoding: chunked`',
  'transfer-encoding.md#Two chunks and triple zero prefixed end chunk',
  'transfer-encoding.md#Trailing headers',
  'transfer-encoding.md#Chunk extensions',
  'transfer-encoding.md#Chunk extensions quoting',
  'uri.md#Quotes in URI',
  'uri.md#Query URL with question mark',
  'uri.md#Host terminated by a query string',
  'uri.md#`host:port` terminated by a query string',
  'uri.md#Query URL with vertical bar character',
  'uri.md#`host:port` terminated by a space',
];

const FRAGMENT = 'the target carries a fragment ("#hey"), which is never part of a request-target (RFC 9112 §3.2.1), so it is refused first';

function stricter(key: string, error: HttpErrorCode, reason: string): Difference {
  return { key, kind: DIFFERENCE_KIND.STRICTER, reason, ours: { messages: 0, error } };
}

function lenient(key: string, ours: Outcome, reason: string, withoutHost?: Outcome): Difference {
  const difference: Difference = { key, kind: DIFFERENCE_KIND.LENIENT_MODE, reason, ours };
  if (withoutHost !== undefined) difference.withoutHost = withoutHost;
  return difference;
}

const E = HTTP_ERROR;
const none = (error: HttpErrorCode, messages = 0): Outcome => ({ messages, error });

export const DIFFERENCES: readonly Difference[] = [
  ...HOST_ONLY.map((key): Difference => ({ key, kind: DIFFERENCE_KIND.HOST, reason: HOST_REASON, ours: MISSING_HOST })),

  // Strict mode: we refuse what llhttp accepts.
  stricter('method.md#M-SEARCH request', E.NOT_IMPLEMENTED, 'M-SEARCH (SSDP/UPnP) is not in the IANA HTTP Method Registry: 501 (RFC 9110 §9.1).'),
  stricter('method.md#PURGE request', E.NOT_IMPLEMENTED, 'PURGE (a cache-proxy convention) is not in the IANA HTTP Method Registry: 501 (RFC 9110 §9.1).'),
  stricter('method.md#SOURCE request', E.NOT_IMPLEMENTED, 'SOURCE (Icecast) is not in the IANA HTTP Method Registry: 501 (RFC 9110 §9.1).'),
  stricter('method.md#SOURCE request with ICE', E.INVALID_VERSION, 'ICE/1.0 is not HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3): 400.'),
  stricter('method.md#OPTIONS request with RTSP', E.INVALID_VERSION, 'RTSP/1.0 is not an HTTP-version (RFC 9112 §2.3): this server speaks HTTP only.'),
  stricter('method.md#ANNOUNCE request with RTSP', E.INVALID_VERSION, 'RTSP/1.0 is not an HTTP-version (RFC 9112 §2.3): this server speaks HTTP only.'),
  stricter('sample.md#No HTTP version', E.INVALID_VERSION, 'An HTTP/0.9 request-line (no version) is not request-line = method SP request-target SP HTTP-version (RFC 9112 §3).'),
  stricter(
    'uri.md#Fragment in URI',
    E.INVALID_URL,
    'A fragment is never part of a request-target (RFC 9112 §3.2.1, origin-form = absolute-path [ "?" query ]); a hop that strips it and one that keeps it could route differently.',
  ),
  stricter(
    'uri.md#`host:port` and basic auth',
    E.INVALID_URL,
    'An absolute-form target routes by its authority, which stands in for Host (RFC 9112 §3.2.2); userinfo there ("user:pass@host") is deprecated and a recipient SHOULD treat it as an error (RFC 9110 §4.2.4).',
  ),
  stricter(
    'transfer-encoding.md#POST with `chunked` as last transfer-encoding',
    E.INVALID_URL,
    `${FRAGMENT}; the body would be refused next: "deflate, chunked" lists a coding we do not implement (RFC 9112 §6.1: 501).`,
  ),
  stricter(
    'transfer-encoding.md#POST with `chunked` as last transfer-encoding (multiple headers)',
    E.INVALID_URL,
    `${FRAGMENT}; then "deflate" before "chunked" would get 501 (RFC 9112 §6.1).`,
  ),

  // llhttp's lenient modes: the strict verdict.
  lenient(
    'connection.md#Resetting flags when keep-alive is off (1.0, lenient)',
    none(E.CLOSED_CONNECTION, 1),
    'HTTP/1.0 without keep-alive ends the connection; a further request MUST NOT be processed (RFC 9112 §9.3, §9.6).',
  ),
  lenient(
    'connection.md#CRLF between requests, explicit `close` (lenient)',
    none(E.CLOSED_CONNECTION, 1),
    'After Connection: close no further request may be processed (RFC 9112 §9.6).',
  ),
  lenient('connection.md#Multiple tokens with folding', none(E.UNEXPECTED_SPACE), 'obs-fold MUST be rejected in a request (RFC 9112 §5.2).'),
  lenient('connection.md#Multiple tokens with folding, LWS, and CRLF', none(E.UNEXPECTED_SPACE), 'obs-fold MUST be rejected in a request (RFC 9112 §5.2).'),
  lenient(
    'connection.md#Invalid whitespace token with `Connection` header field (lenient)',
    none(E.INVALID_HEADER_TOKEN),
    'Whitespace between a field name and the colon MUST be rejected (RFC 9112 §5.1).',
  ),
  lenient(
    'content-length.md#Invalid whitespace token with `Content-Length` header field (lenient)',
    none(E.INVALID_HEADER_TOKEN),
    'Whitespace between a field name and the colon MUST be rejected (RFC 9112 §5.1).',
  ),
  lenient(
    'content-length.md#No error on simultaneous `Content-Length` and `Transfer-Encoding: identity` (lenient)',
    MISSING_HOST,
    'No Host (RFC 9112 §3.2); without that rule, Content-Length with Transfer-Encoding is refused (RFC 9112 §6.1, §6.3 rule 3).',
    none(E.UNEXPECTED_CONTENT_LENGTH),
  ),
  lenient('content-length.md#Missing CRLF-CRLF before body (lenient)', none(E.LF_EXPECTED), 'A CR not followed by LF is not a line ending (RFC 9112 §2.2).'),
  lenient('invalid.md#Headers separated by dummy characters (lenient)', none(E.LF_EXPECTED), 'A CR not followed by LF is not a line ending (RFC 9112 §2.2).'),
  lenient('invalid.md#Only LFs present (lenient)', none(E.CR_EXPECTED), 'A bare LF is not a line ending here (RFC 9112 §2.2): we accept CRLF only.'),
  lenient('invalid.md#Spaces before headers (lenient)', none(E.UNEXPECTED_SPACE), 'obs-fold MUST be rejected in a request (RFC 9112 §5.2).'),
  lenient(
    'lenient-header-value-relaxed.md#Control char in header value (relaxed)',
    none(E.INVALID_HEADER_TOKEN),
    'A CTL (form feed) in a field value is invalid (RFC 9110 §5.5); we keep none.',
  ),
  lenient('lenient-headers.md#Header value (lenient)', none(E.INVALID_HEADER_TOKEN), 'A CTL (form feed) in a field value is invalid (RFC 9110 §5.5).'),
  lenient(
    'lenient-headers.md#Second request header value (lenient)',
    MISSING_HOST,
    'No Host (RFC 9112 §3.2); without that rule, the first request is fine and the form feed in the second one is invalid (RFC 9110 §5.5).',
    none(E.INVALID_HEADER_TOKEN, 1),
  ),
  lenient('lenient-headers.md#Empty headers separated by CR (lenient)', none(E.LF_EXPECTED), 'A CR not followed by LF is not a line ending (RFC 9112 §2.2).'),
  lenient('lenient-version.md#Invalid HTTP version (lenient)', none(E.UNSUPPORTED_VERSION), 'HTTP/5.6 is well formed but not a version we speak: 505 (RFC 9110 §15.6.6).'),
  lenient('sample.md#Line folding in header value with CRLF', none(E.UNEXPECTED_SPACE), 'obs-fold MUST be rejected in a request (RFC 9112 §5.2).'),
  lenient('sample.md#No LF after CR (lenient)', none(E.LF_EXPECTED), 'A CR not followed by LF is not a line ending (RFC 9112 §2.2).'),
  lenient('sample.md#X-SSL-Nonsense', none(E.UNEXPECTED_SPACE), 'obs-fold MUST be rejected in a request (RFC 9112 §5.2).'),
  lenient(
    'transfer-encoding.md#POST with `Transfer-Encoding` and `Content-Length` (lenient)',
    none(E.INVALID_URL),
    `${FRAGMENT}; Content-Length with Transfer-Encoding would be refused next (RFC 9112 §6.1).`,
  ),
  lenient(
    'transfer-encoding.md#POST with `chunked` before other transfer-coding (lenient)',
    none(E.INVALID_URL),
    `${FRAGMENT}; chunked not last would be refused next (RFC 9112 §6.1: 400).`,
  ),
  lenient(
    'transfer-encoding.md#POST with `chunked` and duplicate transfer-encoding (lenient)',
    none(E.INVALID_URL),
    `${FRAGMENT}; chunked not last would be refused next (RFC 9112 §6.1: 400).`,
  ),
  lenient('transfer-encoding.md#Chunk header not terminated by CRLF (lenient)', none(E.LF_EXPECTED), 'The chunk-size line must end with CRLF (RFC 9112 §7.1, §2.2).'),
  lenient('transfer-encoding.md#Chunk data not terminated by CRLF (lenient)', none(E.CR_EXPECTED), 'chunk-data is followed by CRLF (RFC 9112 §7.1); without it the size lied.'),
  lenient(
    'transfer-encoding.md#Space after chunk header (lenient)',
    MISSING_HOST,
    'No Host (RFC 9112 §3.2); without that rule, whitespace after a chunk size with no extension is outside the grammar (RFC 9112 §7.1.1: BWS only before ";").',
    none(E.INVALID_CHUNK_SIZE),
  ),

  {
    key: 'content-length.md#Content-Length reset when no body is received',
    kind: DIFFERENCE_KIND.SKIPPED,
    reason:
      'The case uses llhttp\'s skipBody callback (on_headers_complete returns 1: "this message has no body", as for a response to HEAD). A request parser has no such mode, so the framing differs by construction.',
    ours: MISSING_HOST,
  },
];
