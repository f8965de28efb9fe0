/**
 * Which charts a lab's results call for, decided from the data rather than from the lab's
 * name: a list of records with virtual users and requests per second is a load curve, one
 * with pool wait and query time is a pool chart, one with a time axis and an accept queue or
 * descriptor count is a time series. A lab that records its numbers under those names gets
 * its charts without the report knowing it; a field that is missing only removes a line.
 *
 * The names each rule accepts are in FIELDS; they cover what labs 2-9 record (issue 7/8:
 * knee `series` of `{ vus, rps, p50Ms, p95Ms, p99Ms }`, db-pool per pool size `rps`,
 * `p99Ms`, `waitP99Ms`, `queryP99Ms`, accept queues and FD counts over time) and the
 * sampler's own `Series` (src/metrics/types.ts).
 */
import type { LabResult } from '../labs/types.js';
import type { BarChartSpec, ChartSpec, LineChartSpec, LineSeries } from './chart.js';
import { collectRecordSets, fieldsOf, findField, findFields, isPlainObject, thin, type NumericRecord, type RecordSet } from './records.js';
import { slugify } from './svg.js';

export const FIELDS = {
  VUS: ['vus', 'virtualUsers', 'users', 'concurrency', 'clients', 'connections'],
  RPS: ['rps', 'okRps', 'throughput', 'requestsPerSec', 'reqPerSec', 'reqPerS'],
  TIME_MS: ['t', 'tMs', 'timeMs', 'elapsedMs', 'atMs', 'sinceStartMs', 'offsetMs'],
  TIME_S: ['second', 'seconds', 'tS', 'timeS', 'elapsedS', 'sec'],
  WAIT: ['waitP99Ms', 'poolWaitP99Ms', 'acquireP99Ms', 'waitMsP99'],
  QUERY: ['queryP99Ms', 'dbP99Ms', 'queryMsP99'],
  KNEE: ['kneeVus', 'knee'],
  /** Accept-queue length (the sampler's ListenQueue calls it `queued`). */
  QUEUE: ['queued', 'queue', 'queueLength', 'acceptQueue', 'acceptQueued', 'recvQ', 'backlogQueued'],
  QUEUE_LIMIT: ['max', 'backlog', 'capacity', 'queueMax', 'maxQueue', 'acceptQueueMax'],
  FDS: ['fds', 'fd', 'fdCount', 'openFds', 'descriptors', 'openFiles'],
  FD_LIMIT: ['fdLimit', 'nofile', 'softLimit', 'limit'],
  OVERFLOWS: ['listenOverflows', 'listenDrops', 'overflows', 'drops', 'TcpExt.ListenOverflows', 'TcpExt.ListenDrops'],
} as const;

const LATENCY = /^p(50|75|90|95|99|999)Ms$/i;
/** Path segments that say nothing about what a set is ("findings.age.series" → "age"). */
const GENERIC_SEGMENTS = new Set(['findings', 'measurements', 'steps', 'series', 'rows', 'points', 'samples', 'sweep', 'results', 'data', 'levels', 'runs', 'timeline', 'matrix', 'phases', 'cells', 'grid', 'monitor', 'sampler', 'overtime']);
/** More would bury the story; tables carry the rest. */
const MAX_CHARTS_PER_LAB = 12;
const MAX_CATEGORIES = 12;

/** A chart and where in the lab's page it belongs: under a step, or with the findings. */
export interface PlacedChart {
  spec: ChartSpec;
  /** Index into result.steps, or null for the findings section. */
  step: number | null;
}

export function chartsForResult(result: LabResult): PlacedChart[] {
  // Findings first: they are the lab's summary, often across steps (every model side by
  // side), and a step's chart that adds no number to them is then left out (placeCharts).
  const sources: { root: unknown; path: string; step: number | null; title: string | null }[] = [
    { root: result.findings, path: 'findings', step: null, title: null },
    ...result.steps.map((step, i) => ({ root: step.measurements, path: `steps[${i}].measurements`, step: i, title: step.title })),
  ];

  const findings = isPlainObject(result.findings) ? result.findings : {};
  const candidates: PlacedChart[] = [];
  const add = (spec: ChartSpec | null, step: number | null): void => {
    if (spec !== null && valuesOf(spec).length > 0) candidates.push({ spec, step });
  };

  for (const source of sources) {
    if (source.root === undefined || source.root === null) continue;
    for (const spec of keyedCurveCharts(source.root, source.path, findings)) add(spec, source.step);
    const covered = new Set<string>();
    for (const set of collectRecordSets(source.root, { rootPath: source.path, step: source.step })) {
      const context = contextOf(set);
      const curve = loadCurveCharts(set, context, findings);
      if (curve.length > 0) {
        for (const spec of curve) add(spec, set.step);
        continue;
      }
      const time = timeSeriesCharts(set, context);
      if (time.length > 0) {
        for (const spec of time) add(spec, set.step);
        continue;
      }
      add(poolChart(set, context), set.step);
      if (!covered.has(set.path)) {
        const categories = categoryCharts(set, context);
        for (const spec of categories) add(spec, set.step);
        // A chart of { loop: { age: {rps} } } by model covers each model's own set below it.
        if (categories.length > 0) for (const record of set.records) covered.add(`${set.path}.${record.label}`);
      }
    }
    for (const sampler of findSamplerSeries(source.root, source.path)) for (const spec of samplerCharts(sampler.series, contextOfPath(sampler.path))) add(spec, source.step);
    for (const map of findNumericMaps(source.root, source.path)) add(breakdownChart(map, source.title), source.step);
  }
  return placeCharts(candidates, result.lab.id);
}

