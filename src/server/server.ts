/**
 * The raw node:net server: listen with a chosen backlog, accept (at full speed or at a
 * throttled rate), hold per-connection state, sweep deadlines, count everything, and shut
 * down gracefully. It knows nothing about routes: a concurrency model hands it a
 * RequestHandler.
 */
import net from 'node:net';
import cluster from 'node:cluster';
import { readProcText } from '../metrics/procfs.js';
import { readFdLimit } from '../metrics/process-stats.js';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';
import type { HttpErrorCode } from '../http/constants.js';
import type { HttpRequest } from '../http/request-parser.js';
import { CoarseClock } from './clock.js';
import { Connection, DEADLINE, type ConnectionOwner, type DeadlineKind, type RequestHandler } from './connection.js';
import { DEFAULT_SERVER_OPTIONS, type ServerOptions } from './options.js';
import { StageTimings, type RequestTrace, type StageSummary } from './stage-timings.js';
import { startAcceptor, type Acceptor } from './acceptor.js';
import { addListenDescriptors } from './accept-fanout.js';
import { errorResponse, serializeResponse, type HttpResponse } from '../http/response-writer.js';
import { getSystemErrorName } from 'node:util';

/** What a concurrency model may hear about besides requests. */
export interface ServerHooks {
  /** A handler threw or rejected (the client got a 500). */
  onHandlerError?(error: unknown): void;
  /** A connection was accepted; return a response to refuse it (answered, then closed). */
  onConnectionOpened?(connectionId: number): HttpResponse | null;
  /** A connection is gone, whoever closed it. */
  onConnectionClosed?(connectionId: number): void;
  /**
   * The most body bytes this request's route will read, asked once its head announces a
   * body; more is refused with 413 before it is read. Default: the server's maxBodyBytes.
   */
  bodyLimit?(request: HttpRequest): number;
}

/** What the server counts; private to it, changed through its count*() methods. */
interface ServerCounters {
  connectionsTotal: number;
  /** Turned away with 503 because --max-connections were open. */
  connectionsRejected: number;
  requests: number;
  idleTimeouts: number;
  requestTimeouts: number;
  /** Answered 503 because the handler had not answered within responseTimeoutMs. */
  responseTimeouts: number;
  /** Destroyed because the peer took none of our bytes for writeTimeoutMs. */
  writeTimeouts: number;
  /** Destroyed because the peer had not closed its side lingerTimeoutMs after we closed ours. */
  lingerTimeouts: number;
  socketErrors: number;
  handlerErrors: number;
}

/** The limits in force, as /stats shows them: null where a limit is off. */
export interface ServerLimits {
  maxConnections: number | null;
  maxPipelineDepth: number;
  headersTimeoutMs: number | null;
  requestTimeoutMs: number | null;
  keepAliveTimeoutMs: number | null;
  responseTimeoutMs: number | null;
  writeTimeoutMs: number | null;
  lingerTimeoutMs: number | null;
  maxHeadBytes: number;
  maxHeaders: number;
  maxTargetBytes: number;
  maxBodyBytes: number;
}

export interface BacklogInfo {
  requested: number;
  /** net.core.somaxconn, or null where /proc is not there to read it. */
  somaxconn: number | null;
  /** What listen(2) really gets: the kernel silently caps the backlog at somaxconn. */
  effective: number;
}

export interface ServerStats {
  pid: number;
  address: { host: string; port: number } | null;
  backlog: BacklogInfo;
  /** Descriptors of the listening socket this process accepts on (accept-fanout.ts). */
  acceptDescriptors: number;
  acceptRate: number | null;
  keeperPid: number | null;
  uptimeMs: number;
  draining: boolean;
  limits: ServerLimits;
  connections: {
    open: number;
    total: number;
    rejected: number;
    idleTimeouts: number;
    requestTimeouts: number;
    responseTimeouts: number;
    writeTimeouts: number;
    lingerTimeouts: number;
    socketErrors: number;
  };
  /** accept(2) failures Node reported, by errno (EMFILE mostly does not get here: see listenHere). */
  acceptErrors: Record<string, number>;
  requests: { total: number; byStatus: Record<string, number>; parseErrors: Record<string, number>; handlerErrors: number };
  /**
   * Stage percentiles (stage-timings.ts): `window` timed requests, each connection's first
   * and one in `sampleEvery` of the others weighted by it, so each summary's count estimates
   * the requests it covers; `last` is the most recent timed request.
   */
  stages: { window: number; sampleEvery: number; intervals: StageSummary; last: RequestTrace | null };
}

