/**
 * Property tests over hostile input, deterministic (seeded PRNG, so a failure replays: the
 * message names the seed and the input) and fast.
 *
 * 100,000 inputs in all, over the request parser, the chunked decoder on its own and the
 * response parser: mutations of valid messages (bytes flipped, inserted, deleted, duplicated,
 * interesting fragments spliced in, truncated) and random bytes. Each input runs whole and cut
 * at random offsets, and every run checks:
 * - no throw, and next() only ever returns a valid ParseStep; ERROR is terminal;
 * - memory bounded per input: after each piece the parser holds at most a small multiple of
 *   the bytes fed so far (issue 14: a body of 1-byte chunks used to hold ~100 bytes of heap
 *   per byte), besides the old bounds (unconsumed input within the head limit, body within
 *   head + body limits);
 * - the same verdict (messages, body bytes, trailers, error) however the bytes were cut:
 *   TCP gives no boundaries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyBuffer } from '../../src/http/body-buffer.js';
import { ChunkedDecoder } from '../../src/http/chunked-decoder.js';
import { PARSE, type ParseStep } from '../../src/http/constants.js';
import { RequestParser, type ParserLimits } from '../../src/http/request-parser.js';
import { ResponseParser } from '../../src/http/response-parser.js';
import { snapshotRequest, type ParseOutcome } from './run-parser.js';
import { bytesOf, seededRandom } from './split.js';

const SEED = 0x50c1e7;
const VALID_STEPS = new Set<number>([PARSE.NEED_MORE, PARSE.HEAD, PARSE.MESSAGE, PARSE.ERROR]);
/** Retained memory may be at most this multiple of the bytes fed (the body buffer doubles), plus SLACK. */
const MEMORY_FACTOR = 3;
const SLACK = 512;

/** Inputs per target: 100,000 in all. */
const INPUTS = { requests: 40_000, requestBytes: 10_000, decoder: 30_000, responses: 20_000 } as const;

const SEED_REQUESTS = [
  'GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n',
  'GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world',
  'PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n',
  'PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n',
  'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.0\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n',
  'CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n',
  '\r\nGET http://a.b/c HTTP/1.1\r\nHost: a.b\r\nConnection: close\r\n\r\n',
].map(bytesOf);

const SEED_BODIES = [
  '5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n',
  `${'1\r\nx\r\n'.repeat(12)}0\r\n\r\n`,
  '3 ; a = "q\\"t" ; b\r\nabc\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n',
  'A\r\n0123456789\r\n000\r\n\r\n',
].map(bytesOf);

