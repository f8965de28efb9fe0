/**
 * One accepted TCP connection: bytes in, parser, handler, bytes out, in order.
 *
 * The rules it keeps (RFC 9112 §9):
 * - a request reaches the handler only once its whole message has arrived;
 * - pipelined requests are answered in the order they came, however long each handler
 *   takes (responses wait in `pending` until those before them are written);
 * - when `socket.write` reports a full buffer, reading stops until 'drain', and so does
 *   parsing ahead: a client that never reads cannot make the server buffer without bound;
 * - after a framing error the error response is the last thing sent (§9.6: the message
 *   boundary can no longer be trusted), then the connection closes;
 * - a body the route will not read is refused with 413 as soon as the head says it is
 *   coming (RFC 9110 §15.5.14), not buffered up to the server-wide limit;
 * - "100 Continue" goes out only when every earlier response has been written: an interim
 *   response ahead of them would be read as the answer to an earlier request (§9.3.2).
 *
 * Deadlines are plain numbers compared by the server's sweep each clock tick, so no request
 * pays for a timer. Two run at once, one per direction:
 * - reading: IDLE (keep-alive), HEADERS (slowloris), BODY (the whole request);
 * - writing: RESPONSE (a handler that never answers), WRITE_STALL (a peer that takes none
 *   of our bytes) and LINGER (after our FIN, a peer that never closes its side). Closing
 *   is end() under allowHalfOpen, so without the last two a client that stops reading, or
 *   never closes, held a descriptor, a FIN-WAIT-2 socket and (model thread) a thread and a
 *   database connection for as long as it liked (issue 14).
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { PARSE, RequestParser, type HttpRequest } from '../http/request-parser.js';
import { errorResponse, responseForParseError, serializeResponse, type HttpResponse, type WriteContext } from '../http/response-writer.js';
import type { HttpErrorCode } from '../http/constants.js';
import type { CoarseClock } from './clock.js';
import type { ServerOptions } from './options.js';
import { STAGE, type StageTimings } from './stage-timings.js';

/**
 * What a concurrency model provides: an answer, synchronously when it can. `connectionId`
 * lets a model keep per-connection state (the thread model's thread per connection).
 */
export type RequestHandler = (request: HttpRequest, connectionId: number) => HttpResponse | Promise<HttpResponse>;

/**
 * What a connection needs from the server that owns it, declared here and implemented by
 * LabServer, so that the server depends on the connection and not the other way round. The
 * counters stay the server's own: a connection reports what happened through count*(), small
 * methods with one receiver type, which V8 inlines where they are called.
 */
export interface ConnectionOwner {
  readonly options: ServerOptions;
  readonly clock: CoarseClock;
  readonly timings: StageTimings;
  readonly handler: RequestHandler;
  /** Shutting down: the message being read is the last on its connection. */
  readonly draining: boolean;
  /** The most body bytes `request` may bring (its route's limit, capped by maxBodyBytes). */
  bodyLimitFor(request: HttpRequest): number;
  countRequest(): void;
  countResponse(status: number): void;
  countParseError(code: HttpErrorCode): void;
  /** A deadline of this kind passed and the connection was answered or closed for it. */
  countTimeout(kind: DeadlineKind): void;
  countSocketError(): void;
  /** A handler threw or rejected; the client gets a 500. */
  reportHandlerError(error: unknown): void;
  /** The socket is closed: the connection is gone. */
  forget(connection: Connection): void;
}

/** Why a connection's deadline is set, so the sweep knows what to do when it passes. */
export const DEADLINE = {
  NONE: 0,
  // The reading side (`deadline`, `deadlineKind`):
  /** Waiting for the next request on a kept-alive connection. */
  IDLE: 1,
  /** A request has begun; its head must complete. */
  HEADERS: 2,
  /** The head is in; the body must complete. */
  BODY: 3,
  // The writing side (`writeDeadline`, `writeKind`):
  /** The oldest request read is waiting for its handler. */
  RESPONSE: 4,
  /** socket.write is holding bytes the peer does not take. */
  WRITE_STALL: 5,
  /** Our side is closed; waiting for the peer to close its own. */
  LINGER: 6,
} as const;
export type DeadlineKind = (typeof DEADLINE)[keyof typeof DEADLINE];

const STAMP_COUNT = 6;

