/**
 * The one table the labs query: `kv(id int primary key, val uuid)`, ids 1..rows, random UUIDs.
 *
 * Control work (readiness, seeding, status) goes through the pure-JS `pg` client on purpose:
 * it must work even when pg-native cannot load, and it never competes with the measured pool.
 */
import pg from 'pg';
import { LAB_ERR, LabError } from '../errors.js';
import { pgClientConfig, redactUrl } from './credentials.js';

export const KV = {
  TABLE: 'kv',
  DEFAULT_ROWS: 1000,
  /** The lookup every /uuid request runs, prepared once per pooled connection. */
  LOOKUP_SQL: 'SELECT val FROM kv WHERE id = $1',
  /** The prepared statement's name; one per connection, so a fixed name is safe. */
  LOOKUP_STATEMENT: 'socketlab_uuid',
  /**
   * The pool's batch mode (pool.ts): many lookups in one statement, each row naming its id.
   * `= ANY($1)` with an int[] parameter is one prepared statement for any number of ids (an
   * IN list would need one per length); Postgres runs it as an index scan per id.
   */
  BATCH_SQL: 'SELECT id, val FROM kv WHERE id = ANY($1::int[])',
  BATCH_STATEMENT: 'socketlab_uuid_batch',
} as const;

/** The first line of an error's message: enough for a 503 reason or a log line. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.trim() || 'unknown error';
}

/** Run `fn` with a short-lived control connection, always closed afterwards. */
export async function withControlClient<T>(url: string, fn: (client: pg.Client) => Promise<T>, connectTimeoutMs = 5000): Promise<T> {
  // pgClientConfig reads the password a `passfile=` parameter points at (pg itself ignores it).
  const client = new pg.Client({ ...pgClientConfig(url), connectionTimeoutMillis: connectTimeoutMs, application_name: 'socketlab-control' });
  // An idle control client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * (Re)create kv with `rows` fresh random UUIDs. gen_random_uuid() is built in from
 * PostgreSQL 13; older servers get an md5-shaped UUID, random all the same.
 */
export async function createKv(client: pg.Client, rows: number): Promise<void> {
  await client.query('DROP TABLE IF EXISTS kv');
  await client.query('CREATE TABLE kv (id int PRIMARY KEY, val uuid NOT NULL)');
  await fillKv(client, rows);
  // Fresh statistics so the planner picks the primary key at once, not after autovacuum.
  await client.query('ANALYZE kv');
}

async function fillKv(client: pg.Client, rows: number): Promise<void> {
  const version = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v ?? '0');
  const uuid = version >= 130000 ? 'gen_random_uuid()' : 'md5(random()::text || clock_timestamp()::text || g)::uuid';
  await client.query(`INSERT INTO kv SELECT g, ${uuid} FROM generate_series(1, $1::int) AS g`, [rows]);
}

export interface KvState {
  /** Rows in kv after the call. */
  rows: number;
  /** Whether this call created or filled the table. */
  seeded: boolean;
}

/**
 * For a server socketlab does not own (--db URL, DATABASE_URL): create and fill kv only when
 * it is missing or empty, never replace someone's data, never change server settings.
 */
export async function ensureKv(url: string, rows: number): Promise<KvState> {
  try {
    return await withControlClient(url, async (client) => {
      const exists = (await client.query<{ t: string | null }>("SELECT to_regclass('public.kv')::text AS t")).rows[0]?.t;
      if (exists === null || exists === undefined) {
        await createKv(client, rows);
        return { rows, seeded: true };
      }
      const count = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM kv')).rows[0]?.n ?? 0);
      if (count > 0) return { rows: count, seeded: false };
      await fillKv(client, rows);
      return { rows, seeded: true };
    });
  } catch (error) {
    throw new LabError(LAB_ERR.DB_QUERY, `cannot prepare table kv at ${redactUrl(url)}: ${firstLine(error)}: check --db / DATABASE_URL`, { cause: error });
  }
}
