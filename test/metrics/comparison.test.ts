import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareSpreads, describeComparison, formatSpread, measureInterleaved, spreadOf, VERDICT } from '../../src/metrics/comparison.js';

test('comparison: a spread is the median with the min and max of every run', () => {
  assert.deepEqual(spreadOf([3, 1, 2]), { runs: [3, 1, 2], median: 2, min: 1, max: 3 });
  assert.equal(spreadOf([4, 1, 2, 3]).median, 2.5, 'an even count takes the mean of the middle two');
  assert.throws(() => spreadOf([]), RangeError);
  assert.equal(formatSpread(spreadOf([12_345.6, 11_900, 12_800])), '12,346 (11,900–12,800)');
  assert.equal(formatSpread(spreadOf([7.25])), '7.30', 'one run has no range to show');
});

test('comparison: sides are measured interleaved, A B then B A', async () => {
  const order: string[] = [];
  const results = await measureInterleaved(['a', 'b'] as const, 3, async (side, round) => {
    order.push(`${side}${round}`);
    return round;
  });
  assert.deepEqual(order, ['a0', 'b0', 'b1', 'a1', 'a2', 'b2']);
  assert.deepEqual(results, { a: [0, 1, 2], b: [0, 1, 2] });
});

test('comparison: a side is higher or lower only when the ranges do not overlap', () => {
  const fast = spreadOf([100, 110, 105]);
  const slow = spreadOf([50, 60, 55]);
  const between = spreadOf([58, 104, 70]);
  assert.equal(compareSpreads(fast, slow), VERDICT.HIGHER);
  assert.equal(compareSpreads(slow, fast), VERDICT.LOWER);
  assert.equal(compareSpreads(fast, between), VERDICT.OVERLAP);
  assert.equal(compareSpreads(between, slow), VERDICT.OVERLAP);
});

test('comparison: the sentence follows the numbers', () => {
  const a = { label: 'keep-alive', spread: spreadOf([900, 950, 1000]) };
  const b = { label: 'a connection per request', spread: spreadOf([100, 120, 110]) };
  const differs = describeComparison(a, b, 'req/s');
  assert.match(differs, /keep-alive is higher in every run, 8\.6x the other's median/);
  assert.match(describeComparison(b, a, 'req/s'), /a connection per request is lower in every run/);
  const close = describeComparison(a, { label: 'b', spread: spreadOf([890, 1010, 940]) }, 'req/s');
  assert.match(close, /no measurable difference/);
  assert.doesNotMatch(close, /higher|lower/);
});
