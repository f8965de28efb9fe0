/**
 * Lab 5's batch-mode reading says only what its numbers show: a throughput difference only
 * when the ranges part, a cost at low load only when every batched run was slower.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spreadOf } from '../../src/metrics/comparison.js';
import { readBatchMode, type BatchReading } from '../../labs/05-db-pool.js';

function reading(over: Partial<BatchReading>): BatchReading {
  return {
    pool: 5,
    size: 256,
    topVus: 1000,
    lowVus: 1,
    offRps: spreadOf([9000, 9500]),
    onRps: spreadOf([24_000, 26_000]),
    offWaitAvgMs: spreadOf([90, 100]),
    onWaitAvgMs: spreadOf([2, 3]),
    offPostgresCpu: spreadOf([90, 95]),
    onPostgresCpu: spreadOf([40, 45]),
    idsMean: spreadOf([40, 50]),
    offLowP50Ms: spreadOf([0.3, 0.32]),
    onLowP50Ms: spreadOf([0.31, 0.33]),
    onLowIdsMax: 1,
    ...over,
  };
}

test('batch mode reading: higher throughput and no measurable cost, from the numbers', () => {
  const text = readBatchMode(reading({}));
  assert.match(text, /--pool-batch 256 25,000 \(24,000–26,000\) req\/s against one statement per lookup 9,250/);
  assert.match(text, /is higher in every run, 2\.\dx/);
  assert.match(text, /carried 45 \(40–50\) ids on average: the lookups that queue/);
  assert.match(text, /no statement carried more than one id/);
  assert.match(text, /the ranges overlap, so batching cost nothing measurable here/);
});

test('batch mode reading: a cost at one user is called only when every run shows it; overlap is said', () => {
  const costly = readBatchMode(reading({ onLowP50Ms: spreadOf([0.5, 0.55]), onRps: spreadOf([9000, 9600]), idsMean: spreadOf([1, 3]) }));
  assert.match(costly, /batching cost 0\.215 ms at p50 in every run/);
  assert.match(costly, /the ranges overlap, so there is no measurable difference/);
  assert.match(costly, /hardly anything queued/);
  assert.doesNotMatch(costly, /answers several/);
});
