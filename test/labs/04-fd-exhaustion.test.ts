import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { hasCommand } from '../../src/labs/kit.js';
import { findPgBinaries } from '../../src/db/index.js';
import { readAccounting, readExhaustion, readRecovery, type AccountingSide, type ExhaustionReading, type RecoveryReading } from '../../labs/04-fd-exhaustion.js';

const hasStrace = hasCommand('strace');

interface FdTotals {
  server: number;
  postgres: number;
  total: number;
  backends: number;
}

test('fd-exhaustion: EMFILE at accept turns clients away, the server survives and recovers; pooling saves descriptors', { timeout: 300_000 }, async () => {
  const { result, cli } = await runLabQuick('fd-exhaustion', { timeoutMs: 280_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;

  assert.equal(f.fdLimit, 64);
  const atRest = f.serverFdsAtRest as number;
  const held = f.clientsHeld as number;
  // Every held connection is one descriptor: the clients that stayed fit in what was free.
  assert.ok(held > 0 && held <= 64 - atRest, `held ${held}, at rest ${atRest}`);
  assert.ok((f.serverFdsPeak as number) <= 64, `peak ${f.serverFdsPeak}`);
  assert.ok((f.clientsFailed as number) > 0, 'more clients than descriptors: some were turned away');
  assert.equal(f.serverAliveWhileFull, true);
  const exhaustion = result.steps[0]?.measurements as { reachedLimit: boolean };
  const whileFull = f.requestsWhileFull as { tried: number; served: number };
  if (exhaustion.reachedLimit) assert.equal(whileFull.served, 0, 'a full server answers no new client');

  assert.equal(f.recovered, true);
  assert.ok(typeof f.recoveryMs === 'number' && f.recoveryMs >= 0);
  if (hasStrace) {
    assert.ok((f.emfileEvents as number) > 0, `emfileEvents: ${f.emfileEvents}`);
    assert.match(String(f.emfileSource), /strace/);
  } else {
    assert.match(String(f.emfileSource), /strace unavailable/);
  }

  if (findPgBinaries() === null) {
    assert.match(String(f.fdAccountingSkipped), /PostgreSQL/);
    assert.equal(result.steps.at(-1)?.status, 'skipped');
  } else {
    const pooled = f.fdsPooled as FdTotals;
    const unpooled = f.fdsUnpooled as FdTotals;
    const [smallPool] = (f.accounting as { pools: [number, number] }).pools;
    assert.ok(pooled.backends >= 1 && pooled.backends <= smallPool, `pooled backends: ${pooled.backends} for a pool of ${smallPool}`);
    assert.ok(unpooled.backends > pooled.backends, `backends ${unpooled.backends} vs ${pooled.backends}`);
    assert.ok(unpooled.postgres > pooled.postgres, 'more backends, more PostgreSQL descriptors');
    assert.ok(unpooled.server > pooled.server, 'more pool connections, more server descriptors');
    assert.ok(unpooled.total > pooled.total);
  }
});

test('fd-exhaustion readings follow the numbers they are given', () => {
  const full: ExhaustionReading = {
    limit: 64,
    atRest: 19,
    connects: 100,
    connected: 100,
    stayed: 45,
    peak: 64,
    reachedLimit: true,
    closedEarly: 55,
    otherFailures: 0,
    probesTried: 3,
    probesServed: 0,
    probeOutcomes: 'reset after the handshake: 3',
    alive: true,
  };
  assert.match(readExhaustion(full), /stayed up/);
  assert.match(readExhaustion(full), /did not crash/);
  // A dead server is never said not to have crashed.
  assert.match(readExhaustion({ ...full, alive: false }), /DIED/);
  assert.doesNotMatch(readExhaustion({ ...full, alive: false }), /did not crash|stayed up/);
  assert.match(readExhaustion(full), /All 100 of 100 handshakes/);
  assert.doesNotMatch(readExhaustion({ ...full, connected: 80 }), /All /);
  assert.match(readExhaustion(full), /but only 45 connections stayed/);
  assert.match(readExhaustion({ ...full, stayed: 100, closedEarly: 0, reachedLimit: false }), /all 100 stayed.*never its limit/s);
  assert.doesNotMatch(readExhaustion({ ...full, closedEarly: 0 }), /closed without a byte/);

  const recovered: RecoveryReading = { recoveryMs: 8, deadlineMs: 10_000, fdsAfter: 19, sameProcess: true, kernelEmfile: 3, nodeEmfile: 0, clientsFailed: 55 };
  assert.match(readRecovery(recovered), /answered 8 ms after.*no restart/s);
  assert.match(readRecovery({ ...recovered, recoveryMs: null }), /did NOT recover/);
  assert.match(readRecovery(recovered), /yet the server heard of 0/);
  assert.match(readRecovery(recovered), /visible only on their side/);
  assert.doesNotMatch(readRecovery({ ...recovered, kernelEmfile: 0 }), /libuv/);
  assert.match(readRecovery({ ...recovered, kernelEmfile: 0 }), /never failed with EMFILE/);
  assert.doesNotMatch(readRecovery({ ...recovered, nodeEmfile: 3 }), /visible only on their side|yet the server/);
  assert.match(readRecovery({ ...recovered, kernelEmfile: null }), /strace could not run/);

  const pooled: AccountingSide = { pool: 10, backends: 10, serverFds: 130, postgresFds: 200, postgresBaselineFds: 80, postgresProcesses: 16, failed: 0 };
  const unpooled: AccountingSide = { pool: 100, backends: 100, serverFds: 220, postgresFds: 1280, postgresBaselineFds: 80, postgresProcesses: 106, failed: 0 };
  const text = readAccounting({ vus: 100, maxConnections: 300, pooled, unpooled });
  assert.match(text, /Each extra connection cost about 1 descriptor in the server and a process with about 12 of its own/);
  const same = readAccounting({ vus: 100, maxConnections: 300, pooled, unpooled: { ...unpooled, backends: 10 } });
  assert.doesNotMatch(same, /Each extra connection/);
  assert.match(same, /no more backends/);
  assert.doesNotMatch(text, /Failed requests/);
  assert.match(readAccounting({ vus: 100, maxConnections: 300, pooled, unpooled: { ...unpooled, failed: 7 } }), /Failed requests: 0 .* 7 with a connection per request/);
});
