/**
 * What `socketlab serve --db ...` holds: a pool on a database, and the throwaway cluster under
 * it when socketlab started one. The only object serve needs for /uuid and /stats.
 */
import { LAB_ERR, LabError, usageError } from '../errors.js';
import { startEmbeddedCluster, type EmbeddedCluster } from './cluster.js';
import { redactUrl } from './credentials.js';
import type { DriverName, DriverPreference } from './driver.js';
import { resolveDbLimits, statementTimeoutInUrl, withStatementTimeout, type DbLimits } from './limits.js';
import { createPool, POOL_DEFAULTS, type ConnectionPool, type PoolStats } from './pool.js';
import { ensureKv, firstLine, KV } from './seed.js';

export const DB_TARGET = {
  /** Start (and own) a throwaway cluster. */
  EMBEDDED: 'embedded',
} as const;

export type DatabaseTarget = typeof DB_TARGET.EMBEDDED | string;

const URL_SCHEMES = ['postgres:', 'postgresql:'];

/**
 * The database a command should use: `--db embedded`, `--db postgresql://...`, or when the
 * flag is absent DATABASE_URL, or null (no database: /uuid answers 503). Throws a usage error
 * for anything else, naming where the bad value came from.
 */
export function resolveDatabaseTarget(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): DatabaseTarget | null {
  if (flag === DB_TARGET.EMBEDDED) return DB_TARGET.EMBEDDED;
  const [value, source] = flag !== undefined ? [flag, '--db'] : [env.DATABASE_URL, 'DATABASE_URL'];
  if (value === undefined || value === '') return null;
  let scheme: string;
  try {
    scheme = new URL(value).protocol;
  } catch {
    scheme = '';
  }
  if (!URL_SCHEMES.includes(scheme)) {
    throw usageError(`${source} must be "embedded" or a postgresql:// URL (postgresql://user@host:port/db), got "${redactUrl(value)}"`);
  }
  return value;
}

export interface DatabaseOptions {
  /** 'embedded' or a postgres URL (see resolveDatabaseTarget). */
  db: DatabaseTarget;
  /** --pool N. Default 20. */
  poolSize?: number;
  /** --pool-timeout ms. Default 15 s (limits.ts); null waits without bound (a lab asks for it). */
  poolTimeoutMs?: number | null;
  /** --pool-queue: most requests waiting for a connection. Default 1024; null: no bound. */
  poolQueue?: number | null;
  /**
   * --statement-timeout ms on every session. Default: the one a URL's `options` already
   * names (a cluster worker gets its primary's URL), else 30 s; null: none.
   */
  statementTimeoutMs?: number | null;
  /** Rows in kv: seeded into an embedded cluster; for a URL, only if kv is missing or empty. Default 1000. */
  rows?: number;
  /** Embedded only: Postgres max_connections (default 300). */
  maxConnections?: number;
  /** Default 'auto' (pg-native, falling back to pg loudly). */
  driver?: DriverPreference;
  /** Open the whole pool before returning (default true), so the first requests do not pay for connects. */
  prewarm?: boolean;
  /** --pool-batch: lookups share statements of up to this many ids (pool.ts, batch mode); null or absent: off. */
  poolBatch?: number | null;
  log?: (line: string) => void;
}

export interface DatabaseStats extends PoolStats {
  /** The URL with every credential masked (an embedded cluster's names only its password file). */
  url: string;
  embedded: boolean;
  /** Rows in kv when the database was opened. */
  rows: number;
}

/**
 * An open database. Its lookup() is the UuidStore /uuid asks (app/handlers.ts) by shape, not
 * by import: the database layer knows nothing of the routes that use it.
 */
