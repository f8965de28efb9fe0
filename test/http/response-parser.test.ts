/**
 * The client-side parser the load generator reads responses with: status line, framing
 * (Content-Length, chunked, until close), 1xx skipping, HEAD/204/304, errors. Every case runs
 * whole, split at every offset and byte by byte, and once more through one shared read buffer
 * that is scribbled over after each read (the load generator's onread pattern).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HTTP_ERROR, PARSE, type HttpErrorCode } from '../../src/http/constants.js';
import { ResponseParser, type ResponseParserOptions } from '../../src/http/response-parser.js';
import { bytesOf, feedings, freshCopies } from './split.js';

interface SeenResponse {
  status: number;
  versionMinor: number;
  headers: readonly string[];
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  bodyBytes: number;
  body: string | null;
}

interface Outcome {
  responses: SeenResponse[];
  heads: number;
  error: HttpErrorCode | null;
  /** What finish() returned at EOF (when asked to call it). */
  finish?: string;
}

const STEP_NAME = ['NEED_MORE', 'HEAD', 'MESSAGE', 'ERROR'];

function snapshot(parser: ResponseParser): SeenResponse {
  const r = parser.response;
  assert.ok(r, 'response is set at MESSAGE');
  return {
    status: r.status,
    versionMinor: r.versionMinor,
    headers: r.headers,
    contentLength: r.contentLength,
    chunked: r.chunked,
    keepAlive: r.keepAlive,
    bodyBytes: r.bodyBytes,
    body: r.body === null ? null : r.body.toString('latin1'),
  };
}

interface RunOptions extends ResponseParserOptions {
  methods?: string[];
  finish?: boolean;
  /** Feed through one buffer that is overwritten after every read. */
  sharedBuffer?: boolean;
}

function run(chunks: Buffer[], options: RunOptions = {}): Outcome {
  const parser = new ResponseParser(options);
  for (const method of options.methods ?? ['GET', 'GET', 'GET']) parser.expectResponseTo(method);
  const outcome: Outcome = { responses: [], heads: 0, error: null };
  const shared = Buffer.alloc(64 * 1024);
  const drain = (): boolean => {
    for (;;) {
      const step = parser.next();
      if (step === PARSE.NEED_MORE) return true;
      if (step === PARSE.HEAD) outcome.heads++;
      else if (step === PARSE.MESSAGE) outcome.responses.push(snapshot(parser));
      else {
        outcome.error = parser.error;
        assert.equal(parser.next(), PARSE.ERROR, 'ERROR is terminal');
        return false;
      }
    }
  };
  let alive = true;
  for (const chunk of options.sharedBuffer ? chunks : freshCopies(chunks)) {
    if (options.sharedBuffer) {
      chunk.copy(shared);
      parser.feed(shared.subarray(0, chunk.length));
    } else parser.feed(chunk);
    alive = drain();
    if (options.sharedBuffer) shared.fill(0x7e);
    if (!alive) break;
  }
  if (alive && options.finish) {
    const step = parser.finish();
    outcome.finish = STEP_NAME[step];
    if (step === PARSE.MESSAGE) outcome.responses.push(snapshot(parser));
    if (step === PARSE.ERROR) outcome.error = parser.error;
  }
  return outcome;
}

/** Run every feeding of `text` and check they all agree with the expectation. */
function check(text: string, expected: Omit<Partial<Outcome>, 'responses'> & { responses?: Partial<SeenResponse>[] }, options: RunOptions = {}): void {
  const bytes = bytesOf(text);
  for (const shared of [false, true]) {
    for (const { label, chunks } of feedings(bytes)) {
      const outcome = run(chunks, { ...options, sharedBuffer: shared });
      const where = `${label}${shared ? ' (shared buffer)' : ''}`;
      assert.equal(outcome.error, expected.error ?? null, `error, ${where}`);
      if (expected.finish !== undefined) assert.equal(outcome.finish, expected.finish, `finish(), ${where}`);
      if (expected.responses !== undefined) {
        assert.equal(outcome.responses.length, expected.responses.length, `responses, ${where}`);
        expected.responses.forEach((want, n) => {
          const got = outcome.responses[n] as SeenResponse;
          for (const key of Object.keys(want) as (keyof SeenResponse)[]) {
            assert.deepEqual(got[key], want[key], `response ${n} ${key}, ${where}`);
          }
        });
      }
    }
  }
}