const SEED_RESPONSES = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'1\r\nz\r\n'.repeat(10)}0\r\n\r\n`,
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.0 200 OK\r\n\r\nuntil close',
].map(bytesOf);

const FRAGMENTS = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  ';',
  '"',
  '\\',
  '\x00',
  '\x7f',
  '\xff',
  '#',
  '*',
  '0',
  'f',
  '/',
  '@',
  '?',
  '\r\n\r\n',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/2.0',
  'Host: x\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: 99999999999999999999\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: gzip\r\n',
  'Connection: close\r\n',
  '0\r\n\r\n',
  'ffffffff\r\n',
  '5;a="b\\"c"\r\n',
  '1\r\nx\r\n1\r\ny\r\n',
  'Content-Length: 1\r\n\r\n',
  'Host: h\r\n\r\n',
  'http://u:p@h/',
  'http://h?q',
].map(bytesOf);

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const below = (random: Random, n: number): number => Math.floor(random() * n);

function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = below(random, 256);
  return bytes;
}

/** One to four mutations of a valid message. */
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

/** Cut at random offsets into pieces from one byte up to the whole; each piece its own Buffer, as a socket gives them. */
function randomPieces(random: Random, bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = random() < 0.3 ? 1 : 1 + below(random, bytes.length);
    pieces.push(Buffer.from(bytes.subarray(at, at + length)));
    at += length;
  }
  return pieces;
}

function checkMemory(retained: number, fed: number, what: string): void {
  assert.ok(retained <= MEMORY_FACTOR * fed + SLACK, `${what}: holds ${retained} bytes after ${fed} fed`);
}

// -- the request parser ---------------------------------------------------------------------

/** Feed pieces, checking every property on the way; return what came out. */
function runRequestParser(pieces: Buffer[], limits: ParserLimits): ParseOutcome {
  const parser = new RequestParser(limits);
  const outcome: ParseOutcome = { messages: [], error: null, midMessage: false };
  let fed = 0;
  for (const piece of pieces) {
    parser.feed(piece);
    fed += piece.length;
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 10_000, 'next() does not make progress');
      const step: ParseStep = parser.next();
      assert.ok(VALID_STEPS.has(step), `next() returned ${step}`);
      if (step === PARSE.MESSAGE) {
        const request = parser.request;
        assert.ok(request);
        assert.ok((request.body?.length ?? 0) <= limits.maxBodyBytes, 'body within maxBodyBytes');
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
    // Nothing past the head limit is buffered, nothing past the body limit kept, and in all
    // never more than a small multiple of what came in.
    assert.ok(parser.bufferedBytes <= limits.maxHeadBytes, `buffered ${parser.bufferedBytes} > ${limits.maxHeadBytes}`);
    assert.ok(parser.retainedBytes <= limits.maxHeadBytes + limits.maxBodyBytes, `retained ${parser.retainedBytes}`);
    checkMemory(parser.retainedBytes, fed, 'request parser');
  }
  outcome.midMessage = parser.midMessage;
  return outcome;
}

const SMALL_LIMITS: ParserLimits = { maxHeadBytes: 160, maxHeaders: 6, maxTargetBytes: 40, maxBodyBytes: 16 };
const DEFAULT_LIKE: ParserLimits = { maxHeadBytes: 16 * 1024, maxHeaders: 100, maxTargetBytes: 8 * 1024, maxBodyBytes: 1024 * 1024 };

describe('request parser fuzz (seeded)', () => {
  it(`${INPUTS.requests} mutated valid requests: no throw, valid steps, bounded, split-independent`, () => {
    const random = seededRandom(SEED);
    for (let n = 0; n < INPUTS.requests; n++) {
      const limits = n % 2 === 0 ? SMALL_LIMITS : DEFAULT_LIKE;
      const input = mutate(random, pick(random, SEED_REQUESTS));
      const whole = runRequestParser([input], limits);
      const split = runRequestParser(randomPieces(random, input), limits);
      assert.deepEqual(split, whole, `seed ${SEED}, input ${n}: the split changed the outcome of ${JSON.stringify(input.toString('latin1'))}`);
    }
  });

  it(`${INPUTS.requestBytes} random byte strings: no throw, valid steps, bounded, split-independent`, () => {
    const random = seededRandom(SEED + 1);
    for (let n = 0; n < INPUTS.requestBytes; n++) {
      const input = randomBytes(random, 1 + below(random, 300));
      // Half of them start like a request so that the parser gets past the method.
      const bytes = n % 2 === 0 ? Buffer.concat([bytesOf('GET / HTTP/1.1\r\n'), input]) : input;
      const whole = runRequestParser([bytes], SMALL_LIMITS);
      assert.deepEqual(runRequestParser(randomPieces(random, bytes), SMALL_LIMITS), whole, `seed ${SEED + 1}, input ${n}`);
    }
  });

  it('a long stream of pipelined requests in random pieces stays bounded', () => {
    const random = seededRandom(SEED + 2);
    const stream = Buffer.concat(Array.from({ length: 400 }, () => pick(random, SEED_REQUESTS.slice(0, 5))));
    const outcome = runRequestParser(randomPieces(random, stream), DEFAULT_LIKE);
    assert.equal(outcome.error, null);
    assert.ok(outcome.messages.length >= 400);
  });
});

// -- the chunked decoder on its own ---------------------------------------------------------

interface DecoderVerdict {
  error: string | null;
  done: boolean;
  decoded: number;
  body: string | null;
  trailers: string[] | null;
  /** Bytes left after the body (what the next message would start with), when done. */
  rest: number;
}

/**
 * Drive a ChunkedDecoder the way the parsers do: what it leaves unconsumed (a cut trailer line)
 * is kept and joined with the next piece.
 */
function runDecoder(pieces: Buffer[]): DecoderVerdict {
  const decoder = new ChunkedDecoder();
  const body = new BodyBuffer();
  const budget = { maxBodyBytes: 64, maxTrailerBytes: 200, maxTrailers: 4 };
  body.reset(budget.maxBodyBytes);
  decoder.start(body, budget);
  let pending = Buffer.alloc(0);
  let fed = 0;
  for (let p = 0; p < pieces.length; p++) {
    const piece = pieces[p] as Buffer;
    fed += piece.length;
    const buf = pending.length === 0 ? piece : Buffer.concat([pending, piece]);
    const at = decoder.decode(buf, 0, buf.length);
    assert.ok(at >= 0 && at <= buf.length, `decode returned ${at} for ${buf.length} bytes`);
    if (decoder.error !== null || decoder.done) {
      return {
        error: decoder.error,
        done: decoder.done,
        decoded: decoder.decodedBytes,
        body: decoder.error === null ? (body.take()?.toString('latin1') ?? null) : null,
        trailers: decoder.trailers,
        rest: decoder.error === null ? buf.length - at + pieces.slice(p + 1).reduce((sum, later) => sum + later.length, 0) : 0,
      };
    }
    // Only a trailer line cut short may stay unconsumed, and never more than the trailer budget.
    pending = Buffer.from(buf.subarray(at));
    assert.ok(pending.length <= budget.maxTrailerBytes, `${pending.length} bytes left unconsumed`);
    assert.ok(body.length <= budget.maxBodyBytes, 'body within its limit');
    checkMemory(body.retainedBytes + pending.length, fed, 'chunked decoder');
  }
  return { error: null, done: false, decoded: decoder.decodedBytes, body: null, trailers: null, rest: 0 };
}

describe('chunked decoder fuzz (seeded)', () => {
  it(`${INPUTS.decoder} mutated chunked bodies: no throw, bounded, split-independent`, () => {
    const random = seededRandom(SEED + 4);
    for (let n = 0; n < INPUTS.decoder; n++) {
      const input = mutate(random, pick(random, SEED_BODIES));
      const whole = runDecoder([input]);
      assert.deepEqual(runDecoder(randomPieces(random, input)), whole, `seed ${SEED + 4}, input ${n}: ${JSON.stringify(input.toString('latin1'))}`);
    }
  });
});

// -- the response parser --------------------------------------------------------------------

describe('response parser fuzz (seeded)', () => {
  function runResponseParser(pieces: Buffer[], keepBody: boolean): string {
    const parser = new ResponseParser({ keepBody, maxHeadBytes: 200, maxBodyBytes: 64 });
    const shared = Buffer.alloc(4096);
    const events: string[] = [];
    let fed = 0;
    for (const piece of pieces) {
      piece.copy(shared);
      parser.feed(shared.subarray(0, piece.length));
      fed += piece.length;
      for (;;) {
        const step = parser.next();
        assert.ok(VALID_STEPS.has(step));
        if (step === PARSE.NEED_MORE) break;
        if (step === PARSE.MESSAGE)
          events.push(`${parser.response?.status} ${parser.response?.bodyBytes} ${parser.response?.body?.toString('latin1') ?? ''} ${parser.response?.headers.join(',')}`);
        if (step === PARSE.ERROR) {
          assert.equal(parser.next(), PARSE.ERROR);
          events.push(String(parser.error));
          return events.join('|');
        }
      }
      shared.fill(0x2a); // the load generator reuses its read buffer: nothing may point into it
      assert.ok(parser.bufferedBytes <= 200 + piece.length);
      checkMemory(parser.retainedBytes, fed, 'response parser');
    }
    events.push(`finish ${parser.finish()}`);
    return events.join('|');
  }

  it(`${INPUTS.responses} mutated valid responses: no throw, terminal errors, bounded, split-independent, safe with a reused read buffer`, () => {
    const random = seededRandom(SEED + 3);
    for (let n = 0; n < INPUTS.responses; n++) {
      const input = mutate(random, pick(random, SEED_RESPONSES));
      const keepBody = n % 2 === 0;
      const whole = runResponseParser([input], keepBody);
      assert.equal(runResponseParser(randomPieces(random, input), keepBody), whole, `seed ${SEED + 3}, input ${n}: ${JSON.stringify(input.toString('latin1'))}`);
    }
  });
});

it('the fuzz covers at least 100,000 inputs', () => {
  assert.ok(Object.values(INPUTS).reduce((sum, n) => sum + n, 0) >= 100_000);
});