/** A request whose response cannot be written yet (a slow handler, or one before it is). */
interface PendingResponse {
  request: HttpRequest | null;
  response: HttpResponse | null;
  /** Its stage stamps, or null when it is not one of the timed requests (stage-timings.ts). */
  stamps: Float64Array | null;
  /** Close the connection once this response is written. */
  closeAfter: boolean;
  /** The connection's first request (timed with weight 1, and accept → first byte). */
  first: boolean;
}

const INTERNAL_ERROR = errorResponse(500, 'LAB_ERR_SERVER_HANDLER', 'the handler failed; see the server log');
const RESPONSE_TIMEOUT = errorResponse(503, 'LAB_ERR_SERVER_RESPONSE_TIMEOUT', 'the server did not answer in time: try again later', ['Retry-After', '1']);

/** RFC 9110 §15.2.1: the interim response that tells an Expect: 100-continue client to send its body. */
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * A synchronous handler that ran this long makes the connection yield the event loop before
 * its next pipelined request, so one client pipelining /work?ms=1000 cannot keep every other
 * connection waiting 16 s (issue 14); ordinary requests take microseconds and never yield.
 */
const YIELD_AFTER_MS = 1;

/** Where a socket whose reads come through `onread` (see Connection.onread) finds its Connection. */
const CONNECTION = Symbol('socketlab.connection');

export class Connection {
  readonly socket: net.Socket;
  readonly id: number;
  readonly acceptedAt: number;
  private readonly owner: ConnectionOwner;
  private readonly parser: RequestParser;
  private readonly pending: PendingResponse[] = [];
  /** Reused for every response: serializeResponse reads it and keeps nothing. */
  private readonly writeContext: WriteContext = { date: '', versionMinor: 1, keepAlive: true, head: false };
  /** Stamps of the message being read; copied only when its response has to wait. */
  private readonly stamps = new Float64Array(STAMP_COUNT);
  /** Responses written but still in Node's buffer: their FLUSHED stamp comes at 'drain'. */
  private unflushed: PendingResponse[] = [];
  private messageStarted = false;
  /** The message being read is one of the timed ones (stage-timings.ts): its stamps are taken. */
  private timed = false;
  /** Complete messages read on this connection. */
  private messagesRead = 0;
  private requestsServed = 0;
  /** No more requests will be read: the last response is queued or written. */
  private closing = false;
  /** socket.write said the kernel is not taking bytes as fast as we make them. */
  private writeBlocked = false;
  /** Our side is closed (end() called): what is left is flushing and lingering. */
  private ended = false;
  /** An Expect: 100-continue that had to wait for earlier responses to be written. */
  private continueOwed = false;
  /** Reading is deferred to the next loop turn (after a slow synchronous handler). */
  private yielded = false;
  /** The body limit of the message being read, when its route lowered it; -1 otherwise. */
  private bodyLimit = -1;
  /** The reading side's deadline (IDLE, HEADERS, BODY). */
  deadline = 0;
  deadlineKind: DeadlineKind = DEADLINE.NONE;
  /** The writing side's deadline (RESPONSE, WRITE_STALL, LINGER). */
  writeDeadline = 0;
  writeKind: DeadlineKind = DEADLINE.NONE;

  constructor(owner: ConnectionOwner, socket: net.Socket, id: number) {
    this.owner = owner;
    this.socket = socket;
    this.id = id;
    this.acceptedAt = performance.now();
    this.parser = new RequestParser(owner.options.limits);
    this.stamps[STAGE.ACCEPTED] = this.acceptedAt;
    (socket as net.Socket & { [CONNECTION]?: Connection })[CONNECTION] = this;
    // A socket made with Connection.onread gets its bytes there; 'data' then never fires. A
    // socket from net.Server's own accept (the paced acceptor, or a Node that ignored onread)
    // gets them here.
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('finish', this.onFinish);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    // A half-closed peer may still want its answers (RFC 9112 §9.6); we end our side after them.
    socket.on('end', this.onEnd);
    // The first request gets at least the headers timeout, as nginx gives it
    // client_header_timeout and keepalive_timeout only between requests: a connection can sit
    // in the accept queue long after its handshake, and after a queue overflow its first bytes
    // come by TCP retransmission, seconds late. Measured on main at 10,000 users: 7 connections
    // were closed as idle with their request on its way (the clients' closed_early). Keep-alive
    // off (0) still means no idle deadline: lab 9 holds connections that never send.
    const { keepAliveTimeoutMs, headersTimeoutMs } = owner.options;
    this.setDeadline(DEADLINE.IDLE, keepAliveTimeoutMs > 0 && headersTimeoutMs > keepAliveTimeoutMs ? headersTimeoutMs : keepAliveTimeoutMs);
  }

