/**
 * Threshold expressions (a k6 subset): parsing as data, evaluation against a result, and the
 * k6 names each maps to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAB_ERR, EXIT, isLabError } from '../../src/errors.js';
import { createHistogram, recordMillis, summarizeHistogram } from '../../src/metrics/histogram.js';
import { evaluateThresholds, parseThreshold, toK6Threshold, type Threshold } from '../../src/load/thresholds.js';
import type { LoadSummary } from '../../src/load/types.js';
import { FAILURE_KINDS, type FailureKind } from '../../src/load/constants.js';

describe('parseThreshold', () => {
  const valid: [string, Partial<Threshold>, string, string][] = [
    // expression, parsed fields, k6 metric, k6 expression
    ['p(90)<500', { metric: 'total', aggregate: 'p', percentile: 90, op: '<', limit: 500 }, 'http_req_duration', 'p(90)<500'],
    ['p(99.9) <= 1s', { metric: 'total', aggregate: 'p', percentile: 99.9, op: '<=', limit: 1000 }, 'http_req_duration', 'p(99.9)<=1000'],
    ['avg<200ms', { metric: 'total', aggregate: 'avg', limit: 200 }, 'http_req_duration', 'avg<200'],
    ['med<100', { aggregate: 'med', limit: 100 }, 'http_req_duration', 'med<100'],
    ['max<1000', { aggregate: 'max' }, 'http_req_duration', 'max<1000'],
    ['http_req_duration: p(95)<300', { metric: 'total', percentile: 95 }, 'http_req_duration', 'p(95)<300'],
    ['connect:p(99)<10', { metric: 'connect', percentile: 99, limit: 10 }, 'http_req_connecting', 'p(99)<10'],
    ['http_req_waiting:avg<5', { metric: 'ttfb', aggregate: 'avg' }, 'http_req_waiting', 'avg<5'],
    ['failures<0.1%', { metric: 'failures', aggregate: 'rate', limit: 0.001 }, 'http_req_failed', 'rate<0.001'],
    ['failures<0.01', { metric: 'failures', aggregate: 'rate', limit: 0.01 }, 'http_req_failed', 'rate<0.01'],
    ['http_req_failed:rate<0.05', { metric: 'failures', aggregate: 'rate', limit: 0.05 }, 'http_req_failed', 'rate<0.05'],
    ['failures:count<10', { metric: 'failures', aggregate: 'count', limit: 10 }, 'socketlab_failed_requests', 'count<10'],
    ['rps>1000', { metric: 'rps', aggregate: 'rate', op: '>', limit: 1000 }, 'http_reqs', 'rate>1000'],
    ['http_reqs:rate>=50', { metric: 'rps', op: '>=' }, 'http_reqs', 'rate>=50'],
    ['dropped<1', { metric: 'dropped', aggregate: 'count', limit: 1 }, 'dropped_iterations', 'count<1'],
  ];
  for (const [expression, fields, k6Metric, k6Expression] of valid) {
    it(`accepts ${expression}`, () => {
      const threshold = parseThreshold(expression);
      for (const [key, value] of Object.entries(fields)) assert.equal(threshold[key as keyof Threshold], value, key);
      assert.deepEqual(toK6Threshold(threshold), { metric: k6Metric, expression: k6Expression });
    });
  }

  const invalid = ['p90<500', 'p(90)=500', 'p(0)<5', 'p(101)<5', 'latency<5%', 'failures<5ms', 'failures<50', 'rps<10%', 'bogus:p(90)<5', 'count<5', '', 'p(90)<', 'dropped<1s'];
  for (const expression of invalid) {
    it(`rejects ${JSON.stringify(expression)} with BAD_THRESHOLD (exit 2) and the accepted forms`, () => {
      assert.throws(
        () => parseThreshold(expression),
        (error: unknown) =>
          isLabError(error) && error.code === LAB_ERR.BAD_THRESHOLD && error.exitCode === EXIT.USAGE && /Accepted forms/.test(error.message) && /p\(90\)<500/.test(error.message),
      );
    });
  }
});

describe('evaluateThresholds', () => {
  const total = createHistogram();
  for (let ms = 1; ms <= 100; ms++) recordMillis(total, ms);
  const empty = createHistogram();
  const failures = Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<FailureKind, number>;
  const summary = {
    requests: 1000,
    failed: 5,
    failureRate: 0.005,
    rps: 250,
    dropped: 0,
    failures,
    latency: { total: summarizeHistogram(total), service: summarizeHistogram(total), connect: summarizeHistogram(empty), ttfb: summarizeHistogram(total) },
  } as unknown as LoadSummary;
  const histograms = { total, service: total, connect: empty, ttfb: total };

  const cases: [string, boolean][] = [
    ['p(90)<500', true],
    ['p(90)<50', false],
    // HDR reports a bucket's highest equivalent value: 50 ms reads back as 50.015 ms (3 significant digits).
    ['p(50)<=50.1', true],
    ['p(50)<50', false],
    ['max<100', false],
    ['max<=100', true],
    ['avg<51', true],
    ['failures<1%', true],
    ['failures<0.1%', false],
    ['failures:count<=5', true],
    ['rps>200', true],
    ['rps>300', false],
    ['dropped<1', true],
    // Nothing measured is not a pass: a latency threshold over zero samples fails.
    ['connect:max<1000', false],
  ];
  for (const [expression, passed] of cases) {
    it(`${expression} → ${passed ? 'passes' : 'fails'}`, () => {
      const [result] = evaluateThresholds([parseThreshold(expression)], summary, histograms);
      assert.equal(result?.passed, passed, JSON.stringify(result));
    });
  }
});
