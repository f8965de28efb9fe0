/**
 * The database from threads, as the thread-per-connection and piscina models use it: the
 * libpq addon is not context-aware, so each worker must load its own copy, and its async API
 * must never run off the main thread (it watches sockets on the main loop). Also the blocking
 * session's own recovery after Postgres went away.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { openSyncSession, startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { waitForEvent } from '../support/wait.js';
import { assertNoPostgresLeft, readKv } from './support.js';

const DB_MODULE = new URL('../../src/db/index.js', import.meta.url).href;

/** A worker that opens a blocking session and a pool, looks up `ids` with each, and reports. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module).then(async (db) => {
  const session = db.openSyncSession(workerData.url);
  const sync = workerData.ids.map((id) => session.lookupSync(id));
  session.close();
  const lines = [];
  const pool = db.createPool({ url: workerData.url, size: 2, log: (line) => lines.push(line) });
  const pooled = await Promise.all(workerData.ids.map((id) => pool.lookup(id)));
  const driver = pool.stats().driver;
  await pool.close();
  parentPort.postMessage({ sync, pooled, driver, lines });
}).catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

interface WorkerReport {
  sync: (string | null)[];
  pooled: (string | null)[];
  driver: string;
  lines: string[];
  error?: string;
}

describe('database access from threads', () => {
  let cluster: EmbeddedCluster;
  let truth: Map<number, string>;
  const pids: number[] = [];

  before(async () => {
    cluster = await startEmbeddedCluster({ log: () => {} });
    pids.push(cluster.postmasterPid);
    truth = await readKv(cluster.url, [1, 10, 100, 1000]);
  });

  const workers: Worker[] = [];

  after(async () => {
    await Promise.all(workers.map((worker) => worker.terminate()));
    await cluster.stop();
    await assertNoPostgresLeft(pids);
  });

  test('three worker threads each get pg-native blocking lookups, and a pool that stays off the async native API', async () => {
    const ids = [1, 10, 100, 1000, 1001];
    const expected = ids.map((id) => truth.get(id) ?? null);
    // The main thread loads pg-native first, as serve does: the workers then need their own copy.
    const main = openSyncSession(cluster.url);
    assert.equal(main.lookupSync(1), truth.get(1));
    main.close();

    const reports = await Promise.all(
      [0, 1, 2].map(async () => {
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: DB_MODULE, url: cluster.url, ids } });
        workers.push(worker);
        const [report] = (await waitForEvent(worker, 'message', 30_000)) as [WorkerReport];
        await worker.terminate();
        return report;
      }),
    );
    for (const report of reports) {
      assert.equal(report.error, undefined, report.error);
      assert.deepEqual(report.sync, expected, 'blocking lookups in the worker');
      assert.deepEqual(report.pooled, expected, 'pooled lookups in the worker');
      assert.equal(report.driver, 'pg');
      assert.ok(
        report.lines.some((l) => /only work on the main thread/.test(l)),
        report.lines.join(' | '),
      );
    }
  });

  test('a blocking session fails fast while Postgres is down and recovers by itself', async () => {
    const session = openSyncSession(cluster.url);
    assert.equal(session.lookupSync(10), truth.get(10));
    await cluster.halt('fast');
    pids.push(cluster.postmasterPid);
    assert.throws(
      () => session.lookupSync(10),
      (error: unknown) => error instanceof LabError && error.code === LAB_ERR.DB_QUERY,
    );
    // Fails at once: refused by the kernel, not given up on after libpq's connect_timeout.
    assert.throws(
      () => session.lookupSync(10),
      (error: unknown) => {
        assert.ok(error instanceof LabError && error.code === LAB_ERR.DB_QUERY);
        assert.match(error.message, /cannot connect.*refused/i);
        assert.doesNotMatch(error.message, /timeout/i);
        return true;
      },
    );
    await cluster.resume();
    pids.push(cluster.postmasterPid);
    assert.equal(session.lookupSync(100), truth.get(100));
    const stats = session.stats();
    assert.equal(stats.errors, 1);
    assert.ok(stats.connectFailures >= 1);
    assert.equal(stats.connects, 2);
    session.close();
  });
});