/** The kernel's cap on any listen backlog (net.core.somaxconn), or null off Linux. */
export function readSomaxconn(): number | null {
  const text = readProcText('sys/net/core/somaxconn');
  return text === null ? null : Number(text.trim());
}

export function resolveBacklog(requested: number): BacklogInfo {
  const somaxconn = readSomaxconn();
  return { requested, somaxconn, effective: somaxconn === null ? requested : Math.min(requested, somaxconn) };
}

/**
 * allowHalfOpen: a client that shuts down its sending side still gets its answers (we end
 * our side ourselves); noDelay: small responses leave at once, no Nagle wait.
 */
const SERVER_OPTIONS: net.ServerOpts = { allowHalfOpen: true, noDelay: true };

/**
 * Connections accepted within one clock tick (250 ms) that make the server widen its accept
 * (accept-fanout.ts). Far above what a keep-alive load's reconnects make; a 10,000-user start
 * passes it within its first few milliseconds.
 */
const ACCEPT_BURST = 128;
/**
 * Below this many descriptors (RLIMIT_NOFILE) the accept is never widened: its extra
 * descriptors are worth more as connections, and lab 4 counts every descriptor of a server
 * limited to 64.
 */
const WIDEN_MIN_FD_LIMIT = 1024;

/** The answer for a connection over --max-connections (before any request is read). */
const OVER_CAPACITY = errorResponse(503, 'LAB_ERR_SERVER_FULL', 'too many open connections: try again later', ['Retry-After', '1']);

export class LabServer implements ConnectionOwner {
  readonly options: ServerOptions;
  readonly clock = new CoarseClock();
  readonly timings: StageTimings;
  readonly handler: RequestHandler;
  private readonly counters: ServerCounters = {
    connectionsTotal: 0,
    connectionsRejected: 0,
    requests: 0,
    idleTimeouts: 0,
    requestTimeouts: 0,
    responseTimeouts: 0,
    writeTimeouts: 0,
    lingerTimeouts: 0,
    socketErrors: 0,
    handlerErrors: 0,
  };
  readonly backlog: BacklogInfo;
  private shuttingDown = false;
  private readonly connections = new Set<Connection>();
  private readonly responsesByStatus = new Uint32Array(600);
  private readonly parseErrors = new Map<string, number>();
  private readonly acceptErrors = new Map<string, number>();
  private readonly startedAt = Date.now();
  private readonly hooks: ServerHooks;
  /** One per descriptor of the listening socket (accept-fanout.ts); empty under --accept-rate. */
  private listeners: net.Server[] = [];
  /** widenAccept() in progress or done. */
  private widening: Promise<void> | null = null;
  private burstTick = 0;
  private burstAccepts = 0;
  private acceptor: Acceptor | null = null;
  private nextConnectionId = 1;
  private boundAddress: { host: string; port: number } | null = null;
  private closing: Promise<number> | null = null;
  private acceptedWhileDraining = false;
  private shutdownOverdue = false;
  private allClosed: (() => void) | null = null;

  constructor(options: Partial<ServerOptions>, handler: RequestHandler, hooks: ServerHooks = {}) {
    this.options = { ...DEFAULT_SERVER_OPTIONS, ...options };
    this.timings = new StageTimings(this.options.stageSampleEvery);
    this.handler = handler;
    this.hooks = hooks;
    this.backlog = resolveBacklog(this.options.backlog);
  }

  /** close() was called: every message read from now on is the last on its connection. */
  get draining(): boolean {
    return this.shuttingDown;
  }

  get address(): { host: string; port: number } | null {
    return this.boundAddress;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Under --accept-rate, the process that holds a second descriptor of the listening socket. */
  get keeperPid(): number | null {
    return this.acceptor?.pid ?? null;
  }

  /** Bind and listen; resolves once connections can arrive. Errors a person can fix are LabErrors. */
  async listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.options;
    this.clock.start((now) => this.sweepDeadlines(now));
    try {
      if (this.options.acceptRate !== null) {
        this.acceptor = await startAcceptor({ host, port, backlog: this.options.backlog, rate: this.options.acceptRate }, (socket) => this.accept(socket));
        this.boundAddress = { host, port: this.acceptor.port };
      } else {
        this.boundAddress = await this.listenHere(host, port);
      }
      for (const listener of this.listeners) this.acceptWithOnread(listener);
    } catch (error) {
      this.clock.stop();
      throw describeListenError(error, host, port);
    }
    return this.boundAddress;
  }

  /** A net.Server that hands its sockets to accept() and counts failed accepts (see listenHere). */
  private createListener(): net.Server {
    const server = net.createServer(SERVER_OPTIONS, (socket) => this.accept(socket));
    server.on('error', (error) => this.countAcceptError(errnoCode(error) ?? 'UNKNOWN'));
    return server;
  }

