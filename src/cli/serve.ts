/**
 * `socketlab serve`: the hand-written HTTP/1.1 server on node:net.
 */
import { DEFAULT_LIMITS } from '../http/request-parser.js';
import { DEFAULT_SERVER_OPTIONS } from '../server/options.js';
import { startServe, type ServeOptions } from '../serve.js';
import { LISTENING_PREFIX } from '../program.js';
import { DB_LIMIT_OFF, DB_LIMITS, POOL_DEFAULTS, resolveDatabaseTarget, resolveDbLimits } from '../db/index.js';
import { MODEL, type ModelName } from '../models/model.js';
import { defaultMaxQueue, POOL_MODEL_DEFAULTS } from '../models/pool.js';
import { THREAD_MODEL_DEFAULTS } from '../models/thread.js';
import { announceListening, CLUSTER_ENV, isClusterWorker, probeReusePort, reusePortOfWorker, startClusterPrimary, type RunningCluster } from '../server/cluster-primary.js';
import { openDatabase, type Database } from '../db/index.js';
import { resolveBacklog } from '../server/server.js';
import { EXIT, usageError } from '../errors.js';
import { booleanFlag, noPositionals, parseDurationFlag, parseFlags, parseIntegerFlag, parseRateFlag, stringFlag } from './args.js';
import { writeFile } from 'node:fs/promises';
import { startMonitorPanel } from '../metrics/monitor.js';
import type { Command } from './command.js';

const D = DEFAULT_SERVER_OPTIONS;

/**
 * --pool-batch when not given. On: measured by `socketlab bench db` (docs/benchmarks.md), the
 * same pool of 20 answered /uuid 3.5x as fast batched as with one statement per lookup, above
 * what Postgres itself serves to 100 pgbench clients, and a lookup that finds nothing queued
 * still goes alone as the plain statement, so low load pays almost nothing (lab 5 measures it).
 * The labs that teach the one-statement ceiling turn it off explicitly.
 */
const POOL_BATCH_DEFAULT: number | null = 256;

/** A default as --help shows it: "off" for 0. */
const shown = (value: number, unit = ''): string => (value > 0 ? `${value}${unit}` : 'off');

