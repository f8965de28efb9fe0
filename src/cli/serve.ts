/**
 * `socketlab serve`: the hand-written HTTP/1.1 server on node:net.
 */
import { DEFAULT_LIMITS } from '../http/request-parser.js';
import { DEFAULT_SERVER_OPTIONS } from '../server/options.js';
import { startServe } from '../app/serve.js';
import { POOL_DEFAULTS, resolveDatabaseTarget } from '../db/index.js';
import { MODEL, type ModelName } from '../models/model.js';
import { POOL_MODEL_DEFAULTS } from '../models/pool.js';
import { THREAD_MODEL_DEFAULTS } from '../models/thread.js';
import { EXIT, usageError } from '../errors.js';
import { noPositionals, parseDurationFlag, parseFlags, parseIntegerFlag, parseRateFlag, stringFlag } from './args.js';
import type { Command } from './command.js';

const D = DEFAULT_SERVER_OPTIONS;

const USAGE = `Usage: socketlab serve [flags]

Serve /age, /uuid/:id, /work, /healthz and /stats with the hand-written HTTP/1.1 server.
Prints one line "listening on http://HOST:PORT pid=... backlog=..." when ready; SIGTERM or
SIGINT stops accepting, finishes in-flight requests and exits 0.

Socket:
  --host H                 address to listen on (default ${D.host})
  --port P                 port, 0 for any free one (default ${D.port})
  --backlog N              listen(2) backlog; the kernel caps it at net.core.somaxconn (default ${D.backlog})
  --accept-rate N/s        take at most N connections per second off the accept queue (default: unthrottled)
  --max-connections N      answer 503 and close beyond N open connections (default: no limit)
  --headers-timeout MS     a request head must arrive within this long, else 408 (default ${D.headersTimeoutMs})
  --keep-alive-timeout MS  close a connection idle this long (default ${D.keepAliveTimeoutMs})

Limits (a request over one gets the status shown):
  --max-head-bytes N       request line + headers (default ${DEFAULT_LIMITS.maxHeadBytes}; 431)
  --max-headers N          header count (default ${DEFAULT_LIMITS.maxHeaders}; 431)
  --max-target-bytes N     request target (default ${DEFAULT_LIMITS.maxTargetBytes}; 414)
  --max-body-bytes N       body (default ${DEFAULT_LIMITS.maxBodyBytes}; 413)

Concurrency (where handlers run; the main thread always owns sockets and parsing):
  --model loop|pool|thread loop: the one event loop (B); pool: a piscina pool of worker
                           threads (C); thread: a thread per connection that blocks (A)
                           (default loop)
  --workers N              pool: worker threads (default ${POOL_MODEL_DEFAULTS.workers}, one per core)
  --max-threads N          thread: most connection threads; beyond it a new connection
                           gets 503 and is closed (default ${THREAD_MODEL_DEFAULTS.maxThreads})

Database (for /uuid/:id; without one, /uuid answers 503):
  --db embedded|URL        embedded: start a throwaway PostgreSQL (stopped on exit);
                           a postgresql:// URL: use that server (default: $DATABASE_URL)
  --pool N                 connections in the pool (default 20); model pool: shared out
                           among the workers; model thread: unused, each thread has its own
  --pool-timeout MS        fail a request with 503 + Retry-After when no connection is free
                           within MS (default: wait without bound, as the seed did)

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
  'max-connections': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'max-head-bytes': { type: 'string' },
  'max-headers': { type: 'string' },
  'max-target-bytes': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  model: { type: 'string' },
  workers: { type: 'string' },
  'max-threads': { type: 'string' },
  db: { type: 'string' },
  pool: { type: 'string' },
  'pool-timeout': { type: 'string' },
} as const;

const MODELS: readonly ModelName[] = [MODEL.LOOP, MODEL.POOL, MODEL.THREAD];

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
    const dbTarget = resolveDatabaseTarget(stringFlag(values, 'db'));
    const poolTimeoutText = stringFlag(values, 'pool-timeout');
    if (dbTarget === null && (stringFlag(values, 'pool') !== undefined || poolTimeoutText !== undefined)) {
      throw usageError('--pool and --pool-timeout need a database: add --db embedded or --db postgresql://...');
    }
    const db =
      dbTarget === null
        ? null
        : {
            target: dbTarget,
            poolSize: parseIntegerFlag('pool', stringFlag(values, 'pool'), POOL_DEFAULTS.SIZE, 1, 10_000),
            poolTimeoutMs: poolTimeoutText === undefined ? null : parseDurationFlag('pool-timeout', poolTimeoutText, 0, 'ms'),
          };
    const workersText = stringFlag(values, 'workers');
    const maxThreadsText = stringFlag(values, 'max-threads');
    if (workersText !== undefined && model !== MODEL.POOL) throw usageError('--workers applies to --model pool');
    if (maxThreadsText !== undefined && model !== MODEL.THREAD) throw usageError('--max-threads applies to --model thread');
    const running = await startServe({
      model,
      workers: parseIntegerFlag('workers', workersText, POOL_MODEL_DEFAULTS.workers, 1, 1024),
      maxThreads: parseIntegerFlag('max-threads', maxThreadsText, THREAD_MODEL_DEFAULTS.maxThreads, 1, 100_000),
      db,
      log,
      server: {
        host: stringFlag(values, 'host') ?? D.host,
        port: parseIntegerFlag('port', stringFlag(values, 'port'), D.port, 0, 65_535),
        backlog: parseIntegerFlag('backlog', stringFlag(values, 'backlog'), D.backlog, 1, 1 << 20),
        acceptRate: acceptRateText === undefined ? null : parseRateFlag('accept-rate', acceptRateText),
        maxConnections: parseIntegerFlag('max-connections', stringFlag(values, 'max-connections'), 0, 0, 10_000_000),
        headersTimeoutMs: parseDurationFlag('headers-timeout', stringFlag(values, 'headers-timeout'), D.headersTimeoutMs, 'ms'),
        keepAliveTimeoutMs: parseDurationFlag('keep-alive-timeout', stringFlag(values, 'keep-alive-timeout'), D.keepAliveTimeoutMs, 'ms'),
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
    process.stdout.write(
      `listening on http://${host}:${address.port} pid=${process.pid} backlog=${backlog.effective} (asked ${backlog.requested}, ${cap}) model=${running.model.name}${paced}\n`,
    );
    const signal = await stopSignal;
    log(`${signal}: shutting down: taking what is already queued, then finishing ${server.openConnections}+ open connection(s)`);
    try {
      await running.close();
      return EXIT.OK;
    } catch (error) {
      log(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      return EXIT.FAILURE;
    }
  },
};
