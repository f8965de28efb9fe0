/**
 * Issue 14: /stats re-summarised a 65,536-entry ring on every call, so a flood of /stats cost
 * 65,536 x 6 histogram records each. Now each request is folded into histograms once, and a
 * summary of what is already folded only merges them: no record at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHistogram } from '../../src/metrics/histogram.js';
import { StageTimings } from '../../src/server/stage-timings.js';

test('a /stats summary records nothing: its cost does not grow with the requests seen', () => {
  // Every request timed (sampling off), so that counts are requests.
  const timings = new StageTimings(1);
  const stamps = [0, 0.1, 0.2, 0.2, 0.5, 0.6];
  for (let i = 0; i < 70_000; i++) timings.record(stamps, i % 100 === 0, 'GET', 200);
  timings.summarize(0); // folds the 65,536 requests the ring holds, once
  const prototype = Object.getPrototypeOf(createHistogram()) as { recordValue: (value: number) => void };
  const recordValue = prototype.recordValue;
  let records = 0;
  prototype.recordValue = function (this: unknown, value: number): void {
    records += 1;
    recordValue.call(this, value);
  };
  try {
    const summary = timings.summarize(5000);
    assert.equal(records, 0, 'a second summary re-recorded requests');
    // Two epochs of 32,768: the percentiles cover the last 32,768 to 65,536 requests.
    assert.ok(summary.total.count >= 32_768 && summary.total.count <= 65_536, String(summary.total.count));
    assert.equal(summary.total.p50Ms, 0.5); // first byte (0.1) to flushed (0.6)
    assert.equal(timings.count, summary.total.count);
  } finally {
    prototype.recordValue = recordValue;
  }
});

test('the last trace keeps method and status, never the target', () => {
  const timings = new StageTimings();
  timings.record([0, 1, 2, 3, 4, 5], true, 'GET', 200);
  const last = timings.lastTrace();
  assert.deepEqual(last, { method: 'GET', status: 200, firstOnConnection: true, stampsMs: [0, 1, 2, 3, 4, 5] });
});

test('one request in N is picked for timing, exactly: a countdown, not a coin', () => {
  const timings = new StageTimings(16);
  const picked = Array.from({ length: 64 }, () => timings.sampleNext());
  assert.deepEqual(
    picked.flatMap((p, i) => (p ? [i] : [])),
    [15, 31, 47, 63],
  );
  assert.ok(Array.from({ length: 10 }, () => new StageTimings(1).sampleNext()).every(Boolean), 'sampling 1 times every request');
});

test('a sampled request stands for N in the percentiles, a first request for itself', () => {
  const timings = new StageTimings(16);
  // 3 connections' first requests (fast), and 2 sampled ones standing for 16 each (slow).
  for (let i = 0; i < 3; i++) timings.record([0, 1, 1.1, 1.1, 1.2, 1.3], true, 'GET', 200);
  for (let i = 0; i < 2; i++) timings.record([0, 1, 1.1, 1.1, 1.2, 11], false, 'GET', 200);
  const summary = timings.summarize(0);
  assert.equal(timings.count, 5, 'timed requests');
  assert.equal(summary.total.count, 3 + 2 * 16, 'requests they stand for');
  // 32 of 35 are slow: the median is a slow one, as it is among the requests served.
  assert.ok(summary.total.p50Ms > 9, JSON.stringify(summary.total));
  // accept -> first byte exists only for first requests, each itself.
  assert.equal(summary.acceptToFirstByte.count, 3);
});
