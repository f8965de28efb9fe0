/**
 * Coordinated omission (Gil Tene; wrk2): when the server stalls, a closed-model client stops
 * sending too, so the stall lands in one sample per VU and the percentiles look healthy. The
 * open model keeps its schedule: every start during the stall either waits on a stalled
 * connection, timed from when it was due, or is dropped, so the stall shows in the tail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeHistogram, type Histogram } from '../../src/metrics/histogram.js';
import { runLoad } from '../../src/load/index.js';
import { waitFor } from '../support/wait.js';
import { startTestServer, type TestServer } from './servers.js';

/** Long enough that no scheduling hiccup of a busy machine is mistaken for it. */
const STALL_MS = 1500;
/** Fast samples after the stall: the stalled ones (one per VU) are then far under 1 %. */
const SAMPLES_AFTER = 2000;

/** How many recorded values are at least `us` (ranks read back through percentiles). */
function countAtLeast(histogram: Histogram, us: number): number {
  const n = histogram.totalCount;
  let count = 0;
  while (count < n && histogram.getValueAtPercentile((100 * (n - count - 0.5)) / n) >= us) count += 1;
  return count;
}

describe('coordinated omission', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('closed model: the stall is one slow request per VU; the tail looks healthy', async () => {
    const vus = 5;
    const controller = new AbortController();
    const running = runLoad({ url: server.url, vus, durationMs: 60_000 }, { signal: controller.signal });
    let held: number;
    try {
      await waitFor('the run to get going', () => server.requests >= 500);
      held = await server.pauseFor(STALL_MS);
      const afterStall = server.requests;
      await waitFor(`${SAMPLES_AFTER} requests after the stall`, () => server.requests >= afterStall + SAMPLES_AFTER, { timeoutMs: 30_000 });
    } finally {
      controller.abort();
    }
    const result = await running;
    // Each VU sent one request into the stall and nothing more until it was answered.
    assert.equal(held, vus, 'requests that arrived during the stall');
    const total = decodeHistogram(result.histograms.total);
    const slow = countAtLeast(total, (STALL_MS / 2) * 1000);
    assert.equal(slow, vus, `one stalled request per VU, got ${slow}`);
    assert.ok(result.summary.latency.total.maxMs >= STALL_MS * 0.8, `max ${result.summary.latency.total.maxMs}`);
    // Thousands of fast samples around them: p99 does not see the stall at all.
    assert.ok(total.totalCount >= 100 * vus, `${total.totalCount} samples`);
    assert.ok(result.summary.latency.total.p99Ms < STALL_MS / 2, `p99 ${result.summary.latency.total.p99Ms}`);
  });

  it('open model: the schedule keeps going; p99 shows the stall and the missed starts are counted', async () => {
    const rate = 500;
    const maxVus = 25;
    const durationMs = 3000;
    const running = runLoad({ url: server.url, rate, maxVus, durationMs });
    await waitFor('the schedule to get going', () => server.requests >= 50);
    const held = await server.pauseFor(STALL_MS);
    const result = await running;
    const s = result.summary;
    const total = decodeHistogram(result.histograms.total);
    // Every pooled connection got stuck behind the stall...
    assert.equal(held, maxVus, "one request held on each of the pool's connections");
    assert.ok(countAtLeast(total, (STALL_MS / 4) * 1000) >= maxVus / 2, `stalled samples ${countAtLeast(total, (STALL_MS / 4) * 1000)}`);
    // ...and, timed from when they were due, they are more than 1 % of a schedule of at most
    // rate × duration samples, on any machine: p99 shows the stall.
    assert.ok(s.latency.total.p99Ms >= STALL_MS / 2, `p99 ${s.latency.total.p99Ms}`);
    // The starts that found no free connection were dropped, not delayed and hidden.
    assert.ok(s.dropped >= rate * (STALL_MS / 1000) * 0.5, `dropped ${s.dropped}`);
    assert.equal(s.requests + s.dropped, Math.ceil((rate * durationMs) / 1000));
    // The uncorrected service time is recorded beside it, never above it.
    assert.ok(s.latency.service.count === s.latency.total.count);
    assert.ok(s.latency.service.avgMs <= s.latency.total.avgMs);
  });
});
