/**
 * The connection pool behind /uuid.
 *
 * Hand-written on purpose. pg-native has no pool, and pg.Pool hides exactly what the db-pool
 * lab is about: how long a request queued for a connection (wait) versus how long Postgres
 * took to answer (query). Here the queue of waiting acquirers is a first-class, measured
 * thing, and it stays small enough to read in one sitting:
 *
 * - FIFO waiters (an intrusive doubly linked list: O(1) enqueue, dequeue, and removal of a
 *   waiter that timed out, however long the queue grows under a 10k-VU lab);
 * - bounds with production defaults (limits.ts): an acquire timeout (--pool-timeout, 15 s)
 *   that fails with LabError POOL_TIMEOUT and removes the caller from the queue; a bound on
 *   the queue (--pool-queue, 1024) past which an acquire fails at once, with the same code
 *   (503 + Retry-After); statement_timeout on every session (--statement-timeout, 30 s).
 *   Each can be turned off (null) for the lab that shows what an unbounded queue does;
 * - a statement Postgres cancelled at statement_timeout fails its request but keeps its
 *   connection, which is healthy;
 * - wait (enqueue → connection in hand) and query (send → result) in separate histograms;
 * - one prepared statement per connection; a broken connection is discarded, and replaced
 *   only when someone needs one (lazily);
 * - while the database is unreachable, an acquire fails at once instead of queueing behind
 *   a connect that cannot succeed, and at most one probe connect runs per PROBE_INTERVAL_MS,
 *   driven by requests (no timers): /uuid answers 503 during the outage and recovers on its
 *   own with the first request after Postgres is back.
 *
 * - a batch mode (`batch`: most ids per statement): a lookup does not take a connection of
 *   its own but joins a queue, and whichever connection is free next runs every queued id it
 *   can take in one `WHERE id = ANY($1)` statement (see "Batch mode" below).
 *
 * A pool lives in one thread. The piscina model creates one per worker; their snapshots merge
 * exactly with mergePoolSnapshots (histograms are added, not averaged).
 */
import { LAB_ERR, LabError, isLabError } from '../errors.js';
import { createHistogram, decodeHistogram, encodeHistogram, mergeHistogram, recordMillis, summarizeHistogram, type Histogram, type LatencySummary } from '../metrics/histogram.js';
import { describeServer } from './credentials.js';
import { loadDriver, type Driver, type DriverConnection, type DriverName, type DriverPreference } from './driver.js';
import { isStatementTimeout, resolveDbLimits, statementTimeoutInUrl, withDefaultStatementTimeout, withStatementTimeout } from './limits.js';
import { firstLine } from './seed.js';
import { LookupQueue, type QueuedLookup } from './lookup-queue.js';

export const POOL_DEFAULTS = {
  SIZE: 20,
  /** libpq's connect_timeout cannot go below 2 s. */
  CONNECT_TIMEOUT_MS: 2000,
  /** While the database is down, at most one probe connect per this interval. */
  PROBE_INTERVAL_MS: 250,
  /** How often open connections are poked for a failure their socket events missed (see driver.ts). */
  WATCHDOG_MS: 1000,
  /** close() waits this long for busy connections to come back before closing them anyway. */
  CLOSE_DRAIN_MS: 2000,
  /** prewarm() opens at most this many connections at once (see prewarm). */
  PREWARM_AT_ONCE: 8,
} as const;

export interface PoolOptions {
  url: string;
  /** Most connections open at once. Default 20. */
  size?: number;
  /** Fail an acquire that waited this long (503 + Retry-After). Default 15 s; null waits forever (a lab asks for it). */
  acquireTimeoutMs?: number | null;
  /** Most acquirers queued at once; the next fails at once (503 + Retry-After). Default 1024; null: no bound. */
  maxWaiting?: number | null;
  /** statement_timeout of every session. Default: the one the URL's `options` names, else 30 s; null: none. */
  statementTimeoutMs?: number | null;
  driver?: DriverPreference;
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /** Pre-loaded driver (tests of the fallback path). */
  driverInstance?: Driver;
  /**
   * Batch mode: queued lookups share statements of up to this many ids (see "Batch mode").
   * null or absent: one statement per lookup, each on a connection of its own.
   */
  batch?: number | null;
}