const USAGE = `Usage: socketlab serve [flags]

Serve /age, /uuid/:id, /work, /healthz and /stats with the hand-written HTTP/1.1 server.
Prints one line "listening on http://HOST:PORT pid=... backlog=..." when ready; SIGTERM or
SIGINT stops accepting, finishes in-flight requests and exits 0.

Socket:
  --host H                 address to listen on (default ${D.host})
  --port P                 port, 0 for any free one (default ${D.port})
  --backlog N              listen(2) backlog; the kernel caps it at net.core.somaxconn (default ${D.backlog})
  --accept-rate N/s        take at most N connections per second off the accept queue (default: unthrottled)
  --accept-descriptors N   from the first burst of connections (128 within 250 ms), listen on N
                           descriptors of the one listening socket, so a busy event loop accepts
                           up to N per turn, not one (libuv >= 1.45); 1: never (default ${D.acceptDescriptors})

Limits on what clients hold (every one is on by default; "off" removes it, /stats shows them):
  --max-connections N|off  answer 503 + Retry-After and close beyond N open connections
                           (default ${shown(D.maxConnections)}: RLIMIT_NOFILE less a tenth kept for files,
                           the database and threads, so the server never meets EMFILE)
  --headers-timeout MS|off a request head must arrive within this long of its first byte,
                           else 408 (default ${shown(D.headersTimeoutMs)}; slowloris; node:http 60000)
  --request-timeout MS|off the whole request, body included, within this long, else 408
                           (default ${shown(D.requestTimeoutMs)}; node:http 300000)
  --keep-alive-timeout MS|off  close a connection idle this long (default ${shown(D.keepAliveTimeoutMs)}, as node:http)
  --response-timeout MS|off    a handler that has not answered within this long: 503 and
                           close (default ${shown(D.responseTimeoutMs)}; nginx proxy_read_timeout)
  --write-timeout MS|off   destroy a connection whose peer takes none of our bytes this long
                           (default ${shown(D.writeTimeoutMs)}; nginx send_timeout; a client that never reads)
  --linger-timeout MS|off  after we close our side, destroy the socket if the peer has not
                           closed its own within this long (default ${shown(D.lingerTimeoutMs)}; nginx
                           lingering_timeout; a client that never closes held it for ever)
  --max-pipeline N         requests read ahead of their answers on one connection
                           (default ${D.maxPipelineDepth}: more than clients pipeline; with /work's 1 s cap,
                           one connection can queue at most that many seconds of CPU)

Request limits (a request over one gets the status shown):
  --max-head-bytes N       request line + headers (default ${DEFAULT_LIMITS.maxHeadBytes}; 431)
  --max-headers N          header count (default ${DEFAULT_LIMITS.maxHeaders}; 431)
  --max-target-bytes N     request target (default ${DEFAULT_LIMITS.maxTargetBytes}; 414)
  --max-body-bytes N       body (default ${DEFAULT_LIMITS.maxBodyBytes}; 413); a chunked body's framing counts too;
                           a route that reads no body (all of them) refuses any at once

Concurrency (where handlers run; the main thread always owns sockets and parsing):
  --model loop|pool|thread loop: the one event loop (B); pool: a piscina pool of worker
                           threads (C); thread: a thread per connection that blocks (A)
                           (default loop)
  --workers N              pool: worker threads (default ${POOL_MODEL_DEFAULTS.workers}, one per core)
  --max-queue N|off        pool: requests waiting for a worker; beyond it 503 + Retry-After
                           (default 64 per worker, ${POOL_MODEL_DEFAULTS.maxQueue} here: at /work's 1 s cap, about
                           the 60 s response timeout's worth; piscina's own default is unbounded)
  --max-threads N          thread: most connection threads; beyond it a new connection
                           gets 503 and is closed (default ${THREAD_MODEL_DEFAULTS.maxThreads})
  --cluster N              N server processes behind one port (node:cluster, round-robin);
                           each is a full server with the flags above (default: one process)
  --reuse-port             with --cluster: each worker listens on the port itself with
                           SO_REUSEPORT and the kernel spreads connections (Node 22.12+)

Database (for /uuid/:id; without one, /uuid answers 503):
  --db embedded|URL        embedded: start a throwaway PostgreSQL (stopped on exit);
                           a postgresql:// URL: use that server (default: $DATABASE_URL)
  --pool N                 connections in the pool (default 20); model pool: shared out
                           among the workers; model thread: unused, each thread has its own
  --pool-timeout MS|off    fail a request with 503 + Retry-After when no connection is free
                           within MS (default ${DB_LIMITS.ACQUIRE_TIMEOUT_MS}, Npgsql's; off: wait without bound)
  --pool-queue N|off       at most N requests wait for a connection, per pool; the next one
                           gets 503 + Retry-After at once (default ${DB_LIMITS.MAX_WAITING}; off: no bound)
  --pool-batch N|off       model loop: a lookup that finds every connection busy waits in one
                           queue, and the next free connection runs up to N queued ids in one
                           statement (WHERE id = ANY($1)); /stats shows ids per statement (default
                           ${POOL_BATCH_DEFAULT === null ? 'off' : POOL_BATCH_DEFAULT}; off: one statement per lookup, on a connection of its own)
  --statement-timeout MS|off
                           Postgres cancels a query running longer, answered 503 (default
                           ${DB_LIMITS.STATEMENT_TIMEOUT_MS}, Npgsql's Command Timeout; off: none)

Observing:
  --stage-sample N         time the stages (/stats stages, lab 1) of every connection's first
                           request and of one in N of the others, each weighted N (default
                           ${D.stageSampleEvery}; 1: every request). Request and status counts are always exact
  --monitor                a live panel on stderr (a terminal): CPU, RSS, FDs, threads, context
                           switches, accept queue, TCP states; sampled on a worker thread, so the
                           request path does no sampling work
  --json FILE              on shutdown, write the final /stats and (with --monitor) the sampled
                           series to FILE

Examples:
  socketlab serve --port 3000 --backlog 64
  curl 'http://127.0.0.1:3000/age?birthdate=1993-05-01'
  socketlab serve --db embedded --pool 20 --pool-timeout 500
  curl http://127.0.0.1:3000/uuid/42
`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  backlog: { type: 'string' },
  'accept-rate': { type: 'string' },
  'accept-descriptors': { type: 'string' },
  'max-connections': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'response-timeout': { type: 'string' },
  'write-timeout': { type: 'string' },
  'linger-timeout': { type: 'string' },
  'max-pipeline': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-head-bytes': { type: 'string' },
  'max-headers': { type: 'string' },
  'max-target-bytes': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  model: { type: 'string' },
  workers: { type: 'string' },
  'max-threads': { type: 'string' },
  cluster: { type: 'string' },
  'reuse-port': { type: 'boolean' },
  'stage-sample': { type: 'string' },
  monitor: { type: 'boolean' },
  json: { type: 'string' },
  db: { type: 'string' },
  pool: { type: 'string' },
  'pool-timeout': { type: 'string' },
  'pool-queue': { type: 'string' },
  'pool-batch': { type: 'string' },
  'statement-timeout': { type: 'string' },
} as const;

