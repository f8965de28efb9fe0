/**
 * Coordinated omission (Gil Tene; wrk2): when the server stalls, a closed-model client stops
 * sending too, so the stall lands in one sample per VU and the percentiles look healthy. The
 * open model keeps its schedule: every start during the stall either waits on a stalled
 * connection, timed from when it was due, or is dropped, so the stall shows in the tail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeHistogram, type Histogram } from '../../src/metrics/histogram.js';
import { runLoad, type LoadProgress } from '../../src/load/index.js';
import { startTestServer, type TestServer } from './servers.js';

const STALL_MS = 800;

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

  /** Stall the server for STALL_MS once the first second has been reported. */
  const stallAfterFirstSecond = (): { onProgress(p: LoadProgress): void } => {
    let stalled = false;
    return {
      onProgress() {
        if (stalled) return;
        stalled = true;
        server.pauseFor(STALL_MS);
      },
    };
  };

  it('closed model: the stall is one slow request per VU; the tail looks healthy', async () => {
    const vus = 5;
    const result = await runLoad({ url: server.url, vus, durationMs: 2500 }, stallAfterFirstSecond());
    const total = decodeHistogram(result.histograms.total);
    const slow = countAtLeast(total, (STALL_MS / 2) * 1000);
    assert.equal(slow, vus, `one stalled request per VU, got ${slow}`);
    assert.ok(result.summary.latency.total.maxMs >= STALL_MS * 0.8, `max ${result.summary.latency.total.maxMs}`);
    // Thousands of fast samples around them: p99 does not see the stall at all.
    assert.ok(result.summary.latency.total.p99Ms < STALL_MS / 4, `p99 ${result.summary.latency.total.p99Ms}`);
  });

  it('open model: the schedule keeps going; p99 shows the stall and the missed starts are counted', async () => {
    const rate = 500;
    const maxVus = 25;
    const result = await runLoad({ url: server.url, rate, maxVus, durationMs: 2500 }, stallAfterFirstSecond());
    const s = result.summary;
    const total = decodeHistogram(result.histograms.total);
    // Every pooled connection got stuck behind the stall...
    assert.ok(countAtLeast(total, (STALL_MS / 4) * 1000) >= maxVus / 2, `stalled samples ${countAtLeast(total, (STALL_MS / 4) * 1000)}`);
    assert.ok(s.latency.total.p99Ms >= STALL_MS / 2, `p99 ${s.latency.total.p99Ms}`);
    // ...and the starts that found no free connection were dropped, not delayed and hidden.
    assert.ok(s.dropped >= rate * (STALL_MS / 1000) * 0.5, `dropped ${s.dropped}`);
    assert.equal(s.requests + s.dropped, Math.ceil((rate * 2500) / 1000));
    // The uncorrected service time is recorded beside it, never above it.
    assert.ok(s.latency.service.count === s.latency.total.count);
    assert.ok(s.latency.service.avgMs <= s.latency.total.avgMs);
  });
});
