import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findPgBinaries } from '../../src/db/index.js';
import { parseKbFields, postgresComplaint, summarizeMemory } from '../../src/labs/db-pool-kit.js';
import { runLabQuick } from './run-lab.js';
import { readBackendMemory, readMaxConnections, readPoolTimeout, readPools, readTail, summarizePhase, tailShares, type Phase, type TailReading } from '../../labs/05-db-pool.js';

test('db-pool-kit: smaps_rollup fields, memory summaries and what Postgres said', () => {
  const rollup =
    '55d1c0e5e000-7ffd5b9f4000 ---p 00000000 00:00 0 [rollup]\nRss:               15044 kB\nPss:                1715 kB\nPrivate_Clean:         0 kB\nPrivate_Dirty:      1200 kB\n';
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
    postgresComplaint(
      'cannot connect to postgresql://postgres@127.0.0.1:5432/postgres: connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already',
    ),
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
  peakWaiting: number;
  runs: number;
}

interface TimeoutSide {
  status503: number;
  poolTimeouts: number;
  runs: number;
}

test('db-pool: requests queue for a pooled connection; a pool timeout turns waits into 503s; backends and max_connections measured', { timeout: 300_000 }, async () => {
  const { result, cli } = await runLabQuick('db-pool', { timeoutMs: 280_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;
  if (findPgBinaries() === null) {
    assert.match(String(f.skipped), /PostgreSQL/);
    assert.equal(f.pools, null);
    assert.ok(result.steps.every((s) => s.status === 'skipped'));
    return;
  }

  const rounds = f.rounds as number;
  assert.ok(rounds >= 2, `rounds: ${rounds}`);
  const pools = f.pools as Record<string, PoolFinding>;
  assert.ok(pools['5'] !== undefined && pools['100'] !== undefined, `pools measured: ${Object.keys(pools).join(', ')}`);
  for (const [size, p] of Object.entries(pools)) {
    assert.ok(p !== null && p.rps > 0, `pool ${size} served requests`);
    assert.equal(p.runs, rounds, `pool ${size}: every round kept`);
    for (const key of ['p99Ms', 'waitP99Ms', 'queryP99Ms'] as const) assert.ok(Number.isFinite(p[key]) && p[key] >= 0, `pool ${size} ${key}: ${p[key]}`);
  }
  // The seed's trap, as a count rather than a speed: with 5 connections and hundreds of users
  // in flight, requests queued for a connection (far more waiting at once than connections).
  const small = pools['5'] as PoolFinding;
  assert.ok(small.peakWaiting > 5, `pool 5 at ${small.vus} users: at most ${small.peakWaiting} waited at once`);

  // The slowest request is split into what the pool can account for and the rest.
  const tail = f.tail as { maxMs: number; poolAtMostMs: number; outsideAtLeastMs: number };
  assert.ok(Math.abs(tail.poolAtMostMs + tail.outsideAtLeastMs - tail.maxMs) < 0.01, JSON.stringify(tail));

  // A pool timeout: 503s appear (each one a pool timeout), none without it.
  const timeout = f.poolTimeout as {
    poolTimeoutMs: number;
    unbounded: TimeoutSide;
    bounded: TimeoutSide;
    probe: { tries: number; retryAfter: string | null; elapsedMs: number | null };
  };
  assert.equal(timeout.unbounded.status503, 0, 'no 503 without a timeout');
  assert.equal(timeout.unbounded.poolTimeouts, 0);
  assert.ok(timeout.bounded.status503 > 0, 'the timeout turned waits into 503s');
  assert.ok(timeout.bounded.poolTimeouts >= timeout.bounded.status503, `pool timeouts ${timeout.bounded.poolTimeouts}, 503s ${timeout.bounded.status503}`);
  assert.equal(timeout.bounded.runs, rounds);
  // A side request that met the timeout was told when to come back.
  if (timeout.probe.elapsedMs !== null) assert.equal(timeout.probe.retryAfter, '1');

  // Memory per backend, measured: RSS counts shared pages, private memory is a fraction of it.
  const rss = f.backendRssMb as number;
  assert.ok(rss > 1 && rss < 500, `backend RSS ${rss} MB`);
  assert.equal(f.backends, 100, 'one backend per connection of the pool of 100');
  if (f.memorySource === 'smaps_rollup') assert.ok((f.backendPrivateMb as number) < rss, "a backend's private memory is less than its RSS");

  // A pool larger than max_connections: serve refuses to start, an on-demand pool gets only what Postgres allows.
  const mc = f.maxConnections as { limit: number; serveStarted: boolean; serveComplaint: string | null; opened: number; connectFailures: number; ok: number; failed: number };
  assert.equal(mc.serveStarted, false);
  assert.match(String(mc.serveComplaint), /too many clients/);
  assert.ok(mc.opened <= mc.limit && mc.opened > 0, `opened ${mc.opened} of max_connections ${mc.limit}`);
  assert.ok(mc.connectFailures > 0 && mc.failed > 0 && mc.ok > 0, JSON.stringify(mc));

  // Batch mode: the same pool and users; with hundreds waiting on 5 connections, statements
  // carry more than one id; at one user, none does; nothing fails either way.
  const batch = f.batchMode as { sides: { batch: boolean; vus: number; rps: number; idsMean: number | null }[] };
  assert.equal(batch.sides.length, 4);
  const busy = batch.sides.find((s) => s.batch && s.vus > 1);
  assert.ok(busy !== undefined && (busy.idsMean ?? 0) > 1, `ids per statement under load: ${JSON.stringify(busy)}`);
  assert.ok(
    batch.sides.every((s) => s.rps > 0),
    JSON.stringify(batch.sides),
  );
});

/** A phase run with every number set; `over` changes some. */
function phase(over: Partial<Phase>): Phase {
  return {
    pool: 5,
    vus: 1000,
    poolTimeoutMs: null,
    rps: 15_000,
    okRps: 15_000,
    responses: 30_000,
    status503: 0,
    p50Ms: 60,
    p99Ms: 90,
    maxMs: 400,
    avgMs: 63,
    waitP99Ms: 80,
    waitMaxMs: 100,
    waitAvgMs: 60,
    queryP99Ms: 1.1,
    queryAvgMs: 0.3,
    queryMaxMs: 10,
    elsewhereAvgMs: 2.7,
    peakWaiting: 995,
    poolTimeouts: 0,
    serverCpuPercent: 85,
    postgresCpuPercent: 50,
    postgresProcesses: 10,
    generatorCpuPercent: 30,
    othersCpuPercent: 0,
    failures: {},
    ...over,
  };
}

test('db-pool readings follow the numbers they are given', () => {
  const small = summarizePhase([phase({}), phase({ rps: 14_000, waitAvgMs: 58 })]);
  const large = summarizePhase([phase({ pool: 100, rps: 9000, queryP99Ms: 20 }), phase({ pool: 100, rps: 8000, queryP99Ms: 22 })]);
  const text = readPools({ small, large });
  assert.match(text, /waited longer for one of the 5 connections than Postgres took/);
  assert.doesNotMatch(text, /outside the pool \(/);
  const outside = summarizePhase([phase({ elsewhereAvgMs: 300 }), phase({ elsewhereAvgMs: 310 })]);
  assert.match(readPools({ small: outside, large }), /more still went by outside the pool/);
  assert.match(text, /queries took longer/);
  assert.match(text, /pool 100 is lower in every run/);
  // The query longer than the wait: the pool is not blamed.
  const slowQueries = summarizePhase([phase({ waitAvgMs: 1, queryAvgMs: 50 }), phase({ waitAvgMs: 2, queryAvgMs: 55 })]);
  assert.doesNotMatch(readPools({ small: slowQueries, large }), /waited longer for one/);
  assert.match(readPools({ small: slowQueries, large }), /Postgres answering took longer/);
  // Overlapping throughput: no side is called higher or lower.
  const close = summarizePhase([phase({ pool: 100, rps: 14_500 }), phase({ pool: 100, rps: 13_000 })]);
  assert.match(readPools({ small, large: close }), /no measurable difference/);
  assert.doesNotMatch(readPools({ small, large: close }), /lower in every run|higher in every run/);

  // The post's long tail against this run's: the share outside the pool decides the verdict.
  const tail: TailReading = { postMaxMs: 15_700, postVus: 1000, postPool: 200, vus: 1000, pool: 20, maxMs: 15_000, waitMaxMs: 435, queryMaxMs: 200, elsewhereAvgMs: 400 };
  assert.match(readTail(tail), /The post's claim/);
  assert.match(readTail(tail), /came from outside the pool/);
  assert.equal(tailShares(tail).outsideAtLeastMs, 15_000 - 435 - 200);
  assert.match(readTail({ ...tail, maxMs: 600 }), /can account for all of it/);
  assert.doesNotMatch(readTail({ ...tail, maxMs: 600 }), /outside the pool\./);
  assert.match(readTail({ ...tail, maxMs: 1000 }), /came mostly from the pool/);

  const bounded = summarizePhase([
    phase({ poolTimeoutMs: 50, okRps: 500, status503: 30_000, waitP99Ms: 50, p99Ms: 10_000 }),
    phase({ poolTimeoutMs: 50, okRps: 600, status503: 29_000, waitP99Ms: 52, p99Ms: 9000 }),
  ]);
  const unbounded = summarizePhase([phase({}), phase({ okRps: 14_000, p99Ms: 95 })]);
  const timeoutText = readPoolTimeout({ poolTimeoutMs: 50, unbounded, bounded, probe: null });
  assert.match(timeoutText, /is capped/);
  assert.match(timeoutText, /saying no/);
  assert.match(timeoutText, /p99 rose/);
  const kinder = summarizePhase([phase({ poolTimeoutMs: 50, waitP99Ms: 50, p99Ms: 40, okRps: 13_000 }), phase({ poolTimeoutMs: 50, waitP99Ms: 51, p99Ms: 45, okRps: 13_500 })]);
  assert.match(readPoolTimeout({ poolTimeoutMs: 50, unbounded, bounded: kinder, probe: null }), /p99 fell/);
  assert.doesNotMatch(readPoolTimeout({ poolTimeoutMs: 50, unbounded, bounded: kinder, probe: null }), /saying no|503 with/);
  assert.match(readPoolTimeout({ poolTimeoutMs: 50, unbounded, bounded: kinder, probe: null }), /No request was turned away/);
  const same = summarizePhase([phase({ poolTimeoutMs: 50, waitP99Ms: 79 }), phase({ poolTimeoutMs: 50, waitP99Ms: 81 })]);
  assert.doesNotMatch(readPoolTimeout({ poolTimeoutMs: 50, unbounded, bounded: same, probe: null }), /capped/);

  const memory = { source: 'smaps_rollup', count: 100, rssAvgMb: 15.9, rssTotalMb: 1586, pssAvgMb: 1.33, privateAvgMb: 1.18, privateTotalMb: 118, maxConnections: 300 };
  assert.match(readBackendMemory(memory), /RSS counts shared memory/);
  assert.doesNotMatch(readBackendMemory({ ...memory, pssAvgMb: 15.9 }), /RSS counts shared memory/);
  assert.match(readBackendMemory({ ...memory, pssAvgMb: null }), /overstates/);

  const mc = { wanted: 30, opened: 20, connectFailures: 25, complaint: 'FATAL: sorry, too many clients already', ok: 70_000, failed: 25, serveStarted: false };
  assert.match(readMaxConnections(mc), /refused 25/);
  assert.match(readMaxConnections(mc), /refused to start/);
  assert.match(readMaxConnections({ ...mc, connectFailures: 0, failed: 0, serveStarted: true }), /accepted all 20/);
  assert.doesNotMatch(readMaxConnections({ ...mc, serveStarted: true }), /refused to start/);
});
