/**
 * Every message that crosses a thread in the pool and thread models, in one file (after
 * piscina's types.ts). All of it is plain data: it is structured-cloned on the way.
 */
import type { HandlerCall } from '../app/dispatch.js';
import type { HttpResponse } from '../http/response-writer.js';
import type { PoolSnapshot } from '../db/pool.js';
import type { SyncSessionStats } from '../db/sync-session.js';
import type { MessagePort } from 'node:worker_threads';

/** workerData of a piscina worker (model pool). */
export interface PoolWorkerData {
  /** The database the worker opens its own connections to, or null (no --db). */
  dbUrl: string | null;
  /** This worker's share of --pool. */
  dbConnections: number;
  dbTimeoutMs: number | null;
  /** Most lookups queued for one of this worker's connections (null: no bound). */
  dbMaxWaiting: number | null;
}

/** A piscina task is a HandlerCall (app/dispatch.ts); the result is the HttpResponse. */
export type PoolTask = HandlerCall;
export type PoolTaskResult = HttpResponse;

/** Posted by each pool worker about once a second on DB_STATS_CHANNEL, for /stats. */
export interface WorkerPoolReport {
  threadId: number;
  snapshot: PoolSnapshot;
}

export const DB_STATS_CHANNEL = 'socketlab:pool-model:db-stats';

/** workerData of a connection's own thread (model thread). */
export interface ConnectionThreadData {
  dbUrl: string | null;
  /** Int32Array over this SharedArrayBuffer: the main thread bumps [0] after each message. */
  wake: SharedArrayBuffer;
  /** The thread's end of its MessageChannel (transferred). */
  port: MessagePort;
}

export type ToConnectionThread = { type: 'request'; call: HandlerCall } | { type: 'exit' };

/** `db` rides along at most once a second (null in between): summarising it is not free. */
export type FromConnectionThread = { type: 'response'; response: HttpResponse; db: SyncSessionStats | null };
