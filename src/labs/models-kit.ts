/**
 * The concurrency-models measurement, shared by lab 2 (labs/02-concurrency-models.ts) and
 * bench/models.ts: one model × one connection count × one route, measured in a steady window
 * after a warm-up, with the server's threads, RSS and context switches read from the kernel.
 *
 * Why not runLoad: its latency histogram covers the whole run, and the whole run of Model A
 * includes starting a thread (a V8 isolate here) for every connection, which at 100
 * connections on two busy cores takes seconds. That start-up is a real cost and is reported
 * on its own (spawn time, time to the first answer on every connection), but it would drown
 * the steady-state latency the three models are compared on. So a cell drives one load
 * Engine (src/load/engine.ts, the same client runLoad runs in each of its threads) and
 * keeps only the per-second histograms of its measured window. One client thread is enough
 * here: on this 2-core machine a second load thread measured no more requests per second,
 * because the server needs the other core.
 *
 * A cell's window starts once every client connection has had an answer, which the kernel
 * says (`ss -ti`: bytes_received > 0 on each client socket), so a connection whose thread
 * is still starting is never mistaken for a slow request; a warm-up that passes its deadline
 * is itself the finding ("only 712 of 1000 connections had an answer after 30 s"). Model A
 * is not the only one that takes long: a saturated event loop accepts one new connection per
 * turn (libuv ≥ 1.45 stopped accepting in a loop, libuv/libuv#3696), and a turn of the loop
 * model on /work lasts 2 ms × the connections it already has, so the last of N connections
 * waits about N² ms for its first answer. The time to "all answered" is in every table.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { Engine } from '../load/engine.js';
import { FAILURE_KINDS, resolveLoadPlan, type FailureKind } from '../load/index.js';
import { createHistogram, mergeHistogram, summarizeHistogram, type LatencySummary } from '../metrics/histogram.js';
import { findChildPids, isUnavailable, readListenQueues, readProcessSample } from '../metrics/index.js';
import { MODEL, type ModelName } from '../models/model.js';
import type { ServerProcess } from './serve-process.js';
import { formatBytes, formatReading } from '../format/numbers.js';
import type { Cell } from '../format/table.js';
import type { StepTable } from './types.js';
import { compareSpreads, formatSpread, measureInterleaved, spreadOf, VERDICT, type Spread } from './comparison.js';

/** The handler time of the CPU-bound route: small enough that thousands fit in a second on one core. */
export const WORK_MS = 2;

export const MODEL_ROUTES = {
  /** Microseconds of compute: what the server itself costs. */
  age: { label: '/age', path: '/age?birthdate=1993-05-01', needsDb: false },
  /** CPU-bound: the handler spins for WORK_MS. */
  work: { label: `/work?ms=${WORK_MS}`, path: `/work?ms=${WORK_MS}`, needsDb: false },
  /** I/O-bound: one PostgreSQL query for a random id of the 1000 seeded. */
  uuid: { label: '/uuid/:id', path: '/uuid/{1..1000}', needsDb: true },
} as const;

export type RouteKey = keyof typeof MODEL_ROUTES;

/** A, B, C: the order the models are told in (thread per connection came first historically). */
export const MODELS_IN_ORDER: readonly ModelName[] = [MODEL.THREAD, MODEL.LOOP, MODEL.POOL];

export const MODEL_LETTERS: Readonly<Record<ModelName, string>> = { thread: 'A', loop: 'B', pool: 'C' };

/** For sentences: "Model A (thread per connection)". */
export const MODEL_TITLES: Readonly<Record<ModelName, string>> = {
  thread: 'Model A (thread per connection)',
  loop: 'Model B (event loop)',
  pool: 'Model C (thread pool)',
};

export const MODELS_SETUP = {
  /** --pool for the loop model (one pool) and the pool model (shared among its workers); the thread model opens one connection per thread. */
  dbPool: 20,
  /** --workers for the pool model: one per core, piscina's own default. */
  poolWorkers: os.availableParallelism(),
  /** The window starts no earlier than this second: the first one holds connects and a cold JIT. */
  minWarmupSeconds: 1,
  /** Without ss, the thread model gets this long after its threads exist before the window. */
  settleMsWithoutSs: 2000,
  /** How often free memory and RSS are checked during a cell. */
  pollMs: 250,
  /** A cell stops when MemAvailable falls below this share of RAM (at least minFreeBytes): 1000 isolates can eat a small machine. */
  memoryFloorShare: 0.1,
  minFreeBytes: 1024 ** 3,
  /** In-flight requests may finish this long after the window; they are not counted either way. */
  gracefulStopMs: 1000,
  /**
   * SIGTERM to SIGKILL. Model A stops a thread by message, so a thread still starting must come
   * up before it can exit: at 1000 connections that outlasts any reasonable wait, and the
   * kill is reported with the cell.
   */
  stopDeadlineMs: 15_000,
} as const;

export interface CellSpec {
  model: ModelName;
  connections: number;
  route: RouteKey;
  /** Whole seconds in the measured window. */
  measureSeconds: number;
  /** Give up waiting for every connection's first answer after this long (the window runs anyway). */
  warmupDeadlineMs: number;
}

export interface CellEnvironment {
  /** null: no database (the /uuid cells are not run). */
  dbUrl: string | null;
  /** To count PostgreSQL backends (children of the postmaster). */
  postmasterPid: number | null;
  startServer(args: string[]): Promise<ServerProcess>;
  stopServer(server: ServerProcess): Promise<{ code: number | null; signal?: NodeJS.Signals | null }>;
  progress?(text: string): void;
  signal?: AbortSignal;
}

/** The server process as the kernel reports it (/proc/PID/status and every /proc/PID/task/TID/status). */
export interface ServerReading {
  /** User + system CPU of every thread, living and exited (/proc/PID/stat). */
  cpuTimeMs: number | null;
  threads: number | null;
  rssBytes: number | null;
  voluntary: number | null;
  involuntary: number | null;
}

export const CELL_STATUS = {
  /** Every connection had an answer before the window: a steady-state measurement. */
  MEASURED: 'measured',
  /** The warm-up deadline passed first; the window was measured anyway with what was up. */
  NOT_READY: 'not-ready',
  /** Free memory fell below the floor and the cell was stopped. */
  MEMORY: 'memory',
  /** Not run (no database, or a smaller count of the same model already gave way). */
  SKIPPED: 'skipped',
} as const;