/**
 * Leave out every chart whose numbers are all drawn on another chart of the same measure
 * (a step's table that the findings repeat, rounded or not; a summary at the heaviest load
 * that a curve through every load contains), keep the first of identical ones, cap the rest,
 * and give each an id unique in the lab.
 */
function placeCharts(candidates: readonly PlacedChart[], labId: string): PlacedChart[] {
  // Line charts are compared point by point ([x, y]): a time series of small counts is not
  // "contained" in another just because its values recur. Bars are summaries: by value.
  type Item = { x: number | null; y: number };
  const itemsOf = (spec: ChartSpec): Item[] =>
    spec.kind === 'line' ? spec.series.flatMap((s) => s.points.map(([x, y]) => ({ x, y }))) : valuesOf(spec).map((y) => ({ x: null, y }));
  const same = (a: Item, b: Item): boolean => sameNumber(a.y, b.y) && (a.x === null || b.x === null || sameNumber(a.x, b.x));
  const within = (small: readonly Item[], large: readonly Item[]): boolean => small.every((v) => large.some((u) => same(u, v)));
  // First pass, in order (findings first): a chart must add a number to those already drawn
  // for its measure (a model's step after the side-by-side comparison adds none).
  const drawn = new Map<string, Item[]>();
  const first = candidates
    .map((candidate) => ({ ...candidate, items: itemsOf(candidate.spec), measure: measureOf(candidate.spec) }))
    .filter((candidate) => {
      const before = drawn.get(candidate.measure) ?? [];
      if (within(candidate.items, before)) return false;
      drawn.set(candidate.measure, [...before, ...candidate.items]);
      return true;
    });
  // Second pass: a summary kept before the chart that contains it (the pools at the heaviest
  // load, before the curve through every load) goes too.
  const kept = first.filter((candidate, i) => !first.some((other, j) => j > i && other.measure === candidate.measure && within(candidate.items, other.items)));
  const ids = new Set<string>();
  return kept.slice(0, MAX_CHARTS_PER_LAB).map((placed) => {
    let id = `${labId}-${slugify(placed.spec.title)}`;
    for (let n = 2; ids.has(id); n++) id = `${labId}-${slugify(placed.spec.title)}-${n}`;
    ids.add(id);
    return { spec: { ...placed.spec, id }, step: placed.step };
  });
}

function valuesOf(spec: ChartSpec): number[] {
  return spec.kind === 'line' ? spec.series.flatMap((s) => s.points.map(([, y]) => y)) : spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
}

/** What the values are, so that only like numbers are compared: the value axis's title. */
function measureOf(spec: ChartSpec): string {
  return spec.y.label;
}

/** Equal, or equal once one of them was rounded to a whole number (findings often round req/s). */
function sameNumber(a: number, b: number): boolean {
  const rounded = Number.isInteger(a) !== Number.isInteger(b) ? 0.5 : 0;
  return Math.abs(a - b) <= Math.max(rounded, Math.abs(b) * 1e-9);
}

// ── Breakdowns: one number per named part (stage timings, system calls per request) ────

/** Names of maps that are a whole split into parts, worth a bar each. */
const BREAKDOWN_NAME = /(stages?|ms|perrequest|breakdown|costs?|times?)$/i;
const MAX_BREAKDOWN_PARTS = 16;

interface NumericMap {
  key: string;
  entries: [string, number][];
}

function findNumericMaps(root: unknown, rootPath: string): NumericMap[] {
  const found: NumericMap[] = [];
  const visit = (value: unknown, key: string, depth: number): void => {
    if (depth > 6 || !isPlainObject(value)) return;
    const entries = Object.entries(value);
    if (BREAKDOWN_NAME.test(key) && entries.length >= 2 && entries.length <= MAX_BREAKDOWN_PARTS && entries.every(([, v]) => typeof v === 'number' && Number.isFinite(v)) && !isDistribution(entries)) {
      found.push({ key, entries: entries as [string, number][] });
      return;
    }
    for (const [k, child] of entries) visit(child, k, depth + 1);
  };
  visit(root, rootPath.split('.').pop() as string, 0);
  return found;
}

