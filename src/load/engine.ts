/**
 * One thread's share of a load run: its connections, its schedule, its measurements. The
 * coordinator (run.ts) runs one Engine in its own thread or one per worker thread.
 *
 * Shape of the hot path, after autocannon and wrk:
 * - request bytes are built before the run (request-bytes.ts); a request is one write();
 * - reads arrive through net's `onread` option into one buffer shared by every socket of
 *   the engine, skipping the Readable stream machinery (no per-read Buffer, no 'data'
 *   events); the response parser counts body bytes and keeps none;
 * - no closure per connection or per request: the socket points at its Conn through a
 *   symbol and shares module-level handlers that read it back from `this`;
 * - timeouts are deadlines checked by one sweep timer, not a timer per request, so 100K
 *   held connections cost 100K numbers, not 100K timers.
 *
 * Times are performance.now() milliseconds (monotonic, sub-microsecond, a double: no BigInt
 * allocation per reading); every engine converts the coordinator's common start from
 * process.hrtime.bigint(), the same CLOCK_MONOTONIC in every thread.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { PARSE } from '../http/constants.js';
import { ResponseParser, type HttpResponseHead } from '../http/response-parser.js';
import type { Histogram } from '../metrics/histogram.js';
import { classifyErrno } from './classify.js';
import { CLOSE_BY, FAILURE, LOAD_MODEL, type FailureKind } from './constants.js';
import { shareOf, stageTarget } from './plan.js';
import { Recorder, type SecondSink } from './recorder.js';
import { createRequestSource, type RequestSource } from './request-bytes.js';
import type { EngineConfig, EngineReport, LoadPlan } from './types.js';

/** Where a connection (a VU in the closed model, a pooled connection in the open model) stands. */
const STATE = {
  /** Not in use: a retired VU, or before its first request. */
  CLOSED: 0,
  /** No request in flight; the socket is open, or null until the next request needs one. */
  IDLE: 1,
  /** connect() issued; in the closed and open models a request waits for it. */
  CONNECTING: 2,
  /** Request written, response not complete. */
  WAITING: 3,
  /** Closed model: between a response and the next request (--think). */
  THINKING: 4,
  /** --close-by server: response complete, waiting for the server's FIN before reconnecting. */
  CLOSING: 5,
} as const;

type ConnState = (typeof STATE)[keyof typeof STATE];

/** Stages are re-evaluated this often: fine enough that a 1 s ramp to 100 VUs moves in steps of 5. */
const RAMP_TICK_MS = 50;

/** Timeouts are checked at a tenth of the shortest one, within these bounds. */
const SWEEP_MIN_MS = 5;
const SWEEP_MAX_MS = 250;

/**
 * One read buffer for every socket of an engine: the onread callback parses synchronously and
 * the parser copies what it must keep, so the next read may overwrite it. 64 KiB is what
 * libuv reads at most per call on Linux.
 */
const READ_BUFFER_BYTES = 64 * 1024;

const CONN = Symbol('socketlab.load.conn');

interface LoadSocket extends net.Socket {
  [CONN]: Conn | null;
}

class Conn {
  socket: LoadSocket | null = null;
  /**
   * Created with the first request (a held connection never needs one) and kept across
   * reconnects while it stands between messages; dropped when a stream broke mid-response.
   */
  parser: ResponseParser | null = null;
  state: ConnState = STATE.CLOSED;
  /** A request is in flight (counted in Recorder.inFlight) from its start until it completes or fails. */
  busy = false;
  /** Closed model ramp-down: close after the current request. */
  retiring = false;
  /** Closed model: in Engine.vuStack (an active VU, not retiring). */
  inStack = false;
  /** Hold model: the handshake completed and the connection counts as held. */
  held = false;
  intendedAt = 0;
  startedAt = 0;
  connectStartedAt = 0;
  sentAt = 0;
  firstByteAt = 0;
  /** When the current phase times out (ms), 0 for never. */
  deadline = 0;
  thinkTimer: NodeJS.Timeout | null = null;