/** Batch mode's figures (null in /stats when it is off). */
export interface BatchStats {
  /** --pool-batch: most ids per statement. */
  maxSize: number;
  /** Statements run (each answered every lookup in it, or failed every one). */
  statements: number;
  /** Lookups answered or failed through them. */
  lookups: number;
  /** Ids per statement: how much the queue coalesced. */
  size: CountSummary;
}

/** A distribution of counts (not durations). */
export interface CountSummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface PoolStats {
  driver: DriverName;
  /** Why pg-native is not in use, or null: shown loudly in /stats. */
  driverFallback: string | null;
  size: number;
  /** --pool-timeout in force (null: unbounded). */
  acquireTimeoutMs: number | null;
  /** --pool-queue in force (null: unbounded). */
  maxWaiting: number | null;
  /** --statement-timeout in force on every session (null: none). */
  statementTimeoutMs: number | null;
  /** Connections open now (busy + idle). */
  open: number;
  busy: number;
  idle: number;
  /** Connects in progress. */
  connecting: number;
  /** Acquirers queued for a connection now, and the most there ever were. */
  waiting: number;
  peakWaiting: number;
  /** Acquires that got a connection (each has a wait sample). */
  acquired: number;
  /** Acquires that gave up at --pool-timeout. */
  timeouts: number;
  /** Acquires refused at once because --pool-queue acquirers were already waiting. */
  queueFull: number;
  /** Lookups Postgres cancelled at statement_timeout (their connection stays). */
  statementTimeouts: number;
  /** Acquires refused at once because the database was unreachable. */
  rejected: number;
  /** Queries that failed (the connection was then discarded). */
  errors: number;
  connects: number;
  connectFailures: number;
  /** Broken connections dropped (replaced lazily). */
  discarded: number;
  /** Times the pool went from "database unreachable" back to connected. */
  recoveries: number;
  /** Whether the last connect attempt failed (and none succeeded since). */
  down: boolean;
  lastError: string | null;
  /** Enqueue → connection in hand, for every acquire (0 when one was idle). */
  waitMs: LatencySummary;
  /** Send → result, for successful queries (in batch mode, once per lookup in the statement). */
  queryMs: LatencySummary;
  batch: BatchStats | null;
}

/** Stats plus the raw histograms, for merging the pools of several threads exactly. */
export interface PoolSnapshot extends PoolStats {
  waitHistogram: string;
  queryHistogram: string;
  batchHistogram: string | null;
}

/** A connection lent out by acquire(). Call release() exactly once. */
export interface PoolLease {
  lookup(id: number): Promise<string | null>;
  /** Give it back. `broken` discards it instead (the pool opens another when needed). */
  release(broken?: boolean): void;
}

interface Waiter {
  enqueuedAt: number;
  resolve: (connection: PooledConnection) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | null;
  prev: Waiter | null;
  next: Waiter | null;
}

class PooledConnection implements PoolLease {
  readonly driverConnection: DriverConnection;
  readonly pool: ConnectionPool;
  leased = false;
  broken = false;

  constructor(pool: ConnectionPool, driverConnection: DriverConnection) {
    this.pool = pool;
    this.driverConnection = driverConnection;
  }

  lookup(id: number): Promise<string | null> {
    return this.pool.runLookup(this, id);
  }

  release(broken = false): void {
    this.pool.releaseConnection(this, broken);
  }
}

export class ConnectionPool {
  readonly url: string;
  readonly size: number;
  readonly acquireTimeoutMs: number | null;
  readonly maxWaiting: number | null;
  readonly statementTimeoutMs: number | null;
  readonly driver: Driver;
  private readonly connectTimeoutMs: number;
  private readonly open = new Set<PooledConnection>();
  /** A stack: the most recently used connection is reused first (warm in every cache). */
  private readonly idle: PooledConnection[] = [];
  private head: Waiter | null = null;
  private tail: Waiter | null = null;
  private waitingCount = 0;
  private connecting = 0;
  private closed = false;
  private down = false;
  private lastError: Error | null = null;
  private lastProbeAt = 0;
  private closeWaiter: (() => void) | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private waitHistogram: Histogram = createHistogram();
  private queryHistogram: Histogram = createHistogram();
  /** Batch mode: most ids per statement, the lookups waiting, ids per statement; null when off. */
  readonly batch: number | null;
  private readonly lookups: LookupQueue | null;
  private batchHistogram: Histogram | null;
  private batchCounters = { statements: 0, lookups: 0 };
  /** runQueuedBatches is due at the end of this turn of the loop. */
  private batchScheduled = false;
  private counters = {
    peakWaiting: 0,
    acquired: 0,
    timeouts: 0,
    queueFull: 0,
    statementTimeouts: 0,
    rejected: 0,
    errors: 0,
    connects: 0,
    connectFailures: 0,
    discarded: 0,
    recoveries: 0,
  };