export type CellStatus = (typeof CELL_STATUS)[keyof typeof CELL_STATUS];

export interface CellResult {
  model: ModelName;
  route: RouteKey;
  connections: number;
  status: CellStatus;
  /** Why the cell was skipped, stopped, or not ready. */
  note: string | null;
  /** From the first connect to the start of the window. */
  warmupMs: number;
  /** Client connections that had received an answer when the window started (null without ss). */
  answeredAtWindow: number | null;
  windowMs: number;
  responses: number;
  rps: number;
  latency: LatencySummary;
  /** Failed requests in the window, by kind (only kinds that occurred). */
  failures: Partial<Record<FailureKind, number>>;
  failureRate: number;
  /** The whole run less the window: failures by kind, connects (one per VU unless some reconnected), every status. */
  outsideWindow: { failures: Partial<Record<FailureKind, number>>; connects: number; statuses: Record<string, number> } | null;
  /** The server's connection counters from /stats after the run (total, rejected, timeouts). */
  serverConnections: Record<string, number> | null;
  /** The idle server, before any load. */
  idle: ServerReading;
  /** At the end of the window, with every connection open. */
  end: ServerReading;
  /** Largest RSS seen during the whole cell (warm-up included). */
  peakRssBytes: number | null;
  /** Context switches over the window, summed over the server's threads. */
  ctxSwitches: { voluntary: number | null; involuntary: number | null };
  /** The server's CPU time (all threads) over the window, per response: 10 ms ticks, so only meaningful over many requests. */
  cpuMsPerRequest: number | null;
  /** PostgreSQL backends opened for this server, at the end of the window. */
  pgBackends: number | null;
  /** The model's part of /stats after the run (spawn times, piscina queue, pool waits). */
  modelStats: Record<string, unknown> | null;
  eventLoopDelayP99Ms: number | null;
  dbWaitP99Ms: number | null;
  dbQueryP99Ms: number | null;
  /** SIGTERM to exit. */
  shutdownMs: number;
  exit: string;
  /** A cell measured in several rounds: the spread of the numbers readings compare (its other fields are medians, or the median run's). */
  spread?: CellSpread;
  /** Every run of a cell measured in rounds, in the order taken. */
  runs?: CellResult[];
}

/** Where a cell's runs fell: what a comparison between two cells needs. */
export interface CellSpread {
  runs: number;
  rps: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  warmupMs: Spread;
  rssBytes: Spread | null;
  cpuMsPerRequest: Spread | null;
  involuntaryPerThousand: Spread | null;
}

