/**
 * The generator's counts against the ground truth: a server that counts every request head
 * it receives. With a graceful stop nothing is left in flight, so the two agree exactly. The
 * closed-model runs last until the server has counted what the test needs (run-until.ts) and
 * then stop as an abort does, which drains the same way: no count depends on how fast this
 * machine is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeHistogram } from '../../src/metrics/histogram.js';
import { runLoad } from '../../src/load/index.js';
import { runUntilServed } from './run-until.js';
import { startTestServer, type TestServer } from './servers.js';

describe('load counts agree with a server-side counter', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('closed model, keep-alive: one connection per VU, every request answered and counted', async () => {
    const requestsBefore = server.requests;
    const connectionsBefore = server.connections;
    const result = await runUntilServed(server, { url: server.url, vus: 8 }, 200);
    const s = result.summary;
    assert.ok(s.responses >= 200, `expected a real load, got ${s.responses} responses`);
    assert.equal(s.responses, server.requests - requestsBefore);
    assert.equal(s.requests, s.responses);
    assert.equal(s.ok, s.responses);
    assert.equal(s.failed, 0);
    assert.equal(s.interrupted, 0);
    assert.equal(s.connects, 8);
    assert.equal(server.connections - connectionsBefore, 8);
    assert.equal(s.vusMax, 8);
    assert.equal(s.latency.total.count, s.responses);
    assert.equal(s.latency.ttfb.count, s.responses);
    assert.equal(s.latency.connect.count, 8);
    assert.equal(decodeHistogram(result.histograms.total).totalCount, s.responses);
    assert.deepEqual(s.statuses, { '200': s.responses });
    // The per-second series adds up to the totals.
    assert.equal(
      result.series.reduce((n, x) => n + x.responses, 0),
      s.responses,
    );
    assert.ok(s.bytesReceived > s.responses * 50);
  });

  it('closed model, --no-keepalive: a new connection for every request', async () => {
    const requestsBefore = server.requests;
    const connectionsBefore = server.connections;
    const result = await runUntilServed(server, { url: server.url, vus: 4, keepAlive: false }, 50);
    const s = result.summary;
    assert.ok(s.responses >= 50);
    assert.equal(s.responses, server.requests - requestsBefore);
    assert.equal(s.connects, s.responses);
    assert.equal(server.connections - connectionsBefore, s.responses);
    assert.equal(s.latency.connect.count, s.responses);
    assert.equal(s.failed, 0);
  });

  it('closed model, --no-keepalive --close-by server: same counts, the server closes first', async () => {
    const requestsBefore = server.requests;
    const result = await runUntilServed(server, { url: server.url, vus: 2, keepAlive: false, closeBy: 'server' }, 20);
    assert.ok(result.summary.responses >= 20);
    assert.equal(result.summary.responses, server.requests - requestsBefore);
    assert.equal(result.summary.failed, 0);
  });

  it('open model: the schedule decides the count (rate × duration), the server agrees', async () => {
    const requestsBefore = server.requests;
    const result = await runLoad({ url: server.url, rate: 400, durationMs: 1000, maxVus: 20 });
    const s = result.summary;
    // Starts at t = 0, 2.5 ms, ... < 1000 ms: exactly 400, each either sent or dropped.
    assert.equal(s.requests + s.dropped, 400);
    assert.equal(s.responses, server.requests - requestsBefore);
    assert.equal(s.failed, 0);
    assert.ok(s.vusMax <= 20);
  });

  it('--workers 2: engines split the VUs and their histograms merge exactly', async () => {
    const requestsBefore = server.requests;
    const connectionsBefore = server.connections;
    const result = await runUntilServed(server, { url: server.url, vus: 6, workers: 2 }, 200);
    const s = result.summary;
    assert.ok(s.responses >= 200);
    assert.equal(s.responses, server.requests - requestsBefore);
    assert.equal(s.connects, 6);
    assert.equal(server.connections - connectionsBefore, 6);
    assert.equal(decodeHistogram(result.histograms.total).totalCount, s.responses);
    assert.equal(
      result.series.reduce((n, x) => n + x.responses, 0),
      s.responses,
    );
  });

  it('--workers 2 in the open model: the interleaved schedules add up to the rate', async () => {
    const requestsBefore = server.requests;
    const result = await runLoad({ url: server.url, rate: 300, durationMs: 1000, maxVus: 20, workers: 2 });
    assert.equal(result.summary.requests + result.summary.dropped, 300);
    assert.equal(result.summary.responses, server.requests - requestsBefore);
  });

  it('--path-template spreads requests over random ids within the range', async () => {
    const fresh = await startTestServer();
    try {
      // 1,000 random picks from 50 ids all come up but with a chance of 50 × (49/50)^1000 ≈ 1e-7.
      const result = await runUntilServed(fresh, { url: fresh.url, vus: 2, pathTemplate: '/uuid/{1..50}' }, 1000);
      const paths = fresh.paths;
      assert.ok(result.summary.responses >= 1000);
      assert.equal(paths.length, Math.min(10_000, result.summary.responses));
      for (const path of paths) assert.match(path, /^\/uuid\/([1-9]|[1-4][0-9]|50)$/);
      assert.equal(new Set(paths).size, 50, 'every id in the range comes up');
    } finally {
      await fresh.close();
    }
  });

  it('an aborted run stops early, drains, and still agrees with the server', async () => {
    const requestsBefore = server.requests;
    // Aborted once the server has answered 50, long before the planned 60 s.
    const result = await runUntilServed(server, { url: server.url, vus: 4, durationMs: 60_000 }, 50, 60_000);
    assert.equal(result.stoppedEarly, true);
    assert.ok(result.summary.durationMs < 60_000, `ran ${result.summary.durationMs} ms of the planned 60 s`);
    assert.ok(result.summary.responses >= 50);
    assert.equal(result.summary.responses, server.requests - requestsBefore);
    assert.equal(result.summary.interrupted, 0);
  });

  it('a body delimited by the close counts as a complete response', async () => {
    const untilClose = await startTestServer({ kind: 'until-close' });
    try {
      const result = await runUntilServed(untilClose, { url: untilClose.url, vus: 2 }, 20);
      assert.ok(result.summary.responses >= 20);
      assert.equal(result.summary.responses, untilClose.requests);
      assert.equal(result.summary.failed, 0);
      // Each response ended its connection: one connect per request.
      assert.equal(result.summary.connects, result.summary.responses);
    } finally {
      await untilClose.close();
    }
  });
});