  constructor(readonly engine: Engine) {}
}

// Module-level handlers: `this` is the socket, which points at its Conn (null once detached).
function onSocketConnect(this: LoadSocket): void {
  const conn = this[CONN];
  if (conn !== null) conn.engine.handleConnect(conn);
}
function onSocketRead(this: LoadSocket, nread: number, buffer: Uint8Array): boolean {
  const conn = this[CONN];
  if (conn !== null) conn.engine.handleRead(conn, buffer as Buffer, nread);
  return true;
}
function onSocketEnd(this: LoadSocket): void {
  const conn = this[CONN];
  if (conn !== null) conn.engine.handlePeerClose(conn, true);
}
function onSocketClose(this: LoadSocket): void {
  const conn = this[CONN];
  if (conn !== null) conn.engine.handlePeerClose(conn, false);
}
function onSocketError(this: LoadSocket, error: NodeJS.ErrnoException): void {
  const conn = this[CONN];
  if (conn !== null) conn.engine.handleError(conn, error);
}
function onThinkDone(conn: Conn): void {
  conn.thinkTimer = null;
  conn.engine.resumeVu(conn);
}
function onRestart(conn: Conn): void {
  conn.engine.resumeVu(conn);
}

export class Engine {
  private readonly plan: LoadPlan;
  private readonly recorder: Recorder;
  private readonly requests: RequestSource;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly connectOptions: net.TcpNetConnectOpts & { onread: { buffer: Uint8Array; callback: (n: number, b: Uint8Array) => boolean } };
  private readonly workerIndex: number;
  private readonly workerCount: number;
  private localAddressCursor: number;

  /** Every Conn ever created (CLOSED ones are reused); the sweep walks it. */
  private readonly conns: Conn[] = [];
  /** Closed model: active (not retiring) VUs, newest last; ramp-down retires from the end. */
  private readonly vuStack: Conn[] = [];
  /** Closed model: CLOSED Conns ready for reuse. */
  private readonly spare: Conn[] = [];
  /** Open model: connections free for the next scheduled start. */
  private readonly idle: Conn[] = [];
  /** VUs (closed), pooled connections (open), held connections (hold). */
  private alive = 0;

  private startMs = 0;
  private endMs = 0;
  private stopping = false;
  /** stop() came before run(): the run ends as soon as it begins. */
  private stopRequested = false;
  private finished = false;
  private timers: (NodeJS.Timeout | null)[] = [];
  private graceTimer: NodeJS.Timeout | null = null;
  private scheduleTimer: NodeJS.Timeout | null = null;
  private resolveDone: ((report: EngineReport<Histogram>) => void) | null = null;

  // Open model schedule: this engine's k-th start is due at firstDueAt + k × intervalMs.
  private firstDueAt = 0;
  private intervalMs = 0;
  private startIndex = 0;
  private nextDueAt = Infinity;
  private maxPool = 0;

  // Hold model.
  private holdTarget = 0;
  private holdOpened = 0;
  private holdConnecting = 0;
  /** Every connect has settled; the hold's own clock is running. */
  private holding = false;

