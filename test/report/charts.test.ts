import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTick, linearScale, logScale, niceStep, shouldUseLog } from '../../src/report/scale.js';
import { renderBarChart, renderLineChart, type LineChartSpec } from '../../src/report/chart.js';
import { escapeXml, slugify } from '../../src/report/svg.js';
import { assertWellFormed, count } from './xml.js';

test('nice steps are 1, 2 or 5 times a power of ten', () => {
  const cases: [number, number, number][] = [
    [10, 5, 2],
    [21_000, 5, 5_000],
    [7.96, 5, 2],
    [0.9, 5, 0.2],
    [1, 5, 0.2],
    [3_000, 4, 1_000],
  ];
  for (const [span, n, expected] of cases) assert.equal(niceStep(span, n), expected, `niceStep(${span}, ${n})`);
});

test('a linear scale rounds its domain out to nice ticks and maps into the range', () => {
  const scale = linearScale(0, 21_000, [300, 50], { zero: true });
  assert.deepEqual(scale.domain, [0, 25_000]);
  assert.deepEqual(scale.ticks, [0, 5_000, 10_000, 15_000, 20_000, 25_000]);
  assert.equal(scale.map(0), 300);
  assert.equal(scale.map(25_000), 50);
  // Decimal steps come out as written, not as 0.30000000000000004.
  assert.deepEqual(linearScale(0, 0.9, [0, 1]).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  // A flat series still gets a span to draw in.
  const flat = linearScale(5, 5, [0, 100]);
  assert.ok(flat.domain[0] < 5 && flat.domain[1] > 5, JSON.stringify(flat.domain));
});

test('a log scale spans 1-2-5 numbers around the data', () => {
  const sweep = logScale(50, 3_200, [0, 100]);
  assert.deepEqual(sweep.domain, [50, 5_000]);
  assert.deepEqual(sweep.ticks, [50, 100, 200, 500, 1_000, 2_000, 5_000]);
  assert.equal(sweep.map(50), 0);
  assert.equal(sweep.map(5_000), 100);
  assert.ok(Math.abs(sweep.map(500) - 50) < 1e-9, 'one decade of two is halfway');
  assert.throws(() => logScale(0, 10, [0, 1]), RangeError);
  assert.equal(shouldUseLog([50, 100, 200, 400, 800, 1600, 3200]), true);
  assert.equal(shouldUseLog([100, 200, 300]), false);
  assert.equal(shouldUseLog([0, 10, 1000]), false, 'zero cannot sit on a log axis');
});

test('tick labels are short', () => {
  assert.deepEqual([0, 0.25, 2, 12.5, 500, 1_000, 1_500, 20_000, 150_000, 2_000_000].map(formatTick), ['0', '0.25', '2', '12.5', '500', '1k', '1.5k', '20k', '150k', '2M']);
});

const KNEE_SPEC: LineChartSpec = {
  kind: 'line',
  id: 'knee-latency',
  title: 'Latency <p99> & friends',
  x: { label: 'virtual users', log: 'auto' },
  y: { label: 'latency (ms)' },
  series: [
    {
      name: 'p50',
      points: [
        [50, 2],
        [100, 2.1],
        [200, 2.4],
        [400, 19],
        [800, 38],
      ],
    },
    {
      name: 'p99',
      points: [
        [50, 6],
        [100, 7],
        [200, 9],
        [400, 61],
        [800, 120],
        [1600, Number.NaN],
      ],
    },
  ],
  markers: [{ x: 400, label: 'knee ≈ 400 VUs' }],
};

test('a line chart has its title, axes, a path per series, a dot per point, and escapes text', () => {
  const svg = renderLineChart(KNEE_SPEC);
  assertWellFormed(svg);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="chart" id="knee-latency"/);
  assert.match(svg, /role="img"/);
  assert.ok(svg.includes('Latency &lt;p99&gt; &amp; friends'), 'the title is escaped');
  assert.ok(!svg.includes('<p99>'));
  assert.equal(count(svg, '<path '), 2);
  assert.equal(count(svg, '<circle '), 10, 'the NaN point is left out');
  assert.ok(svg.includes('>virtual users</text>') && svg.includes('>latency (ms)</text>'), 'axis titles');
  // 50..800 spans 16x: under the 20x rule the x axis stays linear, so 0 is not a tick label but 200 is.
  assert.ok(svg.includes('>200</text>'));
  assert.ok(svg.includes('knee ≈ 400 VUs'), 'the marker is drawn');
  assert.ok(svg.includes('<desc id="knee-latency-desc">latency (ms) against virtual users: p50 from 2 at 50 to 38 at 800'), svg.slice(0, 600));
});