/** `{ min, mean, p50, p99, max, count }` summarises one distribution; its parts are not a whole split up. */
function isDistribution(entries: readonly [string, unknown][]): boolean {
  return entries.filter(([k]) => /^(min|max|mean|avg|count|sum|stddev|p\d+)(ms)?$/i.test(k)).length >= entries.length / 2;
}

function breakdownChart(map: NumericMap, stepTitle: string | null): BarChartSpec {
  const ms = /ms$|stages?$/i.test(map.key);
  const name = humanize(map.key.replace(/Ms$/, ''));
  return {
    kind: 'bar',
    id: '',
    title: stepTitle ?? `${name.charAt(0).toUpperCase()}${name.slice(1)}${ms ? ' (ms)' : ''}`,
    categories: map.entries.map(([k]) => k),
    x: { label: name },
    y: { label: ms ? `${name} (ms)` : name },
    series: [{ name, values: map.entries.map(([, v]) => v) }],
    orientation: 'horizontal',
  };
}

// ── Load curve: throughput and latency percentiles against virtual users ───────────────

function loadCurveCharts(set: RecordSet, context: string, findings: Record<string, unknown>): ChartSpec[] {
  const x = findField(set, FIELDS.VUS);
  if (x === null) return [];
  const records = set.records.filter((r) => r.values[x] !== undefined);
  if (new Set(records.map((r) => r.values[x])).size < 2) return [];
  const rps = findField(set, FIELDS.RPS);
  const latency = sortPercentiles(outermost(findFields(set, LATENCY)));
  if (rps === null && latency.length === 0) return [];
  // Several curves in one list (pool sizes × VUs, routes × connections): one line per group.
  // Repeated loads that no field tells apart are cases, not a curve (`local` and `remote`
  // at the same 32 users): the category rule draws those.
  const groups = groupRecords(records, x);
  if (groups === null) return [];
  const markers = kneeMarkers(set, findings);
  const suffix = context === '' ? '' : ` (${context})`;
  const xLabel = X_LABELS[x.split('.').pop() as string] ?? humanize(x.split('.').pop() as string);
  const charts: ChartSpec[] = [];
  if (rps !== null) {
    charts.push({
      kind: 'line',
      id: '',
      title: `Throughput against ${xLabel}${suffix}`,
      caption: 'Where a line flattens, more users no longer bring more requests: the server is saturated.',
      x: { label: xLabel, log: 'auto' },
      y: { label: 'requests per second' },
      series: groups.map((g) => ({ name: g.name ?? 'req/s', points: pointsOf(g.records, x, rps) })),
      markers,
    });
  }
  if (latency.length > 0) {
    // One group: every percentile. Several: the tail alone, one line per group, or the chart is a tangle.
    const tail = latency[latency.length - 1] as string;
    const tailName = (tail.split('.').pop() as string).replace(/Ms$/i, '');
    charts.push({
      kind: 'line',
      id: '',
      title: groups.length === 1 ? `Latency percentiles against ${xLabel}${suffix}` : `${tailName} latency against ${xLabel}${suffix}`,
      caption: "Past the knee, added users only wait longer: latency grows with the queue (Little's law).",
      x: { label: xLabel, log: 'auto' },
      y: { label: 'latency (ms)' },
      series:
        groups.length === 1
          ? latency.map((field) => ({ name: (field.split('.').pop() as string).replace(/Ms$/i, ''), points: pointsOf(groups[0]?.records ?? [], x, field) }))
          : groups.map((g) => ({ name: g.name ?? tailName, points: pointsOf(g.records, x, tail) })),
      markers,
    });
  }
  return charts;
}

/** Axis titles for the names labs give their load level. */
const X_LABELS: Record<string, string> = { vus: 'virtual users', virtualUsers: 'virtual users', users: 'users', concurrency: 'concurrency', clients: 'clients', connections: 'connections' };
/** Fields that split one list of records into several curves, in order of preference. */
const GROUP_FIELDS = ['route', 'endpoint', 'model', 'pool', 'poolSize', 'mode', 'scenario', 'workers', 'cluster', 'keepAlive', 'kind', 'label', 'name'] as const;

interface RecordGroup {
  /** null when the list is one curve. */
  name: string | null;
  records: NumericRecord[];
}

/**
 * Records sorted by `x`, split by the first field in GROUP_FIELDS that takes two or more
 * values and tells apart the records that share an x; one group when x never repeats.
 */
