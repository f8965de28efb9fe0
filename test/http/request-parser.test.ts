/**
 * The request parser, rule by rule (RFC 9112), as a table: input bytes and the expected
 * outcome (the requests that came out, or the error code). Every case runs whole, split in two
 * at every offset, and fed one byte at a time; all feedings must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS, HTTP_ERROR, PARSE, reasonForError, statusForError, type HttpErrorCode } from '../../src/http/constants.js';
import { RequestParser, type ParserLimits } from '../../src/http/request-parser.js';
import { parseChunks, type ParseOutcome, type SeenRequest } from './run-parser.js';
import { bytesOf, feedings, freshCopies, seededRandom } from './split.js';

interface Case {
  name: string;
  input: string;
  limits?: Partial<ParserLimits>;
  /** Expected fields of each complete request, in order (only the fields given are compared). */
  messages?: Partial<SeenRequest>[];
  error?: HttpErrorCode;
  /** The input ends inside a message (default false). */
  midMessage?: boolean;
}

const H = 'Host: example.com\r\n';

function checkCase(c: Case): void {
  const bytes = bytesOf(c.input);
  let reference: ParseOutcome | null = null;
  for (const { label, chunks } of feedings(bytes)) {
    const outcome = parseChunks(freshCopies(chunks), c.limits);
    assert.equal(outcome.error, c.error ?? null, `${c.name}: error (${label})`);
    if (c.messages !== undefined) {
      assert.equal(outcome.messages.length, c.messages.length, `${c.name}: number of requests (${label})`);
      c.messages.forEach((want, n) => {
        const got = outcome.messages[n] as SeenRequest;
        for (const key of Object.keys(want) as (keyof SeenRequest)[]) {
          assert.deepEqual(got[key], want[key], `${c.name}: request ${n} ${key} (${label})`);
        }
      });
    }
    if (c.error === undefined) assert.equal(outcome.midMessage, c.midMessage ?? false, `${c.name}: midMessage (${label})`);
    // Whatever the split, the outcome is the same as for the whole input.
    if (reference === null) reference = outcome;
    else assert.deepEqual(outcome, reference, `${c.name}: ${label} differs from whole input`);
  }
}

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const c of cases) it(c.name, () => checkCase(c));
  });
}