  /**
   * The `onread` option for accepted sockets (server.ts): reads land in one buffer every
   * socket of the thread shares (one read runs at a time), and this callback (`this` is the socket) gets them without the
   * Readable stream's push, 'data' event, per-read 64 KiB allocation and nextTick. The next
   * read reuses that buffer, and the parser keeps chunks by reference (a request may outlive
   * this call), so the bytes are copied into a buffer of their own first: Buffer.allocUnsafe
   * carves a small one out of Node's shared pool.
   */
  static readonly onread = {
    buffer: Buffer.allocUnsafe(64 * 1024),
    callback(this: net.Socket & { [CONNECTION]?: Connection }, nread: number, buffer: Uint8Array): boolean {
      const connection = this[CONNECTION];
      if (connection === undefined) return true;
      const chunk = Buffer.allocUnsafe(nread);
      // A request is a few hundred bytes: a loop beats a call that makes a view first.
      if (nread <= 512) for (let i = 0; i < nread; i++) chunk[i] = buffer[i] as number;
      else chunk.set(buffer.subarray(0, nread));
      connection.onData(chunk);
      return true;
    },
  } satisfies net.OnReadOpts;

  /** Nothing is being read or answered: safe to close without losing a request. */
  get idle(): boolean {
    return !this.messageStarted && this.pending.length === 0 && this.parser.bufferedBytes === 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    // Once closing, bytes are read and dropped: the peer's FIN must still be seen.
    if (this.closing) return;
    if (!this.messageStarted) this.startMessage(-1);
    this.parser.feed(chunk);
    if (!this.yielded) this.readMessages();
  };

  private readonly resumeAfterYield = (): void => {
    this.yielded = false;
    if (!this.closing && !this.socket.destroyed) this.readMessages();
  };

  /** A message begins; `at` is when its first byte came, or -1 for now. */
  private startMessage(at: number): void {
    this.messageStarted = true;
    // The clock is read only for a timed message: every connection's first, and the requests
    // the server's StageTimings picks (one in 16 by default).
    const timed = this.messagesRead === 0 || this.owner.timings.sampleNext();
    this.timed = timed;
    if (timed) this.stamps[STAGE.FIRST_BYTE] = at < 0 ? performance.now() : at;
    this.setDeadline(DEADLINE.HEADERS, this.owner.options.headersTimeoutMs);
  }

