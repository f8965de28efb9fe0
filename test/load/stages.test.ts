/**
 * Ramping VUs (--stages): each VU owns one connection, so the server's count of open
 * connections is the number of live VUs, seen from the other side.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLoad } from '../../src/load/index.js';
import { stageTarget } from '../../src/load/plan.js';
import { waitFor } from '../support/wait.js';
import { startTestServer, type TestServer } from './servers.js';

describe('stages', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('interpolates linearly from 0 through each target', () => {
    const stages = [
      { durationMs: 1000, target: 100 },
      { durationMs: 1000, target: 100 },
      { durationMs: 500, target: 0 },
    ];
    assert.equal(stageTarget(stages, 0), 0);
    assert.equal(stageTarget(stages, 500), 50);
    assert.equal(stageTarget(stages, 1000), 100);
    assert.equal(stageTarget(stages, 1700), 100);
    assert.equal(stageTarget(stages, 2250), 50);
    assert.equal(stageTarget(stages, 9999), 0);
  });

  it('asks for no VUs, never a negative number, just before the start', () => {
    // A ramp timer may fire up to a millisecond early; 10,000 VUs over 3 s is 3.3 per ms.
    const steep = [{ durationMs: 3000, target: 10_000 }];
    assert.equal(stageTarget(steep, -5), 0);
    assert.equal(stageTarget(steep, 3), 10);
  });

  for (const workers of [1, 2]) {
    it(`reaches each plateau's VU target and ramps down to 0 (workers ${workers})`, async () => {
      // Plateaus long enough to be seen from this thread on a busy machine, where a VU's
      // connect or close can reach the server hundreds of ms after its ramp asked for it.
      const stages = [
        { durationMs: 300, target: 10 },
        { durationMs: 1500, target: 10 },
        { durationMs: 200, target: 3 },
        { durationMs: 1500, target: 3 },
        { durationMs: 200, target: 0 },
      ];
      const requestsBefore = server.requests;
      const running = runLoad({ url: server.url, stages, workers });
      await waitFor('10 VU connections at the first plateau', () => server.open === 10, { intervalMs: 10 });
      await waitFor('3 VU connections at the second plateau', () => server.open === 3, { intervalMs: 10 });
      const result = await running;
      await waitFor('all VU connections closed', () => server.open === 0);
      assert.equal(result.summary.vusMax, 10);
      assert.equal(result.summary.failed, 0);
      assert.ok(result.summary.responses > 0);
      assert.equal(result.summary.responses, server.requests - requestsBefore, 'every request the ramping VUs sent was answered and counted');
      assert.ok(Math.max(...result.series.map((s) => s.vus)) === 10);
    });
  }
});
