/**
 * Model C: a pool of threads that belong to no connection. The main thread keeps every
 * socket and parses every request; handlers run in a piscina pool of --workers threads.
 * A request waits in piscina's queue until a worker is free: that queue, its wait time and
 * the workers' utilisation are what /stats shows, because they are where this model's
 * latency goes when it is saturated.
 */
import os from 'node:os';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { dispatch } from '../app/dispatch.js';
import { isRouteCall } from '../app/routes.js';
import { mergePoolSnapshots, type PoolSnapshot } from '../db/pool.js';
import type { HttpRequest } from '../http/request-parser.js';
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import { MODEL, type ConcurrencyModel } from './model.js';
import { DB_STATS_CHANNEL, type PoolTask, type PoolTaskResult, type PoolWorkerData, type WorkerPoolReport } from './messages.js';

export interface PoolModelOptions {
  /** Worker threads (default: one per core). */
  workers: number;
  /**
   * Tasks a worker may hold at once. More than one only helps /uuid, whose tasks wait on
   * I/O; /work tasks run one after another on their worker either way.
   */
  tasksPerWorker: number;
  /** Tasks that may wait for a worker; beyond it a request gets 503 + Retry-After. 0: no limit. */
  maxQueue: number;
  db: { url: string; connections: number; timeoutMs: number | null; maxWaiting: number | null } | null;
  stats: () => unknown;
}

/**
 * piscina's own default queue is unbounded, and its 'auto' (workers²) is 4 on two cores.
 * 64 per worker: with /work at its 1000 ms cap a full queue drains in about 64 s, near the
 * server's 60 s response timeout, so nothing queued is kept waiting much past the point
 * where it would get a 503 anyway; with fast tasks it is a queue no healthy server fills.
 */
const QUEUE_PER_WORKER = 64;

/** The default queue bound for `workers` workers. */
export function defaultMaxQueue(workers: number): number {
  return QUEUE_PER_WORKER * workers;
}

export const POOL_MODEL_DEFAULTS = {
  workers: os.availableParallelism(),
  tasksPerWorker: 16,
  maxQueue: defaultMaxQueue(os.availableParallelism()),
} as const;

const QUEUE_FULL = errorResponse(503, 'LAB_ERR_MODEL_POOL_QUEUE_FULL', 'every worker is busy and the queue is full: try again later', ['Retry-After', '1']);

const WORKER_FILE = new URL('./pool-worker.js', import.meta.url).href;

export function createPoolModel(options: PoolModelOptions): ConcurrencyModel {
  const workerData: PoolWorkerData = {
    dbUrl: options.db?.url ?? null,
    // --pool is the total across workers, so the database sees the same number of
    // connections whatever the worker count.
    dbConnections: options.db === null ? 0 : Math.max(1, Math.ceil(options.db.connections / options.workers)),
    dbTimeoutMs: options.db?.timeoutMs ?? null,
    dbMaxWaiting: options.db?.maxWaiting ?? null,
  };
  const piscina = new Piscina<PoolTask, PoolTaskResult>({
    filename: WORKER_FILE,
    minThreads: options.workers,
    maxThreads: options.workers,
    concurrentTasksPerWorker: options.tasksPerWorker,
    idleTimeout: Number.POSITIVE_INFINITY,
    // 'async': an idle worker waits for tasks without blocking its own event loop, which a
    // worker holding /uuid tasks needs to receive their database replies.
    atomics: 'async',
    workerData,
  });
  const dbReports = new Map<number, PoolSnapshot>();
  let queueFull = 0;
  const channel = new BroadcastChannel(DB_STATS_CHANNEL);
  channel.onmessage = (event) => {
    const report = (event as unknown as { data: WorkerPoolReport }).data;
    dbReports.set(report.threadId, report.snapshot);
  };
  (channel as unknown as { unref(): void }).unref();

  const handler = (request: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    const call = dispatch(request.method, request.path, options.stats);
    if (!isRouteCall(call)) return call;
    // Refused here, before piscina would reject: a full queue is load, not a worker failure.
    if (options.maxQueue > 0 && piscina.queueSize >= options.maxQueue) {
      queueFull += 1;
      return QUEUE_FULL;
    }
    return piscina.run(call).catch((error: unknown) => errorResponse(500, 'LAB_ERR_MODEL_POOL', `worker failed: ${error instanceof Error ? error.message : String(error)}`));
  };

  return {
    name: MODEL.POOL,
    handler,
    stats() {
      const summary = (s: { p50: number; p99: number; max: number; mean: number }): Record<string, number> => ({
        // piscina records in milliseconds.
        avgMs: round(s.mean),
        p50Ms: round(s.p50),
        p99Ms: round(s.p99),
        maxMs: round(s.max),
      });
      const snapshots = [...dbReports.values()];
      return {
        threads: 1 + piscina.threads.length,
        workers: piscina.threads.length,
        tasksPerWorker: options.tasksPerWorker,
        queueSize: piscina.queueSize,
        maxQueue: options.maxQueue > 0 ? options.maxQueue : null,
        queueFull,
        completed: piscina.completed,
        utilization: round(piscina.utilization),
        waitTime: summary(piscina.histogram.waitTime),
        runTime: summary(piscina.histogram.runTime),
        workerDb: snapshots.length === 0 ? null : { workersReporting: snapshots.length, ...mergePoolSnapshots(snapshots) },
      };
    },
    async close() {
      channel.close();
      await piscina.destroy();
    },
  };
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