  /** Take complete messages out of the parser while the pipeline has room. */
  private readMessages(): void {
    const parser = this.parser;
    const maxDepth = this.owner.options.maxPipelineDepth;
    while (!this.closing && !this.writeBlocked && this.pending.length < maxDepth) {
      const step = parser.next();
      if (step === PARSE.NEED_MORE) break;
      if (step === PARSE.HEAD) {
        if (this.timed) this.stamps[STAGE.HEAD_PARSED] = performance.now();
        const request = parser.request as HttpRequest;
        if (request.contentLength > 0 || request.chunked) {
          const bodyLimit = this.owner.bodyLimitFor(request);
          if (bodyLimit < this.owner.options.limits.maxBodyBytes) this.bodyLimit = bodyLimit;
          if (!parser.limitBody(bodyLimit)) {
            this.failFraming(parser.error as HttpErrorCode);
            break;
          }
          this.setDeadline(DEADLINE.BODY, this.owner.options.requestTimeoutMs);
          // RFC 9110 §10.1.1: a client that sent Expect: 100-continue waits for this before the
          // body; with responses still owed ahead of it, it must wait for them (writeReady).
          if (request.expectContinue && parser.bufferedBytes === 0) {
            if (this.pending.length === 0) this.socket.write(CONTINUE);
            else this.continueOwed = true;
          }
        }
        continue;
      }
      if (step === PARSE.MESSAGE) {
        // A bodiless message completes in the same pass as its head: no clock read needed.
        const request = parser.request as HttpRequest;
        const timed = this.timed;
        if (timed) {
          this.stamps[STAGE.MESSAGE_COMPLETE] = request.contentLength > 0 || request.chunked ? performance.now() : (this.stamps[STAGE.HEAD_PARSED] as number);
        }
        this.messagesRead += 1;
        // After a request that asked to close, or once the server is shutting down, this is
        // the last message read: its answer will carry Connection: close.
        if (!request.keepAlive || this.owner.draining) this.closing = true;
        this.continueOwed = false;
        this.bodyLimit = -1;
        // Bytes of the next pipelined request are already here: it began when they arrived,
        // which is no later than now.
        const pipelined = parser.bufferedBytes > 0;
        const dispatchedAt = !pipelined ? 0 : timed ? (this.stamps[STAGE.MESSAGE_COMPLETE] as number) : performance.now();
        this.dispatch(request, timed);
        this.messageStarted = false;
        if (pipelined && !this.closing) {
          this.startMessage(dispatchedAt);
          // An async handler returns at once, so this reads only a synchronous handler that
          // just ran long: let other connections have the loop.
          if (performance.now() - dispatchedAt >= YIELD_AFTER_MS) {
            this.yielded = true;
            setImmediate(this.resumeAfterYield);
            break;
          }
        }
        continue;
      }
      this.failFraming(parser.error as HttpErrorCode);
      break;
    }
    if (!this.messageStarted && !this.closing && this.pending.length === 0) {
      this.setDeadline(DEADLINE.IDLE, this.owner.options.keepAliveTimeoutMs);
    } else if (!this.messageStarted) {
      this.deadlineKind = DEADLINE.NONE;
    }
    // Reading stops while the pipeline is full or the peer is not reading our answers.
    if (this.pending.length >= maxDepth || this.writeBlocked) this.socket.pause();
  }

