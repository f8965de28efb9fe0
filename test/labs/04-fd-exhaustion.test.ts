import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { hasCommand } from '../../src/labs/kit.js';
import { findPgBinaries } from '../../src/db/index.js';

const hasStrace = hasCommand('strace');

interface FdTotals {
  server: number;
  postgres: number;
  total: number;
  backends: number;
}

test('fd-exhaustion: EMFILE at accept turns clients away, the server survives and recovers; pooling saves descriptors', { timeout: 60_000 }, async () => {
  const { result, cli } = await runLabQuick('fd-exhaustion', { timeoutMs: 55_000 });
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
    assert.ok(pooled.backends >= 1 && pooled.backends <= 20, `pooled backends: ${pooled.backends}`);
    assert.ok(unpooled.backends > pooled.backends, `backends ${unpooled.backends} vs ${pooled.backends}`);
    assert.ok(unpooled.postgres > pooled.postgres, 'more backends, more PostgreSQL descriptors');
    assert.ok(unpooled.server > pooled.server, 'more pool connections, more server descriptors');
    assert.ok(unpooled.total > pooled.total);
  }
});