const MODELS: readonly ModelName[] = [MODEL.LOOP, MODEL.POOL, MODEL.THREAD];

/** A limit flag: "off" (or 0) turns it off, which is stored as 0. */
function offOr(text: string | undefined, parse: (text: string | undefined) => number): number {
  return text === 'off' ? 0 : parse(text);
}

function offOrDuration(values: Record<string, unknown>, name: string, fallbackMs: number): number {
  return offOr(stringFlag(values as Parameters<typeof stringFlag>[0], name), (text) => parseDurationFlag(name, text, fallbackMs, 'ms'));
}

/**
 * The primary of --cluster: starts the embedded database once (workers share it), forks
 * the workers, prints the one listening line, and on SIGTERM/SIGINT stops them all.
 */
async function runClusterPrimary(options: {
  size: number;
  db: ServeOptions['db'];
  model: ModelName;
  /** The primary listens (round-robin) with the backlog the workers ask for. */
  backlog: number;
  /** SO_REUSEPORT: the address every worker binds itself; null for round-robin through the primary. */
  reusePort: { host: string; port: number } | null;
  log: (line: string) => void;
  stopSignal: Promise<NodeJS.Signals>;
}): Promise<number> {
  let database: Database | null = null;
  if (options.db?.target === 'embedded') {
    // The primary only needs the cluster up and seeded; its pool stays at one connection.
    database = await openDatabase({ db: 'embedded', poolSize: 1, prewarm: false, statementTimeoutMs: options.db.statementTimeoutMs, log: options.log });
    options.log(database.describe());
  }
  const env = database === null ? {} : { [CLUSTER_ENV.DB_URL]: database.url };
  let running: RunningCluster;
  try {
    running = await startClusterPrimary({ size: options.size, env, log: options.log, reusePort: options.reusePort });
  } catch (error) {
    await database?.close();
    throw error;
  }
  const host = running.host.includes(':') ? `[${running.host}]` : running.host;
  const backlog = resolveBacklog(options.backlog);
  process.stdout.write(
    `${LISTENING_PREFIX}${host}:${running.port} pid=${process.pid} backlog=${backlog.effective} model=${options.model} cluster=${options.size}${running.reusePort ? ' reuse-port' : ''} workers=${running.workerPids.join(',')}\n`,
  );
  const signal = await options.stopSignal;
  options.log(`${signal}: stopping ${options.size} workers`);
  const clean = await running.stop();
  await database?.close();
  return clean ? EXIT.OK : EXIT.FAILURE;
}

