import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartsForResult, type PlacedChart } from '../../src/report/lab-charts.js';
import type { BarChartSpec, LineChartSpec } from '../../src/report/chart.js';
import { renderChart } from '../../src/report/chart.js';
import { ALL_CORES, ALL_FIXTURES, BACKLOG_OVERFLOW, CONCURRENCY_MODELS, DB_POOL, FD_EXHAUSTION, FD_EXHAUSTION_RUNS, KNEE, REQUEST_CYCLE, SLOW_LINK, labResult } from './fixtures.js';
import { assertWellFormed } from './xml.js';

const titles = (charts: readonly PlacedChart[]): string[] => charts.map((c) => c.spec.title);
const find = <T extends LineChartSpec | BarChartSpec>(charts: readonly PlacedChart[], pattern: RegExp): T => {
  const chart = charts.find((c) => pattern.test(c.spec.title));
  assert.ok(chart !== undefined, `no chart matching ${pattern} in ${JSON.stringify(titles(charts))}`);
  return chart.spec as T;
};

test('knee: throughput and latency percentiles against VUs, per endpoint, with the knee marked', () => {
  const charts = chartsForResult(KNEE);
  const throughput = find<LineChartSpec>(charts, /^Throughput against virtual users \(age\)$/);
  assert.equal(throughput.series.length, 1);
  assert.deepEqual(throughput.series[0]?.points.map(([x]) => x), [50, 100, 200, 400, 800, 1600, 3200]);
  assert.deepEqual(throughput.markers, [{ x: 400, label: 'knee ≈ 400 VUs' }]);
  const latency = find<LineChartSpec>(charts, /^Latency percentiles against virtual users \(uuid\)$/);
  assert.deepEqual(latency.series.map((s) => s.name), ['p50', 'p95', 'p99']);
  assert.deepEqual(latency.markers, [{ x: 200, label: 'knee ≈ 200 VUs' }]);
  assert.ok(charts.every((c) => c.step === null), 'the sweep is in the findings; each step repeats its part');
  assert.equal(charts.length, 4, JSON.stringify(titles(charts)));
  assert.equal(new Set(charts.map((c) => c.spec.id)).size, charts.length, 'ids are unique');
});

test('db-pool: pool wait against query time per pool size, at the heaviest load, and curves per pool', () => {
  const charts = chartsForResult(DB_POOL);
  const pool = find<BarChartSpec>(charts, /^Pool wait against query time, p99/);
  assert.deepEqual(pool.categories, ['5', '20', '100']);
  assert.equal(pool.x.label, 'pool size (connections)');
  assert.deepEqual(pool.series.map((s) => s.values), [
    [650, 162.5, 650 / 9],
    [2, 5, 8],
  ]);
  const curve = find<LineChartSpec>(charts, /^Throughput against virtual users/);
  assert.deepEqual(curve.series.map((s) => s.name), ['pool 5', 'pool 20', 'pool 100']);
  assert.ok(curve.series.every((s) => s.points.length === 3));
  // The step's matrix repeats findings.matrix exactly: it is drawn once.
  assert.equal(charts.filter((c) => /^Throughput against/.test(c.spec.title)).length, 1, JSON.stringify(titles(charts)));
  // The pool-timeout step compares two cases, unbounded and bounded, beside a setting (rate).
  const timeout = charts.find((c) => c.step === 1 && /^Latency by /.test(c.spec.title))?.spec as BarChartSpec | undefined;
  assert.deepEqual(timeout?.categories, ['unbounded', 'bounded'], JSON.stringify(titles(charts)));
  assert.deepEqual(timeout?.series.map((s) => s.values), [[900, 120], [2400, 510]]);
});

test('concurrency-models: the three models side by side per route, from findings.models.<model>.<metric>.<route>.<N>', () => {
  const charts = chartsForResult(CONCURRENCY_MODELS);
  const age = find<LineChartSpec>(charts, /^Throughput against connections \(.*age\)$/);
  assert.deepEqual(age.series.map((s) => s.name), ['thread', 'loop', 'pool']);
  assert.deepEqual(age.series[0]?.points, [[10, 9_800], [100, 7_400], [1000, 3_100]]);
  assert.equal(age.x.label, 'connections', 'named after findings.connections, which lists these counts');
  find<LineChartSpec>(charts, /^p99 latency against connections \(.*work\)$/);
  find<LineChartSpec>(charts, /^Threads against connections/);
  // Each model's step repeats numbers the comparison already shows: no per-step charts.
  assert.deepEqual(charts.filter((c) => c.step !== null).map((c) => c.spec.title), []);
});

test('backlog-overflow: the accept queue over time with its limit, and the overflows', () => {
  const charts = chartsForResult(BACKLOG_OVERFLOW);
  const queue = find<LineChartSpec>(charts, /^Accept queue length over time/);
  assert.deepEqual(queue.series.map((s) => s.name), ['queued', 'limit (max)']);
  assert.equal(queue.series[0]?.points.length, 40);
  assert.deepEqual(queue.series[0]?.points[4], [1, 16], 'tMs becomes seconds');
  find<LineChartSpec>(charts, /^Listen overflows and drops over time/);
  assert.ok(charts.every((c) => c.step === 0));
});

