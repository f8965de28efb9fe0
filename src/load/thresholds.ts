/**
 * Pass/fail criteria in a subset of k6's threshold syntax, so that a lab can state the seed's
 * rule ("p90 under 500 ms") as `p(90)<500` and the CLI can exit 99 when it fails, as k6 does.
 *
 *   [METRIC:]AGGREGATE OP NUMBER[UNIT]
 *
 * Latency: p(N) avg min max med, in ms (a `ms` or `s` suffix is accepted), on total latency
 * unless prefixed with connect:, ttfb: or service: (or k6's http_req_duration:,
 * http_req_connecting:, http_req_waiting:). Failures: `failures<0.1%` or `failures<0.001`
 * (a rate; k6's http_req_failed:rate), `failures:count<10`. Throughput: `rps>1000` (k6's
 * http_reqs:rate). Dropped starts: `dropped<10` (k6's dropped_iterations:count).
 */
import { EXIT, LAB_ERR, LabError } from '../errors.js';
import type { Histogram } from '../metrics/histogram.js';
import type { LoadSummary, ThresholdResult } from './types.js';

export const THRESHOLD_METRIC = {
  TOTAL: 'total',
  SERVICE: 'service',
  CONNECT: 'connect',
  TTFB: 'ttfb',
  FAILURES: 'failures',
  RPS: 'rps',
  DROPPED: 'dropped',
} as const;

export type ThresholdMetric = (typeof THRESHOLD_METRIC)[keyof typeof THRESHOLD_METRIC];

type LatencyMetric = typeof THRESHOLD_METRIC.TOTAL | typeof THRESHOLD_METRIC.SERVICE | typeof THRESHOLD_METRIC.CONNECT | typeof THRESHOLD_METRIC.TTFB;

const LATENCY_METRICS: readonly string[] = [THRESHOLD_METRIC.TOTAL, THRESHOLD_METRIC.SERVICE, THRESHOLD_METRIC.CONNECT, THRESHOLD_METRIC.TTFB];

/** Names accepted before the colon, k6's among them. */
const METRIC_ALIASES: Readonly<Record<string, ThresholdMetric>> = {
  total: THRESHOLD_METRIC.TOTAL,
  latency: THRESHOLD_METRIC.TOTAL,
  duration: THRESHOLD_METRIC.TOTAL,
  http_req_duration: THRESHOLD_METRIC.TOTAL,
  service: THRESHOLD_METRIC.SERVICE,
  connect: THRESHOLD_METRIC.CONNECT,
  http_req_connecting: THRESHOLD_METRIC.CONNECT,
  ttfb: THRESHOLD_METRIC.TTFB,
  http_req_waiting: THRESHOLD_METRIC.TTFB,
  failures: THRESHOLD_METRIC.FAILURES,
  http_req_failed: THRESHOLD_METRIC.FAILURES,
  rps: THRESHOLD_METRIC.RPS,
  http_reqs: THRESHOLD_METRIC.RPS,
  dropped: THRESHOLD_METRIC.DROPPED,
  dropped_iterations: THRESHOLD_METRIC.DROPPED,
};

/** The metric each k6 threshold goes under in a generated script. */
export const K6_METRIC: Readonly<Record<ThresholdMetric, string>> = {
  total: 'http_req_duration',
  // k6 times from the actual send, so its duration is the uncorrected service time.
  service: 'http_req_duration',
  connect: 'http_req_connecting',
  ttfb: 'http_req_waiting',
  failures: 'http_req_failed',
  rps: 'http_reqs',
  dropped: 'dropped_iterations',
};

export type ThresholdOp = '<' | '<=' | '>' | '>=';

export interface Threshold {
  expression: string;
  metric: ThresholdMetric;
  /** p (with `percentile`), avg, min, max, med for latency; rate or count otherwise. */
  aggregate: 'p' | 'avg' | 'min' | 'max' | 'med' | 'rate' | 'count';
  percentile: number;
  op: ThresholdOp;
  /** In the metric's unit: ms for latency, a fraction for a failure rate, per second, or a count. */
  limit: number;
}

export const THRESHOLD_FORMS = [
  'p(90)<500  avg<200  med<100  min<5  max<1000   latency in ms (or 0.5s); prefix connect:, ttfb:, service: (or http_req_duration:, http_req_connecting:, http_req_waiting:)',
  'failures<0.1%  failures<0.001  http_req_failed:rate<0.001  failures:count<10',
  'rps>1000  http_reqs:rate>1000',
  'dropped<10  dropped_iterations:count<10',
  'with <, <=, > or >=',
].join('\n  ');

function badThreshold(expression: string, why: string): LabError {
  return new LabError(LAB_ERR.BAD_THRESHOLD, `--threshold "${expression}": ${why}. Accepted forms:\n  ${THRESHOLD_FORMS}`, { exitCode: EXIT.USAGE });
}

const SYNTAX = /^\s*(?:([a-z_]+)\s*:\s*)?(p\(\s*(\d+(?:\.\d+)?)\s*\)|[a-z_]+)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?|\.\d+)\s*(%|ms|s)?\s*$/;