describe('ResponseParser: framing', () => {
  it('reads a Content-Length body and counts its bytes without keeping them', () => {
    check('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello', {
      responses: [
        {
          status: 200,
          versionMinor: 1,
          contentLength: 5,
          chunked: false,
          keepAlive: true,
          bodyBytes: 5,
          body: null,
          headers: ['Content-Type', 'text/plain', 'Content-Length', '5'],
        },
      ],
    });
  });

  it('keeps the body with keepBody', () => {
    check('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', { responses: [{ bodyBytes: 5, body: 'hello' }] }, { keepBody: true });
  });

  it('decodes a chunked body with extensions and trailers', () => {
    const text = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6 ; q="x\\"y"\r\n world\r\n0\r\nEtag: "z"\r\n\r\n';
    check(text, { responses: [{ status: 200, chunked: true, contentLength: -1, bodyBytes: 11, body: null, keepAlive: true }] });
    check(text, { responses: [{ bodyBytes: 11, body: 'hello world' }] }, { keepBody: true });
  });

  it('reads pipelined responses one after another', () => {
    check(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n',
      {
        responses: [
          { status: 200, bodyBytes: 2 },
          { status: 404, bodyBytes: 0 },
          { status: 200, bodyBytes: 1 },
        ],
      },
    );
  });

  it('gives a HEAD response no body whatever its Content-Length says', () => {
    check(
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
      {
        responses: [
          { status: 200, contentLength: 10, bodyBytes: 0 },
          { status: 200, bodyBytes: 1 },
        ],
      },
      { methods: ['HEAD', 'GET'] },
    );
  });

  it('gives 204 and 304 no body', () => {
    check('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', {
      responses: [{ status: 204, bodyBytes: 0 }, { status: 304, bodyBytes: 0, contentLength: 7 }, { status: 200 }],
    });
  });

  it('skips 1xx responses before the final one', () => {
    check('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', {
      heads: 1,
      responses: [{ status: 201, bodyBytes: 2, headers: ['Content-Length', '2'] }],
    });
  });

  it('reads a body without framing until the server closes (finish)', () => {
    check(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes',
      {
        finish: 'MESSAGE',
        responses: [{ status: 200, keepAlive: false, bodyBytes: 10, body: 'some bytes' }],
      },
      { finish: true, keepBody: true },
    );
  });

  it('reads until close when the final transfer coding is not chunked', () => {
    check('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz', { finish: 'MESSAGE', responses: [{ keepAlive: false, bodyBytes: 3 }] }, { finish: true });
  });

  it('keeps HTTP/1.0 connections alive only when asked, and honours Connection: close', () => {
    check('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', { responses: [{ versionMinor: 0, keepAlive: false }] });
    check('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n', { responses: [{ versionMinor: 0, keepAlive: true }] });
    check('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', { responses: [{ keepAlive: false }] });
  });

  it('accepts an empty reason phrase and obs-text in it', () => {
    check('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n', { responses: [{ status: 200 }] });
    check('HTTP/1.1 200 D\xfcrfen\r\nContent-Length: 0\r\n\r\n', { responses: [{ status: 200 }] });
  });

  it('finds a header by lowercase name', () => {
    const parser = new ResponseParser();
    parser.feed(bytesOf('HTTP/1.1 200 OK\r\nX-One: 1\r\nContent-TYPE:  application/json \r\nContent-Length: 0\r\n\r\n'));
    assert.equal(parser.next(), PARSE.HEAD);
    assert.equal(parser.response?.header('content-type'), 'application/json');
    assert.equal(parser.response?.header('x-two'), undefined);
    assert.equal(parser.next(), PARSE.MESSAGE);
  });
});

describe('ResponseParser: end of input', () => {
  it('finish() is NEED_MORE between responses', () => {
    check('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', { finish: 'NEED_MORE', responses: [{ status: 200 }] }, { finish: true });
  });

  for (const [name, text] of [
    ['in the status line', 'HTTP/1.1 20'],
    ['in the headers', 'HTTP/1.1 200 OK\r\nContent-Len'],
    ['in a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'],
    ['in a chunked body', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'],
  ] as const) {
    it(`finish() is ERROR when the server closes ${name}`, () => {
      check(text, { finish: 'ERROR', error: HTTP_ERROR.INVALID_EOF_STATE, responses: [] }, { finish: true });
    });
  }
});

describe('ResponseParser: errors', () => {
  const cases: [string, string, HttpErrorCode, ResponseParserOptions?][] = [
    ['HTTP/2 version', 'HTTP/2.0 200 OK\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['lowercase http', 'http/1.1 200 OK\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['status 600', 'HTTP/1.1 600 Odd\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['no space after the status code', 'HTTP/1.1 200\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['CTL in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['bare LF after the status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['101 without an Upgrade', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', HTTP_ERROR.INVALID_STATUS],
    ['bare LF after a header', 'HTTP/1.1 200 OK\r\nA: b\nContent-Length: 0\r\n\r\n', HTTP_ERROR.CR_EXPECTED],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', HTTP_ERROR.INVALID_HEADER_TOKEN],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n', HTTP_ERROR.UNEXPECTED_SPACE],
    ['signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n', HTTP_ERROR.INVALID_CONTENT_LENGTH],
    ['duplicate Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n', HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH],
    ['Content-Length with chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', HTTP_ERROR.UNEXPECTED_CONTENT_LENGTH],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', HTTP_ERROR.INVALID_TRANSFER_ENCODING],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n', HTTP_ERROR.INVALID_CHUNK_SIZE],
    ['chunk data without CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy', HTTP_ERROR.CR_EXPECTED],
    ['too many headers', 'HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n', HTTP_ERROR.TOO_MANY_HEADERS, { maxHeaders: 2 }],
    ['head too large', `HTTP/1.1 200 OK\r\nA: ${'x'.repeat(100)}\r\n\r\n`, HTTP_ERROR.HEADER_OVERFLOW, { maxHeadBytes: 64 }],
    ['status line too large', `HTTP/1.1 200 ${'x'.repeat(100)}\r\n\r\n`, HTTP_ERROR.HEADER_OVERFLOW, { maxHeadBytes: 64 }],
    ['kept body too large', 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world', HTTP_ERROR.BODY_TOO_LARGE, { keepBody: true, maxBodyBytes: 10 }],
    [
      'kept chunked body too large',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n',
      HTTP_ERROR.BODY_TOO_LARGE,
      { keepBody: true, maxBodyBytes: 10 },
    ],
  ];
  for (const [name, text, code, options] of cases) {
    it(`rejects ${name} with ${code}`, () => check(text, { error: code, responses: [] }, options));
  }

  it('does not limit a body it only counts', () => {
    check('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world', { responses: [{ bodyBytes: 11 }] }, { maxBodyBytes: 10 });
  });
});