  constructor(options: PoolOptions) {
    // statement_timeout travels in the URL (libpq `options`), so every connection has it from its first statement.
    this.url = options.statementTimeoutMs === undefined ? withDefaultStatementTimeout(options.url) : withStatementTimeout(options.url, options.statementTimeoutMs);
    this.statementTimeoutMs = statementTimeoutInUrl(this.url) ?? null;
    this.size = options.size ?? POOL_DEFAULTS.SIZE;
    const limits = resolveDbLimits({
      ...(options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs }),
      ...(options.maxWaiting === undefined ? {} : { maxWaiting: options.maxWaiting }),
    });
    this.acquireTimeoutMs = limits.acquireTimeoutMs;
    this.maxWaiting = limits.maxWaiting;
    this.connectTimeoutMs = options.connectTimeoutMs ?? POOL_DEFAULTS.CONNECT_TIMEOUT_MS;
    this.driver =
      options.driverInstance ?? loadDriver({ ...(options.driver === undefined ? {} : { preference: options.driver }), ...(options.log === undefined ? {} : { log: options.log }) });
    if (!Number.isSafeInteger(this.size) || this.size < 1) throw new LabError(LAB_ERR.USAGE, `pool size must be a whole number of at least 1, got ${this.size}`);
    if (this.maxWaiting !== null && (!Number.isSafeInteger(this.maxWaiting) || this.maxWaiting < 1)) {
      throw new LabError(LAB_ERR.USAGE, `the pool's queue bound must be a whole number of at least 1 (or off), got ${this.maxWaiting}`);
    }
    this.batch = options.batch ?? null;
    if (this.batch !== null && (!Number.isSafeInteger(this.batch) || this.batch < 1)) {
      throw new LabError(LAB_ERR.USAGE, `the pool's batch size must be a whole number of at least 1 (or off), got ${this.batch}`);
    }
    this.lookups = this.batch === null ? null : new LookupQueue(this.acquireTimeoutMs, (expired, now) => this.expireLookups(expired, now));
    this.batchHistogram = this.batch === null ? null : createHistogram();
  }

  /**
   * The uuid for `id` (null when no such row): acquire, query, release. Throws LabError
   * POOL_TIMEOUT (waited past --pool-timeout) or DB_QUERY (database unreachable, query failed).
   */
  async lookup(id: number): Promise<string | null> {
    if (this.lookups !== null) return this.enqueueLookup(this.lookups, id);
    // The common case, no queue: skip the acquire promise altogether.
    const idle = this.closed ? undefined : this.idle.pop();
    const connection = idle !== undefined ? this.lendIdle(idle) : await this.acquireConnection(this.acquireTimeoutMs);
    try {
      return await this.runLookup(connection, id);
    } finally {
      this.releaseConnection(connection, connection.broken);
    }
  }

  /**
   * Hold a connection yourself (labs that pin connections, tests). Same errors as lookup().
   * `timeoutMs` overrides the pool's acquire timeout for this call (null: wait without bound).
   */
  async acquire(options: { timeoutMs?: number | null } = {}): Promise<PoolLease> {
    const idle = this.closed ? undefined : this.idle.pop();
    return idle !== undefined ? this.lendIdle(idle) : this.acquireConnection(options.timeoutMs === undefined ? this.acquireTimeoutMs : options.timeoutMs);
  }

  /**
   * Open connections up to `count` (default: the pool size) so the first requests do not pay
   * for connects. At most PREWARM_AT_ONCE connects are in flight: each costs Postgres a fork
   * and both sides a SCRAM exchange (PBKDF2, a few ms of CPU each), and on two cores 200 of
   * them at once pushed connects past libpq's connect_timeout, so `serve --pool 200` failed to
   * start more often than not (measured by bench/seed.ts on a busy machine). The opening is
   * the pool's, not a request's: its acquires are left out of the wait histogram and counters.
   */
  async prewarm(count = this.size): Promise<void> {
    const target = Math.min(count, this.size);
    const held: PooledConnection[] = [];
    try {
      while (held.length < target) {
        const batch = Math.min(POOL_DEFAULTS.PREWARM_AT_ONCE, target - held.length);
        // Not bound by --pool-timeout: that limits how long a request waits for a free
        // connection, and a 1 ms timeout must not stop the server from opening its pool.
        const results = await Promise.allSettled(
          Array.from({ length: batch }, () => {
            const idle = this.closed ? undefined : this.idle.pop();
            return idle !== undefined ? Promise.resolve(this.lendIdle(idle)) : this.acquireConnection(null, false);
          }),
        );
        for (const result of results) if (result.status === 'fulfilled') held.push(result.value);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      }
    } finally {
      for (const connection of held) connection.release();
      // Only requests wait: the opening leaves no wait sample and no acquire behind it
      // (connects stay counted: the pool did open them).
      this.waitHistogram = createHistogram();
      this.counters.acquired -= held.length;
    }
  }

  stats(): PoolStats {
    return {
      driver: this.driver.name,
      driverFallback: this.driver.fallbackReason,
      size: this.size,
      acquireTimeoutMs: this.acquireTimeoutMs,
      maxWaiting: this.maxWaiting,
      statementTimeoutMs: this.statementTimeoutMs,
      open: this.open.size,
      busy: this.open.size - this.idle.length,
      idle: this.idle.length,
      connecting: this.connecting,
      waiting: this.waitingCount + (this.lookups?.length ?? 0),
      ...this.counters,
      down: this.down,
      lastError: this.lastError === null ? null : firstLine(this.lastError),
      waitMs: summarizeHistogram(this.waitHistogram),
      queryMs: summarizeHistogram(this.queryHistogram),
      batch: this.batch === null ? null : { maxSize: this.batch, ...this.batchCounters, size: summarizeCounts(this.batchHistogram as Histogram) },
    };
  }

  snapshot(): PoolSnapshot {
    return {
      ...this.stats(),
      waitHistogram: encodeHistogram(this.waitHistogram),
      queryHistogram: encodeHistogram(this.queryHistogram),
      batchHistogram: this.batchHistogram === null ? null : encodeHistogram(this.batchHistogram),
    };
  }

  /** Zero the counters and histograms (a lab between two phases); gauges (busy, waiting...) stay live. */
  resetStats(): void {
    this.waitHistogram = createHistogram();
    this.queryHistogram = createHistogram();
    if (this.batchHistogram !== null) this.batchHistogram = createHistogram();
    this.batchCounters = { statements: 0, lookups: 0 };
    for (const key of Object.keys(this.counters) as (keyof typeof this.counters)[]) this.counters[key] = 0;
    this.counters.peakWaiting = this.waitingCount + (this.lookups?.length ?? 0);
  }

  /**
   * Refuse new acquires, fail queued ones, close idle connections, give busy ones up to
   * CLOSE_DRAIN_MS to come back, then close them too.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new LabError(LAB_ERR.DB_QUERY, 'the database pool is closing');
    this.rejectAllWaiters(closing);
    for (const lookup of this.lookups?.drain() ?? []) lookup.reject(closing);
    for (const connection of this.idle.splice(0)) this.closeConnection(connection);
    if (this.open.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POOL_DEFAULTS.CLOSE_DRAIN_MS);
        this.closeWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.closeWaiter = null;
      for (const connection of [...this.open]) this.closeConnection(connection);
    }
  }

  // --- internals (runLookup and releaseConnection are called by PooledConnection) ---------

  private lendIdle(connection: PooledConnection): PooledConnection {
    connection.leased = true;
    this.counters.acquired += 1;
    // No wait at all; recorded as the histogram's smallest value so every acquire counts.
    this.waitHistogram.recordValue(1);
    return connection;
  }

  /** `bounded`: subject to maxWaiting (prewarm is not: it is the pool opening itself). */
  private acquireConnection(timeoutMs: number | null, bounded = true): Promise<PooledConnection> {
    if (this.closed) return Promise.reject(new LabError(LAB_ERR.DB_QUERY, 'the database pool is closed'));
    if (bounded && this.maxWaiting !== null && this.waitingCount >= this.maxWaiting) {
      // Fail now rather than queue: the request is told at once to come back (503 +
      // Retry-After, the same code as a timeout), instead of holding memory and a socket
      // for a wait it would most likely lose anyway.
      this.counters.queueFull += 1;
      return Promise.reject(
        new LabError(
          LAB_ERR.POOL_TIMEOUT,
          `the database pool's queue is full: ${this.waitingCount} requests already wait for one of ${this.size} connections (--pool-queue ${this.maxWaiting}): retry later`,
        ),
      );
    }
    // Database unreachable and nothing open that could come back: fail now, unless it is
    // time to probe, in which case this caller waits for the probe.
    if (this.down && this.open.size === 0 && !this.mayConnect()) {
      this.counters.rejected += 1;
      return Promise.reject(this.unreachableError());
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const waiter: Waiter = { enqueuedAt: performance.now(), resolve, reject, timer: null, prev: this.tail, next: null };
      if (this.tail === null) this.head = waiter;
      else this.tail.next = waiter;
      this.tail = waiter;
      this.waitingCount += 1;
      if (this.waitingCount > this.counters.peakWaiting) this.counters.peakWaiting = this.waitingCount;
      if (timeoutMs !== null) waiter.timer = setTimeout(() => this.timeOut(waiter), timeoutMs);
      this.pump();
    });
  }

  private unlinkWaiter(waiter: Waiter): void {
    if (waiter.prev === null) this.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === null) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = null;
    waiter.next = null;
    this.waitingCount -= 1;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
  }

  private timeOut(waiter: Waiter): void {
    waiter.timer = null;
    this.unlinkWaiter(waiter);
    this.counters.timeouts += 1;
    const waited = Math.round(performance.now() - waiter.enqueuedAt);
    waiter.reject(
      new LabError(
        LAB_ERR.POOL_TIMEOUT,
        `no database connection free within ${waited} ms (pool of ${this.size} all busy, ${this.waitingCount} still waiting): retry later, or raise --pool or --pool-timeout`,
      ),
    );
  }

  private handTo(waiter: Waiter, connection: PooledConnection): void {
    this.unlinkWaiter(waiter);
    connection.leased = true;
    this.counters.acquired += 1;
    recordMillis(this.waitHistogram, performance.now() - waiter.enqueuedAt);
    waiter.resolve(connection);
  }

  // --- Batch mode -------------------------------------------------------------------------
  //
  // Without it every lookup is a round trip on a connection of its own, so the pool's size
  // times the round trip is a ceiling: measured here, 20 connections answered ~14k lookups/s
  // over HTTP while Postgres alone (pgbench -M prepared, 100 clients) answered ~38k. In batch
  // mode a lookup waits in one queue (lookup-queue.ts) and a free connection takes every id
  // waiting, up to `batch`, into one statement, `SELECT id, val FROM kv WHERE id = ANY($1)`:
  // the ids that pile up while every connection is busy go out together, so one round trip
  // answers many of them. A lookup waits for nothing but the end of the current turn of the
  // event loop (setImmediate), so the requests read in one poll phase go out together: at low
  // load it goes alone a few microseconds later and pays for the ANY form (lab 5 measures it).
  //
  // Each lookup still gets a wait sample (queued → its statement sent) and a query sample (sent
  // → rows back, the same for every lookup of a statement); the ids per statement go into their
  // own histogram. A failed statement fails each of its lookups once, with the same error; the
  // bounds hold per lookup: --pool-timeout (one timer for the oldest, lookup-queue.ts) and
  // --pool-queue (lookups waiting).

  private enqueueLookup(lookups: LookupQueue, id: number): Promise<string | null> {
    // kv.id is a Postgres int: no row has another id, and one that does not fit would fail the
    // int[] cast, and with it every other lookup of its statement.
    if (!Number.isInteger(id) || id < -2_147_483_648 || id > 2_147_483_647) return Promise.resolve(null);
    if (this.closed) return Promise.reject(new LabError(LAB_ERR.DB_QUERY, 'the database pool is closed'));
    if (this.maxWaiting !== null && lookups.length >= this.maxWaiting) {
      this.counters.queueFull += 1;
      return Promise.reject(
        new LabError(
          LAB_ERR.POOL_TIMEOUT,
          `the database pool's queue is full: ${lookups.length} lookups already wait for one of ${this.size} connections (--pool-queue ${this.maxWaiting}): retry later`,
        ),
      );
    }
    if (this.down && this.open.size === 0 && !this.mayConnect()) {
      this.counters.rejected += 1;
      return Promise.reject(this.unreachableError());
    }
    return new Promise<string | null>((resolve, reject) => {
      lookups.push({ id, enqueuedAt: performance.now(), resolve, reject });
      const waiting = this.waitingCount + lookups.length;
      if (waiting > this.counters.peakWaiting) this.counters.peakWaiting = waiting;
      if (!this.batchScheduled) {
        this.batchScheduled = true;
        setImmediate(this.runQueuedBatches);
      }
    });
  }

  /**
   * Once per turn of the loop, after its poll phase has read every request that came in:
   * what queued meanwhile goes out together, as few statements as `batch` allows (each
   * statement costs Postgres a round of parse-bind-execute whatever it carries, and Postgres
   * shares this machine's cores), and connections open for what is left.
   */
  private readonly runQueuedBatches = (): void => {
    this.batchScheduled = false;
    this.pump();
  };

  /** Up to `batch` queued ids on `connection`, in one statement; each lookup settled from its rows. */
  private runBatch(lookups: LookupQueue, connection: PooledConnection): void {
    connection.leased = true;
    const batch = lookups.take(this.batch as number);
    const n = batch.length;
    const ids = new Array<number>(n);
    const sentAt = performance.now();
    for (let i = 0; i < n; i++) {
      const lookup = batch[i] as QueuedLookup;
      ids[i] = lookup.id;
      recordMillis(this.waitHistogram, sentAt - lookup.enqueuedAt);
    }
    this.counters.acquired += n;
    this.batchCounters.statements += 1;
    this.batchCounters.lookups += n;
    (this.batchHistogram as Histogram).recordValue(n);
    const failed = (error: unknown): void => {
      const failure = this.describeQueryError(connection, error);
      for (const lookup of batch) lookup.reject(failure);
      this.releaseConnection(connection, connection.broken);
    };
    if (n === 1) {
      // Alone (nothing else queued: low load): the plain `id = $1` statement. Measured by lab 5
      // at one user, ANY with a one-element array cost Postgres ~30 µs more per lookup.
      const lookup = batch[0] as QueuedLookup;
      connection.driverConnection.lookup(lookup.id).then((value) => {
        recordMillis(this.queryHistogram, performance.now() - sentAt);
        lookup.resolve(value);
        this.releaseConnection(connection, false);
      }, failed);
      return;
    }
    connection.driverConnection.lookupMany(ids).then((found) => {
      recordMillis(this.queryHistogram, performance.now() - sentAt, n);
      for (let i = 0; i < n; i++) {
        const lookup = batch[i] as QueuedLookup;
        lookup.resolve(found.get(lookup.id) ?? null);
      }
      this.releaseConnection(connection, false);
    }, failed);
  }

  /** Lookups that waited --pool-timeout for a connection: each fails, as an acquire that timed out does. */
  private expireLookups(expired: QueuedLookup[], now: number): void {
    this.counters.timeouts += expired.length;
    const waited = Math.round(now - (expired[0] as QueuedLookup).enqueuedAt);
    const error = new LabError(
      LAB_ERR.POOL_TIMEOUT,
      `no database connection free within ${waited} ms (pool of ${this.size} all busy, ${this.lookups?.length ?? 0} lookups still waiting): retry later, or raise --pool or --pool-timeout`,
    );
    for (const lookup of expired) lookup.reject(error);
  }

  /** Whether a new connect may start now: always while healthy; while down, one probe per interval. */
  private mayConnect(): boolean {
    if (this.open.size + this.connecting >= this.size) return false;
    if (!this.down) return true;
    return this.connecting === 0 && performance.now() - this.lastProbeAt >= POOL_DEFAULTS.PROBE_INTERVAL_MS;
  }

  /** Serve queued acquirers from idle connections, open connections for the rest, fail those nobody can serve. */
  private pump(): void {
    while (this.head !== null && this.idle.length > 0) this.handTo(this.head, this.idle.pop() as PooledConnection);
    const lookups = this.lookups;
    if (lookups !== null) {
      while (lookups.length > 0 && this.idle.length > 0) this.runBatch(lookups, this.idle.pop() as PooledConnection);
    }
    // Connections wanted: one per waiter, one per statement's worth of queued lookups.
    let unserved = this.waitingCount + (lookups === null ? 0 : Math.ceil(lookups.length / (this.batch as number))) - this.connecting;
    while (unserved > 0 && this.mayConnect()) {
      this.startConnect();
      unserved -= 1;
    }
    // No connection open, none on its way, database down: these waiters would wait for ever.
    if (this.waitingCount > 0 && this.open.size === 0 && this.connecting === 0 && this.down) {
      this.counters.rejected += this.waitingCount;
      this.rejectAllWaiters(this.unreachableError());
    }
    if (lookups !== null && lookups.length > 0 && this.open.size === 0 && this.connecting === 0 && this.down) {
      const error = this.unreachableError();
      const failed = lookups.drain();
      this.counters.rejected += failed.length;
      for (const lookup of failed) lookup.reject(error);
    }
  }

  private startConnect(): void {
    this.connecting += 1;
    this.lastProbeAt = performance.now();
    this.driver.connect(this.url, this.connectTimeoutMs).then(
      (driverConnection) => {
        this.connecting -= 1;
        this.counters.connects += 1;
        if (this.down) {
          this.down = false;
          this.counters.recoveries += 1;
        }
        const connection = new PooledConnection(this, driverConnection);
        driverConnection.onBroken = () => this.discardIdle(connection);
        this.open.add(connection);
        this.startWatchdog();
        if (this.closed) {
          this.closeConnection(connection);
          return;
        }
        if (this.head !== null) this.handTo(this.head, connection);
        else this.idle.push(connection);
        this.pump();
      },
      (error: unknown) => {
        this.connecting -= 1;
        this.counters.connectFailures += 1;
        this.down = true;
        this.lastError = error instanceof Error ? error : new Error(String(error));
        if (this.closed) return;
        // The acquirer this connect was started for learns why at once (fail fast)...
        if (this.head !== null) {
          const waiter = this.head;
          this.unlinkWaiter(waiter);
          this.counters.rejected += 1;
          waiter.reject(this.unreachableError());
        }
        // ...and the others are failed by pump() if nothing can serve them any more.
        this.pump();
      },
    );
  }

  private unreachableError(): LabError {
    const reason = this.lastError === null ? 'no connection' : firstLine(this.lastError);
    return new LabError(LAB_ERR.DB_QUERY, `cannot connect to ${describeServer(this.url)}: ${reason}`, { cause: this.lastError ?? undefined });
  }

  runLookup(connection: PooledConnection, id: number): Promise<string | null> {
    const started = performance.now();
    return connection.driverConnection.lookup(id).then(
      (value) => {
        recordMillis(this.queryHistogram, performance.now() - started);
        return value;
      },
      (error: unknown) => {
        throw this.describeQueryError(connection, error);
      },
    );
  }

  /** Count a failed statement and say what failed; the connection is marked broken unless Postgres only cancelled it. */
  private describeQueryError(connection: PooledConnection, error: unknown): Error {
    this.counters.errors += 1;
    this.lastError = error instanceof Error ? error : new Error(String(error));
    if (isStatementTimeout(error)) {
      // Postgres cancelled the statement; the session is healthy and goes back to the pool.
      this.counters.statementTimeouts += 1;
      return new LabError(LAB_ERR.DB_QUERY, `query cancelled after statement_timeout (${this.statementTimeoutMs} ms)`, { cause: error });
    }
    connection.broken = true;
    if (isLabError(error)) return error;
    return new LabError(LAB_ERR.DB_QUERY, `query failed: ${firstLine(error)}`, { cause: error });
  }

  releaseConnection(connection: PooledConnection, broken: boolean): void {
    if (!connection.leased) return;
    connection.leased = false;
    if (broken || connection.broken || this.closed) {
      if (!this.closed) this.counters.discarded += 1;
      this.closeConnection(connection);
      this.pump();
      return;
    }
    if (this.head !== null) this.handTo(this.head, connection);
    else if (this.lookups !== null && this.lookups.length > 0) this.runBatch(this.lookups, connection);
    else this.idle.push(connection);
  }

  /** An idle connection whose server went away: drop it before anyone picks it. */
  private discardIdle(connection: PooledConnection): void {
    connection.broken = true;
    if (connection.leased) return; // the query in flight fails and release() discards it
    const at = this.idle.indexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
    this.counters.discarded += 1;
    this.closeConnection(connection);
    this.pump();
  }

  private closeConnection(connection: PooledConnection): void {
    connection.driverConnection.onBroken = null;
    connection.driverConnection.close();
    this.open.delete(connection);
    if (this.open.size === 0) this.stopWatchdog();
    if (this.closed && this.open.size === 0) this.closeWaiter?.();
  }

  /** Runs only while connections are open; unref'd so it never keeps the process alive. */
  private startWatchdog(): void {
    if (this.watchdog !== null) return;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (const connection of [...this.open]) connection.driverConnection.poke(now, POOL_DEFAULTS.WATCHDOG_MS);
    }, POOL_DEFAULTS.WATCHDOG_MS);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog === null) return;
    clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private rejectAllWaiters(error: Error): void {
    while (this.head !== null) {
      const waiter = this.head;
      this.unlinkWaiter(waiter);
      waiter.reject(error);
    }
  }
}