export const command: Command = {
  name: 'serve',
  summary: 'run the hand-written HTTP/1.1 server (backlog, accept rate, limits, concurrency model)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('serve', argv, OPTIONS);
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('serve', positionals);
    const model = (stringFlag(values, 'model') ?? MODEL.LOOP) as ModelName;
    if (!MODELS.includes(model)) throw usageError(`--model must be one of ${MODELS.join(', ')}, got "${model}"`);
    const acceptRateText = stringFlag(values, 'accept-rate');
    const log = (line: string): void => void process.stderr.write(`socketlab serve: ${line}\n`);
    // Signal handlers go in before anything else: whoever starts us may signal as soon as the
    // listening line appears, and an unhandled SIGTERM would kill the process mid-request.
    const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
      let received = false;
      const onSignal = (signal: NodeJS.Signals): void => {
        // A cluster worker can get the terminal's SIGINT and its primary's SIGTERM: both mean
        // "drain", so only a standalone server treats a second signal as "exit now".
        if (received && isClusterWorker()) return;
        if (received) {
          log(`${signal} again: exiting without waiting`);
          process.exit(EXIT.FAILURE);
        }
        received = true;
        resolve(signal);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    const clusterSize = parseIntegerFlag('cluster', stringFlag(values, 'cluster'), 0, 1, 256);
    if (clusterSize > 0 && acceptRateText !== undefined) throw usageError('--accept-rate paces one listener: it cannot be combined with --cluster');
    // A worker of a cluster uses the database its primary started, never one of its own.
    const clusterDbUrl = isClusterWorker() ? process.env[CLUSTER_ENV.DB_URL] : undefined;
    const dbTarget = clusterDbUrl !== undefined && clusterDbUrl !== '' ? clusterDbUrl : resolveDatabaseTarget(stringFlag(values, 'db'));
    const dbFlags = ['pool', 'pool-timeout', 'pool-queue', 'pool-batch', 'statement-timeout'].filter((name) => stringFlag(values, name) !== undefined);
    if (dbTarget === null && dbFlags.length > 0) throw usageError(`--${dbFlags[0]} needs a database: add --db embedded or --db postgresql://...`);
    /** A bound's flag: undefined when absent (the default applies), null for `off`. */
    const limitFlag = (name: string, parse: (text: string) => number): number | null | undefined => {
      const text = stringFlag(values, name);
      return text === undefined ? undefined : text === DB_LIMIT_OFF ? null : parse(text);
    };
    const limits = resolveDbLimits({
      acquireTimeoutMs: limitFlag('pool-timeout', (t) => parseDurationFlag('pool-timeout', t, 0, 'ms')),
      maxWaiting: limitFlag('pool-queue', (t) => parseIntegerFlag('pool-queue', t, DB_LIMITS.MAX_WAITING, 1, 10_000_000)),
      statementTimeoutMs: limitFlag('statement-timeout', (t) => parseDurationFlag('statement-timeout', t, 0, 'ms')),
    });
    const db: ServeOptions['db'] =
      dbTarget === null
        ? null
        : {
            target: dbTarget,
            poolSize: parseIntegerFlag('pool', stringFlag(values, 'pool'), POOL_DEFAULTS.SIZE, 1, 10_000),
            poolTimeoutMs: limits.acquireTimeoutMs,
            poolQueue: limits.maxWaiting,
            statementTimeoutMs: limits.statementTimeoutMs,
            poolBatch: (() => {
              const batch = limitFlag('pool-batch', (t) => parseIntegerFlag('pool-batch', t, 0, 1, 100_000));
              return batch === undefined ? POOL_BATCH_DEFAULT : batch;
            })(),
          };
    const workersText = stringFlag(values, 'workers');
    const maxThreadsText = stringFlag(values, 'max-threads');
    if (workersText !== undefined && model !== MODEL.POOL) throw usageError('--workers applies to --model pool');
    const maxQueueText = stringFlag(values, 'max-queue');
    if (maxQueueText !== undefined && model !== MODEL.POOL) throw usageError('--max-queue applies to --model pool');
    if (maxThreadsText !== undefined && model !== MODEL.THREAD) throw usageError('--max-threads applies to --model thread');
    if (stringFlag(values, 'pool-batch') !== undefined && model !== MODEL.LOOP)
      throw usageError('--pool-batch applies to --model loop (the pool and thread models keep their connections in worker threads)');
    const reusePort = booleanFlag(values, 'reuse-port');
    if (reusePort && clusterSize === 0) throw usageError('--reuse-port spreads connections over the workers of a cluster: add --cluster N');
    if (clusterSize > 0 && !isClusterWorker()) {
      const backlog = parseIntegerFlag('backlog', stringFlag(values, 'backlog'), D.backlog, 1, 1 << 20);
      if (reusePort && !(await probeReusePort()))
        throw usageError(`--reuse-port needs net.Server's reusePort option (SO_REUSEPORT), Node 22.12 or 23.1+; this is Node ${process.versions.node}`);
      const listenOn = reusePort ? { host: stringFlag(values, 'host') ?? D.host, port: parseIntegerFlag('port', stringFlag(values, 'port'), D.port, 0, 65_535) } : null;
      return runClusterPrimary({ size: clusterSize, db, model, backlog, reusePort: listenOn, log, stopSignal });
    }
    const workers = parseIntegerFlag('workers', workersText, POOL_MODEL_DEFAULTS.workers, 1, 1024);
    // A worker of a --reuse-port cluster binds the port its primary holds, with SO_REUSEPORT.
    const workerPort = reusePortOfWorker();
    const running = await startServe({
      model,
      workers,
      maxQueue: maxQueueText === 'off' ? 0 : parseIntegerFlag('max-queue', maxQueueText, defaultMaxQueue(workers), 1, 10_000_000),
      maxThreads: parseIntegerFlag('max-threads', maxThreadsText, THREAD_MODEL_DEFAULTS.maxThreads, 1, 100_000),
      db,
      log,
      server: {
        host: stringFlag(values, 'host') ?? D.host,
        port: workerPort ?? parseIntegerFlag('port', stringFlag(values, 'port'), D.port, 0, 65_535),
        reusePort: workerPort !== null,
        backlog: parseIntegerFlag('backlog', stringFlag(values, 'backlog'), D.backlog, 1, 1 << 20),
        acceptRate: acceptRateText === undefined ? null : parseRateFlag('accept-rate', acceptRateText),
        acceptDescriptors: parseIntegerFlag('accept-descriptors', stringFlag(values, 'accept-descriptors'), D.acceptDescriptors, 1, 1024),
        maxConnections: offOr(stringFlag(values, 'max-connections'), (text) => parseIntegerFlag('max-connections', text, D.maxConnections, 0, 10_000_000)),
        headersTimeoutMs: offOrDuration(values, 'headers-timeout', D.headersTimeoutMs),
        requestTimeoutMs: offOrDuration(values, 'request-timeout', D.requestTimeoutMs),
        keepAliveTimeoutMs: offOrDuration(values, 'keep-alive-timeout', D.keepAliveTimeoutMs),
        responseTimeoutMs: offOrDuration(values, 'response-timeout', D.responseTimeoutMs),
        writeTimeoutMs: offOrDuration(values, 'write-timeout', D.writeTimeoutMs),
        lingerTimeoutMs: offOrDuration(values, 'linger-timeout', D.lingerTimeoutMs),
        stageSampleEvery: parseIntegerFlag('stage-sample', stringFlag(values, 'stage-sample'), D.stageSampleEvery, 1, 65_535),
        maxPipelineDepth: parseIntegerFlag('max-pipeline', stringFlag(values, 'max-pipeline'), D.maxPipelineDepth, 1, 1024),
        limits: {
          maxHeadBytes: parseIntegerFlag('max-head-bytes', stringFlag(values, 'max-head-bytes'), DEFAULT_LIMITS.maxHeadBytes, 64, 1 << 24),
          maxHeaders: parseIntegerFlag('max-headers', stringFlag(values, 'max-headers'), DEFAULT_LIMITS.maxHeaders, 1, 100_000),
          maxTargetBytes: parseIntegerFlag('max-target-bytes', stringFlag(values, 'max-target-bytes'), DEFAULT_LIMITS.maxTargetBytes, 1, 1 << 24),
          maxBodyBytes: parseIntegerFlag('max-body-bytes', stringFlag(values, 'max-body-bytes'), DEFAULT_LIMITS.maxBodyBytes, 0, 1 << 30),
        },
      },
    });
    const { server } = running;
    const address = server.address as { host: string; port: number };
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    const backlog = server.backlog;
    const cap = backlog.somaxconn === null ? 'somaxconn unknown' : `somaxconn ${backlog.somaxconn}`;
    const paced = server.options.acceptRate === null ? '' : ` accept-rate=${server.options.acceptRate}/s`;
    const banner = `${LISTENING_PREFIX}${host}:${address.port} pid=${process.pid} backlog=${backlog.effective} (asked ${backlog.requested}, ${cap}) model=${running.model.name}${paced}`;
    // In a cluster the primary speaks for everyone: one listening line, not N.
    if (!isClusterWorker()) process.stdout.write(`${banner}\n`);
    else announceListening({ host: address.host, port: address.port });
    const monitor = booleanFlag(values, 'monitor') ? startMonitorPanel({ pids: [process.pid], ports: [address.port] }) : null;
    const signal = await stopSignal;
    log(`${signal}: shutting down: taking what is already queued, then finishing ${server.openConnections}+ open connection(s)`);
    try {
      const series = await monitor?.stop();
      const jsonPath = stringFlag(values, 'json');
      if (jsonPath !== undefined) {
        await writeFile(jsonPath, `${JSON.stringify({ schema: 'socketlab.serve-result/1', stats: running.stats(), monitor: series ?? null }, null, 2)}\n`);
      }
      await running.close();
      // A cluster worker's IPC channel to its primary would keep this process alive.
      if (isClusterWorker()) process.disconnect?.();
      return EXIT.OK;
    } catch (error) {
      log(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      return EXIT.FAILURE;
    }
  },
};
