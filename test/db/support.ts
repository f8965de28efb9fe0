/**
 * Helpers shared by the database tests: read kv straight from Postgres (to check what the
 * pool returns against the truth), prove a postmaster is gone, drive a bounded load.
 */
import assert from 'node:assert/strict';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import pg from 'pg';
import { liveClusters, pgClientConfig } from '../../src/db/index.js';
import { isPidAlive } from '../../src/db/processes.js';
import { waitFor } from '../support/wait.js';

/** A pure-JS client for `url` (an embedded cluster's URL names its password file: pgClientConfig reads it). */
export function controlClient(url: string): pg.Client {
  const client = new pg.Client(pgClientConfig(url));
  client.on('error', () => {});
  return client;
}

/** Run one statement over a fresh connection. */
export async function runSql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = controlClient(url);
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** kv as Postgres has it, read over a fresh connection that is not part of any pool. */
export async function readKv(url: string, ids: number[]): Promise<Map<number, string>> {
  const client = new pg.Client(pgClientConfig(url));
  client.on('error', () => {});
  await client.connect();
  try {
    const result = await client.query<{ id: number; val: string }>('SELECT id, val::text AS val FROM kv WHERE id = ANY($1::int[])', [ids]);
    return new Map(result.rows.map((row) => [row.id, row.val]));
  } finally {
    await client.end();
  }
}

/** Backends connected with a given application_name (pool connections say 'socketlab'). */
export async function countBackends(url: string, applicationName: string): Promise<number> {
  const client = new pg.Client(pgClientConfig(url));
  client.on('error', () => {});
  await client.connect();
  try {
    const result = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return Number(result.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** The postmaster this test started has exited, and this process tracks no live cluster. */
export async function assertNoPostgresLeft(pids: number[]): Promise<void> {
  for (const pid of pids) {
    if (pid === 0) continue;
    await waitFor(`postmaster ${pid} to exit`, () => !isPidAlive(pid), { timeoutMs: 15_000 });
  }
  assert.equal(liveClusters().length, 0, 'a cluster started by this test file is still tracked as running');
}

export interface LoadResult {
  ok: number;
  failed: number;
  wrong: number;
  errors: Map<string, number>;
}

/**
 * `concurrency` loops of lookups until stop() (or the deadline): counts successes, failures by
 * code, and wrong answers. Each iteration yields to the event loop so that failures that
 * come back at once cannot starve timers and I/O.
 */
export function runLookupLoad(
  lookup: (id: number) => Promise<string | null>,
  truth: Map<number, string>,
  options: { concurrency: number; deadlineMs: number },
): { result: LoadResult; stop: () => Promise<LoadResult> } {
  const result: LoadResult = { ok: 0, failed: 0, wrong: 0, errors: new Map() };
  const ids = [...truth.keys()];
  const until = Date.now() + options.deadlineMs;
  let stopped = false;
  const loops = Array.from({ length: options.concurrency }, async (_, loop) => {
    for (let i = 0; !stopped && Date.now() < until; i++) {
      const id = ids[(loop * 7 + i) % ids.length] as number;
      try {
        const value = await lookup(id);
        if (value === truth.get(id)) result.ok += 1;
        else result.wrong += 1;
      } catch (error) {
        result.failed += 1;
        const code = (error as { code?: string }).code ?? 'unknown';
        result.errors.set(code, (result.errors.get(code) ?? 0) + 1);
      }
      await yieldToLoop();
    }
  });
  return {
    result,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return result;
    },
  };
}
