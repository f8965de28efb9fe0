/**
 * /uuid/:id through the real `socketlab serve --db URL`, the way a user meets it: correct
 * rows, a saturated pool whose wait shows in /stats, a pool timeout answered with 503 and
 * Retry-After, and Postgres going away mid-load and coming back without a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { runLoad } from '../../src/load/index.js';
import { startServe } from '../support/cli.js';
import { connectRaw } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';
import { assertNoPostgresLeft, readKv } from './support.js';

let cluster: EmbeddedCluster;
const pids: number[] = [];

before(async () => {
  cluster = await startEmbeddedCluster({ rows: 1000 });
  pids.push(cluster.postmasterPid);
});
after(async () => {
  await cluster.stop();
  await assertNoPostgresLeft(pids);
});

async function get(port: number, target: string): Promise<{ status: number; headers: string; body: string }> {
  const c = await connectRaw(port);
  await c.write(`GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  const text = await c.closed;
  const split = text.indexOf('\r\n\r\n');
  return { status: Number(text.slice(9, 12)), headers: text.slice(0, split), body: text.slice(split + 4) };
}

test('the right uuid for known ids; pool of 2 under 50 concurrent requests: waiting, wait recorded, answers still right', async () => {
  const serve = await startServe(['--db', cluster.url, '--pool', '2']);
  try {
    const truth = await readKv(cluster.url, [1, 42, 1000]);
    for (const id of [1, 42, 1000]) {
      const answer = await get(serve.port, `/uuid/${id}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { id, uuid: truth.get(id) });
    }
    // Until the server has answered 200 lookups (on any machine), then stopped as an abort
    // stops it: what is in flight is answered.
    const controller = new AbortController();
    const running = runLoad({ url: `${serve.url}/`, pathTemplate: '/uuid/{1..1000}', vus: 50, durationMs: 60_000 }, { signal: controller.signal });
    try {
      await waitFor('200 lookups', async () => JSON.parse((await get(serve.port, '/stats')).body).db.queryMs.count >= 3 + 200);
    } finally {
      controller.abort();
    }
    const result = await running;
    assert.ok(result.summary.ok >= 200, `only ${result.summary.ok} answers`);
    assert.equal(result.summary.failed, 0);
    const stats = JSON.parse((await get(serve.port, '/stats')).body) as {
      db: { size: number; peakWaiting: number; waitMs: { count: number; p99Ms: number }; queryMs: { count: number } };
    };
    assert.equal(stats.db.size, 2);
    assert.ok(stats.db.peakWaiting > 0, 'requests queued for the 2 connections');
    assert.ok(stats.db.waitMs.count >= result.summary.ok && stats.db.waitMs.p99Ms > 0, 'the wait was recorded apart');
    assert.ok(stats.db.queryMs.count >= result.summary.ok);
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});

test('--pool-timeout: an acquire that waits too long is answered 503 with Retry-After', async () => {
  const serve = await startServe(['--db', cluster.url, '--pool', '1', '--pool-timeout', '1', '--pool-batch', 'off']);
  try {
    const result = await runLoad({ url: `${serve.url}/`, pathTemplate: '/uuid/{1..1000}', vus: 40, durationMs: 1500 });
    assert.ok((result.summary.non2xx['503'] ?? 0) > 0, `no 503 among ${JSON.stringify(result.summary.statuses)}`);
    assert.ok((result.summary.statuses['200'] ?? 0) > 0, 'some requests still got a connection');
    // One more, to see the headers: keep the pool busy until one of ours is turned away.
    const controller = new AbortController();
    const busy = runLoad({ url: `${serve.url}/`, pathTemplate: '/uuid/{1..1000}', vus: 40, durationMs: 60_000 }, { signal: controller.signal });
    let answer: Awaited<ReturnType<typeof get>>;
    try {
      answer = await waitFor('a 503 while the pool is busy', async () => {
        const a = await get(serve.port, '/uuid/7');
        return a.status === 503 ? a : null;
      });
    } finally {
      controller.abort();
      await busy;
    }
    assert.match(answer.headers, /\r\nRetry-After: 1/);
    assert.match(answer.body, /LAB_ERR_DB_POOL_TIMEOUT/);
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});

test('Postgres stopped mid-load: /uuid answers 503 (counted), other routes keep serving, and it recovers without a restart', async () => {
  const serve = await startServe(['--db', cluster.url, '--pool', '4']);
  try {
    const controller = new AbortController();
    const load = runLoad({ url: `${serve.url}/`, pathTemplate: '/uuid/{1..1000}', vus: 8, durationMs: 30_000, timeoutMs: 5000 }, { signal: controller.signal });
    await waitFor('load to be answered', async () => JSON.parse((await get(serve.port, '/stats')).body).requests.byStatus['200'] > 50);
    await cluster.halt('fast');
    const down = await waitFor('/uuid to answer 503', async () => {
      const a = await get(serve.port, '/uuid/5');
      return a.status === 503 ? a : null;
    });
    assert.match(down.body, /LAB_ERR_DB_QUERY/);
    assert.equal((await get(serve.port, '/healthz')).status, 200, 'the server itself is fine');
    assert.equal((await get(serve.port, '/age?birthdate=1993-05-01')).status, 200);
    await cluster.resume();
    pids.push(cluster.postmasterPid);
    const truth = await readKv(cluster.url, [5]);
    const back = await waitFor(
      '/uuid to serve again',
      async () => {
        const a = await get(serve.port, '/uuid/5');
        return a.status === 200 ? a : null;
      },
      { timeoutMs: 20_000 },
    );
    assert.deepEqual(JSON.parse(back.body), { id: 5, uuid: truth.get(5) });
    controller.abort();
    const result = await load;
    assert.ok((result.summary.non2xx['503'] ?? 0) + result.summary.failures.closed_early + result.summary.failures.reset > 0, 'the outage was seen by the load');
    assert.ok((result.summary.statuses['200'] ?? 0) > 50);
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});
