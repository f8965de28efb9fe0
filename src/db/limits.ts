/**
 * The three bounds on how long and how many requests may wait on the database, with the
 * defaults a production server ships. Each can be turned off (null, `off` on the command
 * line) for a lab that shows what the unbounded version does; nothing is unbounded unless
 * asked for.
 */
import { getUrlParam, setUrlParams } from './credentials.js';

export const DB_LIMITS = {
  /**
   * How long an acquire may wait for a pooled connection. Npgsql's `Timeout` connection
   * parameter, "the time to wait (in seconds) while trying to establish a connection", which
   * includes waiting for a free pooled one, defaults to 15
   * (https://www.npgsql.org/doc/connection-string-parameters.html). The post's server ran on
   * Npgsql: its 15.7 s maximum latency is most likely that wait expiring.
   */
  ACQUIRE_TIMEOUT_MS: 15_000,
  /**
   * Acquirers allowed to queue per pool; the next one gets 503 + Retry-After at once.
   * Envoy's circuit breaker for an upstream cluster defaults `max_pending_requests` to 1024
   * (envoy.config.cluster.v3.CircuitBreakers.Thresholds). Measured on the 2-core machine in
   * docs/database.md a pool of 20 serves ~21k lookups/s, so a full queue drains in ~50 ms:
   * the bound never trips under load the pool can carry, and caps memory and latency when
   * arrivals outrun it for good.
   */
  MAX_WAITING: 1024,
  /**
   * Postgres cancels a statement running longer than this (statement_timeout on every pooled
   * session). Npgsql's `Command Timeout` defaults to 30 s (same page). The lookup takes well
   * under a millisecond; a statement that runs 30 s is stuck behind a lock or a sick server,
   * and holding a pooled connection for it longer only starves every request queued behind.
   */
  STATEMENT_TIMEOUT_MS: 30_000,
} as const;

/** What `--pool-timeout`, `--pool-queue` and `--statement-timeout` take to turn a bound off. */
export const DB_LIMIT_OFF = 'off';

/** The bounds in force; null means unbounded (asked for explicitly). */
export interface DbLimits {
  acquireTimeoutMs: number | null;
  maxWaiting: number | null;
  statementTimeoutMs: number | null;
}

/** Fill what the caller left undefined with the production defaults; null (off) is kept. */
export function resolveDbLimits(given: Partial<DbLimits> = {}): DbLimits {
  return {
    acquireTimeoutMs: given.acquireTimeoutMs === undefined ? DB_LIMITS.ACQUIRE_TIMEOUT_MS : given.acquireTimeoutMs,
    maxWaiting: given.maxWaiting === undefined ? DB_LIMITS.MAX_WAITING : given.maxWaiting,
    statementTimeoutMs: given.statementTimeoutMs === undefined ? DB_LIMITS.STATEMENT_TIMEOUT_MS : given.statementTimeoutMs,
  };
}

/** `-c statement_timeout=N`, `-cstatement_timeout=N` or `--statement_timeout=N` (also with a dash) inside libpq's `options`. */
const STATEMENT_TIMEOUT_OPTION = /(?:^|\s)(?:-c\s*|--)statement[_-]timeout=(\S+)/;

/** Postgres's time units for a setting whose bare unit is milliseconds. */
const TIME_UNITS_MS: Record<string, number> = { '': 1, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** The statement_timeout text a URL's `options` holds, or undefined when it sets none. */
function statementTimeoutSetting(url: string): string | undefined {
  const options = getUrlParam(url, 'options');
  return options === null ? undefined : STATEMENT_TIMEOUT_OPTION.exec(options)?.[1];
}

/**
 * The statement_timeout a URL sets through libpq's `options` parameter (ms; 0 is off, so
 * null), or undefined when it sets none or one this cannot read (Postgres still applies it).
 * Both drivers send `options` in the startup packet, so the setting holds from the first
 * statement of every session, with no extra round trip.
 */
export function statementTimeoutInUrl(url: string): number | null | undefined {
  const match = /^(\d+)\s*(ms|s|min|h|d)?$/.exec(statementTimeoutSetting(url) ?? '');
  if (match === null) return undefined;
  const ms = Number(match[1]) * (TIME_UNITS_MS[match[2] ?? ''] ?? 1);
  return ms === 0 ? null : ms;
}

/**
 * The URL with statement_timeout set in its `options` (null: 0, Postgres's "no limit"),
 * replacing one already there and keeping every other option.
 */
export function withStatementTimeout(url: string, ms: number | null): string {
  const setting = `-c statement_timeout=${ms ?? 0}`;
  const options = getUrlParam(url, 'options');
  let next: string;
  if (options === null || options.trim() === '') next = setting;
  else if (STATEMENT_TIMEOUT_OPTION.test(options)) next = options.replace(STATEMENT_TIMEOUT_OPTION, (match) => match.replace(/\S.*$/, setting));
  else next = `${options} ${setting}`;
  return setUrlParams(url, { options: next });
}

/**
 * A session URL: the statement_timeout the URL already names wins (a URL handed to a worker
 * thread already carries it), else `fallback` (the production default when undefined).
 */
export function withDefaultStatementTimeout(url: string, fallback?: number | null): string {
  if (statementTimeoutSetting(url) !== undefined) return url;
  return withStatementTimeout(url, fallback === undefined ? DB_LIMITS.STATEMENT_TIMEOUT_MS : fallback);
}

/** Whether a driver error is Postgres cancelling a statement at statement_timeout (SQLSTATE 57014). */
export function isStatementTimeout(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  // pg gives the SQLSTATE; pg-native only the message (our clusters run with LC_ALL=C).
  if ((error as { code?: unknown }).code === '57014') return /statement timeout/i.test(String((error as Error).message));
  return /canceling statement due to statement timeout/i.test(String((error as Error).message));
}
