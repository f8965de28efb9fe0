import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findPgBinaries } from '../../src/db/index.js';
import { parseKbFields, postgresComplaint, summarizeMemory } from '../../src/labs/db-pool-kit.js';
import { runLabQuick } from './run-lab.js';

test('db-pool-kit: smaps_rollup fields, memory summaries and what Postgres said', () => {
  const rollup = '55d1c0e5e000-7ffd5b9f4000 ---p 00000000 00:00 0 [rollup]\nRss:               15044 kB\nPss:                1715 kB\nPrivate_Clean:         0 kB\nPrivate_Dirty:      1200 kB\n';
  const fields = parseKbFields(rollup);
  assert.equal(fields.get('Rss'), 15044);
  assert.equal(fields.get('Pss'), 1715);
  assert.equal(fields.get('Private_Dirty'), 1200);
  const summary = summarizeMemory(
    [
      { pid: 1, title: 'a', rssKb: 1024, pssKb: 512, privateKb: 256 },
      { pid: 2, title: 'b', rssKb: 3072, pssKb: null, privateKb: null },
    ],
    'rssKb',
  );
  assert.deepEqual(summary, { count: 2, avgMb: 2, minMb: 1, maxMb: 3, totalMb: 4 });
  assert.equal(summarizeMemory([], 'pssKb').avgMb, null);
  assert.equal(
    postgresComplaint('cannot connect to postgresql://postgres@127.0.0.1:5432/postgres: connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already'),
    'FATAL: sorry, too many clients already',
  );
  assert.equal(postgresComplaint('Connection refused'), null);
});

interface PoolFinding {
  vus: number;
  rps: number;
  p99Ms: number;
  waitP99Ms: number;
  queryP99Ms: number;
  postgresCpuPercent: number;
}

interface TimeoutSide {
  okRps: number;
  waitP99Ms: number;
  status503: number;
}

test('db-pool: requests wait for a pooled connection while Postgres idles; a pool timeout caps the wait; backends and max_connections measured', { timeout: 90_000 }, async () => {
  const { result, cli } = await runLabQuick('db-pool', { timeoutMs: 80_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;
  if (findPgBinaries() === null) {
    assert.match(String(f.skipped), /PostgreSQL/);
    assert.equal(f.pools, null);
    assert.ok(result.steps.every((s) => s.status === 'skipped'));
    return;
  }

  const pools = f.pools as Record<string, PoolFinding>;
  for (const size of ['5', '20', '100']) {
    const p = pools[size] as PoolFinding;
    assert.ok(p !== null && p.rps > 0, `pool ${size} served requests`);
    for (const key of ['p99Ms', 'waitP99Ms', 'queryP99Ms'] as const) assert.ok(Number.isFinite(p[key]) && p[key] >= 0, `pool ${size} ${key}: ${p[key]}`);
  }
  // The seed's trap: with 5 connections and many users, the wait dwarfs the query...
  const small = pools['5'] as PoolFinding;
  assert.ok(small.waitP99Ms > 2 * small.queryP99Ms, `pool 5: wait p99 ${small.waitP99Ms} ms vs query p99 ${small.queryP99Ms} ms`);
  // ...while Postgres, on a two-core machine, uses well under one core.
  assert.ok(small.postgresCpuPercent < 100, `Postgres CPU ${small.postgresCpuPercent}%`);

  // A pool timeout: 503s appear, with Retry-After, and the wait for a connection is capped.
  const timeout = f.poolTimeout as { poolTimeoutMs: number; unbounded: TimeoutSide; bounded: TimeoutSide; probe: { tries: number; retryAfter: string | null; elapsedMs: number | null } };
  assert.equal(timeout.unbounded.status503, 0, 'no 503 without a timeout');
  assert.ok(timeout.bounded.status503 > 0, 'the timeout turned waits into 503s');
  assert.ok(timeout.bounded.waitP99Ms < timeout.unbounded.waitP99Ms, `wait p99 ${timeout.unbounded.waitP99Ms} → ${timeout.bounded.waitP99Ms} ms`);
  // A side request that met the timeout was told when to come back.
  if (timeout.probe.elapsedMs !== null) assert.equal(timeout.probe.retryAfter, '1');

  // Memory per backend, measured: RSS counts shared pages, private memory is a fraction of it.
  const rss = f.backendRssMb as number;
  assert.ok(rss > 1 && rss < 500, `backend RSS ${rss} MB`);
  assert.equal(f.backends, 100, 'one backend per connection of the pool of 100');
  if (f.memorySource === 'smaps_rollup') assert.ok((f.backendPrivateMb as number) < rss, 'a backend\'s private memory is less than its RSS');

  // A pool larger than max_connections: serve refuses to start, an on-demand pool gets only what Postgres allows.
  const mc = f.maxConnections as { limit: number; serveStarted: boolean; serveComplaint: string | null; opened: number; connectFailures: number; ok: number; failed: number };
  assert.equal(mc.serveStarted, false);
  assert.match(String(mc.serveComplaint), /too many clients/);
  assert.ok(mc.opened <= mc.limit && mc.opened > 0, `opened ${mc.opened} of max_connections ${mc.limit}`);
  assert.ok(mc.connectFailures > 0 && mc.failed > 0 && mc.ok > 0, JSON.stringify(mc));
});