function groupRecords(records: readonly NumericRecord[], x: string): RecordGroup[] | null {
  const byX = (a: NumericRecord, b: NumericRecord): number => (a.values[x] as number) - (b.values[x] as number);
  const xs = records.map((r) => r.values[x]);
  if (new Set(xs).size === xs.length) return [{ name: null, records: [...records].sort(byX) }];
  for (const field of GROUP_FIELDS) {
    const valueOf = (r: NumericRecord): string | undefined => r.texts[field] ?? (r.values[field] === undefined ? undefined : String(r.values[field]));
    const keyed = records.filter((r) => valueOf(r) !== undefined);
    if (keyed.length < records.length * 0.9) continue;
    const names = [...new Set(keyed.map((r) => valueOf(r) as string))];
    if (names.length < 2) continue;
    const pairs = new Set(keyed.map((r) => `${valueOf(r)}|${r.values[x]}`));
    if (pairs.size < keyed.length * 0.9) continue;
    const numeric = keyed.every((r) => r.texts[field] === undefined);
    return names.map((name) => ({ name: numeric ? `${humanize(field)} ${name}` : name, records: keyed.filter((r) => valueOf(r) === name).sort(byX) }));
  }
  return null;
}

// ── Curves kept as maps: findings.models.<model>.<metric>.<route>.<N> = value ─────────

/** Metrics worth a curve, in the order their charts appear, with the value axis's title. */
const CURVE_METRICS: readonly { names: readonly string[]; title: string; y: string }[] = [
  { names: FIELDS.RPS, title: 'Throughput', y: 'requests per second' },
  { names: ['p99Ms'], title: 'p99 latency', y: 'latency (ms)' },
  { names: ['threads'], title: 'Threads', y: 'threads' },
  { names: ['rssMb', 'rssMiB'], title: 'Memory (RSS)', y: 'RSS (MiB)' },
  { names: ['fds', 'fdCount'], title: 'Open descriptors', y: 'descriptors' },
];

interface KeyedCurve {
  /** Path segments from the root to the map. */
  segments: string[];
  points: [number, number][];
}

/**
 * Maps from a count to a value (`{ "10": 41000, "100": 52000 }`) are curves; the path to
 * each names its metric and what it belongs to. Curves of one metric are drawn together,
 * one line per value of the first path segment that varies (the models), one chart per
 * value of the others (the routes).
 */
function keyedCurveCharts(root: unknown, rootPath: string, findings: Record<string, unknown>): LineChartSpec[] {
  const curves: KeyedCurve[] = [];
  const visit = (value: unknown, segments: string[], depth: number): void => {
    if (depth > 7 || !isPlainObject(value)) return;
    const entries = Object.entries(value);
    if (entries.length >= 2 && entries.every(([k, v]) => /^\d+(\.\d+)?$/.test(k) && (v === null || typeof v === 'number'))) {
      const points = entries.filter(([, v]) => typeof v === 'number' && Number.isFinite(v)).map(([k, v]) => [Number(k), v as number] as [number, number]);
      if (points.length >= 2) curves.push({ segments, points: points.sort((a, b) => a[0] - b[0]) });
      return;
    }
    for (const [key, child] of entries) visit(child, [...segments, key], depth + 1);
  };
  visit(root, [], 0);
  if (curves.length === 0) return [];

  const xLabel = countLabel(curves, findings);
  const charts: LineChartSpec[] = [];
  for (const metric of CURVE_METRICS) {
    const matching = curves
      .map((curve) => {
        const matches = curve.segments.map((s) => metric.names.some((n) => n.toLowerCase() === s.toLowerCase()));
        const at = matches.lastIndexOf(true);
        return at === -1 ? null : { curve, rest: curve.segments.filter((_, i) => i !== at) };
      })
      .filter((m): m is { curve: KeyedCurve; rest: string[] } => m !== null);
    if (matching.length === 0) continue;
    const width = Math.max(...matching.map((m) => m.rest.length));
    const varying = [...Array(width).keys()].filter((i) => new Set(matching.map((m) => m.rest[i])).size > 1);
    const seriesAt = varying[0];
    const chartKey = (m: { rest: string[] }): string => varying.slice(1).map((i) => m.rest[i]).join(', ');
    for (const key of [...new Set(matching.map(chartKey))]) {
      const members = matching.filter((m) => chartKey(m) === key);
      const context = [contextOfPath(rootPath), key].filter((c) => c !== '').join(', ');
      charts.push({
        kind: 'line',
        id: '',
        title: `${metric.title} against ${xLabel}${context === '' ? '' : ` (${context})`}`,
        x: { label: xLabel, log: 'auto' },
        y: { label: metric.y },
        series: members.map((m) => ({ name: seriesAt === undefined ? metric.title : (m.rest[seriesAt] as string), points: m.curve.points })),
      });
    }
  }
  return charts;
}

