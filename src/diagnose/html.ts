/**
 * `--html FILE`: the ramp's charts and the verdict on one self-contained page, drawn by the
 * report's own chart code (inline SVG, inline CSS, no scripts, nothing fetched), so it opens
 * from a file:// URL and reads the same with JavaScript off.
 *
 * Charts: throughput against users (the knee and the layer that gave way marked), latency
 * percentiles against users, how close each watched layer came to its threshold (1 = the
 * threshold), and the busiest threads of the target and of the generator.
 */
import { renderChart, type LineChartSpec, type LineSeries } from '../report/chart.js';
import { PAGE_CSS, renderTable } from '../report/html.js';
import { escapeXml } from '../report/svg.js';
import { formatNumber } from '../format/numbers.js';
import type { Cell } from '../format/table.js';
import { formatVus } from './format.js';
import { orderSteps } from './plan.js';
import { LAYER_RULES } from './signals.js';
import { describeRamp, describeWatched } from './summary-text.js';
import type { DiagnoseResult, StepMeasurement } from './types.js';

const CSS = `${PAGE_CSS}
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-top: 10px; border-top: 2px solid var(--ink); }
.meta { color: var(--muted); font-size: 13px; }
.verdict { background: #fff; border: 1px solid var(--rule); border-left: 4px solid var(--accent); border-radius: 6px; padding: 8px 18px; margin: 16px 0; }
.verdict .layer { font-size: 22px; font-weight: 700; }
ul { padding-left: 20px; }
li { margin: 3px 0; }
code { font-size: 13px; }
`;

function line(steps: readonly StepMeasurement[], name: string, read: (s: StepMeasurement) => number | null | undefined): LineSeries {
  const points: [number, number][] = [];
  for (const s of steps) {
    const v = read(s);
    if (v !== null && v !== undefined && Number.isFinite(v)) points.push([s.vus, v]);
  }
  return { name, points };
}

/** The charts of a diagnose result, as the report's chart specs. */
export function diagnoseCharts(result: DiagnoseResult): LineChartSpec[] {
  const steps = orderSteps(result.steps);
  const markers: { x: number; label: string }[] = [];
  const flat = result.knee?.flatVus ?? null;
  const gave = result.bottleneck.vus;
  const gaveLabel = `${result.bottleneck.layer} at ${formatNumber(gave ?? 0)}`;
  // Two markers closer than 2x in users would print their labels over each other: one then.
  if (gave !== null && flat !== null && Math.max(gave, flat) / Math.min(gave, flat) < 2) {
    markers.push({ x: gave, label: gave === flat ? gaveLabel : `${gaveLabel}; flat at ${formatNumber(flat)}` });
  } else {
    if (flat !== null) markers.push({ x: flat, label: `flat at ${formatNumber(flat)}` });
    if (gave !== null) markers.push({ x: gave, label: gaveLabel });
  }
  const x = { label: 'virtual users', log: 'auto' as const };
  const charts: LineChartSpec[] = [
    {
      kind: 'line',
      id: 'diagnose-throughput',
      title: 'Throughput against virtual users',
      caption: `Requests per second at each step; ${result.bottleneck.layer === 'none' ? 'nothing gave way' : `${result.bottleneck.layer} gave way at ${formatVus(result.bottleneck.vus ?? 0)}`}.`,
      x,
      y: { label: 'requests/s' },
      series: [line(steps, 'requests/s', (s) => s.load.rps)],
      markers,
    },
    {
      kind: 'line',
      id: 'diagnose-latency',
      title: 'Latency against virtual users',
      caption: 'Percentiles of the whole request (connect included), per step.',
      x,
      y: { label: 'ms', log: 'auto' },
      series: [line(steps, 'p50', (s) => s.load.latencyMs.p50), line(steps, 'p90', (s) => s.load.latencyMs.p90), line(steps, 'p99', (s) => s.load.latencyMs.p99)],
      markers,
    },
  ];
  const unseen = new Set(result.unseen.map((u) => u.layer));
  const pressure = LAYER_RULES.filter((rule) => !unseen.has(rule.layer))
    .map((rule) => line(steps, rule.layer, (s) => rule.pressure(s, result.context)))
    .filter((s) => s.points.length > 0);
  if (pressure.length > 0) {
    const xs = steps.map((s) => s.vus);
    // The threshold itself, as a line at 1 across the ramp.
    pressure.push({
      name: 'threshold',
      points: [
        [Math.min(...xs), 1],
        [Math.max(...xs), 1],
      ],
    });
    charts.push({
      kind: 'line',
      id: 'diagnose-thresholds',
      title: 'Each layer against its threshold',
      caption: "Each watched layer's main reading divided by its threshold: 1 is where the layer gives way (docs/diagnose.md lists them).",
      x,
      y: { label: 'share of threshold' },
      series: pressure,
      markers,
    });
  }
  const threads: LineSeries[] = [
    line(steps, 'target busiest thread', (s) => Math.max(-1, ...s.targets.map((t) => t.busiestThread?.runnablePercent ?? -1))),
    line(steps, 'generator busiest thread', (s) => s.generator.busiestThread?.runnablePercent),
    line(steps, 'machine (all cores)', (s) => (s.machine.cpuPercent === null ? null : s.machine.cpuPercent / result.context.cores)),
  ].map((s) => ({ ...s, points: s.points.filter(([, y]) => y >= 0) }));
  charts.push({
    kind: 'line',
    id: 'diagnose-cpu',
    title: 'CPU against virtual users',
    caption: 'Busiest threads: share of each step on a CPU or waiting for one (saturated at 90%); the machine: busy share of all its cores.',
    x,
    y: { label: '% of the step' },
    series: threads.filter((s) => s.points.length > 0),
    markers,
  });
  return charts;
}

