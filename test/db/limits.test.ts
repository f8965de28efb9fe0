/**
 * The database bounds ship on: an acquire timeout (15 s, Npgsql's default), a bound on the
 * pool's queue (1024, past which a request is turned away at once with 503 + Retry-After)
 * and statement_timeout on every session (30 s), each with its production default when the
 * caller says nothing and unbounded only when asked (null). Proven on a real cluster: a real
 * queue overflows, a real lock makes a real statement run into its timeout, in every driver
 * and in a blocking session on its own thread.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { respondUuid } from '../../src/app/handlers.js';
import { LAB_ERR, LabError } from '../../src/errors.js';
import {
  createPool,
  DB_LIMITS,
  openDatabase,
  openSyncSession,
  pgClientConfig,
  startEmbeddedCluster,
  withStatementTimeout,
  type ConnectionPool,
  type EmbeddedCluster,
  type PoolLease,
} from '../../src/db/index.js';
import { statementTimeoutInUrl, withDefaultStatementTimeout } from '../../src/db/limits.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { assertNoPostgresLeft, readKv } from './support.js';

const DB_MODULE = new URL('../../src/db/index.js', import.meta.url).href;

describe('statement_timeout in a URL', () => {
  test("a URL's own setting, with Postgres's units, is read and kept when no bound is asked for", () => {
    const url = 'postgresql://u@h/db?options=-c%20statement_timeout%3D2s';
    assert.equal(statementTimeoutInUrl(url), 2000);
    assert.equal(withDefaultStatementTimeout(url), url);
    assert.equal(statementTimeoutInUrl(withDefaultStatementTimeout('postgresql://u@h/db')), DB_LIMITS.STATEMENT_TIMEOUT_MS);
  });

  const cases: { url: string; ms: number | null; expected: number | null }[] = [
    { url: 'postgresql://u@h/db', ms: 250, expected: 250 },
    { url: 'postgresql://u@h/db', ms: null, expected: null },
    { url: 'postgresql://u@h/db?options=-c%20search_path%3Dx', ms: 100, expected: 100 },
    { url: 'postgresql://u@h/db?options=-c%20statement_timeout%3D5%20-c%20search_path%3Dx', ms: 7, expected: 7 },
    { url: 'postgresql://u@h/db?options=-cstatement_timeout%3D2s', ms: 9, expected: 9 },
  ];
  for (const { url, ms, expected } of cases) {
    test(`${url} with ${ms} → ${expected}`, () => {
      const result = withStatementTimeout(url, ms);
      assert.equal(statementTimeoutInUrl(result), expected);
      // libpq decodes %XX only: a space must never be written as '+'.
      assert.ok(!result.includes('+'), result);
      if (url.includes('search_path')) assert.match(decodeURIComponent(result), /search_path=x/, 'other options are kept');
    });
  }
});

describe('database bounds on a real cluster', () => {
  let cluster: EmbeddedCluster;
  const pids: number[] = [];
  const pools: ConnectionPool[] = [];
  const pool = (options: Parameters<typeof createPool>[0]): ConnectionPool => {
    const created = createPool(options);
    pools.push(created);
    return created;
  };

  before(async () => {
    cluster = await startEmbeddedCluster({ rows: 100, log: () => {} });
    pids.push(cluster.postmasterPid);
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await cluster.stop();
    await assertNoPostgresLeft(pids);
  });

  test('a caller that says nothing gets the production defaults; null turns a bound off', async () => {
    const defaults = pool({ url: cluster.url, size: 1 }).stats();
    assert.equal(defaults.acquireTimeoutMs, DB_LIMITS.ACQUIRE_TIMEOUT_MS);
    assert.equal(defaults.maxWaiting, DB_LIMITS.MAX_WAITING);
    assert.equal(defaults.statementTimeoutMs, DB_LIMITS.STATEMENT_TIMEOUT_MS);
    assert.deepEqual([DB_LIMITS.ACQUIRE_TIMEOUT_MS, DB_LIMITS.MAX_WAITING, DB_LIMITS.STATEMENT_TIMEOUT_MS], [15_000, 1024, 30_000]);
    const off = pool({ url: cluster.url, size: 1, acquireTimeoutMs: null, maxWaiting: null, statementTimeoutMs: null }).stats();
    assert.deepEqual([off.acquireTimeoutMs, off.maxWaiting, off.statementTimeoutMs], [null, null, null]);

    const db = await openDatabase({ db: cluster.url, poolSize: 1, log: () => {} });
    try {
      assert.deepEqual(db.limits, { acquireTimeoutMs: 15_000, maxWaiting: 1024, statementTimeoutMs: 30_000 });
      const stats = db.stats();
      assert.deepEqual([stats.acquireTimeoutMs, stats.maxWaiting, stats.statementTimeoutMs], [15_000, 1024, 30_000], '/stats shows them');
      assert.match(db.describe(), /pool timeout 15000 ms, queue 1024, statement timeout 30000 ms/);
      // The URL handed to worker threads carries the session bound with it.
      assert.equal(statementTimeoutInUrl(db.url), 30_000);
      const session = await sessionSetting(db.url);
      assert.equal(session, '30s', 'the pool URL really sets statement_timeout on the session');
    } finally {
      await db.close();
    }
    const unbounded = await openDatabase({ db: cluster.url, poolSize: 1, poolTimeoutMs: null, poolQueue: null, statementTimeoutMs: null, log: () => {} });
    try {
      assert.deepEqual(unbounded.limits, { acquireTimeoutMs: null, maxWaiting: null, statementTimeoutMs: null });
      assert.match(unbounded.describe(), /pool timeout off, queue off, statement timeout off/);
      assert.equal(await sessionSetting(unbounded.url), '0', 'off is written out as 0, so a worker given the URL applies it too');
    } finally {
      await unbounded.close();
    }
  });

  test('past --pool-queue waiters, an acquire fails at once with 503 + Retry-After, counted; the queue still drains', async () => {
    const p = pool({ url: cluster.url, size: 1, maxWaiting: 2, acquireTimeoutMs: null });
    const truth = await readKv(cluster.url, [7, 8]);
    const held: PoolLease = await p.acquire();
    const queued = [p.lookup(7), p.lookup(8)];
    await waitFor('two acquirers to queue', () => p.stats().waiting === 2);
    await assert.rejects(p.lookup(9), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.POOL_TIMEOUT && /queue is full/.test(error.message));
    const response = await respondUuid({ route: 'uuid', id: 9 } as Parameters<typeof respondUuid>[0], p);
    assert.equal(response.status, 503);
    assert.deepEqual(response.headers, ['Retry-After', '1']);
    const stats = p.stats();
    assert.equal(stats.queueFull, 2);
    assert.equal(stats.waiting, 2, 'the turned-away requests never joined the queue');
    held.release();
    assert.deepEqual(await Promise.all(queued), [truth.get(7), truth.get(8)]);
  });

  for (const driver of ['pg-native', 'pg'] as const) {
    test(`${driver}: a statement blocked past statement_timeout is cancelled by Postgres; the connection stays`, async () => {
      const p = pool({ url: cluster.url, size: 1, statementTimeoutMs: 200, acquireTimeoutMs: null, driver, log: () => {} });
      const truth = await readKv(cluster.url, [3]);
      assert.equal(await p.lookup(3), truth.get(3));
      const unlock = await lockKv(cluster.url);
      try {
        // Without statement_timeout this lookup waits for the lock as long as it is held.
        await assert.rejects(p.lookup(3), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY && /statement_timeout \(200 ms\)/.test(error.message));
      } finally {
        await unlock();
      }
      const stats = p.stats();
      assert.equal(stats.statementTimeouts, 1);
      assert.equal(stats.discarded, 0, 'a cancelled statement leaves a healthy connection');
      assert.equal(await p.lookup(3), truth.get(3), 'and it serves the next lookup');
      assert.equal(p.stats().connects, 1);
    });
  }

  test('a blocking session in a thread of its own: statement_timeout from the URL frees the thread', async () => {
    const truth = await readKv(cluster.url, [4]);
    const url = withStatementTimeout(cluster.url, 200);
    // The main thread's session proves the URL bound reaches libpq's blocking API.
    const main = openSyncSession(url);
    assert.equal(main.stats().statementTimeoutMs, 200);
    assert.equal(main.lookupSync(4), truth.get(4));
    main.close();
    // A worker blocks in libpq (as the thread-per-connection model does). It connects and
    // looks up once, then parks until the lock is held here, then looks up again.
    const go = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.module).then((db) => {
         const session = db.openSyncSession(workerData.url);
         session.lookupSync(4);
         parentPort.postMessage({ ready: true });
         Atomics.wait(workerData.go, 0, 0);
         try { session.lookupSync(4); parentPort.postMessage({ error: 'no error' }); }
         catch (error) { parentPort.postMessage({ error: error.message, code: error.code, stats: session.stats() }); }
         session.close();
       });`,
      { eval: true, workerData: { module: DB_MODULE, url, go } },
    );
    let report: { error?: string; code?: string; stats?: { statementTimeouts: number; connected: boolean } };
    await waitForEvent(worker, 'message', 20_000);
    const unlock = await lockKv(cluster.url);
    try {
      const answer = waitForEvent(worker, 'message', 20_000);
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      [report] = (await answer) as [typeof report];
      await worker.terminate();
    } finally {
      await unlock();
    }
    assert.equal(report.code, LAB_ERR.DB_QUERY);
    assert.match(report.error ?? '', /statement_timeout/);
    assert.equal(report.stats?.statementTimeouts, 1);
    assert.equal(report.stats?.connected, true, 'the session stays open');
  });
});

/** SHOW statement_timeout on a connection made with `url` (what every pooled session sees). */
async function sessionSetting(url: string): Promise<string> {
  const client = new pg.Client(pgClientConfig(url));
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout ?? '';
  } finally {
    await client.end();
  }
}

/** Hold an ACCESS EXCLUSIVE lock on kv in an open transaction until the returned function is called. */
async function lockKv(url: string): Promise<() => Promise<void>> {
  const client = new pg.Client(pgClientConfig(url));
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE kv IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await client.query('ROLLBACK').catch(() => {});
    await client.end();
  };
}
