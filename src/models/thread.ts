/**
 * Model A: a thread per connection, for the connection's whole life. Every accepted
 * connection gets a worker thread of its own that blocks while it works (thread-worker.ts);
 * the thread exits when its connection closes. The costs this model is known for are all
 * real here and visible in /stats and the metrics: a thread (here a whole V8 isolate, which
 * is heavier than a JVM or .NET thread: measure it) per open connection, a start-up per
 * connection, one database connection per thread, and the kernel's context switches.
 *
 * Beyond --max-threads, a new connection is refused with 503 and closed (counted as
 * `refused`), as a thread-per-connection server that will not create another thread has
 * nothing else to give it.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { dispatch } from '../app/dispatch.js';
import { isRouteCall } from '../app/routes.js';
import type { HttpRequest } from '../http/request-parser.js';
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import { createHistogram, recordMillis, summarizeHistogram } from '../metrics/histogram.js';
import type { SyncSessionStats } from '../db/sync-session.js';
import { MODEL, type ConcurrencyModel } from './model.js';
import type { ConnectionThreadData, FromConnectionThread, ToConnectionThread } from './messages.js';

export interface ThreadModelOptions {
  /** Most connection threads alive at once. */
  maxThreads: number;
  dbUrl: string | null;
  stats: () => unknown;
}

export const THREAD_MODEL_DEFAULTS = {
  maxThreads: 1000,
} as const;

const WORKER_FILE = new URL('./thread-worker.js', import.meta.url);

/**
 * Each isolate's heap is capped so that a thousand of them cannot eat the machine: the
 * handlers need little memory, and the cap makes the per-thread cost a known bound.
 */
const THREAD_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 } as const;

interface ConnectionThread {
  worker: Worker;
  port: MessagePort;
  wake: Int32Array;
  /** Answers in request order: the thread answers one request at a time, in order. */
  waiting: ((response: HttpResponse) => void)[];
  db: SyncSessionStats | null;
}

type MessagePort = InstanceType<typeof MessageChannel>['port1'];

export function createThreadModel(options: ThreadModelOptions): ConcurrencyModel {
  const threads = new Map<number, ConnectionThread>();
  const exiting = new Set<Promise<void>>();
  const spawnMs = createHistogram();
  const counters = { created: 0, exited: 0, refused: 0, failed: 0 };
  let closing = false;

  const post = (thread: ConnectionThread, message: ToConnectionThread): void => {
    thread.port.postMessage(message);
    Atomics.add(thread.wake, 0, 1);
    Atomics.notify(thread.wake, 0);
  };

  const failAll = (thread: ConnectionThread, reason: string): void => {
    for (const resolve of thread.waiting.splice(0)) resolve(errorResponse(500, 'LAB_ERR_MODEL_THREAD', reason));
  };

  const onConnectionOpened = (connectionId: number): HttpResponse | null => {
    if (closing || threads.size >= options.maxThreads) {
      counters.refused += 1;
      return errorResponse(503, 'LAB_ERR_MODEL_NO_THREAD', `all ${options.maxThreads} connection threads are busy: try again later`, ['Retry-After', '1']);
    }
    const { port1, port2 } = new MessageChannel();
    const wake = new SharedArrayBuffer(4);
    const data: ConnectionThreadData = { dbUrl: options.dbUrl, wake, port: port2 };
    const started = performance.now();
    const worker = new Worker(WORKER_FILE, { workerData: data, transferList: [port2], resourceLimits: THREAD_RESOURCE_LIMITS, stdout: false });
    const thread: ConnectionThread = { worker, port: port1, wake: new Int32Array(wake), waiting: [], db: null };
    counters.created += 1;
    worker.once('online', () => recordMillis(spawnMs, performance.now() - started));
    port1.on('message', (message: FromConnectionThread) => {
      if (message.db !== null) thread.db = message.db;
      thread.waiting.shift()?.(message.response);
    });
    worker.on('error', (error) => {
      counters.failed += 1;
      failAll(thread, `connection thread failed: ${error.message}`);
    });
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        counters.exited += 1;
        failAll(thread, 'connection thread exited');
        port1.close();
        if (threads.get(connectionId) === thread) threads.delete(connectionId);
        resolve();
      }),
    );
    exiting.add(exited);
    void exited.then(() => exiting.delete(exited));
    threads.set(connectionId, thread);
    return null;
  };

  const onConnectionClosed = (connectionId: number): void => {
    const thread = threads.get(connectionId);
    if (thread === undefined) return;
    // The map entry goes when the thread has really exited, so the thread count in /stats
    // follows the threads that exist, not the ones asked to stop.
    post(thread, { type: 'exit' });
  };

  const handler = (request: HttpRequest, connectionId: number): HttpResponse | Promise<HttpResponse> => {
    const call = dispatch(request.method, request.path, options.stats);
    if (!isRouteCall(call)) return call;
    const thread = threads.get(connectionId);
    if (thread === undefined) return errorResponse(500, 'LAB_ERR_MODEL_THREAD', 'this connection has no thread');
    return new Promise<HttpResponse>((resolve) => {
      thread.waiting.push(resolve);
      post(thread, { type: 'request', call });
    });
  };

  return {
    name: MODEL.THREAD,
    handler,
    onConnectionOpened,
    onConnectionClosed,
    stats() {
      const withDb = [...threads.values()].filter((t) => t.db?.connected);
      return {
        threads: 1 + threads.size,
        connectionThreads: threads.size,
        maxThreads: options.maxThreads,
        created: counters.created,
        exited: counters.exited,
        refused: counters.refused,
        failed: counters.failed,
        spawnMs: summarizeHistogram(spawnMs),
        dbConnections: withDb.length,
      };
    },
    async close() {
      closing = true;
      for (const thread of threads.values()) post(thread, { type: 'exit' });
      await Promise.all(exiting);
    },
  };
}
