/**
 * The pool against a real throwaway cluster: correct answers, saturation (waiting and wait
 * time seen apart from query time), the acquire timeout, Postgres going away mid-load and
 * coming back, and the pure-JS fallback driver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { respondUuid } from '../../src/app/handlers.js';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { createPool, loadDriver, mergePoolSnapshots, startEmbeddedCluster, type ConnectionPool, type EmbeddedCluster } from '../../src/db/index.js';
import { loadPgNative } from '../../src/db/driver.js';
import { waitFor, within } from '../support/wait.js';
import { assertNoPostgresLeft, countBackends, readKv, runLookupLoad } from './support.js';

const KNOWN_IDS = [1, 2, 42, 500, 999, 1000];

describe('connection pool on a real cluster', () => {
  let cluster: EmbeddedCluster;
  let truth: Map<number, string>;
  const pids: number[] = [];
  const pools: ConnectionPool[] = [];
  const pool = (options: Parameters<typeof createPool>[0]): ConnectionPool => {
    const created = createPool(options);
    pools.push(created);
    return created;
  };

  before(async () => {
    cluster = await startEmbeddedCluster({ log: () => {} });
    pids.push(cluster.postmasterPid);
    truth = await readKv(
      cluster.url,
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.equal(truth.size, 1000, 'kv should be seeded with ids 1..1000');
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await cluster.stop();
    pids.push(cluster.postmasterPid);
    await assertNoPostgresLeft(pids);
  });

  test('pg-native loads and is the default driver', () => {
    const loaded = loadPgNative();
    assert.ok('Client' in loaded, `pg-native failed to load: ${'error' in loaded ? loaded.error : ''}`);
    assert.equal(loadDriver({ log: () => {} }).name, 'pg-native');
  });

  test('returns the stored UUID for known ids and null past the last row', async () => {
    const p = pool({ url: cluster.url, size: 3 });
    for (const id of KNOWN_IDS) assert.equal(await p.lookup(id), truth.get(id), `id ${id}`);
    assert.equal(await p.lookup(1001), null);
    assert.match((await p.lookup(42)) ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random (version 4) UUID');
    const stats = p.stats();
    assert.equal(stats.driver, 'pg-native');
    assert.equal(stats.errors, 0);
    assert.equal(stats.queryMs.count, KNOWN_IDS.length + 2);
  });

  test('saturation: pool of 2, 50 concurrent lookups queue, wait is measured apart from query time, answers stay correct', async () => {
    const p = pool({ url: cluster.url, size: 2 });
    const ids = Array.from({ length: 50 }, (_, i) => ((i * 37) % 1000) + 1);
    const pending = ids.map((id) => p.lookup(id));
    const during = p.stats();
    assert.ok(during.waiting > 0, `lookups should queue for a connection, waiting=${during.waiting}`);
    const values = await Promise.all(pending);
    values.forEach((value, i) => {
      assert.equal(value, truth.get(ids[i] as number), `id ${ids[i]}`);
    });
    // The second connect may still be on its way when the first connection has served every
    // lookup: wait for it, then the pool opened exactly its size, never more, never fewer.
    await waitFor('connects in flight to finish', () => p.stats().connecting === 0);
    const stats = p.stats();
    assert.equal(stats.connects, 2, 'exactly as many connections as the pool size were opened');
    assert.equal(stats.open, 2);
    assert.equal(stats.waiting, 0);
    assert.ok(stats.peakWaiting >= 40, `peak waiting ${stats.peakWaiting}`);
    assert.equal(stats.waitMs.count, 50, 'one wait sample per acquire');
    assert.equal(stats.queryMs.count, 50, 'one query sample per lookup');
    assert.ok(stats.waitMs.maxMs > stats.queryMs.p50Ms, `the last in line waited for many queries: wait max ${stats.waitMs.maxMs} ms, query p50 ${stats.queryMs.p50Ms} ms`);
  });

  test('the acquire timeout fails fast with POOL_TIMEOUT and leaves the queue; /uuid maps it to 503 + Retry-After', async () => {
    const p = pool({ url: cluster.url, size: 1, acquireTimeoutMs: 50 });
    // Connected first (prewarm is not bound by the timeout): on a busy machine a connect alone
    // can take longer than 50 ms, and this acquire must not be the one that times out.
    await p.prewarm();
    const held = await p.acquire();
    const started = performance.now();
    // The bound only turns a timeout that never fires into a failure instead of a hang.
    await assert.rejects(within('the 50 ms acquire timeout', p.lookup(1)), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.POOL_TIMEOUT);
    const waited = performance.now() - started;
    assert.ok(waited >= 45, `gave up after ${waited.toFixed(0)} ms, before its timeout`);
    assert.equal(p.stats().waiting, 0, 'the timed-out caller is no longer queued');
    assert.equal(p.stats().timeouts, 1);

    const response = await respondUuid({ route: 'uuid', id: 1 }, p);
    assert.equal(response.status, 503);
    assert.deepEqual(response.headers, ['Retry-After', '1']);

    held.release();
    assert.equal(await p.lookup(1), truth.get(1), 'works again once the connection is back');
  });

  test('without a timeout an acquirer waits as long as it takes (the seed behaviour)', async () => {
    const p = pool({ url: cluster.url, size: 1, acquireTimeoutMs: null });
    const held = await p.acquire();
    const waiting = p.lookup(7);
    await waitFor('the lookup to be queued', () => p.stats().waiting === 1);
    const queuedAt = performance.now();
    await waitFor('100 ms to pass', () => performance.now() - queuedAt >= 100);
    assert.equal(p.stats().waiting, 1, 'still queued, not failed');
    held.release();
    assert.equal(await waiting, truth.get(7));
    assert.ok(p.stats().waitMs.maxMs >= 100, `the whole wait is recorded: ${p.stats().waitMs.maxMs} ms`);
    assert.equal(p.stats().timeouts, 0);
  });

  test('snapshots of several pools merge exactly', async () => {
    const a = pool({ url: cluster.url, size: 1 });
    const b = pool({ url: cluster.url, size: 1 });
    await Promise.all([a.lookup(1), a.lookup(2), b.lookup(3)]);
    const merged = mergePoolSnapshots([a.snapshot(), b.snapshot()]);
    assert.equal(merged.acquired, 3);
    assert.equal(merged.queryMs.count, 3);
    assert.equal(merged.size, 2);
  });

  test('close() ends every connection it opened', async () => {
    const name = 'socketlab-close-test';
    const p = pool({ url: `${cluster.url}?application_name=${name}`, size: 4 });
    await p.prewarm();
    assert.equal(p.stats().open, 4);
    assert.equal(await countBackends(cluster.url, name), 4);
    await p.close();
    await assert.rejects(p.lookup(1), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY);
    await waitFor('the pool backends to disconnect', async () => (await countBackends(cluster.url, name)) === 0);
  });

  test('fallback: when pg-native cannot load, the pure-JS driver answers the same, and says so loudly', async () => {
    const lines: string[] = [];
    const driver = loadDriver({ nativeModuleId: 'socketlab-no-such-native-driver', log: (line) => lines.push(line) });
    assert.equal(driver.name, 'pg');
    assert.match(driver.fallbackReason ?? '', /pg-native could not load/);
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /WARNING.*FALLING BACK.*apt-get install libpq-dev.*npm rebuild libpq/);
    const p = pool({ url: cluster.url, size: 2, driverInstance: driver });
    for (const id of KNOWN_IDS) assert.equal(await p.lookup(id), truth.get(id), `id ${id}`);
    assert.equal(await p.lookup(1001), null);
    const stats = p.stats();
    assert.equal(stats.driver, 'pg');
    assert.match(stats.driverFallback ?? '', /pg-native could not load/);
  });

  test('SOCKETLAB_PG_DRIVER=pg forces the pure-JS driver', async () => {
    const previous = process.env.SOCKETLAB_PG_DRIVER;
    process.env.SOCKETLAB_PG_DRIVER = 'pg';
    try {
      const p = pool({ url: cluster.url, size: 1, log: () => {} });
      assert.equal(p.stats().driver, 'pg');
      assert.equal(await p.lookup(500), truth.get(500));
    } finally {
      if (previous === undefined) delete process.env.SOCKETLAB_PG_DRIVER;
      else process.env.SOCKETLAB_PG_DRIVER = previous;
    }
  });

  // Last: it stops and restarts the cluster.
  for (const driverName of ['pg-native', 'pg'] as const) {
    test(`Postgres stopped mid-load and started again: failures are counted, lookups recover without a new pool (${driverName})`, async () => {
      const p = pool({ url: cluster.url, size: 4, acquireTimeoutMs: 1000, driver: driverName, log: () => {} });
      await p.prewarm();
      const load = runLookupLoad((id) => p.lookup(id), truth, { concurrency: 16, deadlineMs: 30_000 });
      // Stopped whatever happens below: its loops must not outlive a failed test.
      let failedAtResume = 0;
      try {
        await waitFor('lookups to succeed before the outage', () => load.result.ok >= 200, { timeoutMs: 10_000 });

        const pidBefore = cluster.postmasterPid;
        await cluster.halt('immediate');
        pids.push(pidBefore);
        assert.ok(!cluster.running());
        const okAtHalt = load.result.ok;
        await waitFor('failures while Postgres is down', () => load.result.failed >= 20, { timeoutMs: 10_000 });
        assert.ok(load.result.ok - okAtHalt <= 16, 'at most the lookups already in flight can succeed after the halt');
        await waitFor('the pool to notice the database is down', () => p.stats().down);

        await cluster.resume();
        pids.push(cluster.postmasterPid);
        failedAtResume = load.result.failed;
        const okAtResume = load.result.ok;
        await waitFor('lookups to succeed again', () => load.result.ok >= okAtResume + 200, { timeoutMs: 10_000 });
      } finally {
        await load.stop();
      }
      const result = load.result;

      assert.equal(result.wrong, 0, 'never a wrong UUID');
      const codes = [...result.errors.keys()];
      assert.ok(
        codes.every((code) => code === LAB_ERR.DB_QUERY || code === LAB_ERR.POOL_TIMEOUT),
        `unexpected error codes ${codes.join(',')}`,
      );
      const stats = p.stats();
      assert.equal(stats.down, false);
      assert.ok(stats.recoveries >= 1, 'the pool saw the database come back');
      assert.ok(stats.connectFailures >= 1);
      assert.ok(stats.rejected + stats.errors + stats.timeouts >= failedAtResume, 'every failure is counted in /stats');
      assert.ok(stats.open <= 4);
    });
  }
});