  constructor(config: EngineConfig, sink: SecondSink) {
    this.plan = config.plan;
    this.workerIndex = config.workerIndex;
    this.workerCount = config.workerCount;
    this.localAddressCursor = config.workerIndex;
    this.recorder = new Recorder(sink, config.plan.model === LOAD_MODEL.OPEN);
    this.requests = createRequestSource(config.plan);
    this.connectOptions = {
      host: config.address,
      port: config.plan.port,
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: onSocketRead },
    };
  }

  /** Run from `startNs` (process.hrtime.bigint()) to the end of the plan and the graceful stop. */
  run(startNs: bigint): Promise<EngineReport<Histogram>> {
    const nowMs = performance.now();
    this.startMs = nowMs + Number(startNs - process.hrtime.bigint()) / 1e6;
    this.endMs = this.startMs + this.plan.durationMs;
    return new Promise((resolve) => {
      this.resolveDone = resolve;
      this.timers.push(setTimeout(() => this.begin(), Math.max(0, this.startMs - nowMs)));
    });
  }

  /** End early (an aborted run): no new requests; in-flight ones get the graceful stop. */
  stop(): void {
    if (this.resolveDone === null) this.stopRequested = true;
    else if (!this.stopping) this.beginStop(false);
  }

  private begin(): void {
    if (this.stopping) return;
    if (this.stopRequested) {
      this.beginStop(false);
      return;
    }
    const now = performance.now();
    this.recorder.start(this.startMs);
    const plan = this.plan;
    const rollEverySecond = (): void => {
      const t = performance.now();
      this.recorder.rollTo(t);
      this.timers[0] = setTimeout(rollEverySecond, Math.max(1, 1000 - ((t - this.startMs) % 1000)));
    };
    this.timers = [setTimeout(rollEverySecond, 1000 - (now - this.startMs))];
    const shortest = Math.min(plan.connectTimeoutMs, plan.timeoutMs > 0 ? plan.timeoutMs : Infinity);
    const sweepMs = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, shortest / 10));
    this.timers.push(setInterval(() => this.sweep(), sweepMs));
    // The hold model's clock starts once every connection is open (openHeld).
    if (plan.model !== LOAD_MODEL.HOLD) this.timers.push(setTimeout(() => this.beginStop(true), Math.max(0, this.endMs - now)));

    if (plan.model === LOAD_MODEL.CLOSED) {
      if (plan.stages === null) this.setVuTarget(shareOf(plan.vus, this.workerIndex, this.workerCount));
      else {
        const stages = plan.stages;
        const ramp = (): void => {
          const target = stageTarget(stages, performance.now() - this.startMs);
          this.setVuTarget(shareOf(target, this.workerIndex, this.workerCount));
        };
        ramp();
        this.timers.push(setInterval(ramp, RAMP_TICK_MS));
      }
    } else if (plan.model === LOAD_MODEL.OPEN) {
      // Workers interleave: worker w takes starts w, w+N, w+2N... of the global schedule, so
      // together they start requests exactly 1/rate apart.
      const globalInterval = 1000 / plan.rate;
      this.intervalMs = globalInterval * this.workerCount;
      this.firstDueAt = this.startMs + globalInterval * this.workerIndex;
      this.nextDueAt = this.firstDueAt;
      this.maxPool = shareOf(plan.maxVus, this.workerIndex, this.workerCount);
      this.onScheduleTimer();
    } else {
      this.holdTarget = shareOf(plan.connections, this.workerIndex, this.workerCount);
      this.openHeld();
    }
  }

  // ── Connections ─────────────────────────────────────────────────────────────────────────

  private openSocket(conn: Conn, now: number): void {
    const options = this.connectOptions;
    const locals = this.plan.localAddresses;
    if (locals.length > 0) {
      options.localAddress = locals[this.localAddressCursor % locals.length] as string;
      this.localAddressCursor += 1;
    }
    const socket = net.connect(options) as LoadSocket;
    socket[CONN] = conn;
    socket.on('connect', onSocketConnect);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    conn.socket = socket;
    conn.state = STATE.CONNECTING;
    conn.connectStartedAt = now;
    conn.deadline = now + this.plan.connectTimeoutMs;
    this.recorder.counts.connects += 1;
  }

  /** Forget the socket (its later events are ignored) and close it. */
  private dropSocket(conn: Conn): void {
    const socket = conn.socket;
    if (socket === null) return;
    socket[CONN] = null;
    socket.destroy();
    conn.socket = null;
  }

  handleConnect(conn: Conn): void {
    const now = performance.now();
    this.recorder.recordConnect(now - conn.connectStartedAt);
    if (conn.busy) {
      this.send(conn, now);
      return;
    }
    // Hold model: nothing to send, no deadline; the connection just stays.
    conn.state = STATE.IDLE;
    conn.deadline = 0;
    conn.held = true;
    this.holdConnecting -= 1;
    this.alive += 1;
    this.recorder.setVus(this.alive);
    this.openHeld();
  }

  // ── Requests ────────────────────────────────────────────────────────────────────────────

  /** Start a request on `conn` (intended at `intendedAt`), connecting first when it has no socket. */
  private startRequest(conn: Conn, intendedAt: number, now: number): void {
    conn.busy = true;
    conn.intendedAt = intendedAt;
    conn.startedAt = now;
    this.recorder.beginRequest();
    if (conn.socket === null) this.openSocket(conn, now);
    else this.send(conn, now);
  }

  private send(conn: Conn, now: number): void {
    const bytes = this.requests.next();
    conn.state = STATE.WAITING;
    conn.sentAt = now;
    conn.firstByteAt = 0;
    conn.deadline = this.plan.timeoutMs > 0 ? now + this.plan.timeoutMs : 0;
    conn.parser ??= new ResponseParser({ keepBody: false });
    conn.parser.expectResponseTo(this.plan.method);
    this.recorder.counts.bytesSent += bytes.length;
    (conn.socket as LoadSocket).write(bytes);
  }

  handleRead(conn: Conn, buffer: Buffer, nread: number): void {
    const now = performance.now();
    this.recorder.recordBytesReceived(nread);
    if (conn.state !== STATE.WAITING) {
      // Bytes nobody asked for (a 408 on an idle keep-alive connection, or data on a held
      // one). A held connection just takes them; otherwise the connection is no longer in
      // step with its requests, so it is dropped and the next request reconnects.
      if (this.plan.model !== LOAD_MODEL.HOLD && conn.state !== STATE.CLOSING) this.dropSocket(conn);
      return;
    }
    if (conn.firstByteAt === 0) {
      conn.firstByteAt = now;
      this.recorder.recordTtfb(now - conn.sentAt);
    }
    const parser = conn.parser as ResponseParser;
    parser.feed(buffer.subarray(0, nread));
    for (;;) {
      const step = parser.next();
      if (step === PARSE.NEED_MORE) return;
      if (step === PARSE.MESSAGE) {
        const response = parser.response as HttpResponseHead;
        this.complete(conn, now, response.status, response.keepAlive);
        return;
      }
      if (step === PARSE.ERROR) {
        this.fail(conn, FAILURE.MALFORMED, now);
        return;
      }
      // PARSE.HEAD: the status line and headers are in; read on for the body.
    }
  }

  private complete(conn: Conn, now: number, status: number, serverKeepsAlive: boolean): void {
    conn.busy = false;
    conn.deadline = 0;
    this.recorder.recordResponse(now, status, now - conn.intendedAt, now - conn.startedAt);
    if (!this.plan.keepAlive && this.plan.closeBy === CLOSE_BY.SERVER && conn.socket !== null) {
      // Wait for the server's FIN so that TIME_WAIT lands on its side, bounded by --timeout.
      conn.state = STATE.CLOSING;
      conn.deadline = now + (this.plan.timeoutMs > 0 ? this.plan.timeoutMs : this.plan.connectTimeoutMs);
      return;
    }
    if (!this.plan.keepAlive || !serverKeepsAlive) this.dropSocket(conn);
    this.afterRequest(conn, now);
  }

  /** A request failed (busy), a held connection failed (hold), or an idle connection died. */
  private fail(conn: Conn, kind: FailureKind, now: number, errno?: string): void {
    const hold = this.plan.model === LOAD_MODEL.HOLD;
    if (conn.busy) {
      conn.busy = false;
      this.recorder.recordFailure(now, kind, true, errno);
    } else if (hold) {
      this.recorder.recordFailure(now, kind, false, errno);
    }
    conn.deadline = 0;
    // The stream broke, possibly mid-response: the next connection starts a fresh parser.
    conn.parser = null;
    this.dropSocket(conn);
    if (hold) {
      if (conn.held) {
        conn.held = false;
        this.alive -= 1;
        this.recorder.setVus(this.alive);
      } else {
        this.holdConnecting -= 1;
      }
      conn.state = STATE.CLOSED;
      this.openHeld();
      this.maybeFinish();
      return;
    }
    if (this.plan.model === LOAD_MODEL.CLOSED && !this.stopping && !conn.retiring && conn.state !== STATE.IDLE && conn.state !== STATE.THINKING) {
      // Retry on the next turn of the event loop, not from inside this socket's handlers; a
      // VU that keeps failing (nothing listening) then spins as fast as the kernel answers,
      // as k6 and autocannon do, and every attempt is counted.
      conn.state = STATE.IDLE;
      if (this.plan.thinkMs > 0) {
        conn.state = STATE.THINKING;
        conn.thinkTimer = setTimeout(onThinkDone, this.plan.thinkMs, conn);
      } else setImmediate(onRestart, conn);
      this.maybeFinish();
      return;
    }
    if (conn.state === STATE.IDLE || conn.state === STATE.THINKING) return;
    this.afterRequest(conn, now);
  }

  /** What a connection does once its request is over. */
  private afterRequest(conn: Conn, now: number): void {
    if (this.plan.model === LOAD_MODEL.CLOSED) {
      if (this.stopping || conn.retiring) this.closeVu(conn);
      else if (this.plan.thinkMs > 0) {
        conn.state = STATE.THINKING;
        conn.thinkTimer = setTimeout(onThinkDone, this.plan.thinkMs, conn);
      } else {
        conn.state = STATE.IDLE;
        this.startRequest(conn, now, now);
      }
    } else {
      conn.state = STATE.IDLE;
      if (this.stopping) this.dropSocket(conn);
      else {
        this.idle.push(conn);
        // A freed connection takes any start that came due meanwhile, without waiting for the timer.
        if (this.nextDueAt <= now) this.pump(now);
      }
    }
    this.maybeFinish();
  }

  /** Closed model: a think pause or a retry delay is over. */
  resumeVu(conn: Conn): void {
    if (conn.state === STATE.CLOSED || conn.busy) return;
    if (this.stopping || conn.retiring) {
      this.closeVu(conn);
      this.maybeFinish();
      return;
    }
    const now = performance.now();
    conn.state = STATE.IDLE;
    this.startRequest(conn, now, now);
  }

  handlePeerClose(conn: Conn, graceful: boolean): void {
    const now = performance.now();
    switch (conn.state) {
      case STATE.WAITING: {
        // A body delimited by the end of the connection (no Content-Length, not chunked) is
        // complete now; anything else cut short is a failure.
        const parser = conn.parser as ResponseParser;
        if (graceful && parser.finish() === PARSE.MESSAGE) {
          this.dropSocket(conn);
          // finish() ended the parser's stream: the next connection gets a fresh one.
          conn.parser = null;
          this.complete(conn, now, (parser.response as HttpResponseHead).status, false);
        } else this.fail(conn, FAILURE.CLOSED_EARLY, now);
        return;
      }
      case STATE.CONNECTING:
        this.fail(conn, FAILURE.CLOSED_EARLY, now);
        return;
      case STATE.CLOSING:
        this.dropSocket(conn);
        this.afterRequest(conn, now);
        return;
      default:
        // The server closed an idle keep-alive connection (its keep-alive timeout): not a
        // failure; the next request reconnects. A held connection closed is one lost.
        if (this.plan.model === LOAD_MODEL.HOLD && conn.held) this.fail(conn, FAILURE.CLOSED_EARLY, now);
        else this.dropSocket(conn);
    }
  }

  handleError(conn: Conn, error: NodeJS.ErrnoException): void {
    const now = performance.now();
    if (conn.state === STATE.CLOSING) {
      this.dropSocket(conn);
      this.afterRequest(conn, now);
      return;
    }
    const code = error.code;
    let kind = classifyErrno(code);
    // A reset while connecting on Linux loopback is a SYN answered by RST: a refusal.
    if (kind === FAILURE.RESET && conn.state === STATE.CONNECTING && error.syscall === 'connect') kind = FAILURE.REFUSED;
    this.fail(conn, kind, now, code);
  }

  /** Fail whatever passed its deadline. One timer for all connections (see the file comment). */
  private sweep(): void {
    const now = performance.now();
    const conns = this.conns;
    for (let i = 0; i < conns.length; i++) {
      const conn = conns[i] as Conn;
      if (conn.deadline === 0 || now < conn.deadline) continue;
      if (conn.state === STATE.CONNECTING) this.fail(conn, FAILURE.CONNECT_TIMEOUT, now);
      else if (conn.state === STATE.WAITING) this.fail(conn, FAILURE.RESPONSE_TIMEOUT, now);
      else if (conn.state === STATE.CLOSING) {
        conn.deadline = 0;
        this.dropSocket(conn);
        this.afterRequest(conn, now);
      } else conn.deadline = 0;
    }
  }

  // ── Closed model ────────────────────────────────────────────────────────────────────────

  private setVuTarget(target: number): void {
    const now = performance.now();
    while (this.vuStack.length < target && !this.stopping) {
      const conn = this.spare.pop() ?? this.newConn();
      conn.retiring = false;
      conn.state = STATE.IDLE;
      conn.inStack = true;
      this.vuStack.push(conn);
      this.alive += 1;
      this.recorder.setVus(this.alive);
      this.startRequest(conn, now, now);
    }
    while (this.vuStack.length > target) {
      const conn = this.vuStack.pop() as Conn;
      conn.inStack = false;
      // k6's gracefulRampDown: a VU busy with a request finishes it first.
      if (conn.busy || conn.state === STATE.CLOSING) conn.retiring = true;
      else this.closeVu(conn);
    }
  }

  private closeVu(conn: Conn): void {
    if (conn.state === STATE.CLOSED) return;
    if (conn.thinkTimer !== null) {
      clearTimeout(conn.thinkTimer);
      conn.thinkTimer = null;
    }
    this.dropSocket(conn);
    conn.state = STATE.CLOSED;
    conn.deadline = 0;
    if (conn.inStack) {
      // Not reached in practice (ramp-down pops first, stop empties the stack); O(n) if it is.
      const at = this.vuStack.indexOf(conn);
      if (at >= 0) this.vuStack.splice(at, 1);
      conn.inStack = false;
    }
    conn.retiring = false;
    this.spare.push(conn);
    this.alive -= 1;
    this.recorder.setVus(this.alive);
  }

  private newConn(): Conn {
    const conn = new Conn(this);
    this.conns.push(conn);
    return conn;
  }

  // ── Open model ──────────────────────────────────────────────────────────────────────────

  private readonly onScheduleTimer = (): void => {
    this.scheduleTimer = null;
    if (this.stopping) return;
    const now = performance.now();
    this.pump(now);
    if (this.nextDueAt < this.endMs) {
      // Node's timers have 1 ms resolution; starts due within it are taken together and
      // timed from their intended moments, so the lateness is measured, not hidden.
      this.scheduleTimer = setTimeout(this.onScheduleTimer, Math.max(1, this.nextDueAt - now));
    }
  };

  /** Take every start due by `now`: each gets an idle connection, a new one while the pool may grow, or is dropped. */
  private pump(now: number): void {
    while (this.nextDueAt <= now && this.nextDueAt < this.endMs) {
      const intendedAt = this.nextDueAt;
      this.startIndex += 1;
      this.nextDueAt = this.firstDueAt + this.startIndex * this.intervalMs;
      let conn = this.idle.pop();
      if (conn === undefined && this.alive < this.maxPool) {
        conn = this.newConn();
        conn.state = STATE.IDLE;
        this.alive += 1;
        this.recorder.setVus(this.alive);
      }
      // k6's dropped_iterations: a start with no free connection is not queued behind the
      // busy ones (that would hide the stall, as a closed model does); it is counted.
      if (conn === undefined) this.recorder.recordDropped();
      else this.startRequest(conn, intendedAt, now);
    }
  }

  // ── Hold model ──────────────────────────────────────────────────────────────────────────

  /**
   * Keep up to connectConcurrency connects in flight until the target is reached; once every
   * connect has settled (open or failed, each bounded by --connect-timeout), hold for the
   * duration. Opening 100K connections takes a while and is not holding them.
   */
  private openHeld(): void {
    if (this.stopping) return;
    const now = performance.now();
    while (this.holdOpened < this.holdTarget && this.holdConnecting < this.plan.connectConcurrency) {
      this.holdOpened += 1;
      this.holdConnecting += 1;
      this.openSocket(this.newConn(), now);
    }
    if (!this.holding && this.holdOpened === this.holdTarget && this.holdConnecting === 0) {
      this.holding = true;
      this.endMs = now + this.plan.durationMs;
      this.timers.push(setTimeout(() => this.beginStop(true), this.plan.durationMs));
    }
  }

  // ── Ending ──────────────────────────────────────────────────────────────────────────────

  private beginStop(reachedEnd: boolean): void {
    if (this.stopping) return;
    const now = performance.now();
    if (reachedEnd && now < this.endMs) {
      // libuv times timers from its cached loop time, so one may fire a little early; the
      // schedule's last starts are due up to the end.
      this.timers.push(setTimeout(() => this.beginStop(true), Math.ceil(this.endMs - now)));
      return;
    }
    // Starts due before the end still happen even if this timer fired a little late.
    if (reachedEnd && this.plan.model === LOAD_MODEL.OPEN) this.pump(Math.min(now, this.endMs));
    this.stopping = true;
    if (this.scheduleTimer !== null) clearTimeout(this.scheduleTimer);
    // Keep the roll timer (timers[0]) and the sweep (timeouts still apply while draining).
    for (let i = 2; i < this.timers.length; i++) {
      const timer = this.timers[i];
      if (timer) clearTimeout(timer);
    }
    this.timers.length = Math.min(this.timers.length, 2);
    if (this.plan.model === LOAD_MODEL.HOLD) {
      this.recorder.counts.openAtEnd = this.alive;
    } else {
      this.recorder.counts.openAtEnd = this.conns.reduce((n, c) => n + (c.socket !== null && c.state !== STATE.CONNECTING ? 1 : 0), 0);
    }
    for (const conn of this.vuStack) conn.inStack = false;
    this.vuStack.length = 0;
    for (const conn of this.conns) {
      if (conn.busy) continue;
      if (this.plan.model === LOAD_MODEL.CLOSED) this.closeVu(conn);
      else {
        if (conn.state === STATE.CONNECTING && this.plan.model === LOAD_MODEL.HOLD) this.holdConnecting -= 1;
        this.dropSocket(conn);
        conn.state = STATE.CLOSED;
      }
    }
    this.idle.length = 0;
    if (this.recorder.inFlight === 0) this.finish();
    else this.graceTimer = setTimeout(() => this.interruptAll(), this.plan.gracefulStopMs);
  }

  /** The graceful stop ran out: whatever is still in flight is counted as interrupted. */
  private interruptAll(): void {
    for (const conn of this.conns) {
      if (!conn.busy) continue;
      conn.busy = false;
      this.recorder.recordInterrupted();
      this.dropSocket(conn);
      conn.state = STATE.CLOSED;
    }
    this.finish();
  }

  private maybeFinish(): void {
    if (this.stopping && !this.finished && this.recorder.inFlight === 0) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const now = performance.now();
    for (const timer of this.timers) if (timer) clearTimeout(timer);
    this.timers = [];
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    for (const conn of this.conns) {
      if (conn.thinkTimer !== null) clearTimeout(conn.thinkTimer);
      conn.thinkTimer = null;
      this.dropSocket(conn);
      conn.state = STATE.CLOSED;
    }
    this.alive = 0;
    this.recorder.vus = 0;
    this.recorder.rollTo(now);
    this.recorder.finish();
    const resolve = this.resolveDone;
    this.resolveDone = null;
    resolve?.(this.recorder.report(now - this.startMs));
  }
}