/** Counts (ids per statement) from a histogram of whole numbers. */
export function summarizeCounts(histogram: Histogram): CountSummary {
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    count,
    mean: Math.round(histogram.mean * 10) / 10,
    p50: histogram.getValueAtPercentile(50),
    p90: histogram.getValueAtPercentile(90),
    p99: histogram.getValueAtPercentile(99),
    max: histogram.maxValue,
  };
}

export function createPool(options: PoolOptions): ConnectionPool {
  return new ConnectionPool(options);
}

/** Stats of several pools (one per worker thread) as one: counters and gauges added, histograms merged. */
export function mergePoolSnapshots(snapshots: readonly PoolSnapshot[]): PoolStats {
  const first = snapshots[0];
  if (first === undefined) throw new LabError(LAB_ERR.DB_QUERY, 'no pool snapshots to merge');
  const wait = createHistogram();
  const query = createHistogram();
  const batchSizes = first.batch === null ? null : createHistogram();
  const sum = (pick: (s: PoolSnapshot) => number): number => snapshots.reduce((total, s) => total + pick(s), 0);
  for (const snapshot of snapshots) {
    mergeHistogram(wait, decodeHistogram(snapshot.waitHistogram));
    mergeHistogram(query, decodeHistogram(snapshot.queryHistogram));
    if (batchSizes !== null && snapshot.batchHistogram !== null) mergeHistogram(batchSizes, decodeHistogram(snapshot.batchHistogram));
  }
  return {
    driver: first.driver,
    driverFallback: snapshots.find((s) => s.driverFallback !== null)?.driverFallback ?? null,
    size: sum((s) => s.size),
    acquireTimeoutMs: first.acquireTimeoutMs,
    maxWaiting: first.maxWaiting,
    statementTimeoutMs: first.statementTimeoutMs,
    open: sum((s) => s.open),
    busy: sum((s) => s.busy),
    idle: sum((s) => s.idle),
    connecting: sum((s) => s.connecting),
    waiting: sum((s) => s.waiting),
    peakWaiting: sum((s) => s.peakWaiting),
    acquired: sum((s) => s.acquired),
    timeouts: sum((s) => s.timeouts),
    queueFull: sum((s) => s.queueFull),
    statementTimeouts: sum((s) => s.statementTimeouts),
    rejected: sum((s) => s.rejected),
    errors: sum((s) => s.errors),
    connects: sum((s) => s.connects),
    connectFailures: sum((s) => s.connectFailures),
    discarded: sum((s) => s.discarded),
    recoveries: sum((s) => s.recoveries),
    down: snapshots.some((s) => s.down),
    lastError: snapshots.find((s) => s.lastError !== null)?.lastError ?? null,
    waitMs: summarizeHistogram(wait),
    queryMs: summarizeHistogram(query),
    batch:
      first.batch === null || batchSizes === null
        ? null
        : { maxSize: first.batch.maxSize, statements: sum((s) => s.batch?.statements ?? 0), lookups: sum((s) => s.batch?.lookups ?? 0), size: summarizeCounts(batchSizes) },
  };
}