export interface Database {
  /**
   * The URL the pool connects to (an embedded cluster's, or the one given), with the
   * session's statement_timeout in its `options`: hand this one to worker threads and their
   * sessions get the same bound. It may hold a password someone gave: show redactUrl(url).
   */
  readonly url: string;
  readonly driver: DriverName;
  readonly pool: ConnectionPool;
  /** The cluster socketlab started and will stop on close(), or null for a URL. */
  readonly embedded: EmbeddedCluster | null;
  readonly rows: number;
  /** The bounds in force (for /stats of models whose pools live in worker threads). */
  readonly limits: DbLimits;
  /** The uuid for `id`, or null. Throws LabError POOL_TIMEOUT or DB_QUERY (respondUuid maps both to 503). */
  lookup(id: number): Promise<string | null>;
  stats(): DatabaseStats;
  /** One line for serve's start-up output. */
  describe(): string;
  /** Close the pool, then stop the embedded cluster if this Database owns one. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start or connect, seed kv if needed, open the pool. Throws LabError PG_MISSING / PG_CLUSTER
 * (embedded cluster), DB_QUERY (URL unreachable or kv unusable), with nothing left running.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const rows = options.rows ?? KV.DEFAULT_ROWS;
  let embedded: EmbeddedCluster | null = null;
  let baseUrl: string;
  let rowCount = rows;
  if (options.db === DB_TARGET.EMBEDDED) {
    embedded = await startEmbeddedCluster({
      rows,
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
    baseUrl = embedded.url;
  } else {
    baseUrl = options.db;
    // Seeding may take long on a big kv: it runs before, and without, the sessions' statement_timeout.
    rowCount = (await ensureKv(baseUrl, rows)).rows;
  }

  const statementTimeoutMs = options.statementTimeoutMs !== undefined ? options.statementTimeoutMs : statementTimeoutInUrl(baseUrl);
  const limits = resolveDbLimits({
    ...(options.poolTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.poolTimeoutMs }),
    ...(options.poolQueue === undefined ? {} : { maxWaiting: options.poolQueue }),
    ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }),
  });
  // Always written out (0 when off), so a thread or process given this URL applies exactly this.
  const url = withStatementTimeout(baseUrl, limits.statementTimeoutMs);
  const pool = createPool({
    url,
    size: options.poolSize ?? POOL_DEFAULTS.SIZE,
    acquireTimeoutMs: limits.acquireTimeoutMs,
    maxWaiting: limits.maxWaiting,
    statementTimeoutMs: limits.statementTimeoutMs,
    batch: options.poolBatch ?? null,
    ...(options.driver === undefined ? {} : { driver: options.driver }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  try {
    if (options.prewarm !== false) await pool.prewarm();
    else await pool.lookup(1);
  } catch (error) {
    await pool.close();
    await embedded?.stop();
    throw new LabError(LAB_ERR.DB_QUERY, `cannot use the database at ${redactUrl(baseUrl)}: ${firstLine(error)}`, { cause: error });
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    driver: pool.driver.name,
    pool,
    embedded,
    rows: rowCount,
    limits,
    lookup: (id) => pool.lookup(id),
    stats: () => ({ url: redactUrl(baseUrl), embedded: embedded !== null, rows: rowCount, ...pool.stats() }),
    describe() {
      const where = embedded !== null ? `embedded PostgreSQL ${embedded.version} (postmaster pid ${embedded.postmasterPid}) at ${redactUrl(baseUrl)}` : redactUrl(baseUrl);
      const fallback = pool.driver.fallbackReason === null ? '' : ` (FALLBACK: ${pool.driver.fallbackReason})`;
      const batch = pool.batch === null ? '' : ` (batches of up to ${pool.batch} lookups)`;
      return `db: ${where}, ${pool.driver.name} pool of ${pool.size}${batch}${fallback}, ${describeLimits(limits)}, kv: ${rowCount} rows`;
    },
    close() {
      closing ??= (async () => {
        try {
          await pool.close();
        } finally {
          await embedded?.stop();
        }
      })();
      return closing;
    },
  };
}

/** "pool timeout 15000 ms, queue 1024, statement timeout 30000 ms", each "off" when unbounded. */
export function describeLimits(limits: DbLimits): string {
  const ms = (value: number | null): string => (value === null ? 'off' : `${value} ms`);
  return `pool timeout ${ms(limits.acquireTimeoutMs)}, queue ${limits.maxWaiting ?? 'off'}, statement timeout ${ms(limits.statementTimeoutMs)}`;
}
