/**
 * Property tests over hostile input, deterministic (seeded PRNG, so a failure replays) and fast.
 *
 * For random bytes and for mutations of valid requests (bytes flipped, inserted, deleted,
 * duplicated, interesting fragments spliced in, truncated), fed in random pieces:
 * - the parsers never throw and next() always returns a valid ParseStep;
 * - ERROR is terminal;
 * - memory is bounded: after next() returns NEED_MORE the request parser holds no more than the
 *   head limit in unconsumed input, and no more than head + body limits in all;
 * - the outcome does not depend on how the bytes were split (TCP gives no boundaries).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PARSE, type ParseStep } from '../../src/http/constants.js';
import { RequestParser, type ParserLimits } from '../../src/http/request-parser.js';
import { ResponseParser } from '../../src/http/response-parser.js';
import { snapshotRequest, type ParseOutcome } from './run-parser.js';
import { bytesOf, seededRandom } from './split.js';

const SEED = 0x50c1e7;
const VALID_STEPS = new Set<number>([PARSE.NEED_MORE, PARSE.HEAD, PARSE.MESSAGE, PARSE.ERROR]);

const SEED_REQUESTS = [
  'GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n',
  'GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world',
  'PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n',
  'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.0\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n',
  'CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n',
  '\r\nGET http://a.b/c HTTP/1.1\r\nHost: a.b\r\nConnection: close\r\n\r\n',
].map(bytesOf);

const FRAGMENTS = [
  '\r\n', '\n', '\r', ' ', '\t', ':', ';', '"', '\\', '\x00', '\x7f', '\xff', '#', '*', '0', 'f', '/',
  '\r\n\r\n', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'Host: x\r\n', 'Content-Length: 5\r\n', 'Content-Length: 99999999999999999999\r\n',
  'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip\r\n', 'Connection: close\r\n', '0\r\n\r\n', 'ffffffff\r\n', '5;a="b\\"c"\r\n',
].map(bytesOf);

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const below = (random: Random, n: number): number => Math.floor(random() * n);

function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = below(random, 256);
  return bytes;
}

/** One to four mutations of a valid request. */
function mutate(random: Random, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + below(random, 4);
  for (let r = 0; r < rounds; r++) {
    const at = below(random, bytes.length + 1);
    switch (below(random, 6)) {
      case 0: // flip a bit
        if (bytes.length > 0) {
          const i = Math.min(at, bytes.length - 1);
          bytes[i] = (bytes[i] as number) ^ (1 << below(random, 8));
        }
        break;
      case 1: // insert a random byte
        bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(random, 1), bytes.subarray(at)]);
        break;
      case 2: // delete a run
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + below(random, 4))]);
        break;
      case 3: {
        // duplicate a run
        const length = 1 + below(random, 16);
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + length), bytes.subarray(at)]);
        break;
      }
      case 4: // splice in a fragment
        bytes = Buffer.concat([bytes.subarray(0, at), pick(random, FRAGMENTS), bytes.subarray(at)]);
        break;
      default: // truncate
        bytes = bytes.subarray(0, at);
    }
  }
  return bytes;
}

/** Cut into random pieces, from one byte up to the whole. */
function randomPieces(random: Random, bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = random() < 0.3 ? 1 : 1 + below(random, bytes.length);
    pieces.push(Buffer.from(bytes.subarray(at, at + length)));
    at += length;
  }
  return pieces;
}

/** Feed pieces, checking every property on the way; return what came out. */
function runRequestParser(pieces: Buffer[], limits: Partial<ParserLimits>): ParseOutcome {
  const parser = new RequestParser(limits);
  const maxHead = limits.maxHeadBytes as number;
  const maxBody = limits.maxBodyBytes as number;
  const outcome: ParseOutcome = { messages: [], error: null, midMessage: false };
  for (const piece of pieces) {
    parser.feed(piece);
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 10_000, 'next() does not make progress');
      const step: ParseStep = parser.next();
      assert.ok(VALID_STEPS.has(step), `next() returned ${step}`);
      if (step === PARSE.MESSAGE) {
        const request = parser.request;
        assert.ok(request);
        assert.ok((request.body?.length ?? 0) <= maxBody, 'body within maxBodyBytes');
        outcome.messages.push(snapshotRequest(request));
      } else if (step === PARSE.ERROR) {
        assert.ok(parser.error);
        assert.equal(parser.next(), PARSE.ERROR, 'ERROR is terminal');
        outcome.error = parser.error;
        return outcome;
      } else if (step === PARSE.NEED_MORE) {
        break;
      }
    }
    // Bounded memory: nothing past the head limit is buffered, nothing past the body limit kept.
    assert.ok(parser.bufferedBytes <= maxHead, `buffered ${parser.bufferedBytes} > ${maxHead}`);
    assert.ok(parser.retainedBytes <= maxHead + maxBody, `retained ${parser.retainedBytes}`);
  }
  outcome.midMessage = parser.midMessage;
  return outcome;
}