const ACCEPTED: Case[] = [
  {
    name: 'a small GET: every field',
    input: `GET /a?b=1 HTTP/1.1\r\n${H}Accept: */*\r\n\r\n`,
    messages: [
      {
        method: 'GET',
        target: '/a?b=1',
        versionMinor: 1,
        headers: ['Host', 'example.com', 'Accept', '*/*'],
        host: 'example.com',
        contentLength: -1,
        chunked: false,
        keepAlive: true,
        expectContinue: false,
        body: null,
        trailers: null,
      },
    ],
  },
  { name: 'HTTP/1.0 without Host is closed after', input: 'GET / HTTP/1.0\r\n\r\n', messages: [{ versionMinor: 0, host: null, keepAlive: false }] },
  { name: 'HTTP/1.0 with Connection: keep-alive stays open', input: 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', messages: [{ keepAlive: true }] },
  { name: 'HTTP/1.1 with Connection: close', input: `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, messages: [{ keepAlive: false }] },
  { name: 'close wins over keep-alive in one list', input: `GET / HTTP/1.1\r\n${H}Connection: keep-alive, Close\r\n\r\n`, messages: [{ keepAlive: false }] },
  { name: 'other connection options are ignored', input: `GET / HTTP/1.1\r\n${H}Connection: upgrade\r\nUpgrade: h2c\r\n\r\n`, messages: [{ keepAlive: true }] },
  { name: 'a Content-Length body', input: `POST /p HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, messages: [{ method: 'POST', contentLength: 5, body: 'hello' }] },
  { name: 'Content-Length: 0 has no body', input: `POST /p HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`, messages: [{ contentLength: 0, body: null }] },
  { name: 'Content-Length with leading zeros and OWS', input: `PUT /p HTTP/1.1\r\n${H}Content-Length:\t 003 \r\n\r\nabc`, messages: [{ contentLength: 3, body: 'abc' }] },
  { name: 'header names in any case', input: 'PUT /p HTTP/1.1\r\nHOST: h\r\ncontent-LENGTH: 1\r\n\r\nx', messages: [{ host: 'h', body: 'x' }] },
  {
    name: 'a chunked body with extensions, BWS and trailers',
    input: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=b;c\r\nhello\r\n6 ; q="x\\"y" ;r = s\r\n world\r\n0\r\nX-Sum: 42\r\nX-Two:  2 \r\n\r\n`,
    messages: [{ chunked: true, contentLength: -1, body: 'hello world', trailers: ['X-Sum', '42', 'X-Two', '2'] }],
  },
  {
    name: 'a body of 1-byte chunks within the framing budget',
    input: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${'1\r\nx\r\n'.repeat(30)}0\r\nX-Sum: 1\r\n\r\n`,
    limits: { maxBodyBytes: 1024 },
    messages: [{ body: 'x'.repeat(30), trailers: ['X-Sum', '1'] }],
  },
  {
    name: 'a chunked body: uppercase hex, 000 last chunk',
    input: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n000\r\n\r\n`,
    messages: [{ body: '0123456789', trailers: null }],
  },
  { name: 'an empty chunked body', input: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, messages: [{ chunked: true, body: null }] },
  {
    name: 'Transfer-Encoding: chunked, with empty list elements and any case',
    input: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: , CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    messages: [{ chunked: true, body: 'x' }],
  },
  {
    name: 'pipelined requests come out in order',
    input: `GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nabPUT /3 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\nGET /4 HTTP/1.1\r\n${H}\r\n`,
    messages: [{ target: '/1', body: null }, { target: '/2', body: 'ab' }, { target: '/3', body: 'c' }, { target: '/4' }],
  },
  { name: 'empty lines before the request-line are skipped (RFC 9112 §2.2)', input: `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, messages: [{ target: '/' }] },
  { name: 'four empty lines are still skipped', input: `\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, messages: [{ target: '/' }] },
  {
    name: 'empty lines between pipelined requests',
    input: `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    messages: [{ body: 'x' }, { method: 'GET' }],
  },
  {
    name: 'values: OWS trimmed, inner spaces and tabs kept, empty allowed, obs-text kept as latin1',
    input: `GET / HTTP/1.1\r\n${H}A:  x  y\t \r\nB:\r\nC: \t\r\nD: D\xfcsseldorf \xff\r\n\r\n`,
    messages: [{ headers: ['Host', 'example.com', 'A', 'x  y', 'B', '', 'C', '', 'D', 'D\xfcsseldorf \xff'] }],
  },
  { name: 'absolute-form target', input: `GET http://example.com:8080/x?y HTTP/1.1\r\n${H}\r\n`, messages: [{ target: 'http://example.com:8080/x?y' }] },
  // RFC 9112 §3.2.2: route by the path; the authority is the host, whatever Host says.
  {
    name: 'absolute-form routes by its path, its authority replacing Host',
    input: `GET http://h:81/age?birthdate=1993-05-01 HTTP/1.1\r\nHost: other\r\n\r\n`,
    messages: [{ target: 'http://h:81/age?birthdate=1993-05-01', path: '/age?birthdate=1993-05-01', host: 'h:81', headers: ['Host', 'other'] }],
  },
  { name: 'absolute-form without a path routes to /', input: `GET http://h HTTP/1.1\r\n${H}\r\n`, messages: [{ path: '/', host: 'h' }] },
  { name: 'absolute-form with only a query routes to /?query', input: `GET https://[::1]:8443?a=1 HTTP/1.1\r\n${H}\r\n`, messages: [{ path: '/?a=1', host: '[::1]:8443' }] },
  { name: 'origin-form: path is the target', input: `GET /a?b HTTP/1.1\r\n${H}\r\n`, messages: [{ target: '/a?b', path: '/a?b', host: 'example.com' }] },
  { name: 'asterisk-form for OPTIONS', input: `OPTIONS * HTTP/1.1\r\n${H}\r\n`, messages: [{ method: 'OPTIONS', target: '*' }] },
  {
    name: 'authority-form for CONNECT: no body, connection closes after',
    input: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 3\r\n\r\n',
    messages: [{ method: 'CONNECT', target: 'example.com:443', keepAlive: false, contentLength: -1, body: null }],
  },
  { name: 'printable characters RFC 3986 leaves out are accepted in a target', input: `GET /a|b^c{d}"e\\f HTTP/1.1\r\n${H}\r\n`, messages: [{ target: '/a|b^c{d}"e\\f' }] },
  { name: 'Expect: 100-continue on HTTP/1.1', input: `PUT / HTTP/1.1\r\n${H}Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nx`, messages: [{ expectContinue: true, body: 'x' }] },
  { name: 'Expect: 100-continue is ignored on HTTP/1.0', input: 'PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx', messages: [{ expectContinue: false }] },
  {
    name: 'other registered methods are known',
    input: `PATCH / HTTP/1.1\r\n${H}\r\nPROPFIND / HTTP/1.1\r\n${H}\r\nQUERY / HTTP/1.1\r\n${H}\r\n`,
    messages: [{ method: 'PATCH' }, { method: 'PROPFIND' }, { method: 'QUERY' }],
  },
  { name: 'Host: empty, IPv6 literal, port', input: 'GET / HTTP/1.1\r\nHost:\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', messages: [{ host: '' }, { host: '[::1]:8080' }] },
  { name: 'a HEAD request', input: `HEAD / HTTP/1.1\r\n${H}\r\n`, messages: [{ method: 'HEAD' }] },
  { name: 'a head cut short is NEED_MORE, mid-message', input: `GET / HTTP/1.1\r\n${H}`, messages: [], midMessage: true },
  { name: 'a body cut short is NEED_MORE, mid-message', input: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhel`, messages: [], midMessage: true },
  { name: 'a lone empty line is not a message', input: '\r\n', messages: [], midMessage: false },
  // Limits: exactly at the limit is fine.
  { name: 'head of exactly maxHeadBytes', input: 'GET / HTTP/1.1\r\nHost: h\r\nA: 12\r\n\r\n', limits: { maxHeadBytes: 34 }, messages: [{ target: '/' }] },
  { name: 'target of exactly maxTargetBytes', input: `GET /2345678 HTTP/1.1\r\n${H}\r\n`, limits: { maxTargetBytes: 8 }, messages: [{ target: '/2345678' }] },
  { name: 'exactly maxHeaders headers', input: 'GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n', limits: { maxHeaders: 2 }, messages: [{ target: '/' }] },
  { name: 'body of exactly maxBodyBytes', input: `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\n\r\nabcd`, limits: { maxBodyBytes: 4 }, messages: [{ body: 'abcd' }] },
  {
    name: 'chunked body of exactly maxBodyBytes',
    input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n`,
    limits: { maxBodyBytes: 4 },
    messages: [{ body: 'abcd' }],
  },
];

const POST_CHUNKED = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;

const REJECTED: Case[] = [
  // Request line.
  { name: 'method with a non-token byte', input: `G@T / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_METHOD },
  { name: 'request-line starting with a space', input: ` GET / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_METHOD },
  { name: 'two spaces after the method (empty target)', input: `GET  / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'more than four empty lines before the request-line', input: `\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_METHOD },
  { name: 'an unknown but valid method is 501', input: `BREW /pot HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.NOT_IMPLEMENTED },
  { name: 'methods are case-sensitive', input: `get / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.NOT_IMPLEMENTED },
  { name: 'the HTTP/2 preface method over HTTP/1.1', input: 'PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n', error: HTTP_ERROR.NOT_IMPLEMENTED },
  { name: 'the HTTP/2 preface is refused by version first', input: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', error: HTTP_ERROR.UNSUPPORTED_VERSION },
  { name: 'asterisk-form for GET', input: `GET * HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'asterisk followed by more', input: `OPTIONS *x HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'authority-form for GET', input: `GET example.com:80 HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'absolute-form with an empty host', input: `GET http:///x HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'absolute-form with userinfo (RFC 9110 §4.2.4)', input: `GET http://user:pw@h/x HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'absolute-form with an empty authority before a query', input: `GET http://?x HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'absolute-form with a bad port', input: `GET http://h:8x/ HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'origin-form for CONNECT', input: `CONNECT / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'CONNECT without a port', input: `CONNECT example.com HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'a fragment in the target', input: `GET /a#b HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'non-ASCII in the target', input: `GET /\xce\xb4 HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'a control byte in the target', input: `GET /a\x01 HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_URL },
  { name: 'a target over maxTargetBytes is 414', input: `GET /23456789 HTTP/1.1\r\n${H}\r\n`, limits: { maxTargetBytes: 8 }, error: HTTP_ERROR.URI_TOO_LONG },
  { name: 'a default-limit target over 8 KiB is 414', input: `GET /${'a'.repeat(8192)} HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.URI_TOO_LONG },
  { name: 'no version (HTTP/0.9 style)', input: 'GET /\r\n\r\n', error: HTTP_ERROR.INVALID_VERSION },
  { name: 'lowercase http', input: `GET / http/1.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_VERSION },
  { name: 'a version without minor', input: `GET / HTTP/1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_VERSION },
  { name: 'a two-digit major version', input: `GET / HTTP/11.1\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_VERSION },
  { name: 'a space after the version', input: `GET / HTTP/1.1 \r\n${H}\r\n`, error: HTTP_ERROR.INVALID_VERSION },
  { name: 'another protocol', input: `GET / RTSP/1.0\r\n${H}\r\n`, error: HTTP_ERROR.INVALID_VERSION },
  { name: 'HTTP/2.0 is 505', input: `GET / HTTP/2.0\r\n${H}\r\n`, error: HTTP_ERROR.UNSUPPORTED_VERSION },
  { name: 'HTTP/1.2 is 505', input: `GET / HTTP/1.2\r\n${H}\r\n`, error: HTTP_ERROR.UNSUPPORTED_VERSION },
  { name: 'HTTP/0.9 spelled out is 505', input: 'GET / HTTP/0.9\r\n\r\n', error: HTTP_ERROR.UNSUPPORTED_VERSION },
  // Line endings.
  { name: 'a bare LF ends the request-line', input: `GET / HTTP/1.1\n${H}\r\n`, error: HTTP_ERROR.CR_EXPECTED },
  { name: 'a bare LF ends a header line', input: 'GET / HTTP/1.1\r\nHost: h\nA: b\r\n\r\n', error: HTTP_ERROR.CR_EXPECTED },
  { name: 'a bare LF as the empty line', input: 'GET / HTTP/1.1\r\nHost: h\r\n\n', error: HTTP_ERROR.CR_EXPECTED },
  { name: 'a bare LF before the request-line', input: `\nGET / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.CR_EXPECTED },
  { name: 'a bare CR after the version', input: `GET / HTTP/1.1\rHost: h\r\n\r\n`, error: HTTP_ERROR.LF_EXPECTED },
  { name: 'a bare CR inside a header line', input: 'GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n', error: HTTP_ERROR.LF_EXPECTED },
  { name: 'a bare CR as the empty line', input: 'GET / HTTP/1.1\r\nHost: h\r\n\rX', error: HTTP_ERROR.LF_EXPECTED },
  { name: 'a bare CR before the request-line', input: `\r\rGET / HTTP/1.1\r\n${H}\r\n`, error: HTTP_ERROR.LF_EXPECTED },
  // Header fields.
  { name: 'whitespace before the colon', input: 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'whitespace inside a name', input: `GET / HTTP/1.1\r\n${H}A B: c\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'an empty name', input: `GET / HTTP/1.1\r\n${H}: c\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'a line without a colon', input: `GET / HTTP/1.1\r\n${H}Foo\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'a non-token byte in a name', input: `GET / HTTP/1.1\r\n${H}Fo@: c\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'NUL in a value', input: `GET / HTTP/1.1\r\n${H}A: b\x00c\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'a control byte (FF) in a value', input: `GET / HTTP/1.1\r\n${H}A: b\x0cc\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'DEL in a value', input: `GET / HTTP/1.1\r\n${H}A: b\x7fc\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'whitespace before the first header (RFC 9112 §2.2)', input: 'GET / HTTP/1.1\r\n Host: h\r\n\r\n', error: HTTP_ERROR.UNEXPECTED_SPACE },
  { name: 'obs-fold (RFC 9112 §5.2)', input: `GET / HTTP/1.1\r\n${H}A: b\r\n c\r\n\r\n`, error: HTTP_ERROR.UNEXPECTED_SPACE },
  { name: 'a head over maxHeadBytes is 431', input: 'GET / HTTP/1.1\r\nHost: h\r\nA: 123\r\n\r\n', limits: { maxHeadBytes: 34 }, error: HTTP_ERROR.HEADER_OVERFLOW },
  {
    name: 'a request-line over maxHeadBytes is 431',
    input: 'GET /234567890 HTTP/1.1\r\n\r\n',
    limits: { maxHeadBytes: 16, maxTargetBytes: 100 },
    error: HTTP_ERROR.HEADER_OVERFLOW,
  },
  { name: 'a default-limit head over 16 KiB is 431', input: `GET / HTTP/1.1\r\n${H}A: ${'x'.repeat(16384)}\r\n\r\n`, error: HTTP_ERROR.HEADER_OVERFLOW },
  { name: 'more than maxHeaders headers is 431', input: 'GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n', limits: { maxHeaders: 2 }, error: HTTP_ERROR.TOO_MANY_HEADERS },
  { name: '101 headers by default is 431', input: `GET / HTTP/1.1\r\n${H}${'A: 1\r\n'.repeat(100)}\r\n`, error: HTTP_ERROR.TOO_MANY_HEADERS },
  // Host (RFC 9112 §3.2).
  { name: 'HTTP/1.1 without Host', input: 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', error: HTTP_ERROR.MISSING_HOST },
  { name: 'two Host lines', input: 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', error: HTTP_ERROR.MISSING_HOST },
  { name: 'two Host lines in HTTP/1.0 too', input: 'GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n', error: HTTP_ERROR.MISSING_HOST },
  { name: 'a Host with a path', input: 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', error: HTTP_ERROR.INVALID_HOST },
  { name: 'a Host with userinfo', input: 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', error: HTTP_ERROR.INVALID_HOST },
  { name: 'a Host with a space', input: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', error: HTTP_ERROR.INVALID_HOST },
  { name: 'a Host with a bad port', input: 'GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n', error: HTTP_ERROR.INVALID_HOST },
  { name: 'a Host with an unclosed IP-literal', input: 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', error: HTTP_ERROR.INVALID_HOST },
  // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
  { name: 'a signed Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'a negative Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'an empty Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'a space inside Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: 4 2\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'a list in Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'a hex Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  {
    name: 'Content-Length past MAX_SAFE_INTEGER',
    input: `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`,
    limits: { maxBodyBytes: Number.MAX_SAFE_INTEGER },
    error: HTTP_ERROR.INVALID_CONTENT_LENGTH,
  },
  { name: 'a huge Content-Length', input: `POST / HTTP/1.1\r\n${H}Content-Length: 1000000000000000000000\r\n\r\n`, error: HTTP_ERROR.INVALID_CONTENT_LENGTH },
  { name: 'two different Content-Lengths', input: `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`, error: HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH },
  { name: 'two identical Content-Lengths', input: `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`, error: HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH },
  {
    name: 'Content-Length then Transfer-Encoding',
    input: `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    error: HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH,
  },
  {
    name: 'Transfer-Encoding then Content-Length',
    input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n`,
    error: HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH,
  },
  {
    name: 'Content-Length over maxBodyBytes is 413 at once',
    input: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n`,
    limits: { maxBodyBytes: 4 },
    error: HTTP_ERROR.BODY_TOO_LARGE,
  },
  { name: 'a default-limit Content-Length over 1 MiB is 413', input: `POST / HTTP/1.1\r\n${H}Content-Length: 1048577\r\n\r\n`, error: HTTP_ERROR.BODY_TOO_LARGE },
  // Transfer-Encoding (RFC 9112 §6.1).
  { name: 'chunked not last', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  {
    name: 'chunked not last, across two lines',
    input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n`,
    error: HTTP_ERROR.INVALID_TRANSFER_ENCODING,
  },
  { name: 'chunked twice', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'no chunked at all', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'identity is not chunked', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'an empty Transfer-Encoding', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'chunked with a parameter', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'a non-token coding', input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: @, chunked\r\n\r\n`, error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  { name: 'Transfer-Encoding in HTTP/1.0', input: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', error: HTTP_ERROR.INVALID_TRANSFER_ENCODING },
  {
    name: 'a coding we do not implement before chunked is 501',
    input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`,
    error: HTTP_ERROR.TRANSFER_CODING_NOT_IMPLEMENTED,
  },
  {
    name: 'deflate then chunked on two lines is 501',
    input: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n`,
    error: HTTP_ERROR.TRANSFER_CODING_NOT_IMPLEMENTED,
  },
  // Chunked bodies (RFC 9112 §7.1).
  { name: 'a non-hex chunk size', input: `${POST_CHUNKED}z\r\n`, error: HTTP_ERROR.INVALID_CHUNK_SIZE },
  { name: 'an empty chunk size', input: `${POST_CHUNKED}\r\n`, error: HTTP_ERROR.INVALID_CHUNK_SIZE },
  { name: 'a 0x prefix', input: `${POST_CHUNKED}0x5\r\n`, error: HTTP_ERROR.INVALID_CHUNK_SIZE },
  { name: 'a space after the size without an extension', input: `${POST_CHUNKED}5 \r\nhello\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_SIZE },
  { name: 'a word after the size without a semicolon', input: `${POST_CHUNKED}2 erf\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_SIZE },
  {
    name: 'a chunk size past MAX_SAFE_INTEGER',
    input: `${POST_CHUNKED}20000000000000\r\n`,
    limits: { maxBodyBytes: Number.MAX_SAFE_INTEGER },
    error: HTTP_ERROR.INVALID_CHUNK_SIZE,
  },
  { name: 'a semicolon without an extension name', input: `${POST_CHUNKED}2;\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'an extension with "=" but no value', input: `${POST_CHUNKED}2;a=\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'an unterminated quoted extension value', input: `${POST_CHUNKED}2;a="b\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'token bytes after a quoted extension value', input: `${POST_CHUNKED}2;a="b"c\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'whitespace inside an extension', input: `${POST_CHUNKED}2;a b\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'a trailing space after an extension', input: `${POST_CHUNKED}2;a \r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.INVALID_CHUNK_EXTENSION },
  { name: 'a size line over 4 KiB', input: `${POST_CHUNKED}2;a=${'b'.repeat(4100)}\r\naa\r\n0\r\n\r\n`, error: HTTP_ERROR.CHUNK_EXTENSIONS_OVERFLOW },
  { name: 'a bare CR after the size', input: `${POST_CHUNKED}2\raa\r\n0\r\n\r\n`, error: HTTP_ERROR.LF_EXPECTED },
  { name: 'chunk data longer than its size', input: `${POST_CHUNKED}2\r\naaa\r\n0\r\n\r\n`, error: HTTP_ERROR.CR_EXPECTED },
  { name: 'chunk data followed by a bare LF', input: `${POST_CHUNKED}2\r\naa\n0\r\n\r\n`, error: HTTP_ERROR.CR_EXPECTED },
  { name: 'chunk data followed by a bare CR', input: `${POST_CHUNKED}2\r\naa\r0\r\n\r\n`, error: HTTP_ERROR.LF_EXPECTED },
  { name: 'a malformed trailer', input: `${POST_CHUNKED}0\r\nBad Trailer: x\r\n\r\n`, error: HTTP_ERROR.INVALID_HEADER_TOKEN },
  { name: 'an obs-folded trailer', input: `${POST_CHUNKED}0\r\nA: b\r\n c\r\n\r\n`, error: HTTP_ERROR.UNEXPECTED_SPACE },
  {
    name: 'trailers count toward maxHeaders',
    input: 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n\r\n',
    limits: { maxHeaders: 2 },
    error: HTTP_ERROR.TOO_MANY_HEADERS,
  },
  {
    name: 'trailers count toward maxHeadBytes',
    input: 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 123456789\r\n\r\n',
    limits: { maxHeadBytes: 64 },
    error: HTTP_ERROR.HEADER_OVERFLOW,
  },
  { name: 'a chunk larger than maxBodyBytes is 413 at its size', input: `${POST_CHUNKED}5\r\n`, limits: { maxBodyBytes: 4 }, error: HTTP_ERROR.BODY_TOO_LARGE },
  { name: 'chunks that add up past maxBodyBytes are 413', input: `${POST_CHUNKED}3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n`, limits: { maxBodyBytes: 4 }, error: HTTP_ERROR.BODY_TOO_LARGE },
  // Trailers may not carry framing, routing or connection fields (RFC 9110 §6.5.1).
  { name: 'Content-Length in a trailer', input: `${POST_CHUNKED}1\r\nx\r\n0\r\nContent-Length: 5\r\n\r\n`, error: HTTP_ERROR.FORBIDDEN_TRAILER },
  { name: 'Transfer-Encoding in a trailer', input: `${POST_CHUNKED}0\r\nX-Ok: 1\r\ntransfer-encoding: chunked\r\n\r\n`, error: HTTP_ERROR.FORBIDDEN_TRAILER },
  { name: 'Host in a trailer', input: `${POST_CHUNKED}0\r\nHOST: evil.example\r\n\r\n`, error: HTTP_ERROR.FORBIDDEN_TRAILER },
  { name: 'Connection in a trailer', input: `${POST_CHUNKED}0\r\nConnection: close\r\n\r\n`, error: HTTP_ERROR.FORBIDDEN_TRAILER },
  // After a message that closes the connection (RFC 9112 §9.6).
  {
    name: 'a request after Connection: close',
    input: `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    messages: [{ keepAlive: false }],
    error: HTTP_ERROR.CLOSED_CONNECTION,
  },
  { name: 'a request after an HTTP/1.0 request', input: 'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n', messages: [{ versionMinor: 0 }], error: HTTP_ERROR.CLOSED_CONNECTION },
  { name: 'bytes after CONNECT', input: 'CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n\x16\x03\x01', messages: [{ method: 'CONNECT' }], error: HTTP_ERROR.CLOSED_CONNECTION },
];

table('RequestParser: accepted requests', ACCEPTED);
table('RequestParser: rejected requests', REJECTED);

describe('RequestParser: protocol details', () => {
  it('has tests for every request-side error code', () => {
    const tested = new Set(REJECTED.map((c) => c.error));
    const responseOnly = new Set<string>([HTTP_ERROR.INVALID_STATUS, HTTP_ERROR.INVALID_EOF_STATE]);
    for (const code of Object.values(HTTP_ERROR)) {
      if (!responseOnly.has(code)) assert.ok(tested.has(code), `no test rejects with ${code}`);
    }
  });

  it('stays silent after a close: stray line ends are not an error', () => {
    const outcome = parseChunks([bytesOf(`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n\r\n\r\n`)]);
    assert.equal(outcome.error, null);
    assert.equal(outcome.messages.length, 1);
  });

  it('returns HEAD then MESSAGE on the next call for a bodiless GET, then NEED_MORE', () => {
    const parser = new RequestParser();
    assert.equal(parser.next(), PARSE.NEED_MORE, 'nothing buffered');
    parser.feed(bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`));
    assert.equal(parser.next(), PARSE.HEAD);
    assert.equal(parser.midMessage, true);
    assert.equal(parser.next(), PARSE.MESSAGE);
    assert.equal(parser.midMessage, false);
    assert.equal(parser.next(), PARSE.NEED_MORE);
    assert.equal(parser.request, null, 'request is cleared once the next message starts');
    assert.equal(parser.bufferedBytes, 0);
  });

  it('returns HEAD before the body arrives (so the server can send 100 Continue)', () => {
    const parser = new RequestParser();
    parser.feed(bytesOf(`PUT / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`));
    assert.equal(parser.next(), PARSE.HEAD);
    assert.equal(parser.request?.expectContinue, true);
    assert.equal(parser.next(), PARSE.NEED_MORE);
    assert.equal(parser.bufferedBytes, 0);
    parser.feed(bytesOf('abc'));
    assert.equal(parser.next(), PARSE.MESSAGE);
    assert.equal(parser.request?.body?.toString(), 'abc');
  });

  it('hands out a body that lies in one chunk as a subarray of it (no copy)', () => {
    const chunk = bytesOf(`POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`);
    const parser = new RequestParser();
    parser.feed(chunk);
    assert.equal(parser.next(), PARSE.HEAD);
    assert.equal(parser.next(), PARSE.MESSAGE);
    const body = parser.request?.body as Buffer;
    assert.equal(body.buffer, chunk.buffer);
    assert.equal(body.byteOffset, chunk.byteOffset + chunk.length - 5);
  });

  it('keeps requests intact while later ones are parsed (append-only join buffer)', () => {
    const parser = new RequestParser();
    const seen: { target: string; headers: () => readonly string[]; body: Buffer | null }[] = [];
    const text = `POST /one HTTP/1.1\r\n${H}X-N: 1\r\nContent-Length: 3\r\n\r\nabcPOST /two HTTP/1.1\r\n${H}X-N: 2\r\nContent-Length: 3\r\n\r\ndef`;
    // Fed 7 bytes at a time, so heads and bodies are joined across chunks.
    const bytes = bytesOf(text);
    for (let at = 0; at < bytes.length; at += 7) {
      parser.feed(Buffer.from(bytes.subarray(at, at + 7)));
      for (let step = parser.next(); step !== PARSE.NEED_MORE; step = parser.next()) {
        const request = parser.request;
        if (step === PARSE.MESSAGE && request) seen.push({ target: request.target, headers: () => request.headers, body: request.body });
      }
    }
    assert.deepEqual(
      seen.map((r) => [r.target, [...r.headers()], r.body?.toString()]),
      [
        ['/one', ['Host', 'example.com', 'X-N', '1', 'Content-Length', '3'], 'abc'],
        ['/two', ['Host', 'example.com', 'X-N', '2', 'Content-Length', '3'], 'def'],
      ],
    );
  });

  it('keeps nothing fed after an error', () => {
    const parser = new RequestParser();
    parser.feed(bytesOf('BAD\x01 / HTTP/1.1\r\n'));
    assert.equal(parser.next(), PARSE.ERROR);
    parser.feed(bytesOf(`GET / HTTP/1.1\r\n${H}\r\n`));
    assert.equal(parser.bufferedBytes, 0);
    assert.equal(parser.retainedBytes, 0);
    assert.equal(parser.next(), PARSE.ERROR);
    assert.equal(parser.error, HTTP_ERROR.INVALID_METHOD);
  });

  it('header() finds the first value by lowercase name without decoding the rest', () => {
    const parser = new RequestParser();
    parser.feed(bytesOf(`GET / HTTP/1.1\r\n${H}X-A:  1 \r\nx-a: 2\r\nX-^: caret\r\n\r\n`));
    assert.equal(parser.next(), PARSE.HEAD);
    const request = parser.request;
    assert.equal(request?.header('x-a'), '1');
    assert.equal(request?.header('host'), 'example.com');
    assert.equal(request?.header('x-b'), undefined);
    assert.equal(request?.header('x-~'), undefined, "'^' is not '~' in another case");
    assert.equal(request?.header('x-^'), 'caret');
  });

  it('interns known methods', () => {
    const parser = new RequestParser();
    parser.feed(bytesOf(`GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\n`));
    parser.next();
    const first = parser.request?.method;
    parser.next();
    parser.next();
    assert.equal(parser.request?.method, first);
    assert.equal(first, 'GET');
  });

  it('buffers no more than the head limit plus one chunk while a head is incomplete', () => {
    const limits = { maxHeadBytes: 1024 };
    const parser = new RequestParser(limits);
    parser.feed(bytesOf('GET / HTTP/1.1\r\nA: '));
    let step: number = parser.next();
    for (let i = 0; i < 2000 && step === PARSE.NEED_MORE; i++) {
      parser.feed(bytesOf('x'));
      assert.ok(parser.bufferedBytes <= limits.maxHeadBytes + 1);
      step = parser.next();
    }
    assert.equal(step, PARSE.ERROR);
    assert.equal(parser.error, HTTP_ERROR.HEADER_OVERFLOW);
    assert.equal(parser.bufferedBytes, 0, 'input is dropped after an error');
  });
});

describe('error codes', () => {
  it('map each code to one status', () => {
    const expected: Record<string, number> = {
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
      HPE_CLOSED_CONNECTION: 400,
      HPE_INVALID_TRAILER: 400,
      HPE_INVALID_STATUS: 502,
      HPE_INVALID_EOF_STATE: 502,
    };
    assert.deepEqual(Object.values(HTTP_ERROR).sort(), Object.keys(expected).sort());
    for (const code of Object.values(HTTP_ERROR)) assert.equal(statusForError(code), expected[code], code);
  });

  it('give a reason for every code, naming the limit where there is one', () => {
    for (const code of Object.values(HTTP_ERROR)) assert.ok(reasonForError(code).length > 10, code);
    assert.equal(reasonForError(HTTP_ERROR.HEADER_OVERFLOW), `request headers exceed ${DEFAULT_LIMITS.maxHeadBytes} bytes`);
    assert.equal(reasonForError(HTTP_ERROR.HEADER_OVERFLOW, { maxHeadBytes: 100 }), 'request headers exceed 100 bytes');
    assert.equal(reasonForError(HTTP_ERROR.BODY_TOO_LARGE, { maxBodyBytes: 7 }), 'request body exceeds 7 bytes');
    assert.equal(reasonForError(HTTP_ERROR.BODY_TOO_LARGE, { maxBodyBytes: 0 }), 'this request takes no body');
    assert.equal(reasonForError(HTTP_ERROR.URI_TOO_LONG), 'request target exceeds 8192 bytes');
    assert.equal(reasonForError(HTTP_ERROR.TOO_MANY_HEADERS), 'more than 100 header fields');
  });
});

describe('RequestParser: chunk framing counts against the body limit', () => {
  // Issue 14: 1-byte chunks take 6 bytes on the wire per byte of body. Too long to split at
  // every offset (the allowance is one 4 KiB size line): whole, byte by byte, and 20 random cuts.
  it('framing past maxBodyBytes + one size line is 413, however the bytes are cut', () => {
    const bytes = bytesOf(`${POST_CHUNKED}${`1;e=${'b'.repeat(100)}\r\nx\r\n`.repeat(40)}0\r\n\r\n`);
    const random = seededRandom(14);
    const cuts: Buffer[][] = [[bytes], Array.from(bytes, (b) => Buffer.from([b]))];
    for (let n = 0; n < 20; n++) {
      const at = [0, ...Array.from({ length: 5 }, () => Math.floor(random() * bytes.length)).sort((x, y) => x - y), bytes.length];
      cuts.push(at.slice(1).map((end, i) => bytes.subarray(at[i] as number, end)));
    }
    for (const chunks of cuts) {
      const outcome = parseChunks(freshCopies(chunks), { maxBodyBytes: 100 });
      assert.deepEqual(outcome, { messages: [], error: HTTP_ERROR.BODY_TOO_LARGE, midMessage: false });
    }
  });
});

describe('RequestParser: a body limit per request (limitBody)', () => {
  const headOf = (parser: RequestParser, bytes: string): void => {
    parser.feed(bytesOf(bytes));
    assert.equal(parser.next(), PARSE.HEAD);
  };

  it('refuses a declared Content-Length over it at HEAD, before any body byte', () => {
    const parser = new RequestParser();
    headOf(parser, `POST /age HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\n`);
    assert.equal(parser.limitBody(0), false);
    assert.equal(parser.error, HTTP_ERROR.BODY_TOO_LARGE);
    assert.equal(parser.next(), PARSE.ERROR, 'ERROR is terminal');
  });

  it('holds a chunked body to it as it arrives, framing counted', () => {
    const parser = new RequestParser();
    headOf(parser, `POST /age HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
    assert.equal(parser.limitBody(0), true, 'a chunked head says nothing of its length yet');
    parser.feed(bytesOf('1\r\nx\r\n'));
    assert.equal(parser.next(), PARSE.ERROR);
    assert.equal(parser.error, HTTP_ERROR.BODY_TOO_LARGE);
  });

  it('lets an empty chunked body through a zero limit, and a body within a lower limit', () => {
    const empty = new RequestParser();
    headOf(empty, `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
    assert.equal(empty.limitBody(0), true);
    empty.feed(bytesOf('0\r\n\r\n'));
    assert.equal(empty.next(), PARSE.MESSAGE);
    assert.equal(empty.request?.body, null);
    const small = new RequestParser();
    headOf(small, `POST /a HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`);
    assert.equal(small.limitBody(3), true);
    assert.equal(small.next(), PARSE.MESSAGE);
    assert.equal(small.request?.body?.toString(), 'abc');
  });
});

/**
 * Issue 14: the parser kept one Buffer view per piece of body (~100 bytes of heap each,
 * whatever the piece's length), so 1-byte chunks grew a server by 1.6-1.8 GiB. Measured here
 * as the heap plus ArrayBuffer memory still held after a full GC, with the parser alive
 * mid-body: with coalescing it is about the body's own bytes (times two at most).
 */
describe('RequestParser: memory bounded by bytes received, however they are cut', async () => {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const heldBytes = (): number => {
    gc();
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  const BODY = 100_000;
  // 20 bytes of structure per byte of body would be ~4 MB; one view per piece is ~20 MB.
  const BOUND = 8 * BODY;

  it('a Content-Length body fed one byte per read', () => {
    const parser = new RequestParser();
    parser.feed(bytesOf(`POST /p HTTP/1.1\r\n${H}Content-Length: ${BODY + 1}\r\n\r\n`));
    assert.equal(parser.next(), PARSE.HEAD);
    const before = heldBytes();
    for (let i = 0; i < BODY; i++) {
      parser.feed(Buffer.from([0x61]));
      assert.equal(parser.next(), PARSE.NEED_MORE);
    }
    const grown = heldBytes() - before;
    assert.ok(parser.retainedBytes <= 2 * BODY + 1024, `retainedBytes ${parser.retainedBytes}`);
    assert.ok(grown < BOUND, `${BODY} body bytes in 1-byte reads held ${grown} bytes (bound ${BOUND})`);
  });

  it('a chunked body of 1-byte chunks in one read', () => {
    const parser = new RequestParser({ maxBodyBytes: 2 * 1024 * 1024 });
    parser.feed(bytesOf(`POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`));
    assert.equal(parser.next(), PARSE.HEAD);
    const wire = bytesOf('1\r\nx\r\n'.repeat(BODY));
    const before = heldBytes();
    parser.feed(wire);
    assert.equal(parser.next(), PARSE.NEED_MORE);
    // The wire bytes are consumed: what is held is the decoded body, coalesced.
    const grown = heldBytes() - before;
    assert.ok(parser.retainedBytes <= 2 * BODY + 1024, `retainedBytes ${parser.retainedBytes}`);
    assert.ok(grown < BOUND, `${BODY} 1-byte chunks held ${grown} bytes (bound ${BOUND})`);
    parser.feed(bytesOf('0\r\n\r\n'));
    assert.equal(parser.next(), PARSE.MESSAGE);
    assert.equal(parser.request?.body?.length, BODY);
  });
});
