/**
 * One cell of the concurrency-models grid, shared by lab 2 (labs/02-concurrency-models.ts) and
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
import { readMemInfo } from '../metrics/host.js';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { Engine } from '../load/engine.js';
import { FAILURE_KINDS, resolveLoadPlan, type FailureKind } from '../load/index.js';
import { createHistogram, mergeHistogram, summarizeHistogram, type LatencySummary } from '../metrics/histogram.js';
import { findChildPids, readProcessSample } from '../metrics/index.js';
import { MODEL, type ModelName } from '../models/model.js';
import { formatBytes, formatReading } from '../format/numbers.js';
import type { ServerProcess } from './serve-process.js';
import { formatSpread, spreadOf, type Spread } from '../metrics/comparison.js';
import { MODEL_ROUTES, type RouteKey } from './models-names.js';

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

/** `value` rounded to `digits` decimals. */
export const roundTo = (value: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** Bytes as MiB with one decimal, as the tables show RSS. */
export const mib = (bytes: number | null): number | null => (bytes === null ? null : roundTo(bytes / 2 ** 20, 1));

/** A count per 1,000 requests (context switches), with one decimal; null when nothing was counted or answered. */
export const perThousand = (count: number | null, requests: number): number | null => (count === null || requests === 0 ? null : roundTo((count * 1000) / requests, 1));

/** A cell's spread of one number; a single run's value when the cell was measured once. */
export const rpsSpreadOf = (cell: CellResult): Spread => cell.spread?.rps ?? spreadOf([cell.rps]);

/** "12,300 (11,900–12,800)", or the value alone when every run agreed or there was one. */
export function spreadText(spread: Spread, round: (value: number) => number = (value) => value): string {
  return spread.min === spread.max ? formatReading(round(spread.median)) : formatSpread(spread, round);
}

/** /proc/meminfo MemAvailable: what can be allocated without swapping (null where unreadable). */
export function readMemAvailableBytes(): number | null {
  return readMemInfo()?.availableBytes ?? null;
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
  // The pool and thread models have no batch mode: the loop model goes without it too, so that
  // /uuid compares the models and not the pool's modes.
  if (dbUrl !== null && spec.model === MODEL.LOOP) args.push('--pool-batch', 'off');
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
        sample.failures.forEach((n, i) => {
          failures[i] = (failures[i] as number) + n;
        });
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
    rps: windowMs === 0 ? 0 : roundTo((run.responses * 1000) / windowMs, 1),
    latency: summarizeHistogram(window),
    failures: failureKinds,
    failureRate: attempts === 0 ? 0 : run.failed / attempts,
    outsideWindow: { failures: warmupFailures, connects: report.counts.connects, statuses: report.statuses },
    serverConnections: (stats?.connections ?? null) as Record<string, number> | null,
    idle,
    end: end ?? { cpuTimeMs: null, threads: null, rssBytes: null, voluntary: null, involuntary: null },
    peakRssBytes: run.peakRss === 0 ? null : run.peakRss,
    ctxSwitches: { voluntary: delta('voluntary'), involuntary: delta('involuntary') },
    cpuMsPerRequest: cpuMs === null || run.responses === 0 ? null : roundTo(cpuMs / run.responses, 3),
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
