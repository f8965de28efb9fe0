/**
 * The response writer, byte for byte: status line, Date, Connection for each version and
 * keep-alive state, Content-Length in bytes, HEAD, and the statuses that carry no body.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HTTP_ERROR } from '../../src/http/constants.js';
import { PARSE } from '../../src/http/constants.js';
import { ResponseParser } from '../../src/http/response-parser.js';
import { errorResponse, formatHttpDate, responseForParseError, serializeResponse, STATUS_TEXT, type HttpResponse, type WriteContext } from '../../src/http/response-writer.js';

const DATE = 'Tue, 01 Sep 2026 10:00:00 GMT';
const KEEP_11: WriteContext = { date: DATE, versionMinor: 1, keepAlive: true, head: false };
const JSON_OK: HttpResponse = { status: 200, contentType: 'application/json', body: '{"age":33}' };

function bytesOf(written: string | Buffer): string {
  return typeof written === 'string' ? Buffer.from(written, 'utf8').toString('latin1') : written.toString('latin1');
}

describe('serializeResponse: exact bytes', () => {
  const cases: [string, HttpResponse, WriteContext, string][] = [
    ['200 on a kept-alive HTTP/1.1 connection', JSON_OK, KEEP_11, `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"age":33}`],
    [
      '404 with an error body',
      errorResponse(404, 'LAB_ERR_APP_NOT_FOUND', 'no route'),
      KEEP_11,
      `HTTP/1.1 404 Not Found\r\nDate: ${DATE}\r\nContent-Type: application/json\r\nContent-Length: 53\r\n\r\n{"error":"LAB_ERR_APP_NOT_FOUND","reason":"no route"}`,
    ],
    [
      'HEAD: same headers, Content-Length of the body it would have had, no body',
      JSON_OK,
      { ...KEEP_11, head: true },
      `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n`,
    ],
    [
      'HTTP/1.0 kept alive says keep-alive',
      JSON_OK,
      { ...KEEP_11, versionMinor: 0 },
      `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"age":33}`,
    ],
    [
      'HTTP/1.0 closing says close',
      JSON_OK,
      { ...KEEP_11, versionMinor: 0, keepAlive: false },
      `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"age":33}`,
    ],
    [
      'HTTP/1.1 closing says close',
      JSON_OK,
      { ...KEEP_11, keepAlive: false },
      `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"age":33}`,
    ],
    ['204 has neither body nor Content-Length', { status: 204, body: 'ignored' }, KEEP_11, `HTTP/1.1 204 No Content\r\nDate: ${DATE}\r\n\r\n`],
    ['304 has neither body nor Content-Length', { status: 304, headers: ['ETag', '"x"'] }, KEEP_11, `HTTP/1.1 304 Not Modified\r\nDate: ${DATE}\r\nETag: "x"\r\n\r\n`],
    ['100 has neither body nor Content-Length', { status: 100 }, KEEP_11, `HTTP/1.1 100 Continue\r\nDate: ${DATE}\r\n\r\n`],
    ['no body is Content-Length: 0', { status: 200 }, KEEP_11, `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Length: 0\r\n\r\n`],
    [
      'extra headers in order',
      { status: 503, headers: ['Retry-After', '1', 'X-A', 'b'], body: 'busy' },
      KEEP_11,
      `HTTP/1.1 503 Service Unavailable\r\nDate: ${DATE}\r\nRetry-After: 1\r\nX-A: b\r\nContent-Length: 4\r\n\r\nbusy`,
    ],
    [
      'Content-Length counts UTF-8 bytes, not characters',
      { status: 200, body: 'Düsseldorf €' },
      KEEP_11,
      `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Length: 15\r\n\r\n${Buffer.from('Düsseldorf €').toString('latin1')}`,
    ],
    ['a status without a known reason gets an empty one', { status: 299 }, KEEP_11, `HTTP/1.1 299 \r\nDate: ${DATE}\r\nContent-Length: 0\r\n\r\n`],
  ];
  for (const [name, response, context, expected] of cases) {
    it(name, () => assert.equal(bytesOf(serializeResponse(response, context)), expected));
  }

  it('a Buffer body is joined with its head into one Buffer', () => {
    const written = serializeResponse({ status: 200, contentType: 'application/octet-stream', body: Buffer.from([0, 1, 2, 0xff]) }, KEEP_11);
    assert.ok(Buffer.isBuffer(written));
    assert.equal(bytesOf(written), `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\xff`);
    const head = serializeResponse({ status: 200, body: Buffer.from('abc') }, { ...KEEP_11, head: true });
    assert.equal(bytesOf(head), `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nContent-Length: 3\r\n\r\n`);
  });

  it('a string body comes back as one string (written as UTF-8)', () => {
    assert.equal(typeof serializeResponse(JSON_OK, KEEP_11), 'string');
  });

  it('refuses a status outside 100-599', () => {
    assert.throws(() => serializeResponse({ status: 99 }, KEEP_11), RangeError);
    assert.throws(() => serializeResponse({ status: 600 }, KEEP_11), RangeError);
    assert.throws(() => serializeResponse({ status: 200.5 }, KEEP_11), RangeError);
  });

  it('is read back by our own response parser', () => {
    const parser = new ResponseParser({ keepBody: true });
    parser.expectResponseTo('GET');
    parser.expectResponseTo('HEAD');
    parser.expectResponseTo('GET');
    parser.feed(Buffer.from(serializeResponse(JSON_OK, KEEP_11)));
    parser.feed(Buffer.from(serializeResponse(JSON_OK, { ...KEEP_11, head: true })));
    parser.feed(Buffer.from(serializeResponse({ status: 204 }, { ...KEEP_11, keepAlive: false })));
    const seen: string[] = [];
    for (let step = parser.next(); step !== PARSE.NEED_MORE; step = parser.next()) {
      assert.notEqual(step, PARSE.ERROR, String(parser.error));
      if (step === PARSE.MESSAGE) seen.push(`${parser.response?.status} ${parser.response?.body?.toString() ?? '-'} ${parser.response?.keepAlive}`);
    }
    assert.deepEqual(seen, ['200 {"age":33} true', '200 - true', '204 - false']);
  });
});

describe('error responses', () => {
  it('errorResponse is JSON {"error","reason"} with extra headers', () => {
    const response = errorResponse(503, 'LAB_ERR_DB_POOL_TIMEOUT', 'pool "busy"', ['Retry-After', '1']);
    assert.deepEqual(response, {
      status: 503,
      contentType: 'application/json',
      body: '{"error":"LAB_ERR_DB_POOL_TIMEOUT","reason":"pool \\"busy\\""}',
      headers: ['Retry-After', '1'],
    });
  });

  it("responseForParseError uses the code's status and a reason naming the limit", () => {
    const response = responseForParseError(HTTP_ERROR.HEADER_OVERFLOW, { maxHeadBytes: 1000, maxHeaders: 10, maxTargetBytes: 100, maxBodyBytes: 10 });
    assert.equal(response.status, 431);
    assert.deepEqual(JSON.parse(response.body as string), { error: 'HPE_HEADER_OVERFLOW', reason: 'request headers exceed 1000 bytes' });
    assert.equal(responseForParseError(HTTP_ERROR.NOT_IMPLEMENTED).status, 501);
    assert.equal(responseForParseError(HTTP_ERROR.UNSUPPORTED_VERSION).status, 505);
    assert.equal(STATUS_TEXT[431], 'Request Header Fields Too Large');
  });
});

describe('formatHttpDate', () => {
  it('is IMF-fixdate (RFC 9110 §5.6.7)', () => {
    assert.equal(formatHttpDate(Date.UTC(1994, 10, 6, 8, 49, 37)), 'Sun, 06 Nov 1994 08:49:37 GMT');
    assert.equal(formatHttpDate(Date.UTC(2026, 0, 1, 0, 0, 0)), 'Thu, 01 Jan 2026 00:00:00 GMT');
    assert.match(formatHttpDate(Date.now()), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
  });
});