function stepRows(result: DiagnoseResult): { header: string[]; rows: Cell[][] } {
  const steps = orderSteps(result.steps);
  return {
    header: ['VUs', 'step', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'target thread %', 'target fds', 'accept queue', 'client ports', 'TIME_WAIT', 'generator %', 'machine cpu %'],
    rows: steps.map((s) => [
      s.vus,
      s.phase,
      s.load.rps,
      s.load.latencyMs.p50,
      s.load.latencyMs.p99,
      s.load.failed,
      s.targets[0]?.busiestThread?.runnablePercent ?? null,
      s.targets[0]?.fdsPeak ?? null,
      s.listener?.queuedPeak ?? null,
      s.client.portsInUsePeak,
      s.client.timeWaitPeak,
      s.generator.busiestThread?.runnablePercent ?? null,
      s.machine.cpuPercent,
    ]),
  };
}

export function renderDiagnoseHtml(result: DiagnoseResult): string {
  const b = result.bottleneck;
  const list = (items: readonly string[]): string => (items.length === 0 ? '<p class="meta">none</p>' : `<ul>${items.map((i) => `<li>${escapeXml(i)}</li>`).join('')}</ul>`);
  const table = stepRows(result);
  const body = [
    '<header>',
    '<h1>socketlab diagnose</h1>',
    `<p class="meta"><code>${escapeXml(result.url)}</code>${result.pathTemplate !== new URL(result.url).pathname + new URL(result.url).search ? ` (path <code>${escapeXml(result.pathTemplate)}</code>)` : ''}, ${escapeXml(result.startedAt)}, ${formatNumber(Math.round(result.durationMs / 100) / 10)} s.</p>`,
    `<p class="meta">Ramp: ${escapeXml(describeRamp(result))}. Watched: ${escapeXml(describeWatched(result))}.</p>`,
    '</header>',
    '<main>',
    `<section class="verdict" id="verdict"><p class="layer">Bottleneck: <span id="bottleneck-layer">${escapeXml(b.layer)}</span>${b.vus === null ? '' : ` at ${formatVus(b.vus)}`}</p>`,
    ...result.verdict.map((s) => `<p>${escapeXml(s)}</p>`),
    '</section>',
    '<h2>Evidence</h2>',
    list(b.evidence.map((e) => `${e.signal}: ${e.text}`)),
    '<h2>Ruled out</h2>',
    list(result.ruledOut.map((r) => `${r.layer}: ${r.text}`)),
    '<h2>Not seen by this run</h2>',
    list(result.unseen.map((u) => `${u.layer}: ${u.reason}`)),
    '<h2>The ramp</h2>',
    `<p>Stopped: ${escapeXml(result.stop.text)}.</p>`,
    ...diagnoseCharts(result).map((spec) => `<figure>\n${renderChart(spec)}\n${spec.caption === undefined ? '' : `<figcaption>${escapeXml(spec.caption)}</figcaption>`}</figure>`),
    renderTable(table.header, table.rows),
    '<h2>Limits of this run</h2>',
    list(result.notes),
    '</main>',
    '<footer>Written by <code>socketlab diagnose --html</code>; the same numbers are in its <code>--json</code> (see docs/diagnose.md). Charts are inline SVG; this page has no scripts and loads nothing from the network.</footer>',
  ];
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="socketlab diagnose">',
    `<title>socketlab diagnose: ${escapeXml(b.layer)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