  private dispatch(request: HttpRequest, timed: boolean): void {
    this.owner.countRequest();
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.owner.handler(request, this.id);
    } catch (error) {
      this.owner.reportHandlerError(error);
      result = INTERNAL_ERROR;
    }
    if (!(result instanceof Promise) && this.pending.length === 0) {
      // The fast path: nothing ahead of it and an answer in hand.
      if (!timed) {
        this.writeResponse(request, result, null, false);
        return;
      }
      this.stamps[STAGE.HANDLER_DONE] = performance.now();
      this.writeResponse(request, result, this.stamps, false);
      return;
    }
    const slot: PendingResponse = { request, response: null, stamps: timed ? this.stamps.slice() : null, closeAfter: false, first: false };
    this.pending.push(slot);
    if (this.writeKind === DEADLINE.NONE) this.setWriteDeadline(DEADLINE.RESPONSE, this.owner.options.responseTimeoutMs);
    if (result instanceof Promise) {
      result.then(
        (response) => this.complete(slot, response),
        (error: unknown) => {
          this.owner.reportHandlerError(error);
          this.complete(slot, INTERNAL_ERROR);
        },
      );
    } else {
      this.complete(slot, result);
    }
  }

  private complete(slot: PendingResponse, response: HttpResponse): void {
    slot.response = response;
    if (slot.stamps !== null) slot.stamps[STAGE.HANDLER_DONE] = performance.now();
    this.writeReady();
  }

  /** Write every response at the head of the line that is ready, in order. */
  private writeReady(): void {
    const pending = this.pending;
    if (pending.length === 0 || pending[0]?.response === null) return;
    const batch = pending.length > 1 && pending[1]?.response !== null;
    if (batch) this.socket.cork();
    while (pending.length > 0 && (pending[0] as PendingResponse).response !== null) {
      const slot = pending.shift() as PendingResponse;
      this.writeResponse(slot.request, slot.response as HttpResponse, slot.stamps, slot.closeAfter);
    }
    if (batch) this.socket.uncork();
    // Every earlier response is written: a waiting Expect: 100-continue may be answered now,
    // if its body has still not started to arrive.
    if (this.continueOwed && pending.length === 0 && !this.ended) {
      this.continueOwed = false;
      if (this.deadlineKind === DEADLINE.BODY && this.parser.bufferedBytes === 0) this.socket.write(CONTINUE);
    }
    // The head of the line changed: its RESPONSE deadline starts now.
    if (this.writeKind === DEADLINE.RESPONSE) this.writeKind = DEADLINE.NONE;
    this.updateWriteDeadline();
    // Room in the pipeline again: carry on with requests already buffered.
    if (!this.closing && !this.writeBlocked) {
      if (this.parser.bufferedBytes > 0) this.readMessages();
      if (this.pending.length === 0 && !this.messageStarted && !this.closing) {
        this.setDeadline(DEADLINE.IDLE, this.owner.options.keepAliveTimeoutMs);
      }
      this.socket.resume();
    }
  }

  /** `stamps`: a timed request's, or null (untimed, or not a request: a refusal, a timeout). */
  private writeResponse(request: HttpRequest | null, response: HttpResponse, stamps: Float64Array | null, closeAfter: boolean): void {
    if (this.socket.destroyed) return;
    const owner = this.owner;
    // Connection: close goes on the last answer this connection will give (RFC 9112 §9.6):
    // when asked for, after an error, or when nothing more will be read.
    const last = this.pending.length === 0;
    const keepAlive = !closeAfter && request !== null && request.keepAlive && !(last && (this.closing || owner.draining));
    const context = this.writeContext;
    context.date = owner.clock.httpDate;
    context.versionMinor = request === null ? 1 : request.versionMinor;
    context.keepAlive = keepAlive;
    context.head = request !== null && request.method === 'HEAD';
    const ok = this.socket.write(serializeResponse(response, context));
    this.requestsServed += 1;
    owner.countResponse(response.status);
    if (stamps !== null && request !== null) {
      // writableLength 0: every byte went to the kernel inside write(), so it is flushed now.
      if (this.socket.writableLength === 0) {
        stamps[STAGE.FLUSHED] = performance.now();
        owner.timings.record(stamps, this.requestsServed === 1, request.method, response.status);
      } else {
        this.unflushed.push({ request, response, stamps: stamps === this.stamps ? stamps.slice() : stamps, closeAfter: false, first: this.requestsServed === 1 });
      }
    }
    if (!ok) {
      this.writeBlocked = true;
      this.socket.pause();
      this.updateWriteDeadline();
    }
    if (!keepAlive) {
      this.closing = true;
      this.pending.length = 0;
      this.deadlineKind = DEADLINE.NONE;
      this.endOurSide();
    }
  }

  /**
   * Send our FIN after what is queued, then linger: read and drop what the peer still sends
   * (so its FIN is seen and our last answer is not turned into a reset by unread bytes, RFC
   * 9112 §9.6), and destroy the socket if the peer has not closed by the deadline.
   */
  private endOurSide(): void {
    if (this.ended) return;
    this.ended = true;
    this.continueOwed = false;
    this.socket.end();
    if (this.socket.isPaused()) this.socket.resume();
    this.updateWriteDeadline();
  }

  /**
   * The writing side's deadline follows from the state: after our FIN, WRITE_STALL while
   * bytes are unflushed and LINGER once they are; before it, WRITE_STALL while writes are
   * blocked, RESPONSE while the oldest request waits for its handler. A kind that is already
   * set keeps its deadline: it runs from when that wait began.
   */
  private updateWriteDeadline(): void {
    const options = this.owner.options;
    if (this.ended) {
      if (this.socket.writableLength > 0) this.setWriteDeadline(DEADLINE.WRITE_STALL, options.writeTimeoutMs);
      else this.setWriteDeadline(DEADLINE.LINGER, options.lingerTimeoutMs);
    } else if (this.writeBlocked) {
      this.setWriteDeadline(DEADLINE.WRITE_STALL, options.writeTimeoutMs);
    } else if (this.pending.length > 0 && (this.pending[0] as PendingResponse).response === null) {
      this.setWriteDeadline(DEADLINE.RESPONSE, options.responseTimeoutMs);
    } else {
      this.writeKind = DEADLINE.NONE;
    }
  }

  private setWriteDeadline(kind: DeadlineKind, afterMs: number): void {
    if (this.writeKind === kind) return;
    this.writeKind = afterMs > 0 ? kind : DEADLINE.NONE;
    this.writeDeadline = this.owner.clock.now + afterMs;
  }

  private readonly onDrain = (): void => {
    if (this.unflushed.length > 0) {
      const now = performance.now();
      for (const slot of this.unflushed) {
        const stamps = slot.stamps as Float64Array;
        stamps[STAGE.FLUSHED] = now;
        const request = slot.request as HttpRequest;
        this.owner.timings.record(stamps, slot.first, request.method, (slot.response as HttpResponse).status);
      }
      this.unflushed = [];
    }
    if (!this.writeBlocked) return;
    this.writeBlocked = false;
    // The peer took our bytes: a stall deadline ends here.
    if (this.writeKind === DEADLINE.WRITE_STALL) this.writeKind = DEADLINE.NONE;
    this.updateWriteDeadline();
    if (this.closing) return;
    this.readMessages();
    if (!this.writeBlocked && this.pending.length < this.owner.options.maxPipelineDepth) this.socket.resume();
  };

  /** Everything queued has gone to the kernel after our FIN: now wait for the peer's. */
  private readonly onFinish = (): void => {
    if (this.writeKind === DEADLINE.WRITE_STALL) this.writeKind = DEADLINE.NONE;
    this.updateWriteDeadline();
  };

  /** A framing error: answer it after whatever is still in flight, then close. */
  private failFraming(code: HttpErrorCode): void {
    this.owner.countParseError(code);
    this.closing = true;
    this.deadlineKind = DEADLINE.NONE;
    const limits = this.owner.options.limits;
    // A body over its route's own limit names that limit ("this request takes no body").
    const response = responseForParseError(code, this.bodyLimit < 0 ? limits : { ...limits, maxBodyBytes: this.bodyLimit });
    const slot: PendingResponse = { request: null, response, stamps: null, closeAfter: true, first: false };
    this.pending.push(slot);
    this.socket.pause();
    this.writeReady();
  }

  /** Called by the server's sweep when a deadline has passed. */
  expire(now: number): void {
    const writeKind = this.writeKind;
    if (writeKind !== DEADLINE.NONE && now >= this.writeDeadline) {
      this.writeKind = DEADLINE.NONE;
      if (writeKind === DEADLINE.RESPONSE) {
        // The handler may still answer later; that answer is dropped (pending is cleared).
        this.owner.countTimeout(DEADLINE.RESPONSE);
        this.closing = true;
        this.deadlineKind = DEADLINE.NONE;
        this.pending.length = 0;
        this.writeResponse(null, RESPONSE_TIMEOUT, null, true);
        return;
      }
      // A peer that takes nothing we send, or never closes its side: nothing more to say.
      this.owner.countTimeout(writeKind);
      this.destroy();
      return;
    }
    if (now < this.deadline) return;
    const kind = this.deadlineKind;
    this.deadlineKind = DEADLINE.NONE;
    if (kind === DEADLINE.IDLE) {
      if (!this.owner.draining) this.owner.countTimeout(DEADLINE.IDLE);
      this.close();
      return;
    }
    if (kind === DEADLINE.HEADERS || kind === DEADLINE.BODY) {
      // RFC 9110 §15.5.9: 408 tells the client the server gave up waiting, then closes.
      this.owner.countTimeout(kind);
      this.closing = true;
      this.pending.length = 0;
      this.writeResponse(
        null,
        errorResponse(408, 'LAB_ERR_SERVER_TIMEOUT', kind === DEADLINE.HEADERS ? 'request headers took too long' : 'request body took too long'),
        null,
        true,
      );
    }
  }

  close(): void {
    this.closing = true;
    this.deadlineKind = DEADLINE.NONE;
    this.endOurSide();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private setDeadline(kind: DeadlineKind, afterMs: number): void {
    this.deadlineKind = afterMs > 0 ? kind : DEADLINE.NONE;
    this.deadline = this.owner.clock.now + afterMs;
  }

  private readonly onEnd = (): void => {
    // The peer will send nothing more: answer what we have, then finish our side.
    if (this.pending.length === 0 && !this.closing) this.close();
    else this.closing = true;
  };

  private readonly onError = (): void => {
    // ECONNRESET, EPIPE and friends: the peer went away. Counted at close; nothing to answer.
    this.owner.countSocketError();
  };

  private readonly onClose = (): void => {
    this.pending.length = 0;
    this.owner.forget(this);
  };

  /** Drop a connection the model refused: it answers 503 and closes, like --max-connections. */
  refuse(response: HttpResponse): void {
    this.closing = true;
    this.deadlineKind = DEADLINE.NONE;
    this.writeResponse(null, response, null, true);
  }
}
