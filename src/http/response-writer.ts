/**
 * Responses to bytes: the exact bytes for one `socket.write`. Pure: the server passes the
 * cached Date and the connection's state in a WriteContext.
 *
 *   HTTP/1.1 200 OK\r\n
 *   Date: Tue, 01 Sep 2026 10:00:00 GMT\r\n
 *   Content-Type: application/json\r\n
 *   Content-Length: 27\r\n
 *   \r\n
 *   {"birthdate":"...","age":33}
 *
 * String or Buffer? A response with a string body (or none) comes back as one string. Node's
 * StreamBase::WriteString flattens a string of up to 16 KiB into a 16 KiB stack buffer and tries
 * the write to the kernel right there (uv_try_write); only bytes the kernel does not take are
 * copied to the heap. So socket.write(string) makes no JS Buffer at all, where a Buffer costs an
 * allocation plus a copy per response. Measured by bench/parser.ts ("response write": the same
 * 200 JSON response written over loopback both ways, alternating, in one run): the string was
 * 1.06x to 1.28x the speed of the Buffer over five runs on a busy 2-core machine (single
 * rounds ranged from 0.8x to 1.35x). A small but steady win, and one allocation less per
 * response. A Buffer body is joined with its head into one Buffer: still one write.
 */
import { reasonForError, statusForError, type HttpErrorCode, type ParserLimits } from './constants.js';

export interface HttpResponse {
  status: number;
  contentType?: string;
  /** Extra header fields, flat [name, value, ...]. Names must be tokens, values must not contain CR or LF. */
  headers?: readonly string[];
  body?: string | Buffer;
}

export interface WriteContext {
  /** IMF-fixdate, from formatHttpDate (the server refreshes it once a second). */
  date: string;
  /** The request's version: decides how a persistent connection is announced. */
  versionMinor: 0 | 1;
  /** Will the connection carry another request after this response. */
  keepAlive: boolean;
  /** A response to HEAD: the same header fields, no body (RFC 9110 §9.3.2). */
  head: boolean;
}

/** Reason phrases (RFC 9110 §15; 429 and 431 from RFC 6585). A client ignores them, people read them. */
export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
});

/** "HTTP/1.1 NNN Reason\r\n" per status, built on first use. Always 1.1 (RFC 9110 §6.2). */
const STATUS_LINES: string[] = [];

function statusLine(status: number): string {
  let line = STATUS_LINES[status];
  if (line === undefined) {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`HTTP status must be 100-599, got ${status}`);
    // An unknown status gets an empty reason-phrase, which RFC 9112 §4 allows.
    line = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n`;
    STATUS_LINES[status] = line;
  }
  return line;
}

/** 1xx, 204 and 304 never carry content, nor (here) a Content-Length (RFC 9110 §6.4.1, §8.6). */
function hasNoContent(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** The exact bytes to write for `response` on a connection in `context`. */
export function serializeResponse(response: HttpResponse, context: WriteContext): string | Buffer {
  const status = response.status;
  let head = `${statusLine(status)}Date: ${context.date}\r\n`;
  // RFC 9112 §9.3/§9.6: HTTP/1.1 is persistent by default, so only closing needs saying (and
  // SHOULD be said); HTTP/1.0 closes by default, so staying open must be announced.
  if (!context.keepAlive) head += 'Connection: close\r\n';
  else if (context.versionMinor === 0) head += 'Connection: keep-alive\r\n';
  if (response.contentType !== undefined) head += `Content-Type: ${response.contentType}\r\n`;
  const extra = response.headers;
  if (extra !== undefined) {
    for (let i = 0; i + 1 < extra.length; i += 2) head += `${extra[i] as string}: ${extra[i + 1] as string}\r\n`;
  }
  const body = response.body;
  if (hasNoContent(status)) return `${head}\r\n`;
  if (body === undefined) return `${head}Content-Length: 0\r\n\r\n`;
  if (typeof body === 'string') {
    // Bytes, not characters: a JSON body may hold any Unicode.
    head += `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n\r\n`;
    return context.head ? head : head + body;
  }
  head += `Content-Length: ${body.length}\r\n\r\n`;
  if (context.head) return head;
  const headLength = head.length; // the head is ASCII: one byte per char
  const bytes = Buffer.allocUnsafe(headLength + body.length);
  bytes.write(head, 0, headLength, 'latin1');
  body.copy(bytes, headLength);
  return bytes;
}

/** A JSON error body, {"error":code,"reason":reason}, with the given status. */
export function errorResponse(status: number, code: string, reason: string, extraHeaders?: readonly string[]): HttpResponse {
  const response: HttpResponse = { status, contentType: 'application/json', body: JSON.stringify({ error: code, reason }) };
  if (extraHeaders !== undefined) response.headers = extraHeaders;
  return response;
}

/** The response to a request the parser refused: its status, its code and a reason naming the limit. */
export function responseForParseError(code: HttpErrorCode, limits?: ParserLimits): HttpResponse {
  return errorResponse(statusForError(code), code, reasonForError(code, limits));
}

/**
 * IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT". ECMAScript has specified
 * Date.prototype.toUTCString as exactly this format since ES2018 (for years 0 to 9999).
 */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