  /**
   * Listen on more descriptors of the socket (accept-fanout.ts), up to acceptDescriptors in
   * all: once, on the first burst of connections. Resolves when they listen (or it is not
   * possible here: a cluster worker's listener is its primary's, a paced listener has its own).
   */
  widenAccept(): Promise<void> {
    if (this.widening !== null) return this.widening;
    const first = this.listeners[0];
    const extra = this.options.acceptDescriptors - this.listeners.length;
    const fdLimit = readFdLimit(process.pid)?.soft ?? null;
    const scarce = typeof fdLimit === 'number' && fdLimit < WIDEN_MIN_FD_LIMIT;
    if (first === undefined || extra <= 0 || cluster.isWorker || this.draining || scarce) {
      this.widening = Promise.resolve();
      return this.widening;
    }
    this.widening = addListenDescriptors(first, extra, this.options.backlog, () => this.createListener()).then(
      (servers) => {
        for (const server of servers) {
          if (this.draining) server.close();
          else {
            this.acceptWithOnread(server);
            this.listeners.push(server);
          }
        }
      },
      // The server keeps accepting on the descriptor it has, one connection per turn.
      (error: unknown) => process.emitWarning(`socketlab: could not add listening descriptors: ${error instanceof Error ? error.message : String(error)}`),
    );
    return this.widening;
  }

