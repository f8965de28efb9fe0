/**
 * The composition root: `socketlab serve` as a function. The server (sockets), a concurrency
 * model (where handlers run), the routes (what they answer), the database and the loop
 * monitor are assembled here and nowhere else, at the top beside cli.ts, so that no folder
 * below has to know the others: app knows neither sockets nor models, the server knows no
 * routes, the database knows no handlers. The CLI parses flags into ServeOptions; labs and
 * benchmarks run the CLI as a child process (program.ts) so that the server has a process of
 * its own to be measured by.
 */
import { LabServer } from './server/server.js';
import type { ServerOptions } from './server/options.js';
import { createLoopModel } from './models/loop.js';
import { createPoolModel, defaultMaxQueue, POOL_MODEL_DEFAULTS } from './models/pool.js';
import { createThreadModel } from './models/thread.js';
import { MODEL, type ConcurrencyModel, type ModelName } from './models/model.js';
import { openDatabase, type Database, type DatabaseTarget } from './db/index.js';
import { startLoopMonitor, type LoopMonitor } from './metrics/loop-monitor.js';
import { bodyLimitFor } from './app/routes.js';

export interface ServeOptions {
  server: Partial<ServerOptions>;
  model: ModelName;
  /** Model pool: worker threads. */
  workers: number;
  /** Model pool: tasks that may wait for a worker (0: no limit). Default: POOL_MODEL_DEFAULTS' rule for `workers`. */
  maxQueue?: number;
  /** Model thread: most connection threads at once. */
  maxThreads: number;
  /** null: no database; /uuid answers 503. */
  db: {
    target: DatabaseTarget;
    poolSize: number;
    /** The three database bounds (db/limits.ts); null turns one off. */
    poolTimeoutMs: number | null;
    poolQueue: number | null;
    statementTimeoutMs: number | null;
    /** --pool-batch (model loop): most lookups per statement; null: one statement per lookup. */
    poolBatch?: number | null;
  } | null;
  log: (line: string) => void;
}

export interface RunningServe {
  server: LabServer;
  model: ConcurrencyModel;
  database: Database | null;
  /** Everything /stats answers. */
  stats(): Record<string, unknown>;
  /** Graceful: drain connections, stop the model's threads, release the database. */
  close(): Promise<void>;
}

export async function startServe(options: ServeOptions): Promise<RunningServe> {
  // In the pool and thread models the database connections belong to the worker threads;
  // the main thread only needs the cluster up and kv seeded, so its own pool stays at one.
  const mainPoolUsed = options.model === MODEL.LOOP;
  const database =
    options.db === null
      ? null
      : await openDatabase({
          db: options.db.target,
          poolSize: mainPoolUsed ? options.db.poolSize : 1,
          poolTimeoutMs: options.db.poolTimeoutMs,
          poolQueue: options.db.poolQueue,
          statementTimeoutMs: options.db.statementTimeoutMs,
          poolBatch: mainPoolUsed ? (options.db.poolBatch ?? null) : null,
          prewarm: mainPoolUsed,
          log: options.log,
        });
  if (database !== null) options.log(database.describe());
  let server: LabServer | null = null;
  let model: ConcurrencyModel | null = null;
  let loop: LoopMonitor | null = null;
  const stats = (): Record<string, unknown> => ({
    ...(server?.stats() ?? {}),
    model: { name: model?.name, ...(model?.stats() ?? {}) },
    eventLoop: loop?.read() ?? null,
    db: database === null ? null : databaseStats(database, mainPoolUsed),
    memory: { rssBytes: process.memoryUsage.rss() },
  });
  try {
    switch (options.model) {
      case MODEL.LOOP:
        model = createLoopModel({ uuidStore: database, stats });
        break;
      case MODEL.POOL:
        model = createPoolModel({
          workers: options.workers,
          tasksPerWorker: POOL_MODEL_DEFAULTS.tasksPerWorker,
          maxQueue: options.maxQueue ?? defaultMaxQueue(options.workers),
          db:
            database === null || options.db === null
              ? null
              : { url: database.url, connections: options.db.poolSize, timeoutMs: options.db.poolTimeoutMs, maxWaiting: options.db.poolQueue },
          stats,
        });
        break;
      case MODEL.THREAD:
        model = createThreadModel({ maxThreads: options.maxThreads, dbUrl: database?.url ?? null, stats });
        break;
    }
    const running = model;
    server = new LabServer(options.server, running.handler, {
      onHandlerError: (error) => options.log(`handler error: ${error instanceof Error ? error.message : String(error)}`),
      ...(running.onConnectionOpened === undefined ? {} : { onConnectionOpened: running.onConnectionOpened }),
      ...(running.onConnectionClosed === undefined ? {} : { onConnectionClosed: running.onConnectionClosed }),
      bodyLimit: (request) => bodyLimitFor(request.method, request.path),
    });
    await server.listen();
    loop = startLoopMonitor();
  } catch (error) {
    await model?.close();
    await database?.close();
    throw error;
  }
  const labServer = server;
  const runningModel = model;
  const loopMonitor = loop;
  return {
    server: labServer,
    model: runningModel,
    database,
    stats,
    async close() {
      const cut = await labServer.close();
      if (cut > 0) options.log(`${cut} connection(s) still open ${labServer.options.shutdownTimeoutMs} ms after shutdown began were cut`);
      loopMonitor.stop();
      await runningModel.close();
      await database?.close();
    },
  };
}

/**
 * The database's figures for /stats, without its URL: /stats answers anyone who can reach the
 * port, and a URL can carry a user and a password (issue 14). `describe()` logs where it is.
 */
export function databaseStats(database: Database, mainPoolUsed: boolean): Record<string, unknown> {
  const { url: _url, ...stats } = database.stats() as unknown as Record<string, unknown>;
  return mainPoolUsed ? stats : { embedded: database.embedded !== null, ...database.limits, connectionsIn: 'worker threads (see model)' };
}