const SMALL_LIMITS: ParserLimits = { maxHeadBytes: 160, maxHeaders: 6, maxTargetBytes: 40, maxBodyBytes: 16 };
const DEFAULT_LIKE: ParserLimits = { maxHeadBytes: 16 * 1024, maxHeaders: 100, maxTargetBytes: 8 * 1024, maxBodyBytes: 1024 * 1024 };

describe('request parser fuzz (seeded)', () => {
  for (const [name, limits] of [['small limits', SMALL_LIMITS], ['default limits', DEFAULT_LIKE]] as const) {
    it(`mutated valid requests, ${name}: no throw, valid steps, bounded, split-independent`, () => {
      const random = seededRandom(SEED);
      for (let n = 0; n < 8000; n++) {
        const input = mutate(random, pick(random, SEED_REQUESTS));
        const whole = runRequestParser([input], limits);
        for (let k = 0; k < 2; k++) {
          assert.deepEqual(runRequestParser(randomPieces(random, input), limits), whole, `iteration ${n}: split changed the outcome of ${JSON.stringify(input.toString('latin1'))}`);
        }
      }
    });
  }

  it('random bytes: no throw, valid steps, bounded', () => {
    const random = seededRandom(SEED + 1);
    for (let n = 0; n < 5000; n++) {
      const input = randomBytes(random, 1 + below(random, 300));
      // Half of them start like a request so that the parser gets past the method.
      const bytes = n % 2 === 0 ? Buffer.concat([bytesOf('GET / HTTP/1.1\r\n'), input]) : input;
      const whole = runRequestParser([bytes], SMALL_LIMITS);
      assert.deepEqual(runRequestParser(randomPieces(random, bytes), SMALL_LIMITS), whole);
    }
  });

  it('a long stream of pipelined requests in random pieces stays bounded', () => {
    const random = seededRandom(SEED + 2);
    const stream = Buffer.concat(Array.from({ length: 400 }, () => pick(random, SEED_REQUESTS.slice(0, 4))));
    const outcome = runRequestParser(randomPieces(random, stream), DEFAULT_LIKE);
    assert.equal(outcome.error, null);
    assert.ok(outcome.messages.length >= 400);
  });
});

describe('response parser fuzz (seeded)', () => {
  const SEED_RESPONSES = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.0 200 OK\r\n\r\nuntil close',
  ].map(bytesOf);

  function runResponseParser(pieces: Buffer[], keepBody: boolean): string {
    const parser = new ResponseParser({ keepBody, maxHeadBytes: 200, maxBodyBytes: 64 });
    const shared = Buffer.alloc(4096);
    const events: string[] = [];
    for (const piece of pieces) {
      piece.copy(shared);
      parser.feed(shared.subarray(0, piece.length));
      for (;;) {
        const step = parser.next();
        assert.ok(VALID_STEPS.has(step));
        if (step === PARSE.NEED_MORE) break;
        if (step === PARSE.MESSAGE) events.push(`${parser.response?.status} ${parser.response?.bodyBytes} ${parser.response?.body?.toString('latin1') ?? ''} ${parser.response?.headers.join(',')}`);
        if (step === PARSE.ERROR) {
          assert.equal(parser.next(), PARSE.ERROR);
          events.push(String(parser.error));
          return events.join('|');
        }
      }
      shared.fill(0x2a); // the load generator reuses its read buffer: nothing may point into it
      assert.ok(parser.bufferedBytes <= 200 + piece.length);
    }
    events.push(`finish ${parser.finish()}`);
    return events.join('|');
  }

  it('mutated valid responses: no throw, terminal errors, split-independent, safe with a reused read buffer', () => {
    const random = seededRandom(SEED + 3);
    for (let n = 0; n < 6000; n++) {
      const input = mutate(random, pick(random, SEED_RESPONSES));
      const keepBody = n % 2 === 0;
      const whole = runResponseParser([input], keepBody);
      assert.equal(runResponseParser(randomPieces(random, input), keepBody), whole, `iteration ${n}: ${JSON.stringify(input.toString('latin1'))}`);
    }
  });
});
