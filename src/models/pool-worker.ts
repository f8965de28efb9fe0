/**
 * A piscina worker of the pool model (C). It owns no socket and no connection: it takes a
 * HandlerCall from the queue, answers it, and takes the next. /work burns this thread's CPU,
 * not the event loop's; /uuid awaits this worker's own database pool, so one worker holds
 * several requests that wait on I/O at once (piscina's concurrentTasksPerWorker), the way a
 * .NET or Java thread pool parks a request on an async wait.
 *
 * The database driver here is `pg` (pure JS), on purpose: pg-native's asynchronous API
 * watches its sockets from the main thread's event loop and crashes the process when used
 * in a worker thread (src/db/driver.ts has the details).
 */
import { workerData, threadId } from 'node:worker_threads';
import { BroadcastChannel } from 'node:worker_threads';
import { answerCall } from '../app/dispatch.js';
import { ROUTE } from '../app/routes.js';
import { createPool, type ConnectionPool } from '../db/pool.js';
import { DRIVER } from '../db/driver.js';
import type { HttpResponse } from '../http/response-writer.js';
import { DB_STATS_CHANNEL, type PoolTask, type PoolWorkerData, type WorkerPoolReport } from './messages.js';

const data = workerData as PoolWorkerData;
let pool: ConnectionPool | null = null;

function openPool(url: string): ConnectionPool {
  const opened = createPool({ url, size: data.dbConnections, acquireTimeoutMs: data.dbTimeoutMs, maxWaiting: data.dbMaxWaiting, driver: DRIVER.JS });
  const channel = new BroadcastChannel(DB_STATS_CHANNEL);
  const report = setInterval(() => {
    const message: WorkerPoolReport = { threadId, snapshot: opened.snapshot() };
    channel.postMessage(message);
  }, 1000);
  report.unref();
  return opened;
}

export default async function handle(call: PoolTask): Promise<HttpResponse> {
  // This worker's pool opens with its first /uuid: a worker that never queries holds no connection.
  if (call.route === ROUTE.UUID && data.dbUrl !== null) pool ??= openPool(data.dbUrl);
  return answerCall(call, pool);
}