test('fd-exhaustion: a whole sampler Series gives descriptors and the accept queue over time', () => {
  const charts = chartsForResult(FD_EXHAUSTION);
  const fds = find<LineChartSpec>(charts, /^Open file descriptors over time/);
  assert.deepEqual(fds.series.map((s) => s.name), ['node 4242']);
  assert.equal(Math.max(...(fds.series[0]?.points.map(([, y]) => y) ?? [])), 64);
  const queue = find<LineChartSpec>(charts, /^Accept queue length over time/);
  assert.deepEqual(queue.series.map((s) => s.name), ['queued, port 40123', 'limit, port 40123']);
});

test('fd-exhaustion: a series inside each item of a list is named after the item (pool 20, pool 200)', () => {
  const charts = chartsForResult(FD_EXHAUSTION_RUNS);
  const pooled = find<LineChartSpec>(charts, /^Open file descriptors over time \(pool 20\)$/);
  assert.equal(Math.max(...(pooled.series[0]?.points.map(([, y]) => y) ?? [])), 169);
  find<LineChartSpec>(charts, /^Open file descriptors over time \(pool 200\)$/);
  const throughput = find<BarChartSpec>(charts, /^Throughput by pool/);
  assert.deepEqual(throughput.series.map((s) => [s.name, s.values]), [['req/s', [165.4, 499]]], 'one throughput field: named req/s, not after its prefix');
});

test('request-cycle: the stages of one request as bars', () => {
  const charts = chartsForResult(REQUEST_CYCLE);
  const stages = find<BarChartSpec>(charts, /stage|Stages/);
  assert.equal(stages.categories.length, 6);
  assert.equal(stages.orientation, 'horizontal');
  assert.equal(charts.length, 1, `the step repeats findings.stages: ${JSON.stringify(titles(charts))}`);
});

test('slow-link: cases side by side (local, remote, many users), the link settings beside them left out', () => {
  const charts = chartsForResult(SLOW_LINK);
  const throughput = find<BarChartSpec>(charts, /^Throughput by /);
  assert.deepEqual(throughput.categories, ['local', 'remote', 'manyUsers']);
  assert.deepEqual(throughput.series[0]?.values, [4640.3, 606.2, 1660]);
  assert.ok(!charts.some((c) => c.spec.kind === 'line'), 'the same 32 users twice is not a curve');
});

test('all-cores: runs that share a route are told apart by their server, and idle clients make no chart', () => {
  const charts = chartsForResult(ALL_CORES);
  const throughput = find<BarChartSpec>(charts, /^Throughput by route/);
  assert.deepEqual(throughput.categories, ['/work?ms=5', '/age?birthdate=1993-05-01']);
  assert.deepEqual(throughput.series.map((s) => [s.name, s.values]), [
    ['one process', [95.9, 31_155]],
    ['cluster of 2', [73.7, 19_327]],
  ]);
  assert.ok(!charts.some((c) => /clients/.test(c.spec.title)), JSON.stringify(titles(charts)));
});

test('every fixture renders to well-formed SVG', () => {
  for (const result of ALL_FIXTURES) {
    const charts = chartsForResult(result);
    assert.ok(charts.length > 0, `${result.lab.id} has charts`);
    assert.ok(charts.length <= 12);
    for (const chart of charts) assertWellFormed(renderChart(chart.spec));
  }
});

test('missing and odd fields remove lines, never the report', () => {
  const sparse = labResult({
    id: 'knee',
    number: 6,
    title: 'The knee',
    layer: '1,000 → 10,000',
    steps: [{ title: 'half a run', status: 'failed', reason: 'quit' }],
    findings: {
      age: { kneeVus: null, series: [{ vus: 100, rps: 1000 }, { vus: 200, rps: 1900 }, { vus: 400, rps: 'n/a', p99Ms: 12 }, { vus: 800, p99Ms: 40, p50Ms: null }] },
      uuid: null,
      odd: [1, 'two', null, { deep: { deeper: { deepest: [{}] } } }],
      empty: {},
      nested: [[{ vus: 1 }]],
    },
  });
  const charts = chartsForResult(sparse);
  const throughput = find<LineChartSpec>(charts, /^Throughput against virtual users/);
  assert.deepEqual(throughput.series[0]?.points, [[100, 1000], [200, 1900]], 'the record with rps "n/a" is left out');
  assert.deepEqual(throughput.markers, []);
  const latency = find<LineChartSpec>(charts, /^Latency percentiles/);
  assert.deepEqual(latency.series.map((s) => s.name), ['p99'], 'p50 is in too few records to be a line');
  for (const chart of charts) assertWellFormed(renderChart(chart.spec));

  const bare = chartsForResult(labResult({ id: 'x', number: 9, title: 'x', layer: 'x', steps: [], findings: {} }));
  assert.deepEqual(bare, []);
  // Results from before `measurements` existed, or with null findings, still render.
  const legacy = { ...bare, ...labResult({ id: 'y', number: 9, title: 'y', layer: 'y', steps: [{ title: 's', reading: 'r', tables: [] }], findings: {} }) };
  (legacy as { findings: unknown }).findings = null;
  assert.deepEqual(chartsForResult(legacy), []);
});