  private listenHere(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = net.createServer(SERVER_OPTIONS, (socket) => this.accept(socket));
    this.listeners = [server];
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // reusePort is in Node's ListenOptions from 22.12 (this project's @types/node is 20's).
      const listenOptions = { host, port, backlog: this.options.backlog, ...(this.options.reusePort ? { reusePort: true } : {}) } as net.ListenOptions;
      server.listen(listenOptions, () => {
        server.off('error', reject);
        // From here on an 'error' is a failed accept(2): count it and keep serving. EMFILE
        // rarely lands here: libuv keeps a spare descriptor for it, closes that, accepts and
        // closes every waiting connection, and reports nothing to Node when that works. Only
        // the clients (closed at once) or strace see it: lab 4 counts it with strace.
        server.on('error', (error) => this.countAcceptError(errnoCode(error) ?? 'UNKNOWN'));
        const address = server.address() as net.AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /**
   * Accept as net.Server does (its `onconnection`: an error is a failed accept(2), else wrap
   * the new handle in a Socket), but give the Socket the `onread` option, which net.Server
   * cannot: its reads then skip the Readable stream (Connection.onread). The naive server of
   * bench/ measured both ways, wrk -c100, three interleaved rounds at load average 7-8 on 2
   * cores: 11.3-15.3 µs of CPU per request with onread, 14.7-27.5 with 'data' events. A
   * listener whose handle is not there to adopt (a future Node) keeps net.Server's own accept
   * and 'data' events.
   */
  private acceptWithOnread(listener: net.Server): void {
    const handle = (listener as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
    if (handle === null || handle === undefined || typeof handle.onconnection !== 'function') return;
    handle.onconnection = (status: number, clientHandle?: { setNoDelay?: (on: boolean) => void }): void => {
      if (status !== 0 || clientHandle === undefined) {
        this.countAcceptError(status < 0 ? getSystemErrorName(status) : 'UNKNOWN');
        return;
      }
      clientHandle.setNoDelay?.(true);
      // `handle` is how net.Server and cluster hand a Socket its accepted handle (net.js).
      const options = { handle: clientHandle, allowHalfOpen: true, readable: true, writable: true, onread: Connection.onread };
      this.accept(new net.Socket(options as net.SocketConstructorOpts));
    };
  }

  /** Take ownership of an accepted socket (from our own listener or the paced one). */
  accept(socket: net.Socket): void {
    if (this.shuttingDown) this.acceptedWhileDraining = true;
    this.counters.connectionsTotal += 1;
    // A burst: many connections within one tick of the clock. More descriptors, once.
    if (this.widening === null) {
      if (this.burstTick !== this.clock.now) {
        this.burstTick = this.clock.now;
        this.burstAccepts = 0;
      }
      if (++this.burstAccepts >= ACCEPT_BURST) void this.widenAccept();
    }
    if (this.options.maxConnections > 0 && this.connections.size >= this.options.maxConnections) {
      this.counters.connectionsRejected += 1;
      socket.on('error', () => {});
      // Read and discard until the client closes (resume), so the close is seen and this
      // socket does not linger half-closed; destroying at once could turn our answer into
      // a reset if the client's request arrives after it (RFC 9112 §9.6 lingering close).
      socket.resume();
      setTimeout(() => socket.destroy(), this.options.lingerTimeoutMs > 0 ? this.options.lingerTimeoutMs : 5_000).unref();
      socket.end(serializeResponse(OVER_CAPACITY, { date: this.clock.httpDate, versionMinor: 1, keepAlive: false, head: false }));
      return;
    }
    const connection = new Connection(this, socket, this.nextConnectionId++);
    this.connections.add(connection);
    const refusal = this.hooks.onConnectionOpened?.(connection.id);
    if (refusal) connection.refuse(refusal);
  }

  forget(connection: Connection): void {
    this.connections.delete(connection);
    this.hooks.onConnectionClosed?.(connection.id);
    if (this.shuttingDown && this.connections.size === 0) this.allClosed?.();
  }

  /** The most body bytes `request` may bring (see ServerHooks.bodyLimit). */
  bodyLimitFor(request: HttpRequest): number {
    const limit = this.options.limits.maxBodyBytes;
    const route = this.hooks.bodyLimit?.(request);
    return route === undefined || route > limit ? limit : route;
  }

  countRequest(): void {
    this.counters.requests += 1;
  }

  countResponse(status: number): void {
    this.responsesByStatus[status] = (this.responsesByStatus[status] ?? 0) + 1;
  }

  countParseError(code: HttpErrorCode): void {
    this.parseErrors.set(code, (this.parseErrors.get(code) ?? 0) + 1);
  }

  countAcceptError(code: string): void {
    this.acceptErrors.set(code, (this.acceptErrors.get(code) ?? 0) + 1);
  }

  countTimeout(kind: DeadlineKind): void {
    const counters = this.counters;
    if (kind === DEADLINE.IDLE) counters.idleTimeouts += 1;
    else if (kind === DEADLINE.HEADERS || kind === DEADLINE.BODY) counters.requestTimeouts += 1;
    else if (kind === DEADLINE.RESPONSE) counters.responseTimeouts += 1;
    else if (kind === DEADLINE.WRITE_STALL) counters.writeTimeouts += 1;
    else if (kind === DEADLINE.LINGER) counters.lingerTimeouts += 1;
  }

  countSocketError(): void {
    this.counters.socketErrors += 1;
  }

  reportHandlerError(error: unknown): void {
    this.counters.handlerErrors += 1;
    this.hooks.onHandlerError?.(error);
  }

  /**
   * Expire connections whose deadline has passed, one poll phase late on purpose: timers run
   * before the poll phase, so after a stalled loop a connection can look idle (or stuck mid
   * head) while its next bytes sit unread in the kernel. Those bytes are read in the poll
   * phase in between, which moves the deadline; only what is still overdue then expires.
   * (Measured in lab 2: without this, 75 of 176 thread-model connections were closed as idle
   * with a request waiting.)
   */
  private sweepDeadlines(now: number): void {
    const overdue: Connection[] = [];
    for (const connection of this.connections) {
      if (isOverdue(connection, now)) overdue.push(connection);
    }
    if (overdue.length === 0) return;
    setImmediate(() => {
      for (const connection of overdue) {
        if (!connection.socket.destroyed && isOverdue(connection, now)) connection.expire(now);
      }
    });
  }

  /** The limits in force (null: off), for /stats and the listening banner. */
  limits(): ServerLimits {
    const o = this.options;
    const orOff = (value: number): number | null => (value > 0 ? value : null);
    return {
      maxConnections: orOff(o.maxConnections),
      maxPipelineDepth: o.maxPipelineDepth,
      headersTimeoutMs: orOff(o.headersTimeoutMs),
      requestTimeoutMs: orOff(o.requestTimeoutMs),
      keepAliveTimeoutMs: orOff(o.keepAliveTimeoutMs),
      responseTimeoutMs: orOff(o.responseTimeoutMs),
      writeTimeoutMs: orOff(o.writeTimeoutMs),
      lingerTimeoutMs: orOff(o.lingerTimeoutMs),
      maxHeadBytes: o.limits.maxHeadBytes,
      maxHeaders: o.limits.maxHeaders,
      maxTargetBytes: o.limits.maxTargetBytes,
      maxBodyBytes: o.limits.maxBodyBytes,
    };
  }

  stats(): ServerStats {
    const byStatus: Record<string, number> = {};
    this.responsesByStatus.forEach((count, status) => {
      if (count > 0) byStatus[status] = count;
    });
    return {
      pid: process.pid,
      address: this.boundAddress,
      backlog: this.backlog,
      acceptDescriptors: this.listeners.length,
      acceptRate: this.options.acceptRate,
      keeperPid: this.keeperPid,
      uptimeMs: Date.now() - this.startedAt,
      draining: this.shuttingDown,
      limits: this.limits(),
      connections: {
        open: this.connections.size,
        total: this.counters.connectionsTotal,
        rejected: this.counters.connectionsRejected,
        idleTimeouts: this.counters.idleTimeouts,
        requestTimeouts: this.counters.requestTimeouts,
        responseTimeouts: this.counters.responseTimeouts,
        writeTimeouts: this.counters.writeTimeouts,
        lingerTimeouts: this.counters.lingerTimeouts,
        socketErrors: this.counters.socketErrors,
      },
      acceptErrors: Object.fromEntries(this.acceptErrors),
      requests: {
        total: this.counters.requests,
        byStatus,
        parseErrors: Object.fromEntries(this.parseErrors),
        handlerErrors: this.counters.handlerErrors,
      },
      stages: { window: this.timings.count, sampleEvery: this.timings.sampleEvery, intervals: this.timings.summarize(this.clock.now), last: this.timings.lastTrace() },
    };
  }

  /**
   * Graceful shutdown: stop accepting, close idle connections, let in-flight requests
   * finish (their answers carry Connection: close), and after shutdownTimeoutMs destroy
   * whatever is left. Resolves with how many connections had to be cut (0: every one
   * finished in time). Idempotent: a second call gets the first call's answer.
   */
  close(): Promise<number> {
    if (this.closing !== null) return this.closing;
    this.shuttingDown = true;
    this.closing = (async () => {
      // The order matters for "no accepted request lost":
      // 1. Keep the listener open until a loop iteration passes without an accept. A
      //    connection the kernel has completed is already "connected" for its client, which
      //    may have sent its request; closing the listener would reset it. libuv takes at
      //    most one connection off the queue per loop iteration when the loop is busy
      //    (measured: 10 queued connections behind 40 ms handlers took 10 iterations), so
      //    one iteration is not enough, and an iteration with no accept means the queue was
      //    empty when the poll looked (epoll is level-triggered for the listening socket).
      // 2. One iteration after the listener closes, close what is idle: a request already
      //    in a receive buffer is read in the poll phase in between and answered with
      //    Connection: close. A wall-clock grace would not do: a blocked event loop can
      //    outlast any timeout while the bytes wait unread.
      const listenerClosed = new Promise<void>((resolve) => {
        const closeWhenQueueEmpty = (): void => {
          if (this.acceptedWhileDraining && !this.shutdownOverdue) {
            this.acceptedWhileDraining = false;
            setImmediate(closeWhenQueueEmpty);
            return;
          }
          for (const listener of this.listeners) listener.close();
          void (this.acceptor?.stop() ?? Promise.resolve()).then(resolve);
          setImmediate(() => {
            for (const connection of this.connections) if (connection.idle) connection.close();
          });
        };
        this.acceptedWhileDraining = true;
        setImmediate(closeWhenQueueEmpty);
      });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.shutdownOverdue = true;
          resolve();
        }, this.options.shutdownTimeoutMs);
      });
      await Promise.race([listenerClosed, deadline]);
      const allClosed = new Promise<void>((resolve) => {
        this.allClosed = resolve;
        if (this.connections.size === 0) resolve();
      });
      await Promise.race([allClosed, deadline]);
      clearTimeout(timer);
      // Still here after the deadline: cut. Each leaves the set at its 'close' event, later.
      const cut = this.connections.size;
      for (const connection of this.connections) connection.destroy();
      this.clock.stop();
      return cut;
    })();
    return this.closing;
  }
}

function isOverdue(connection: Connection, now: number): boolean {
  return (connection.deadlineKind !== DEADLINE.NONE && now >= connection.deadline) || (connection.writeKind !== DEADLINE.NONE && now >= connection.writeDeadline);
}

function describeListenError(error: unknown, host: string, port: number): LabError {
  if (error instanceof LabError) return error;
  const code = errnoCode(error);
  if (code === 'EADDRINUSE') return new LabError(LAB_ERR.PORT_IN_USE, `port ${port} on ${host} is in use: pass --port with another port (or --port 0 for any free one)`);
  if (code === 'EACCES') return new LabError(LAB_ERR.LISTEN, `permission denied to listen on port ${port}: use a port above 1023`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new LabError(LAB_ERR.LISTEN, `cannot listen on ${host}: that address is not on this machine (try --host 127.0.0.1)`);
  const message = error instanceof Error ? error.message : String(error);
  return new LabError(LAB_ERR.LISTEN, `cannot listen on ${host}:${port}: ${message}`, { cause: error });
}
