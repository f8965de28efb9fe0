/**
 * openDatabase, the object serve holds: embedded (starts and stops its own cluster) or a URL
 * (seeds kv only when missing or empty, never replaces data), and resolving --db.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { openDatabase, resolveDatabaseTarget, startEmbeddedCluster, type Database, type DatabaseOptions, type EmbeddedCluster } from '../../src/db/index.js';
import { isPidAlive } from '../../src/db/processes.js';
import { POOL_DEFAULTS } from '../../src/db/pool.js';
import { assertNoPostgresLeft, countBackends, readKv, runSql } from './support.js';

describe('resolveDatabaseTarget', () => {
  const cases: { flag: string | undefined; env: Record<string, string>; expected: string | null | 'usage' }[] = [
    { flag: 'embedded', env: {}, expected: 'embedded' },
    { flag: 'postgresql://u@h:5432/db', env: {}, expected: 'postgresql://u@h:5432/db' },
    { flag: 'postgres://u:secret@h/db', env: {}, expected: 'postgres://u:secret@h/db' },
    { flag: undefined, env: { DATABASE_URL: 'postgresql://h/db' }, expected: 'postgresql://h/db' },
    { flag: 'embedded', env: { DATABASE_URL: 'postgresql://h/db' }, expected: 'embedded' },
    { flag: undefined, env: {}, expected: null },
    { flag: undefined, env: { DATABASE_URL: '' }, expected: null },
    { flag: 'mysql://h/db', env: {}, expected: 'usage' },
    { flag: 'localhost:5432', env: {}, expected: 'usage' },
    { flag: undefined, env: { DATABASE_URL: 'nonsense' }, expected: 'usage' },
  ];
  for (const { flag, env, expected } of cases) {
    test(`--db ${flag ?? '(none)'} with DATABASE_URL=${env.DATABASE_URL ?? '(unset)'} → ${expected}`, () => {
      if (expected === 'usage') {
        assert.throws(
          () => resolveDatabaseTarget(flag, env),
          (error: unknown) => error instanceof LabError && error.code === LAB_ERR.USAGE,
        );
      } else {
        assert.equal(resolveDatabaseTarget(flag, env), expected);
      }
    });
  }

  test('a bad URL is reported without its password', () => {
    assert.throws(
      () => resolveDatabaseTarget('mysql://u:hunter2@h/db'),
      (error: unknown) => error instanceof Error && !error.message.includes('hunter2'),
    );
  });
});

describe('openDatabase', () => {
  const pids: number[] = [];
  const clusters: EmbeddedCluster[] = [];
  const databases: Database[] = [];
  /** openDatabase, closed by the after hook whatever a test did (close() is idempotent). */
  const open = async (options: DatabaseOptions): Promise<Database> => {
    const db = await openDatabase(options);
    databases.push(db);
    return db;
  };

  after(async () => {
    await Promise.all(databases.map((db) => db.close()));
    await Promise.all(clusters.map((c) => c.stop()));
    await assertNoPostgresLeft(pids);
  });

  test('embedded: starts a cluster, pool prewarmed, /stats fields, close() stops the cluster', async () => {
    const db = await open({ db: 'embedded', poolSize: 3, poolTimeoutMs: 250, rows: 200, log: () => {} });
    const cluster = db.embedded as EmbeddedCluster;
    assert.ok(cluster !== null);
    pids.push(cluster.postmasterPid);
    const truth = await readKv(db.url, [1, 200]);
    assert.equal(await db.lookup(200), truth.get(200));
    assert.equal(await db.lookup(201), null);

    const stats = db.stats();
    assert.equal(stats.driver, 'pg-native');
    assert.equal(stats.driverFallback, null);
    assert.equal(stats.size, 3);
    assert.equal(stats.open, 3, 'prewarmed');
    assert.equal(stats.idle, 3);
    assert.equal(stats.busy, 0);
    assert.equal(stats.waiting, 0);
    assert.equal(stats.acquireTimeoutMs, 250);
    assert.equal(stats.maxWaiting, 1024, 'the production default queue bound');
    assert.equal(stats.statementTimeoutMs, 30_000, 'the production default statement_timeout');
    assert.equal(stats.embedded, true);
    assert.equal(stats.rows, 200);
    assert.equal(stats.waitMs.count, 2, 'only the two lookups waited: opening the pool is not a wait');
    for (const key of ['waitMs', 'queryMs'] as const) assert.deepEqual(Object.keys(stats[key]), ['count', 'minMs', 'avgMs', 'p50Ms', 'p90Ms', 'p95Ms', 'p99Ms', 'maxMs']);
    assert.doesNotThrow(() => JSON.stringify(stats));
    assert.match(
      db.describe(),
      /^db: embedded PostgreSQL \d+\.\d+ \(postmaster pid \d+\) at postgresql:\/\/.*, pg-native pool of 3, pool timeout 250 ms, queue 1024, statement timeout 30000 ms, kv: 200 rows$/,
    );

    const postmaster = cluster.postmasterPid;
    await db.close();
    assert.ok(!isPidAlive(postmaster), 'close() stopped the postmaster');
    assert.ok(!cluster.running());
    await db.close(); // idempotent
    await assert.rejects(db.lookup(1), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY);
  });

  test('a URL: kv created when missing, left alone when present', async () => {
    const cluster = await startEmbeddedCluster({ rows: 10, log: () => {} });
    clusters.push(cluster);
    pids.push(cluster.postmasterPid);
    await control(cluster.url, 'DROP TABLE kv');

    const first = await open({ db: cluster.url, poolSize: 2, rows: 50 });
    assert.equal(first.embedded, null);
    assert.equal(first.rows, 50, 'created and seeded');
    const kept = await readKv(cluster.url, [1, 50]);
    assert.equal(await first.lookup(50), kept.get(50));
    await first.close();
    assert.ok(cluster.running(), 'closing a URL database leaves the server running');

    const second = await open({ db: cluster.url, poolSize: 2, rows: 5 });
    assert.equal(second.rows, 50, 'existing rows are kept, not replaced');
    assert.deepEqual(await readKv(cluster.url, [1, 50]), kept);
    assert.equal(second.stats().embedded, false);
    await second.close();
  });

  test('a pool larger than one batch opens in full, a few connects at a time, and records no wait for it', async () => {
    const cluster = await startEmbeddedCluster({ rows: 10, log: () => {} });
    clusters.push(cluster);
    pids.push(cluster.postmasterPid);
    const size = 3 * POOL_DEFAULTS.PREWARM_AT_ONCE + 1;
    const db = await openDatabase({ db: cluster.url, poolSize: size, rows: 10 });
    try {
      const stats = db.stats();
      assert.equal(stats.open, size, 'every connection of the pool is open');
      assert.equal(stats.connects, size);
      assert.equal(stats.waitMs.count, 0, 'opening the pool is not a request waiting');
      assert.equal(await countBackends(cluster.url, 'socketlab'), size);
    } finally {
      await db.close();
    }
  });

  test('an unreachable URL fails at once with a message that says where and why', async () => {
    const cluster = await startEmbeddedCluster({ rows: 1, log: () => {} });
    clusters.push(cluster);
    pids.push(cluster.postmasterPid);
    const url = cluster.url.replace('postgres@', 'postgres:hunter2@');
    await cluster.halt();
    // At once: the error is the kernel's refusal, not a connect timeout.
    await assert.rejects(open({ db: url }), (error: unknown) => {
      assert.ok(error instanceof LabError);
      assert.equal(error.code, LAB_ERR.DB_QUERY);
      assert.match(error.message, /127\.0\.0\.1.*(refused|ECONNREFUSED).*DATABASE_URL/);
      assert.ok(!error.message.includes('hunter2'), 'no password in messages');
      assert.doesNotMatch(error.message, /timeout/i);
      return true;
    });
  });
});

async function control(url: string, sql: string): Promise<void> {
  await runSql(url, sql);
}