/** The counts' name: a findings list of numbers named like a load level that holds them all. */
function countLabel(curves: readonly KeyedCurve[], findings: Record<string, unknown>): string {
  const xs = new Set(curves.flatMap((c) => c.points.map(([x]) => x)));
  for (const name of FIELDS.VUS) {
    const list = findings[name];
    if (Array.isArray(list) && [...xs].every((x) => list.includes(x))) return X_LABELS[name] ?? name;
  }
  return 'count';
}

/**
 * The knee, where the lab located one: `kneeVus` beside the list, or under the findings key
 * the list is named after (`findings.series.age` → `findings.age.kneeVus`), or a step's `knee`.
 */
function kneeMarkers(set: RecordSet, findings: Record<string, unknown>): { x: number; label: string }[] {
  const segments = set.path.replace(/\[\d+\]/g, '').split('.');
  const candidates = [set.parent, ...segments.map((segment) => findings[segment])];
  for (const candidate of candidates) {
    if (!isPlainObject(candidate)) continue;
    for (const name of FIELDS.KNEE) {
      const value = candidate[name];
      const knee = typeof value === 'number' ? value : isPlainObject(value) && typeof value.vus === 'number' ? value.vus : null;
      if (knee !== null && Number.isFinite(knee)) return [{ x: knee, label: `knee ≈ ${knee.toLocaleString('en-US')} VUs` }];
    }
  }
  return [];
}

// ── Pool wait against query time ───────────────────────────────────────────────────────

function poolChart(set: RecordSet, context: string): BarChartSpec | null {
  const wait = findField(set, FIELDS.WAIT);
  const query = findField(set, FIELDS.QUERY);
  if (wait === null || query === null) return null;
  let records = set.records.filter((r) => r.values[wait] !== undefined || r.values[query] !== undefined);
  // A matrix of pool sizes × load levels: the heaviest load is where the pools differ.
  const vus = findField(set, FIELDS.VUS);
  let atLoad = '';
  if (vus !== null && new Set(records.map((r) => r.values[vus])).size > 1) {
    const top = Math.max(...records.map((r) => r.values[vus] ?? -Infinity));
    records = records.filter((r) => r.values[vus] === top);
    atLoad = `, at ${top.toLocaleString('en-US')} ${X_LABELS[vus.split('.').pop() as string] ?? humanize(vus)}`;
  }
  records = sortByLabel(records);
  if (records.length === 0 || records.length > MAX_CATEGORIES) return null;
  const numericLabels = records.every((r) => /^\d+$/.test(r.label));
  return {
    kind: 'bar',
    id: '',
    title: `Pool wait against query time, p99${atLoad}${context === '' ? '' : ` (${context})`}`,
    caption: 'A request\'s database time is the wait for a pooled connection plus the query itself: when the wait dwarfs the query, the pool is the queue.',
    categories: records.map((r) => r.label),
    x: { label: numericLabels ? 'pool size (connections)' : axisNameOf(set) },
    y: { label: 'p99 (ms)' },
    series: [
      { name: 'waiting for a pooled connection', values: records.map((r) => r.values[wait] ?? null) },
      { name: 'running the query', values: records.map((r) => r.values[query] ?? null) },
    ],
  };
}

// ── Throughput and latency by category (models, pool sizes, endpoints) ─────────────────

function categoryCharts(set: RecordSet, context: string): BarChartSpec[] {
  if (set.records.length < 2 || set.records.length > MAX_CATEGORIES) return [];
  const records = sortByLabel(set.records);
  const suffix = context === '' ? '' : ` (${context})`;
  const axis = axisNameOf(set);
  const rpsFields = outermost(fieldsOf(set).filter((f) => (FIELDS.RPS as readonly string[]).some((n) => n.toLowerCase() === (f.split('.').pop() as string).toLowerCase())), false);
  const p99 = outermost(fieldsOf(set).filter((f) => /^p99Ms$/i.test(f.split('.').pop() as string)), false);
  const p50 = outermost(fieldsOf(set).filter((f) => /^p50Ms$/i.test(f.split('.').pop() as string)), false);
  // Only latency that sits beside the throughput (same prefix): `connect.p99Ms` alone is not the request's latency.
  const prefixes = new Set(rpsFields.map(prefixOf));
  const pick = (fields: string[]): string[] => fields.filter((f) => prefixes.has(prefixOf(f)));
  const latencyFields = p99.length === 1 && p50.length === 1 ? pick([...p50, ...p99]) : pick(p99);
  const bars = (title: string, y: string, fields: readonly string[], name: (field: string) => string): BarChartSpec | null => {
    if (fields.length === 0) return null;
    const table = tabulate(records, fields, name);
    return { kind: 'bar', id: '', title: `${title} by ${axis}${suffix}`, categories: table.categories, x: { label: axis }, y: { label: y }, series: table.series };
  };
  const charts = [
    bars('Throughput', 'requests per second', rpsFields, (f) => (rpsFields.length === 1 ? (RPS_NAMES[(f.split('.').pop() as string).toLowerCase()] ?? 'req/s') : seriesNameOf(f, 'req/s'))),
    // Pivoted (one series per run kind), the tail alone keeps the chart readable.
    bars('Latency', 'latency (ms)', latencyFields, (f) => seriesNameOf(f, '')),
  ];
  // All zeros is a chart of nothing (connections held idle make no requests).
  return charts.filter((c): c is BarChartSpec => c !== null && c.series.some((series) => series.values.some((v) => v !== null && v !== 0)));
}