test('a line chart switches to a log x axis for a doubling sweep and drops what a log axis cannot show', () => {
  const points: [number, number][] = [
    [50, 2_000],
    [100, 4_000],
    [200, 8_000],
    [400, 15_000],
    [800, 16_000],
    [1600, 15_800],
  ];
  const svg = renderLineChart({ ...KNEE_SPEC, series: [{ name: 'rps', points }] });
  assertWellFormed(svg);
  for (const tick of ['50', '100', '200', '500', '1k', '2k']) assert.ok(svg.includes(`>${tick}</text>`), `tick ${tick}`);
  assert.match(svg, /class="axis x-axis">[\s\S]*?class="tick"[^>]*>50<\/text>/, 'the log axis starts at 50, not 0');
  // With a zero among the x values, 'auto' stays linear; a forced log axis leaves that point out.
  const withZero = renderLineChart({ ...KNEE_SPEC, x: { label: 'virtual users', log: true }, series: [{ name: 'rps', points: [[0, 1], ...points] }] });
  assert.equal(count(withZero, '<circle '), 6, 'x = 0 has no place on a log axis');
  assert.equal(count(renderLineChart({ ...KNEE_SPEC, series: [{ name: 'rps', points: [[0, 1], ...points] }] }), '<circle '), 7);
});

test('a chart with no data says so instead of drawing empty axes', () => {
  const svg = renderLineChart({ ...KNEE_SPEC, series: [{ name: 'p50', points: [] }] });
  assertWellFormed(svg);
  assert.match(svg, /chart-empty/);
  assert.match(svg, /no data points/);
});

test('a bar chart draws a bar per value, a legend per series, and turns sideways for long names', () => {
  const bars = renderBarChart({
    kind: 'bar',
    id: 'pool',
    title: 'Pool wait against query time',
    categories: ['5', '20', '100'],
    x: { label: 'pool size' },
    y: { label: 'p99 (ms)' },
    series: [
      { name: 'wait', values: [650, 163, null] },
      { name: 'query', values: [2, 5, 8] },
    ],
  });
  assertWellFormed(bars);
  assert.equal(count(bars, '<rect '), 1 + 5 + 2, 'background, five bars (one null), two legend boxes');
  assert.ok(bars.includes('>650</text>') && bars.includes('>pool size</text>'));

  const sideways = renderBarChart({
    kind: 'bar',
    id: 'stages',
    title: 'Stages',
    categories: ['accepted → first byte read', 'read + parse head', 'handler', 'serialize + write', 'total (first byte → flushed)'],
    x: { label: 'stage' },
    y: { label: 'ms' },
    series: [{ name: 'ms', values: [1.87, 0.936, 6.45, 0.557, 7.96] }],
  });
  assertWellFormed(sideways);
  const height = Number(/height="(\d+(\.\d+)?)"/.exec(sideways)?.[1]);
  assert.ok(sideways.includes('text-anchor="end"') && sideways.includes('accepted → first byte read'));
  assert.ok(height > 60 && height < 400, `height ${height}`);
});

test('slugs and escapes', () => {
  assert.equal(slugify('Pool wait (p99), at 800 VUs'), 'pool-wait-p99-at-800-vus');
  assert.equal(slugify('→'), 'chart');
  assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('a spread is drawn as a whisker through each median, and the scale makes room for it', () => {
  const bars = renderBarChart({
    kind: 'bar',
    id: 'modes',
    title: 'Throughput by mode',
    categories: ['keep-alive', 'a connection per request'],
    x: { label: 'mode' },
    y: { label: 'throughput (req/s)' },
    series: [{ name: 'req/s', values: [30_000, 9_700], ranges: [[28_000, 41_000], null] }],
  });
  assertWellFormed(bars);
  assert.equal(count(bars, '<g class="spread">'), 1, 'one whisker: the value measured once has none');
  assert.ok(bars.includes('(runs 28,000 to 41,000)'), 'the tooltip gives the range');
  assert.ok(bars.includes('>40k</text>'), 'the axis reaches past the highest run, not only the highest median');
  const sideways = renderBarChart({
    kind: 'bar',
    id: 'case',
    title: 'By case',
    categories: ['next to the server, 32 users', 'behind the link, 32 users'],
    x: { label: 'case' },
    y: { label: 'req/s' },
    series: [
      {
        name: 'req/s',
        values: [4_600, 600],
        ranges: [
          [4_400, 4_700],
          [590, 610],
        ],
      },
    ],
    orientation: 'horizontal',
  });
  assertWellFormed(sideways);
  assert.equal(count(sideways, '<g class="spread">'), 2);

  const lines = renderLineChart({
    ...KNEE_SPEC,
    series: [
      {
        name: 'p99',
        points: [
          [50, 6],
          [100, 7],
          [200, 9],
        ],
        ranges: [[5, 8], null, [Number.NaN, 3]],
      },
    ],
  });
  assertWellFormed(lines);
  assert.equal(count(lines, '<g class="spread">'), 1, 'a range that is not two finite numbers in order draws nothing');
});