const round = (value: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

export const mib = (bytes: number | null): number | null => (bytes === null ? null : round(bytes / 2 ** 20, 1));

/** /proc/meminfo MemAvailable: what can be allocated without swapping (null where unreadable). */
export function readMemAvailableBytes(): number | null {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

export function memoryFloorBytes(): number {
  return Math.max(MODELS_SETUP.minFreeBytes, os.totalmem() * MODELS_SETUP.memoryFloorShare);
}

/**
 * Client sockets to `port` that have received at least one byte, from the kernel (ss -ti
 * prints bytes_received only once it is non-zero). null when ss (iproute2) is missing.
 */
export function countAnsweredConnections(port: number): number | null {
  try {
    // Synchronous on purpose: it runs once a second during the warm-up only (~15 ms at 1000
    // sockets), at a second's boundary, so the window can start at the very next one.
    const stdout = execFileSync('ss', ['-Htin', 'state', 'established', 'dst', '127.0.0.1', 'dport', '=', `:${port}`], {
      maxBuffer: 256 * 1024 * 1024,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let answered = 0;
    for (const match of stdout.matchAll(/bytes_received:(\d+)/g)) if (Number(match[1]) > 0) answered += 1;
    return answered;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function readServer(pid: number, contextSwitches: boolean): ServerReading {
  const sample = readProcessSample(pid, { contextSwitches, limits: false });
  return {
    cpuTimeMs: sample.cpuTimeMs,
    threads: sample.threads,
    rssBytes: sample.rssBytes,
    voluntary: sample.ctxSwitches?.voluntary ?? null,
    involuntary: sample.ctxSwitches?.involuntary ?? null,
  };
}

function countBackends(postmasterPid: number | null): number | null {
  return postmasterPid === null ? null : findChildPids(postmasterPid).length;
}

export function serverArgs(spec: Pick<CellSpec, 'model' | 'connections' | 'warmupDeadlineMs'>, dbUrl: string | null): string[] {
  // A stalled main loop (Model A starting 100 isolates on 2 cores) runs its timers before it
  // reads the sockets that became readable meanwhile, so the 5 s keep-alive timeout closes
  // connections whose first request is already in the kernel's buffer; each reconnects and
  // asks for yet another thread. The idle timeout is not what is compared here: keep it
  // longer than any warm-up.
  const args = ['--model', spec.model, '--keep-alive-timeout', String(spec.warmupDeadlineMs + 30_000)];
  if (dbUrl !== null) args.push('--db', dbUrl, '--pool', String(MODELS_SETUP.dbPool));
  // The production bounds that would answer 503 instead of queueing are turned off: the lab
  // compares where each model queues work, so none may turn a queue into refusals (the pool
  // model's task queue, default 64 per worker; a reply slower than the 60 s response timeout
  // while Model A starts hundreds of threads on two cores).
  args.push('--response-timeout', 'off');
  if (spec.model === MODEL.POOL) args.push('--workers', String(MODELS_SETUP.poolWorkers), '--max-queue', 'off');
  // The default ceiling is 1000 threads: leave room for the client's N plus a /stats request.
  if (spec.model === MODEL.THREAD) args.push('--max-threads', String(Math.max(1000, spec.connections + 16)));
  return args;
}

export function skippedCell(spec: Pick<CellSpec, 'model' | 'route' | 'connections'>, note: string): CellResult {
  const empty: ServerReading = { cpuTimeMs: null, threads: null, rssBytes: null, voluntary: null, involuntary: null };
  return {
    ...spec,
    status: CELL_STATUS.SKIPPED,
    note,
    warmupMs: 0,
    answeredAtWindow: null,
    windowMs: 0,
    responses: 0,
    rps: 0,
    latency: summarizeHistogram(createHistogram()),
    failures: {},
    failureRate: 0,
    outsideWindow: null,
    serverConnections: null,
    idle: empty,
    end: empty,
    peakRssBytes: null,
    ctxSwitches: { voluntary: null, involuntary: null },
    cpuMsPerRequest: null,
    pgBackends: null,
    modelStats: null,
    eventLoopDelayP99Ms: null,
    dbWaitP99Ms: null,
    dbQueryP99Ms: null,
    shutdownMs: 0,
    exit: '-',
  };
}

/** Start a server for this cell, load it until every connection has answered, measure the window, stop it. */
export async function measureCell(spec: CellSpec, env: CellEnvironment): Promise<CellResult> {
  const route = MODEL_ROUTES[spec.route];
  env.progress?.(`${spec.model} × ${spec.connections} on ${route.label}: starting the server`);
  // Counted before the server starts: the loop model opens its whole pool at start-up.
  const backendsBefore = countBackends(env.postmasterPid);
  const server = await env.startServer(serverArgs(spec, route.needsDb ? env.dbUrl : null));
  let stopped = false;
  try {
    return await loadAndMeasure(spec, env, server, backendsBefore, async () => {
      stopped = true;
      return env.stopServer(server);
    });
  } finally {
    // A failure half-way must not leave the server running (the lab tracks its own; the bench does not).
    if (!stopped) await env.stopServer(server).catch(() => undefined);
  }
}

async function loadAndMeasure(
  spec: CellSpec,
  env: CellEnvironment,
  server: ServerProcess,
  backendsBefore: number | null,
  stopServer: () => Promise<{ code: number | null; signal?: NodeJS.Signals | null }>,
): Promise<CellResult> {
  const route = MODEL_ROUTES[spec.route];
  const label = `${spec.model} × ${spec.connections} on ${route.label}`;
  const idle = readServer(server.pid, true);
  const floor = memoryFloorBytes();

  const plan = resolveLoadPlan({
    url: `${server.url}/`,
    pathTemplate: route.path,
    vus: spec.connections,
    durationMs: spec.warmupDeadlineMs + (spec.measureSeconds + 2) * 1000,
    // A first request may wait for its connection's thread for as long as the warm-up lasts.
    timeoutMs: spec.warmupDeadlineMs + 10_000,
    gracefulStopMs: MODELS_SETUP.gracefulStopMs,
  });

  const window = createHistogram();
  const failures = FAILURE_KINDS.map(() => 0);
  const run = {
    responses: 0,
    failed: 0,
    windowStart: 0,
    windowEnd: 0,
    warmupMs: 0,
    answered: null as number | null,
    ready: false,
    readySinceMs: 0,
    before: null as ServerReading | null,
    end: null as ServerReading | null,
    pgBackends: null as number | null,
    peakRss: idle.rssBytes ?? 0,
    memoryNote: null as string | null,
  };
  const startedAt = performance.now();

  /** Has every connection had its first answer? Asked at a second's boundary during the warm-up. */
  const checkReady = (): boolean => {
    const reading = readServer(server.pid, false);
    run.answered = countAnsweredConnections(server.port);
    if (run.answered !== null) return run.answered >= spec.connections;
    // Without ss: the thread model is ready a while after its last thread exists.
    if (spec.model !== MODEL.THREAD) return true;
    const now = performance.now();
    if ((reading.threads ?? 0) < (idle.threads ?? 0) + spec.connections) run.readySinceMs = 0;
    else if (run.readySinceMs === 0) run.readySinceMs = now;
    return run.readySinceMs !== 0 && now - run.readySinceMs >= MODELS_SETUP.settleMsWithoutSs;
  };

  const engine: Engine = new Engine(
    { plan, address: server.host, workerIndex: 0, workerCount: 1 },
    {
      onSecond(sample, histogram) {
        const second = sample.second;
        if (run.windowStart === 0) {
          if (second < MODELS_SETUP.minWarmupSeconds || run.memoryNote !== null) return;
          run.ready = checkReady();
          const overdue = second * 1000 >= spec.warmupDeadlineMs;
          if (!run.ready && !overdue) {
            env.progress?.(`${label}: warming up, ${run.answered ?? '?'} of ${spec.connections} connections answered, ${Math.round((performance.now() - startedAt) / 1000)} s`);
            return;
          }
          run.windowStart = second + 1;
          run.windowEnd = second + spec.measureSeconds;
          run.warmupMs = second * 1000;
          // Read at the boundary, synchronously: ~20 µs per thread, so ~20 ms at 1000 threads.
          run.before = readServer(server.pid, true);
          return;
        }
        if (second < run.windowStart || second > run.windowEnd) return;
        mergeHistogram(window, histogram);
        run.responses += sample.responses;
        run.failed += sample.failed;
        sample.failures.forEach((n, i) => (failures[i] = (failures[i] as number) + n));
        env.progress?.(`${label}: measuring, ${second - run.windowStart + 1} s of ${spec.measureSeconds}`);
        if (second === run.windowEnd) {
          run.end = readServer(server.pid, true);
          run.pgBackends = countBackends(env.postmasterPid);
          engine.stop();
        }
      },
    },
  );

  // Free memory and peak RSS, a few times a second for the whole cell: 1000 isolates can eat a small machine.
  const watch = setInterval(() => {
    const reading = readServer(server.pid, false);
    if (reading.rssBytes !== null && reading.rssBytes > run.peakRss) run.peakRss = reading.rssBytes;
    const free = readMemAvailableBytes();
    if (free !== null && free < floor && run.memoryNote === null) {
      run.memoryNote = `stopped at ${reading.threads ?? '?'} threads and ${formatBytes(reading.rssBytes ?? 0)} RSS: free memory fell to ${formatBytes(free)}, under the ${formatBytes(floor)} floor`;
      engine.stop();
    }
  }, MODELS_SETUP.pollMs);
  const onAbort = (): void => engine.stop();
  env.signal?.addEventListener('abort', onAbort, { once: true });
  let report: Awaited<ReturnType<Engine['run']>>;
  try {
    report = await engine.run(process.hrtime.bigint() + 20_000_000n);
  } finally {
    clearInterval(watch);
    env.signal?.removeEventListener('abort', onAbort);
  }

  env.progress?.(`${label}: reading /stats and stopping the server`);
  // Model A gives the /stats connection a thread of its own: behind hundreds still starting it would not come.
  const stats = spec.model === MODEL.THREAD && !run.ready ? null : await fetchStats(server.url);
  const stopStarted = performance.now();
  const exit = await stopServer();
  const shutdownMs = Math.round(performance.now() - stopStarted);
  if (env.signal?.aborted) throw new Error('stopped');

  const { before, end } = run;
  const delta = (key: 'voluntary' | 'involuntary' | 'cpuTimeMs'): number | null => {
    const a = before?.[key];
    const b = end?.[key];
    return a === null || a === undefined || b === null || b === undefined ? null : b - a;
  };
  const windowMs = end === null ? 0 : spec.measureSeconds * 1000;
  const status: CellStatus = run.memoryNote !== null ? CELL_STATUS.MEMORY : run.ready ? CELL_STATUS.MEASURED : CELL_STATUS.NOT_READY;
  const answeredText = run.answered === null ? 'the threads were not all up' : `only ${run.answered} of ${spec.connections} connections had had an answer`;
  const killed = exit.code === 0 ? '' : `; it did not exit within ${MODELS_SETUP.stopDeadlineMs / 1000} s of SIGTERM (${exit.code ?? exit.signal ?? '?'})`;
  const note =
    status === CELL_STATUS.MEMORY
      ? `${run.memoryNote}${killed}`
      : status === CELL_STATUS.NOT_READY
        ? `after ${Math.round(run.warmupMs / 1000)} s ${answeredText} (${before?.threads ?? '?'} threads, ${formatBytes(before?.rssBytes ?? 0)} RSS)${killed}`
        : killed === ''
          ? null
          : killed.slice(2);
  const failureKinds: Partial<Record<FailureKind, number>> = {};
  const warmupFailures: Partial<Record<FailureKind, number>> = {};
  failures.forEach((n, i) => {
    if (n > 0) failureKinds[FAILURE_KINDS[i] as FailureKind] = n;
    // The whole run's failures less the window's: what the warm-up (and the stop) met.
    const outside = (report.failures[i] ?? 0) - n;
    if (outside > 0) warmupFailures[FAILURE_KINDS[i] as FailureKind] = outside;
  });
  const attempts = run.responses + (run.failed - (failureKinds.http_status ?? 0));
  const cpuMs = delta('cpuTimeMs');
  const model = (stats?.model ?? null) as Record<string, unknown> | null;
  const db = (stats?.db ?? null) as { waitMs?: { p99Ms: number }; queryMs?: { p99Ms: number } } | null;
  const workerDb = (model?.workerDb ?? null) as { waitMs?: { p99Ms: number }; queryMs?: { p99Ms: number } } | null;
  const dbStats = db?.waitMs !== undefined ? db : workerDb;
  return {
    model: spec.model,
    route: spec.route,
    connections: spec.connections,
    status,
    note,
    warmupMs: run.warmupMs,
    answeredAtWindow: run.answered,
    windowMs,
    responses: run.responses,
    rps: windowMs === 0 ? 0 : round((run.responses * 1000) / windowMs, 1),
    latency: summarizeHistogram(window),
    failures: failureKinds,
    failureRate: attempts === 0 ? 0 : run.failed / attempts,
    outsideWindow: { failures: warmupFailures, connects: report.counts.connects, statuses: report.statuses },
    serverConnections: (stats?.connections ?? null) as Record<string, number> | null,
    idle,
    end: end ?? { cpuTimeMs: null, threads: null, rssBytes: null, voluntary: null, involuntary: null },
    peakRssBytes: run.peakRss === 0 ? null : run.peakRss,
    ctxSwitches: { voluntary: delta('voluntary'), involuntary: delta('involuntary') },
    cpuMsPerRequest: cpuMs === null || run.responses === 0 ? null : round(cpuMs / run.responses, 3),
    pgBackends: run.pgBackends === null || backendsBefore === null ? null : run.pgBackends - backendsBefore,
    modelStats: model,
    eventLoopDelayP99Ms: ((stats?.eventLoop as { delayMs?: { p99: number } } | null)?.delayMs?.p99 ?? null) as number | null,
    dbWaitP99Ms: dbStats?.waitMs?.p99Ms ?? null,
    dbQueryP99Ms: dbStats?.queryMs?.p99Ms ?? null,
    shutdownMs,
    exit: exit.code === 0 ? 'exit 0' : `${exit.code ?? exit.signal ?? '?'}`,
  };
}

async function fetchStats(url: string): Promise<Record<string, unknown> | null> {
  try {
    const response = await fetch(`${url}/stats`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(10_000) });
    return response.ok ? ((await response.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// ─── the grid ────────────────────────────────────────────────────────────────────────────

export interface GridPlan {
  models: readonly ModelName[];
  connections: readonly number[];
  routes: readonly RouteKey[];
  /** Run a route only at these counts (default: every count). */
  routeConnections?: Partial<Record<RouteKey, readonly number[]>>;
  measureSeconds: number;
  warmupDeadlineMs: number;
}

/**
 * Every cell of the grid, model by model, connections ascending. When a model gives way at a
 * count, its larger cells are skipped with the reason: on that route for models B and C (a
 * loop that cannot take 1000 connections on /work may still take them on /uuid), on every
 * route for Model A, whose threads cost the same whatever the route and whose warm-up already
 * ran out of time or memory. Model A's memory for a count is also predicted from the RSS per
 * thread it just showed, so a small machine is not driven into swap to find out.
 */
export async function runGrid(plan: GridPlan, env: CellEnvironment, onCell?: (cell: CellResult) => void): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  const push = (cell: CellResult): void => {
    cells.push(cell);
    onCell?.(cell);
  };
  for (const model of plan.models) {
    /** Why the larger counts are not run, by route ('*': every route). */
    const gaveWay = new Map<RouteKey | '*', string>();
    for (const connections of plan.connections) {
      for (const route of plan.routes) {
        const only = plan.routeConnections?.[route];
        if (only !== undefined && !only.includes(connections)) continue;
        const spec: CellSpec = { model, connections, route, measureSeconds: plan.measureSeconds, warmupDeadlineMs: plan.warmupDeadlineMs };
        if (MODEL_ROUTES[route].needsDb && env.dbUrl === null) {
          push(skippedCell(spec, 'no PostgreSQL'));
          continue;
        }
        const earlier = gaveWay.get('*') ?? gaveWay.get(route);
        if (earlier !== undefined) {
          push(skippedCell(spec, earlier));
          continue;
        }
        const predicted = model === MODEL.THREAD ? predictThreadRss(cells, connections) : null;
        const free = readMemAvailableBytes();
        if (predicted !== null && free !== null && predicted > free - memoryFloorBytes()) {
          const note = `not run: ${connections} threads would need ~${formatBytes(predicted)} (${predictedPerThreadText(cells)}), ${formatBytes(free)} is free`;
          push(skippedCell(spec, note));
          gaveWay.set('*', note);
          continue;
        }
        const cell = await measureCell(spec, env);
        push(cell);
        if (cell.status === CELL_STATUS.MEMORY || cell.status === CELL_STATUS.NOT_READY) {
          const why = `not run: at ${connections} connections on ${MODEL_ROUTES[route].label} ${cell.note ?? 'the model gave way'}`;
          gaveWay.set(model === MODEL.THREAD || cell.status === CELL_STATUS.MEMORY ? '*' : route, why);
        }
      }
    }
  }
  return cells;
}

// ─── rounds ──────────────────────────────────────────────────────────────────────────────

const cellKey = (c: Pick<CellResult, 'model' | 'route' | 'connections'>): string => `${c.model} ${c.route} ${c.connections}`;

/**
 * The grid, then every steady cell again, `rounds` runs in all, interleaved (the first
 * round runs the grid in order, the next in reverse, and so on), so that a comparison
 * between two cells is a median with its range, not one run's luck. A cell that gave way
 * (its warm-up ran out, memory ran low) or was skipped is not repeated: that is a state,
 * not a number with noise, and at 1000 connections one such cell costs 45 s.
 * Returns one combined cell per cell of the grid (combineRuns).
 */
export async function runGridRounds(plan: GridPlan, rounds: number, env: CellEnvironment, onCell?: (cell: CellResult, round: number) => void): Promise<CellResult[]> {
  const first = await runGrid(plan, env, (cell) => onCell?.(cell, 0));
  const runs = new Map(first.map((cell) => [cellKey(cell), [cell]]));
  const specs = new Map(first.map((cell) => [cellKey(cell), { model: cell.model, route: cell.route, connections: cell.connections, measureSeconds: plan.measureSeconds, warmupDeadlineMs: plan.warmupDeadlineMs }]));
  const repeat = first.filter((cell) => cell.status === CELL_STATUS.MEASURED).map(cellKey);
  if (rounds > 1 && repeat.length > 0) {
    // The grid ran in order: the next round starts from its end.
    const more = await measureInterleaved([...repeat].reverse(), rounds - 1, async (key, round) => {
      const cell = await measureCell(specs.get(key) as CellSpec, env);
      onCell?.(cell, round + 1);
      return cell;
    });
    for (const [key, cells] of Object.entries(more)) runs.get(key)?.push(...(cells as CellResult[]));
  }
  return first.map((cell) => combineRuns(runs.get(cellKey(cell)) as CellResult[]));
}

const STATUS_RANK: Record<CellStatus, number> = { measured: 0, 'not-ready': 1, memory: 2, skipped: 3 };

/**
 * One cell from its runs: the numbers readings use are medians (the spread keeps their
 * range), the status is the worst any run had, and the rest (the model's /stats, notes)
 * comes from the run whose throughput is nearest the median.
 */
export function combineRuns(runs: readonly CellResult[]): CellResult {
  const first = runs[0];
  if (first === undefined) throw new RangeError('a cell needs at least one run');
  const all = (read: (c: CellResult) => number | null): number[] | null => {
    const values = runs.map(read);
    return values.every((v): v is number => v !== null && Number.isFinite(v)) ? values : null;
  };
  const spreadOrNull = (read: (c: CellResult) => number | null): Spread | null => {
    const values = all(read);
    return values === null ? null : spreadOf(values);
  };
  const median = (read: (c: CellResult) => number | null, fallback: number | null): number | null => spreadOrNull(read)?.median ?? fallback;
  const rps = spreadOf(runs.map((c) => c.rps));
  const typical = [...runs].sort((a, b) => Math.abs(a.rps - rps.median) - Math.abs(b.rps - rps.median))[0] as CellResult;
  const worst = [...runs].sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status])[0] as CellResult;
  const spread: CellSpread = {
    runs: runs.length,
    rps,
    p50Ms: spreadOf(runs.map((c) => c.latency.p50Ms)),
    p99Ms: spreadOf(runs.map((c) => c.latency.p99Ms)),
    warmupMs: spreadOf(runs.map((c) => c.warmupMs)),
    rssBytes: spreadOrNull((c) => c.end.rssBytes),
    cpuMsPerRequest: spreadOrNull((c) => c.cpuMsPerRequest),
    involuntaryPerThousand: spreadOrNull((c) => perThousand(c.ctxSwitches.involuntary, c.responses)),
  };
  return {
    ...typical,
    status: worst.status,
    note: worst.note ?? typical.note,
    warmupMs: spread.warmupMs.median,
    rps: rps.median,
    responses: Math.round(median((c) => c.responses, typical.responses) as number),
    latency: { ...typical.latency, p50Ms: spread.p50Ms.median, p99Ms: spread.p99Ms.median },
    end: {
      ...typical.end,
      threads: median((c) => c.end.threads, typical.end.threads),
      rssBytes: median((c) => c.end.rssBytes, typical.end.rssBytes),
    },
    ctxSwitches: {
      voluntary: median((c) => c.ctxSwitches.voluntary, typical.ctxSwitches.voluntary),
      involuntary: median((c) => c.ctxSwitches.involuntary, typical.ctxSwitches.involuntary),
    },
    cpuMsPerRequest: spread.cpuMsPerRequest?.median ?? typical.cpuMsPerRequest,
    pgBackends: median((c) => c.pgBackends, typical.pgBackends),
    spread,
    runs: [...runs],
  };
}

/** A cell's spread of one number; a single run's value when the cell was measured once. */
export const rpsSpreadOf = (cell: CellResult): Spread => cell.spread?.rps ?? spreadOf([cell.rps]);

/** "12,300 (11,900–12,800)", or the value alone when every run agreed or there was one. */
export function spreadText(spread: Spread, round: (value: number) => number = (value) => value): string {
  return spread.min === spread.max ? formatReading(round(spread.median)) : formatSpread(spread, round);
}

// ─── how a busy loop accepts ─────────────────────────────────────────────────────────────

export interface AcceptsPerTurn {
  /** Connections waiting in the accept queue when the loop came back. */
  waiting: number;
  accepted: number;
  /** Loop turns (setImmediate ticks) over which they were accepted. */
  turns: number;
  maxPerTurn: number;
}

/**
 * How many connections this Node's loop takes off the accept queue per turn when many
 * wait, measured rather than assumed (libuv's answer changed across versions). A child
 * process opens `waiting` connections while this loop is held busy, synchronously, until
 * the kernel shows them all queued; then the loop runs, and each 'connection' is counted
 * against the turn (a setImmediate tick) it came in. The server runs on the same Node.
 * null where the accept queue cannot be read (no /proc/net/tcp).
 */
export async function measureAcceptsPerTurn(waiting: number): Promise<AcceptsPerTurn | null> {
  let turn = 0;
  let accepted = 0;
  const perTurn = new Map<number, number>();
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const server = net.createServer((socket) => {
    perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    accepted += 1;
    socket.destroy();
    if (accepted >= waiting) allIn();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: waiting * 2 }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const script = `const net=require('node:net');for(let i=0;i<${waiting};i++)net.connect(${port},'127.0.0.1').on('error',()=>{});setTimeout(()=>{},10000)`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  try {
    // Hold this loop, as a busy server's is held, until the kernel has queued every connection.
    const deadline = performance.now() + 5000;
    let queued = 0;
    while (queued < waiting && performance.now() < deadline) {
      const listeners = readListenQueues([port], undefined, [4]);
      if (isUnavailable(listeners)) return null;
      queued = listeners.reduce((sum, l) => sum + l.queued, 0);
    }
    const tick = (): void => {
      turn += 1;
      if (accepted < waiting && turn < 100_000) setImmediate(tick);
    };
    setImmediate(tick);
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    return { waiting: queued, accepted, turns: perTurn.size, maxPerTurn: Math.max(0, ...perTurn.values()) };
  } finally {
    child.kill();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ─── what the numbers say ────────────────────────────────────────────────────────────────

const measured = (cell: CellResult): boolean => cell.status === CELL_STATUS.MEASURED || cell.status === CELL_STATUS.NOT_READY;

export function findCell(cells: readonly CellResult[], model: ModelName, route: RouteKey, connections: number): CellResult | undefined {
  return cells.find((c) => c.model === model && c.route === route && c.connections === connections);
}

/** Model A's RSS per connection thread: the slope of end-of-window RSS over thread count, across the counts measured. */
export function threadRssSlope(cells: readonly CellResult[], route?: RouteKey): { bytesPerThread: number; from: number; to: number; route: RouteKey } | null {
  const routes = route === undefined ? (Object.keys(MODEL_ROUTES) as RouteKey[]) : [route];
  let best: { bytesPerThread: number; from: number; to: number; route: RouteKey } | null = null;
  for (const r of routes) {
    const points = cells
      // Only cells whose threads were all up: an isolate still starting holds less memory.
      .filter((c) => c.model === MODEL.THREAD && c.route === r && c.status === CELL_STATUS.MEASURED && c.end.rssBytes !== null && c.end.threads !== null)
      .sort((a, b) => a.connections - b.connections);
    const first = points[0];
    const last = points[points.length - 1];
    if (first === undefined || last === undefined || first === last) continue;
    const threads = (last.end.threads as number) - (first.end.threads as number);
    if (threads <= 0) continue;
    const slope = ((last.end.rssBytes as number) - (first.end.rssBytes as number)) / threads;
    if (best === null || last.connections - first.connections > best.to - best.from) best = { bytesPerThread: slope, from: first.connections, to: last.connections, route: r };
  }
  return best;
}

function predictThreadRss(cells: readonly CellResult[], connections: number): number | null {
  const slope = threadRssSlope(cells);
  if (slope === null || slope.bytesPerThread <= 0) return null;
  const base = cells.find((c) => c.model === MODEL.THREAD && c.idle.rssBytes !== null)?.idle.rssBytes ?? 0;
  return base + slope.bytesPerThread * connections;
}

function predictedPerThreadText(cells: readonly CellResult[]): string {
  const slope = threadRssSlope(cells);
  return slope === null ? 'RSS per thread unknown' : `${formatBytes(slope.bytesPerThread)} per thread, measured from ${slope.from} to ${slope.to}`;
}

/** Model A's thread start-up, from the server's own /stats (worker 'online' minus new Worker()). */
export function threadSpawn(cells: readonly CellResult[]): { connections: number; route: RouteKey; p50Ms: number; p99Ms: number; count: number }[] {
  return cells
    .filter((c) => c.model === MODEL.THREAD && c.modelStats !== null)
    .map((c) => {
      const spawn = (c.modelStats as { spawnMs?: LatencySummary }).spawnMs;
      return { connections: c.connections, route: c.route, p50Ms: spawn?.p50Ms ?? 0, p99Ms: spawn?.p99Ms ?? 0, count: spawn?.count ?? 0 };
    })
    .filter((s) => s.count > 0);
}

export const perThousand = (count: number | null, requests: number): number | null => (count === null || requests === 0 ? null : round((count * 1000) / requests, 1));

/** One row per cell: the table issue 6 asks for. */
export function gridTable(cells: readonly CellResult[], options: { modelColumn?: boolean } = {}): StepTable {
  const modelColumn = options.modelColumn ?? true;
  const header = [
    ...(modelColumn ? ['model'] : []),
    'route',
    'conns',
    'all answered s',
    'req/s',
    'p50 ms',
    'p99 ms',
    'threads',
    'RSS MiB',
    'vol cs',
    'invol cs',
    'CPU ms/req',
    'errors',
    'note',
  ];
  const rows: Cell[][] = cells.map((c) => {
    const ok = measured(c);
    const errors = Object.values(c.failures).reduce((sum, n) => sum + (n ?? 0), 0);
    return [
      ...(modelColumn ? [`${MODEL_LETTERS[c.model]} ${c.model}`] : []),
      MODEL_ROUTES[c.route].label,
      c.connections,
      c.status === CELL_STATUS.SKIPPED ? null : c.status === CELL_STATUS.MEASURED ? c.warmupMs / 1000 : `> ${c.warmupMs / 1000}`,
      // Cells measured in rounds show the median and the range of their runs.
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.rps, Math.round) : Math.round(c.rps)) : null,
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p50Ms) : c.latency.p50Ms) : null,
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p99Ms) : c.latency.p99Ms) : null,
      c.end.threads ?? c.idle.threads,
      mib(c.end.rssBytes ?? c.peakRssBytes),
      c.ctxSwitches.voluntary,
      c.ctxSwitches.involuntary,
      ok ? c.cpuMsPerRequest : null,
      ok ? errors : null,
      c.status === CELL_STATUS.MEASURED ? '' : `${c.status}: ${c.note ?? ''}`,
    ];
  });
  return { header, rows };
}

/** Each model against the loop model (B), per route and connection count, from the same run. */
export function ratioTable(cells: readonly CellResult[], routes: readonly RouteKey[], connections: readonly number[]): StepTable {
  const header = ['route', 'conns', 'A÷B req/s', 'C÷B req/s', 'A÷B p99', 'C÷B p99', 'A÷B RSS', 'C÷B RSS', 'invol/1k req A | B | C'];
  const rows: Cell[][] = [];
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? null : round(a / b, 2);
  for (const route of routes) {
    for (const n of connections) {
      const loop = findCell(cells, MODEL.LOOP, route, n);
      const thread = findCell(cells, MODEL.THREAD, route, n);
      const pool = findCell(cells, MODEL.POOL, route, n);
      // Steady cells only: a cell whose warm-up ran out measured a server still starting.
      const ok = (c: CellResult | undefined): CellResult | undefined => (c !== undefined && c.status === CELL_STATUS.MEASURED ? c : undefined);
      const [a, b, c] = [ok(thread), ok(loop), ok(pool)];
      if (b === undefined) continue;
      const inv = (x: CellResult | undefined): string => (x === undefined ? '-' : formatReading(perThousand(x.ctxSwitches.involuntary, x.responses)));
      rows.push([
        MODEL_ROUTES[route].label,
        n,
        ratio(a?.rps, b.rps),
        ratio(c?.rps, b.rps),
        ratio(a?.latency.p99Ms, b.latency.p99Ms),
        ratio(c?.latency.p99Ms, b.latency.p99Ms),
        ratio(a?.end.rssBytes, b.end.rssBytes),
        ratio(c?.end.rssBytes, b.end.rssBytes),
        `${inv(a)} | ${inv(b)} | ${inv(c)}`,
      ]);
    }
  }
  return { header, rows };
}

export interface GiveWay {
  model: ModelName;
  route: RouteKey;
  /** The connection count at which it gave way, or null when it held up to the largest count. */
  connections: number | null;
  /**
   * saturated: throughput grew less than 1.25x in every pairing of runs while connections grew
   * 2x or more; failed; not-ready; memory; held; unclear: the runs' ranges allow both.
   */
  kind: 'saturated' | 'failed' | 'not-ready' | 'memory' | 'held' | 'unclear';
  text: string;
}

/** How much throughput must grow, at least, when connections double or more, for a model to count as not yet saturated. */
const SATURATION_GROWTH = 1.25;

/**
 * Where a model gives way on a route, from its cells in ascending connection count: the first
 * count where requests failed, the warm-up never finished, memory ran low, or throughput grew
 * less than 1.25x while connections grew 2x or more (the extra connections only queue; by
 * Little's law latency then grows with the connections). With cells measured in rounds the
 * growth is judged on the ranges: saturated only if even the best pairing of runs grew less
 * than 1.25x, "lost throughput" only if every run at the larger count is below every run at
 * the smaller, still scaling only if even the worst pairing grew 1.25x; anything between is
 * said to be unclear at this noise level.
 */
export function findGiveWay(cells: readonly CellResult[], model: ModelName, route: RouteKey): GiveWay | null {
  const first = firstGiveWay(cells, model, route);
  if (first === null || first.connections === null) return first;
  // What happened further up, when it was worse than saturation: a warm-up that never ended, memory, failures.
  const later = cells
    .filter((c) => c.model === model && c.route === route && c.connections > (first.connections as number) && (c.status === CELL_STATUS.NOT_READY || c.status === CELL_STATUS.MEMORY))
    .sort((a, b) => a.connections - b.connections)[0];
  return later === undefined ? first : { ...first, text: `${first.text}; at ${formatReading(later.connections)}: ${later.note}` };
}

function firstGiveWay(cells: readonly CellResult[], model: ModelName, route: RouteKey): GiveWay | null {
  const series = cells.filter((c) => c.model === model && c.route === route && c.status !== CELL_STATUS.SKIPPED).sort((a, b) => a.connections - b.connections);
  if (series.length === 0) return null;
  const where = MODEL_ROUTES[route].label;
  const name = MODEL_TITLES[model];
  // A larger count not run because the model gave way elsewhere (Model A on another route, or memory).
  const last = series[series.length - 1] as CellResult;
  const skippedAfter = cells
    .filter((c) => c.model === model && c.route === route && c.status === CELL_STATUS.SKIPPED && c.connections > last.connections && c.note !== 'no PostgreSQL')
    .sort((a, b) => a.connections - b.connections)[0];
  let unclear: GiveWay | null = null;
  for (let i = 0; i < series.length; i++) {
    const cur = series[i] as CellResult;
    if (cur.status === CELL_STATUS.MEMORY) return { model, route, connections: cur.connections, kind: 'memory', text: `${name} on ${where} gave way at ${cur.connections} connections: ${cur.note}` };
    if (cur.status === CELL_STATUS.NOT_READY) return { model, route, connections: cur.connections, kind: 'not-ready', text: `${name} on ${where} gave way at ${cur.connections} connections: ${cur.note}` };
    if (cur.failureRate > 0.01) {
      const kinds = Object.entries(cur.failures)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ');
      return { model, route, connections: cur.connections, kind: 'failed', text: `${name} on ${where} gave way at ${cur.connections} connections: ${formatReading(round(cur.failureRate * 100, 1))}% of requests failed (${kinds})` };
    }
    const prev = series[i - 1];
    if (prev === undefined || prev.rps === 0) continue;
    const more = cur.connections / prev.connections;
    if (more < 2) continue;
    const lo = rpsSpreadOf(prev);
    const hi = rpsSpreadOf(cur);
    const bestGrowth = lo.min > 0 ? hi.max / lo.min : Infinity;
    const worstGrowth = lo.max > 0 ? hi.min / lo.max : Infinity;
    const growth = `${formatReading(round(more, 1))}× the connections of ${formatReading(prev.connections)} gave ${growthText(worstGrowth, bestGrowth)} the throughput (${spreadText(lo, Math.round)} → ${spreadText(hi, Math.round)} req/s)`;
    if (worstGrowth >= SATURATION_GROWTH) continue;
    if (bestGrowth >= SATURATION_GROWTH) {
      unclear ??= {
        model,
        route,
        connections: cur.connections,
        kind: 'unclear',
        text: `${name} on ${where}, from ${formatReading(prev.connections)} to ${formatReading(cur.connections)} connections: ${growth}; whether it still scales there cannot be told at this noise level`,
      };
      continue;
    }
    const lost = compareSpreads(hi, lo) === VERDICT.LOWER;
    const p50Growth = prev.latency.p50Ms === 0 ? 0 : cur.latency.p50Ms / prev.latency.p50Ms;
    return {
      model,
      route,
      connections: cur.connections,
      kind: 'saturated',
      text: `${name} on ${where} ${lost ? 'lost throughput' : 'stopped scaling'} at ${formatReading(cur.connections)} connections: ${growth} and ${formatReading(round(p50Growth, 1))}× the p50 (${formatReading(prev.latency.p50Ms)} → ${formatReading(cur.latency.p50Ms)} ms): the extra connections only wait, ${queueOf(cur)}`,
    };
  }
  const first = series[0] as CellResult;
  if (skippedAfter !== undefined) {
    return { model, route, connections: skippedAfter.connections, kind: 'not-ready', text: `${name} on ${where} was not run at ${formatReading(skippedAfter.connections)} connections: ${skippedAfter.note?.replace(/^not run: /, '')}` };
  }
  if (unclear !== null) return unclear;
  if (series.length === 1) {
    return { model, route, connections: null, kind: 'held', text: `${name} on ${where} was measured at ${formatReading(first.connections)} connections only: ${spreadText(rpsSpreadOf(first), Math.round)} req/s, p99 ${formatReading(first.latency.p99Ms)} ms` };
  }
  return {
    model,
    route,
    connections: null,
    kind: 'held',
    text: `${name} on ${where} held up to ${formatReading(last.connections)} connections: throughput ${spreadText(rpsSpreadOf(first), Math.round)} → ${spreadText(rpsSpreadOf(last), Math.round)} req/s from ${formatReading(first.connections)} connections, p99 ${formatReading(last.latency.p99Ms)} ms`,
  };
}

/** "1.02×", or "0.95–1.10×" when the runs allow a range. */
function growthText(worst: number, best: number): string {
  const a = formatReading(round(worst, 2));
  const b = formatReading(round(best, 2));
  return a === b ? `${a}×` : `${a}–${b}×`;
}

/** Where a saturated model's requests wait, named from what the server and the kernel reported. */
export function queueOf(cell: CellResult): string {
  const stats = cell.modelStats as { waitTime?: { p99Ms: number }; runTime?: { p99Ms: number }; tasksPerWorker?: number } | null;
  switch (cell.model) {
    case MODEL.LOOP:
      if (cell.route === 'uuid' && cell.dbWaitP99Ms !== null && cell.dbQueryP99Ms !== null && cell.dbWaitP99Ms > cell.dbQueryP99Ms) {
        return `in the database pool's queue (${MODELS_SETUP.dbPool} connections; wait p99 ${formatReading(cell.dbWaitP99Ms)} ms > query p99 ${formatReading(cell.dbQueryP99Ms)} ms)`;
      }
      return `in the one event loop's queue (one core; loop delay p99 ${formatReading(cell.eventLoopDelayP99Ms)} ms)`;
    case MODEL.POOL: {
      if (cell.route === 'uuid' && cell.dbWaitP99Ms !== null && cell.dbQueryP99Ms !== null && cell.dbWaitP99Ms > cell.dbQueryP99Ms) {
        return `in the workers' database pools (wait p99 ${formatReading(cell.dbWaitP99Ms)} ms > query p99 ${formatReading(cell.dbQueryP99Ms)} ms)`;
      }
      // A worker takes several tasks at once; on /work it runs them one after another, so a
      // task's time well over the work itself is time queued inside the worker.
      // piscina's queue is named only when its wait is measurable (a millisecond or more).
      const inWorker = cell.route === 'work' && (stats?.runTime?.p99Ms ?? 0) > 2 * WORK_MS;
      const inPiscina = (stats?.waitTime?.p99Ms ?? 0) >= 1;
      const piscina = `piscina's queue (wait p99 ${formatReading(stats?.waitTime?.p99Ms)} ms)`;
      const worker = `each worker's own, which takes up to ${formatReading(stats?.tasksPerWorker)} tasks at once (task time p99 ${formatReading(stats?.runTime?.p99Ms)} ms for ${WORK_MS} ms of work)`;
      if (inWorker) return inPiscina ? `in the pool: ${piscina}, then ${worker}` : `in the pool: in ${worker}; ${piscina} hardly held them`;
      return `in the pool: ${piscina}; task time p99 ${formatReading(stats?.runTime?.p99Ms)} ms`;
    }
    case MODEL.THREAD: {
      const inv = perThousand(cell.ctxSwitches.involuntary, cell.responses);
      return `in the kernel's run queue (${formatReading(cell.end.threads)} threads for ${os.availableParallelism()} cores; ${formatReading(inv)} involuntary context switches per 1,000 requests)`;
    }
  }
}
