/**
 * Issue 14: /stats re-summarised a 65,536-entry ring on every call, so a flood of /stats cost
 * 65,536 x 6 histogram records each. Now the clock tick folds new requests into histograms
 * and a summary only merges those: no record at all, however many requests there were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHistogram } from '../../src/metrics/histogram.js';
import { StageTimings } from '../../src/server/stage-timings.js';

test('a /stats summary records nothing: its cost does not grow with the requests seen', () => {
  const timings = new StageTimings();
  const stamps = [0, 0.1, 0.2, 0.2, 0.5, 0.6];
  for (let i = 0; i < 70_000; i++) timings.record(stamps, i % 100 === 0, 'GET', 200);
  timings.fold(); // what each clock tick does, off the request path
  const prototype = Object.getPrototypeOf(createHistogram()) as { recordValue: (value: number) => void };
  const recordValue = prototype.recordValue;
  let records = 0;
  prototype.recordValue = function (this: unknown, value: number): void {
    records += 1;
    recordValue.call(this, value);
  };
  try {
    const summary = timings.summarize(0);
    assert.equal(records, 0, 'summarize() re-recorded requests');
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
