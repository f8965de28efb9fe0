/**
 * The pool's batch mode against a real cluster: lookups that queue together share one
 * `WHERE id = ANY($1)` statement, and each still gets its own row (or none), its own wait and
 * query sample, and, when the statement fails, its own single failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { respondUuid } from '../../src/app/handlers.js';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { createPool, mergePoolSnapshots, pgClientConfig, startEmbeddedCluster, type ConnectionPool, type EmbeddedCluster } from '../../src/db/index.js';
import { waitFor, within } from '../support/wait.js';
import { assertNoPostgresLeft, readKv } from './support.js';

/** Settle every promise; each one settles once by nature, so count what each gave. */
async function settleAll<T>(promises: Promise<T>[]): Promise<{ values: (T | undefined)[]; errors: (unknown | undefined)[] }> {
  const results = await Promise.allSettled(promises);
  return {
    values: results.map((r) => (r.status === 'fulfilled' ? r.value : undefined)),
    errors: results.map((r) => (r.status === 'rejected' ? r.reason : undefined)),
  };
}

describe('connection pool, batch mode, on a real cluster', () => {
  let cluster: EmbeddedCluster;
  let truth: Map<number, string>;
  const pools: ConnectionPool[] = [];
  const pool = (options: Parameters<typeof createPool>[0]): ConnectionPool => {
    const created = createPool(options);
    pools.push(created);
    return created;
  };
  /** A session that holds an exclusive lock on kv until released: every lookup blocks behind it. */
  const lockKv = async (): Promise<() => Promise<void>> => {
    const client = new pg.Client(pgClientConfig(cluster.url));
    client.on('error', () => {});
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE kv IN ACCESS EXCLUSIVE MODE');
    return async () => {
      await client.query('COMMIT');
      await client.end();
    };
  };

  before(async () => {
    cluster = await startEmbeddedCluster({ log: () => {} });
    truth = await readKv(
      cluster.url,
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.equal(truth.size, 1000);
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    const pid = cluster.postmasterPid;
    await cluster.stop();
    await assertNoPostgresLeft([pid]);
  });

  test('queued lookups share statements; every id gets its own row, missing ids none', async () => {
    const p = pool({ url: cluster.url, size: 2, batch: 64 });
    await p.prewarm();
    // Known ids, duplicates, and ids with no row (0, past the last, negative, past int4).
    const ids = [...Array.from({ length: 280 }, (_, i) => ((i * 37) % 1000) + 1), 42, 42, 42, 0, 1001, 5000, -7, 2 ** 40];
    const values = await Promise.all(ids.map((id) => p.lookup(id)));
    values.forEach((value, i) => {
      assert.equal(value, truth.get(ids[i] as number) ?? null, `id ${ids[i]}`);
    });
    const stats = p.stats();
    const batch = stats.batch;
    assert.ok(batch !== null, 'batch figures in the stats');
    assert.equal(batch.maxSize, 64);
    // 2 ** 40 cannot be a Postgres int: answered null without a statement.
    assert.equal(batch.lookups, ids.length - 1);
    assert.ok(batch.statements < batch.lookups, `coalesced: ${batch.statements} statements for ${batch.lookups} lookups`);
    assert.ok(batch.size.max > 1 && batch.size.max <= 64, `ids per statement at most ${batch.size.max}`);
    assert.equal(batch.size.count, batch.statements);
    assert.equal(stats.waitMs.count, batch.lookups, 'one wait sample per lookup');
    assert.equal(stats.queryMs.count, batch.lookups, 'one query sample per lookup');
    assert.equal(stats.errors, 0);
    assert.equal(stats.waiting, 0);
    assert.ok(stats.peakWaiting > 2, `lookups queued: peak ${stats.peakWaiting}`);
  });

  test('/uuid through a batching pool: a row is 200, a missing id 404', async () => {
    const p = pool({ url: cluster.url, size: 1, batch: 16 });
    const [found, missing] = await Promise.all([respondUuid({ route: 'uuid', id: 7 }, p), respondUuid({ route: 'uuid', id: 1001 }, p)]);
    assert.equal(found.status, 200);
    assert.equal(found.body, `{"id":7,"uuid":"${truth.get(7)}"}`);
    assert.equal(missing.status, 404);
  });

  test('a statement that fails fails each of its lookups once; a cancelled one keeps its connection', async () => {
    const p = pool({ url: cluster.url, size: 1, batch: 64, statementTimeoutMs: 300, acquireTimeoutMs: null });
    await p.prewarm();
    const release = await lockKv();
    let settled: Awaited<ReturnType<typeof settleAll<string | null>>>;
    try {
      // Behind the lock, Postgres cancels the statement at statement_timeout.
      settled = await within('the statement timeout', settleAll(Array.from({ length: 20 }, (_, i) => p.lookup(i + 1))));
    } finally {
      await release();
    }
    assert.ok(
      settled.errors.every((error) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY && /statement_timeout/.test(error.message)),
      settled.errors.map(String).join('; '),
    );
    const stats = p.stats();
    const statements = stats.batch?.statements ?? 0;
    assert.ok(statements >= 1 && statements <= 20, `statements ${statements}`);
    assert.equal(stats.errors, statements, 'one error per failed statement');
    assert.equal(stats.statementTimeouts, statements);
    assert.equal(stats.discarded, 0, 'a cancelled statement leaves a healthy connection');
    assert.equal(await p.lookup(3), truth.get(3), 'the same connection answers again');
  });

  test("a broken connection fails its statement's lookups once each, and the pool opens another", async () => {
    const name = 'socketlab-batch-broken';
    const p = pool({ url: `${cluster.url}?application_name=${name}`, size: 1, batch: 64, acquireTimeoutMs: null });
    await p.prewarm();
    const release = await lockKv();
    const pending = settleAll(Array.from({ length: 10 }, (_, i) => p.lookup(i + 1)));
    try {
      await waitFor('the statement to be in flight', () => p.stats().busy === 1);
      const control = new pg.Client(pgClientConfig(cluster.url));
      await control.connect();
      try {
        await control.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
      } finally {
        await control.end();
      }
      const { errors } = await within('the terminated statement', pending);
      assert.ok(
        errors.every((error) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY),
        errors.map(String).join('; '),
      );
      assert.equal(errors.length, 10);
    } finally {
      await release();
    }
    assert.equal(p.stats().discarded, 1);
    assert.equal(await p.lookup(9), truth.get(9), 'a new connection answers');
  });

  test('the bounds hold per lookup: --pool-timeout expires the queued, --pool-queue refuses the extra', async () => {
    const p = pool({ url: cluster.url, size: 1, batch: 4, acquireTimeoutMs: 200, maxWaiting: 10, statementTimeoutMs: null });
    await p.prewarm();
    const unlock = await lockKv();
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await unlock();
    };
    try {
      // The first statement takes 4 ids and blocks behind the lock; 10 more wait; the next is refused.
      const inFlight = settleAll(Array.from({ length: 4 }, (_, i) => p.lookup(i + 1)));
      await waitFor('the first statement to be sent', () => p.stats().busy === 1);
      const queued = settleAll(Array.from({ length: 10 }, (_, i) => p.lookup(i + 100)));
      await assert.rejects(p.lookup(999), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.POOL_TIMEOUT && /queue is full/.test(error.message));
      const { errors } = await within('the 200 ms acquire timeout', queued);
      assert.ok(
        errors.every((error) => error instanceof LabError && error.code === LAB_ERR.POOL_TIMEOUT),
        errors.map(String).join('; '),
      );
      const stats = p.stats();
      assert.equal(stats.timeouts, 10);
      assert.equal(stats.queueFull, 1);
      assert.equal(stats.waiting, 0);
      await release();
      const { values } = await within('the blocked statement', inFlight);
      values.forEach((value, i) => {
        assert.equal(value, truth.get(i + 1));
      });
    } finally {
      await release();
    }
  });

  test('snapshots of batching pools merge their ids-per-statement histograms', async () => {
    const a = pool({ url: cluster.url, size: 1, batch: 8 });
    const b = pool({ url: cluster.url, size: 1, batch: 8 });
    await Promise.all([...[1, 2, 3].map((id) => a.lookup(id)), b.lookup(4)]);
    const merged = mergePoolSnapshots([a.snapshot(), b.snapshot()]);
    assert.equal(merged.batch?.lookups, 4);
    assert.equal(merged.batch?.size.count, (a.stats().batch?.statements ?? 0) + (b.stats().batch?.statements ?? 0));
  });
});
