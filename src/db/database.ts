/**
 * What `socketlab serve --db ...` holds: a pool on a database, and the throwaway cluster under
 * it when socketlab started one. The only object serve needs for /uuid and /stats.
 */
import type { UuidStore } from '../app/handlers.js';
import { LAB_ERR, LabError, usageError } from '../errors.js';
import { startEmbeddedCluster, type EmbeddedCluster } from './cluster.js';
import type { DriverName, DriverPreference } from './driver.js';
import { createPool, POOL_DEFAULTS, type ConnectionPool, type PoolStats } from './pool.js';
import { ensureKv, firstLine, KV, redactUrl } from './seed.js';

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
  /** --pool-timeout ms; null (default) waits without bound, as the seed did. */
  poolTimeoutMs?: number | null;
  /** Rows in kv: seeded into an embedded cluster; for a URL, only if kv is missing or empty. Default 1000. */
  rows?: number;
  /** Embedded only: Postgres max_connections (default 300). */
  maxConnections?: number;
  /** Default 'auto' (pg-native, falling back to pg loudly). */
  driver?: DriverPreference;
  /** Open the whole pool before returning (default true), so the first requests do not pay for connects. */
  prewarm?: boolean;
  log?: (line: string) => void;
}

export interface DatabaseStats extends PoolStats {
  /** The URL with any password masked. */
  url: string;
  embedded: boolean;
  /** Rows in kv when the database was opened. */
  rows: number;
}

export interface Database extends UuidStore {
  /** The URL the pool connects to (an embedded cluster's, or the one given). */
  readonly url: string;
  readonly driver: DriverName;
  readonly pool: ConnectionPool;
  /** The cluster socketlab started and will stop on close(), or null for a URL. */
  readonly embedded: EmbeddedCluster | null;
  readonly rows: number;
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
  let url: string;
  let rowCount = rows;
  if (options.db === DB_TARGET.EMBEDDED) {
    embedded = await startEmbeddedCluster({
      rows,
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
    url = embedded.url;
  } else {
    url = options.db;
    rowCount = (await ensureKv(url, rows)).rows;
  }

  const pool = createPool({
    url,
    size: options.poolSize ?? POOL_DEFAULTS.SIZE,
    acquireTimeoutMs: options.poolTimeoutMs ?? null,
    ...(options.driver === undefined ? {} : { driver: options.driver }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  try {
    if (options.prewarm !== false) await pool.prewarm();
    else await pool.lookup(1);
  } catch (error) {
    await pool.close();
    await embedded?.stop();
    throw new LabError(LAB_ERR.DB_QUERY, `cannot use the database at ${redactUrl(url)}: ${firstLine(error)}`, { cause: error });
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    driver: pool.driver.name,
    pool,
    embedded,
    rows: rowCount,
    lookup: (id) => pool.lookup(id),
    stats: () => ({ url: redactUrl(url), embedded: embedded !== null, rows: rowCount, ...pool.stats() }),
    describe() {
      const where = embedded !== null ? `embedded PostgreSQL ${embedded.version} at ${url}` : redactUrl(url);
      const timeout = pool.acquireTimeoutMs === null ? 'unbounded wait' : `pool timeout ${pool.acquireTimeoutMs} ms`;
      const fallback = pool.driver.fallbackReason === null ? '' : ` (FALLBACK: ${pool.driver.fallbackReason})`;
      return `db: ${where}, ${pool.driver.name} pool of ${pool.size}${fallback}, ${timeout}, kv: ${rowCount} rows`;
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