/** Parse one expression; a LabError BAD_THRESHOLD (exit 2) that lists the accepted forms when it is not one. */
export function parseThreshold(expression: string): Threshold {
  const match = SYNTAX.exec(expression);
  if (match === null) throw badThreshold(expression, 'not a threshold expression');
  const [, prefix, word, percentileText, op, numberText, unit] = match as unknown as [
    string,
    string | undefined,
    string,
    string | undefined,
    ThresholdOp,
    string,
    string | undefined,
  ];
  let metric: ThresholdMetric;
  let aggregate: string = percentileText !== undefined ? 'p' : word;
  if (prefix !== undefined) {
    const named = METRIC_ALIASES[prefix];
    if (named === undefined) throw badThreshold(expression, `unknown metric "${prefix}"`);
    metric = named;
  } else if (percentileText === undefined && METRIC_ALIASES[word] !== undefined && !LATENCY_METRICS.includes(METRIC_ALIASES[word] as string)) {
    // `failures<1%`, `rps>100`, `dropped<1`: the metric name alone stands for its natural aggregate.
    metric = METRIC_ALIASES[word] as ThresholdMetric;
    aggregate = metric === THRESHOLD_METRIC.DROPPED ? 'count' : 'rate';
  } else {
    metric = THRESHOLD_METRIC.TOTAL;
  }
  let limit = Number(numberText);
  const percentile = percentileText === undefined ? 0 : Number(percentileText);

  if (LATENCY_METRICS.includes(metric)) {
    if (!['p', 'avg', 'min', 'max', 'med'].includes(aggregate)) throw badThreshold(expression, `"${aggregate}" is not a latency aggregate (p(N), avg, min, max, med)`);
    if (aggregate === 'p' && !(percentile > 0 && percentile <= 100)) throw badThreshold(expression, 'a percentile must be above 0 and at most 100');
    if (unit === '%') throw badThreshold(expression, 'latency takes ms or s, not %');
    if (unit === 's') limit *= 1000;
  } else if (metric === THRESHOLD_METRIC.FAILURES) {
    if (aggregate !== 'rate' && aggregate !== 'count') throw badThreshold(expression, 'failures take rate (the default) or count');
    if (unit === 'ms' || unit === 's') throw badThreshold(expression, 'a failure rate takes a fraction or a %');
    if (aggregate === 'rate' && unit === '%') limit /= 100;
    if (aggregate === 'count' && unit === '%') throw badThreshold(expression, 'failures:count is a number of requests, not a %');
    if (aggregate === 'rate' && limit > 1) throw badThreshold(expression, `a failure rate above 1 is meaningless; write ${limit}% for a percentage`);
  } else if (metric === THRESHOLD_METRIC.RPS) {
    if (aggregate !== 'rate') throw badThreshold(expression, 'rps takes rate (requests per second)');
    if (unit !== undefined) throw badThreshold(expression, 'rps takes a plain number of requests per second');
  } else {
    if (aggregate !== 'count') throw badThreshold(expression, 'dropped takes count');
    if (unit !== undefined) throw badThreshold(expression, 'dropped takes a plain count');
  }
  return { expression, metric, aggregate: aggregate as Threshold['aggregate'], percentile, op, limit };
}

/** The measured value a threshold compares, in its unit. */
export function measureThreshold(threshold: Threshold, summary: LoadSummary, histograms: Readonly<Record<LatencyMetric, Histogram>>): number {
  if (threshold.metric === THRESHOLD_METRIC.FAILURES) return threshold.aggregate === 'count' ? summary.failed : summary.failureRate;
  if (threshold.metric === THRESHOLD_METRIC.RPS) return summary.rps;
  if (threshold.metric === THRESHOLD_METRIC.DROPPED) return summary.dropped;
  const histogram = histograms[threshold.metric];
  if (histogram.totalCount === 0) return 0;
  // Read from the merged histogram, not the summary, so that any percentile (p(99.9)) is exact.
  const us =
    threshold.aggregate === 'p'
      ? histogram.getValueAtPercentile(threshold.percentile)
      : threshold.aggregate === 'med'
        ? histogram.getValueAtPercentile(50)
        : threshold.aggregate === 'avg'
          ? histogram.mean
          : threshold.aggregate === 'min'
            ? histogram.minNonZeroValue
            : histogram.maxValue;
  return Math.round(us) / 1000;
}

function compare(actual: number, op: ThresholdOp, limit: number): boolean {
  switch (op) {
    case '<':
      return actual < limit;
    case '<=':
      return actual <= limit;
    case '>':
      return actual > limit;
    case '>=':
      return actual >= limit;
  }
}

export function evaluateThresholds(thresholds: readonly Threshold[], summary: LoadSummary, histograms: Readonly<Record<LatencyMetric, Histogram>>): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const actual = measureThreshold(threshold, summary, histograms);
    // A latency threshold over zero samples passes vacuously in k6; here it fails, because a
    // run where nothing completed must not look like a healthy one.
    const vacuous = LATENCY_METRICS.includes(threshold.metric) && histograms[threshold.metric as LatencyMetric].totalCount === 0;
    return { expression: threshold.expression, metric: threshold.metric, actual, passed: !vacuous && compare(actual, threshold.op, threshold.limit) };
  });
}

/** The same threshold in k6's syntax, under its k6 metric. */
export function toK6Threshold(threshold: Threshold): { metric: string; expression: string } {
  const metric = K6_METRIC[threshold.metric];
  const value = String(threshold.limit);
  if (LATENCY_METRICS.includes(threshold.metric)) {
    const aggregate = threshold.aggregate === 'p' ? `p(${threshold.percentile})` : threshold.aggregate;
    return { metric, expression: `${aggregate}${threshold.op}${value}` };
  }
  if (threshold.metric === THRESHOLD_METRIC.FAILURES) {
    // http_req_failed is a k6 Rate metric: `rate` only; a count becomes a custom Counter (see k6-script.ts).
    return threshold.aggregate === 'count'
      ? { metric: 'socketlab_failed_requests', expression: `count${threshold.op}${value}` }
      : { metric, expression: `rate${threshold.op}${value}` };
  }
  if (threshold.metric === THRESHOLD_METRIC.RPS) return { metric, expression: `rate${threshold.op}${value}` };
  return { metric, expression: `count${threshold.op}${value}` };
}