/**
 * Categories and bar series from records. When two records share a label (`/work` for one
 * process and for the cluster), a text field that tells them apart (`server`) becomes the
 * series: one group of bars per label, one bar per kind of run.
 */
function tabulate(records: readonly NumericRecord[], fields: readonly string[], name: (field: string) => string): { categories: string[]; series: BarChartSpec['series'] } {
  const labels = records.map((r) => r.label);
  const unique = [...new Set(labels)];
  if (unique.length === labels.length) return { categories: labels, series: fields.map((field) => ({ name: name(field), values: records.map((r) => r.values[field] ?? null) })) };
  const field = fields[fields.length - 1] as string;
  const splitter = Object.keys(records[0]?.texts ?? {}).find((t) => {
    if (records.some((r) => r.texts[t] === undefined) || records.every((r) => r.texts[t] === r.label)) return false;
    return new Set(records.map((r) => `${r.label}|${r.texts[t]}`)).size === records.length;
  });
  if (splitter === undefined) {
    // Nothing tells them apart: number the repeats so each bar still has a name.
    const seen = new Map<string, number>();
    const categories = labels.map((label) => {
      const n = (seen.get(label) ?? 0) + 1;
      seen.set(label, n);
      return n === 1 ? label : `${label} (${n})`;
    });
    return { categories, series: fields.map((f) => ({ name: name(f), values: records.map((r) => r.values[f] ?? null) })) };
  }
  const kinds = [...new Set(records.map((r) => r.texts[splitter] as string))];
  return {
    categories: unique,
    series: kinds.map((kind) => ({ name: kind, values: unique.map((label) => records.find((r) => r.label === label && r.texts[splitter] === kind)?.values[field] ?? null) })),
  };
}

// ── Over time: accept queue, descriptors, overflows ────────────────────────────────────

function timeSeriesCharts(set: RecordSet, context: string): LineChartSpec[] {
  if (set.records.length < 3) return [];
  const msField = findField(set, FIELDS.TIME_MS);
  const sField = msField === null ? findField(set, FIELDS.TIME_S) : null;
  const time = msField ?? sField;
  if (time === null) return [];
  const toSeconds = (r: NumericRecord): number => (r.values[time] as number) / (msField !== null ? 1000 : 1);
  const records = thin(set.records.filter((r) => r.values[time] !== undefined)).sort((a, b) => toSeconds(a) - toSeconds(b));
  const suffix = context === '' ? '' : ` (${context})`;
  const line = (field: string, name: string): LineSeries => ({ name, points: records.filter((r) => r.values[field] !== undefined).map((r) => [toSeconds(r), r.values[field] as number]) });
  const charts: LineChartSpec[] = [];
  const overTime = (title: string, yLabel: string, series: LineSeries[], caption?: string): void => {
    charts.push({ kind: 'line', id: '', title: `${title}${suffix}`, ...(caption === undefined ? {} : { caption }), x: { label: 'seconds' }, y: { label: yLabel }, series });
  };
  const limitLine = (field: string): LineSeries => line(field, `limit (${field.split('.').pop()})`);

  const queue = outermost(findFields(set, exact(FIELDS.QUEUE)));
  if (queue.length > 0) {
    const limits = findFields(set, exact(FIELDS.QUEUE_LIMIT)).filter((f) => prefixOf(f) === prefixOf(queue[0] as string));
    overTime(
      'Accept queue length over time',
      'connections waiting for accept()',
      withLimits(queue.map((f) => line(f, seriesNameOf(f, 'queued'))), limits.map(limitLine)),
      'Connections the kernel has completed but the server has not yet accept()ed; at the limit, new handshakes are dropped.',
    );
  }
  const fds = outermost(findFields(set, exact(FIELDS.FDS)));
  if (fds.length > 0) {
    const limits = findFields(set, exact(FIELDS.FD_LIMIT)).filter((f) => !fds.includes(f));
    overTime(
      'Open file descriptors over time',
      'open descriptors',
      withLimits(fds.map((f) => line(f, seriesNameOf(f, 'descriptors'))), limits.map(limitLine)),
      'Every connection is a descriptor; at RLIMIT_NOFILE accept() fails with EMFILE.',
    );
  }
  const overflows = findFields(set, exact(FIELDS.OVERFLOWS));
  if (overflows.length > 0 && records.some((r) => overflows.some((f) => (r.values[f] ?? 0) > 0))) {
    overTime('Listen overflows and drops over time', 'count', overflows.map((f) => line(f, f.split('.').pop() as string)));
  }
  return charts;
}

