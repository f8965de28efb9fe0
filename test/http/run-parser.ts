/**
 * Drive a RequestParser the way the server does (feed a chunk, call next() until NEED_MORE or
 * ERROR) and record what came out, checking the step protocol on the way: HEAD then MESSAGE for
 * every request, `request` set at HEAD, ERROR terminal, bounded buffering.
 */
import assert from 'node:assert/strict';
import { PARSE, type HttpErrorCode } from '../../src/http/constants.js';
import { RequestParser, type HttpRequest, type ParserLimits, type ParserOptions } from '../../src/http/request-parser.js';

export interface SeenRequest {
  method: string;
  target: string;
  path: string;
  versionMinor: number;
  headers: string[];
  host: string | null;
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
  /** latin1, one char per byte; null for no body. */
  body: string | null;
  trailers: string[] | null;
}

export interface ParseOutcome {
  messages: SeenRequest[];
  error: HttpErrorCode | null;
  /** Input ended inside a message (the parser's midMessage after the last chunk). */
  midMessage: boolean;
}

export function snapshotRequest(request: HttpRequest): SeenRequest {
  return {
    method: request.method,
    target: request.target,
    path: request.path,
    versionMinor: request.versionMinor,
    headers: [...request.headers],
    host: request.host,
    contentLength: request.contentLength,
    chunked: request.chunked,
    keepAlive: request.keepAlive,
    expectContinue: request.expectContinue,
    body: request.body === null ? null : request.body.toString('latin1'),
    trailers: request.trailers === null ? null : [...request.trailers],
  };
}

export function parseChunks(chunks: readonly Buffer[], limits: Partial<ParserLimits> = {}, options: ParserOptions = {}): ParseOutcome {
  const parser = new RequestParser(limits, options);
  const outcome: ParseOutcome = { messages: [], error: null, midMessage: false };
  let inMessage = false;
  for (const chunk of chunks) {
    parser.feed(chunk);
    for (;;) {
      const step = parser.next();
      if (step === PARSE.NEED_MORE) break;
      if (step === PARSE.HEAD) {
        assert.equal(inMessage, false, 'HEAD twice without MESSAGE');
        assert.ok(parser.request, 'request is set at HEAD');
        assert.equal(parser.request.body, null, 'no body yet at HEAD');
        inMessage = true;
      } else if (step === PARSE.MESSAGE) {
        assert.equal(inMessage, true, 'MESSAGE without HEAD');
        assert.ok(parser.request, 'request is set at MESSAGE');
        outcome.messages.push(snapshotRequest(parser.request));
        inMessage = false;
      } else {
        assert.equal(step, PARSE.ERROR);
        assert.ok(parser.error, 'error is set at ERROR');
        assert.equal(parser.next(), PARSE.ERROR, 'ERROR is terminal');
        outcome.error = parser.error;
        return outcome;
      }
    }
  }
  outcome.midMessage = parser.midMessage;
  return outcome;
}