/** Drawn with its limit when the limit is within reach; a limit 10x above the data would flatten it to the floor. */
const LIMIT_IN_REACH = 10;

function withLimits(data: LineSeries[], limits: LineSeries[]): LineSeries[] {
  const top = Math.max(0, ...data.flatMap((s) => s.points.map(([, y]) => y)));
  return [...data, ...limits.filter((l) => l.points.every(([, y]) => y <= Math.max(top, 1) * LIMIT_IN_REACH))];
}

// ── The sampler's Series (src/metrics/types.ts), when a lab stores it whole ─────────────

interface SamplerLike {
  samples: {
    t: number;
    processes?: { pid: number; name: string | null; fds: number | null; fdLimit?: { soft: number | 'unlimited' } | null }[];
    ports?: { port: number; listeners: { queued: number; max: number | null }[] }[] | null;
    counters?: Record<string, number> | null;
  }[];
}

function findSamplerSeries(root: unknown, rootPath: string): { series: SamplerLike; path: string }[] {
  const found: { series: SamplerLike; path: string }[] = [];
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > 6 || !isPlainObject(value)) return;
    const samples = value.samples;
    if (Array.isArray(samples) && samples.length >= 2 && isPlainObject(samples[0]) && typeof samples[0].t === 'number' && ('processes' in samples[0] || 'ports' in samples[0])) {
      found.push({ series: value as unknown as SamplerLike, path });
      return;
    }
    for (const [key, child] of Object.entries(value)) visit(child, `${path}.${key}`, depth + 1);
  };
  visit(root, rootPath, 0);
  return found;
}

function samplerCharts(series: SamplerLike, context: string): LineChartSpec[] {
  const samples = thin(series.samples.filter((s) => typeof s.t === 'number'));
  const suffix = context === '' ? '' : ` (${context})`;
  const charts: LineChartSpec[] = [];

  const fdLines = new Map<string, [number, number][]>();
  for (const sample of samples) {
    for (const p of sample.processes ?? []) {
      if (typeof p.fds !== 'number') continue;
      const name = `${p.name ?? 'pid'} ${p.pid}`;
      appendPoint(fdLines, name, [sample.t / 1000, p.fds]);
    }
  }
  if (fdLines.size > 0) {
    charts.push({
      kind: 'line',
      id: '',
      title: `Open file descriptors over time${suffix}`,
      caption: 'Every connection is a descriptor; at RLIMIT_NOFILE accept() fails with EMFILE.',
      x: { label: 'seconds' },
      y: { label: 'open descriptors' },
      // The busiest processes: a postmaster's dozens of idle backends would drown the legend.
      series: [...fdLines.entries()]
        .sort((a, b) => Math.max(...b[1].map((p) => p[1])) - Math.max(...a[1].map((p) => p[1])))
        .slice(0, 5)
        .map(([name, points]) => ({ name, points })),
    });
  }

  const queued = new Map<number, [number, number][]>();
  const limits = new Map<number, [number, number][]>();
  for (const sample of samples) {
    for (const port of sample.ports ?? []) {
      if (port.listeners.length === 0) continue;
      appendPoint(queued, port.port, [sample.t / 1000, port.listeners.reduce((sum, l) => sum + l.queued, 0)]);
      const max = port.listeners.reduce((sum, l) => sum + (l.max ?? 0), 0);
      if (max > 0) appendPoint(limits, port.port, [sample.t / 1000, max]);
    }
  }
  if (queued.size > 0) {
    charts.push({
      kind: 'line',
      id: '',
      title: `Accept queue length over time${suffix}`,
      caption: 'Connections the kernel has completed but the server has not yet accept()ed; at the limit, new handshakes are dropped.',
      x: { label: 'seconds' },
      y: { label: 'connections waiting for accept()' },
      series: withLimits(
        [...queued.entries()].map(([port, points]) => ({ name: `queued, port ${port}`, points })),
        [...limits.entries()].map(([port, points]) => ({ name: `limit, port ${port}`, points })),
      ),
    });
  }

  const overflowNames = ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops'];
  const totals = overflowNames.map((name) => {
    let sum = 0;
    // The sampler records each counter's change since the previous sample; summed, it is the running total.
    return { name: name.replace('TcpExt.', ''), points: samples.map((s) => [s.t / 1000, (sum += s.counters?.[name] ?? 0)] as [number, number]) };
  });
  if (totals.some((t) => t.points.some(([, v]) => v > 0))) {
    charts.push({ kind: 'line', id: '', title: `Listen overflows and drops, cumulative${suffix}`, x: { label: 'seconds' }, y: { label: 'count since the start' }, series: totals });
  }
  return charts;
}

// ── Helpers ────────────────────────────────────────────────────────────────────────────

function pointsOf(records: readonly NumericRecord[], x: string, y: string): [number, number][] {
  return records.filter((r) => r.values[x] !== undefined && r.values[y] !== undefined).map((r) => [r.values[x] as number, r.values[y] as number]);
}

/** Keep the outermost match for each last segment (`p99Ms` over `latency.p99Ms`); `unique` false keeps one per prefix. */
function outermost(fields: readonly string[], unique = true): string[] {
  if (fields.length === 0) return [];
  if (!unique) {
    // One field per prefix, but only at the shallowest depth present for that name.
    const depth = Math.min(...fields.map((f) => f.split('.').length));
    return fields.filter((f) => f.split('.').length === depth);
  }
  const byName = new Map<string, string>();
  for (const field of [...fields].sort((a, b) => a.split('.').length - b.split('.').length)) {
    const name = (field.split('.').pop() as string).toLowerCase();
    if (!byName.has(name)) byName.set(name, field);
  }
  const depth = Math.min(...[...byName.values()].map((f) => f.split('.').length));
  return [...byName.values()].filter((f) => f.split('.').length === depth);
}

function sortPercentiles(fields: readonly string[]): string[] {
  const n = (f: string): number => Number((/p(\d+)/i.exec(f.split('.').pop() as string) ?? [])[1] ?? 0) / ((/p999/i.test(f) ? 10 : 1));
  return [...fields].sort((a, b) => n(a) - n(b));
}

function sortByLabel(records: readonly NumericRecord[]): NumericRecord[] {
  return records.every((r) => /^-?\d+(\.\d+)?$/.test(r.label)) ? [...records].sort((a, b) => Number(a.label) - Number(b.label)) : [...records];
}

function exact(names: readonly string[]): RegExp {
  return new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`, 'i');
}

function prefixOf(field: string): string {
  const parts = field.split('.');
  return parts.slice(0, -1).join('.');
}

/** `age.rps` → "age"; `rps` → the fallback. */
/** Legend names for the throughput fields, which may sit side by side (all responses, successes). */
const RPS_NAMES: Record<string, string> = { rps: 'req/s', okrps: 'ok req/s', throughput: 'throughput' };

function seriesNameOf(field: string, fallback: string): string {
  const prefix = prefixOf(field);
  const raw = field.split('.').pop() as string;
  const last = raw.replace(/Ms$/i, '');
  if (prefix === '') return fallback === '' ? last : fallback === 'req/s' ? (RPS_NAMES[raw.toLowerCase()] ?? fallback) : fallback;
  return fallback === '' ? `${prefix} ${last}` : prefix;
}

/** What the categories of a set are, for an axis title: the key of the set ("models"), humanized. */
function axisNameOf(set: RecordSet): string {
  const field = set.records[0]?.labelField ?? null;
  if (!set.keyed && field !== null) return humanize(field);
  const segments = set.path.replace(/\[\d+\]/g, '').split('.').filter((s) => s !== '' && !isGeneric(s));
  const last = segments[segments.length - 1];
  return last === undefined ? 'case' : humanize(last);
}

/** A keyed set's own key names its categories (the axis), so it is not part of the context. */
function contextOf(set: RecordSet): string {
  return [contextOfPath(set.path, set.keyed), ...set.via].filter((c) => c !== '').join(', ');
}

/** `findings.age.series` → "age"; `steps[2].measurements.samples` → "". */
function contextOfPath(path: string, dropLast = false): string {
  const raw = path.replace(/\[\d+\]/g, '').split('.').filter((s) => s !== '');
  const segments = (dropLast ? raw.slice(0, -1) : raw).filter((s) => !isGeneric(s));
  return segments.map(humanize).join(', ');
}

/** `series`, `queueSeries`, `fdTimeline`: names of the container, not of what it holds. */
function isGeneric(segment: string): boolean {
  const lower = segment.toLowerCase();
  return [...GENERIC_SEGMENTS].some((g) => lower === g || (lower.endsWith(g) && g.length >= 5));
}

function humanize(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase();
}

/** Add a point to the series under `key`, starting the series when it is new. */
function appendPoint<K>(series: Map<K, [number, number][]>, key: K, point: [number, number]): void {
  const points = series.get(key);
  if (points === undefined) series.set(key, [point]);
  else points.push(point);
}
