/**
 * What a lab step hands the report to draw (src/results/lab-result.ts ChartDeclaration),
 * built from the step's own numbers. A comparison measured in rounds is drawn as its medians
 * with each side's min–max as a whisker, so a reader sees the spread the reading judged by;
 * a value measured once is drawn without one. Non-finite numbers are left out here, once,
 * so the results file holds only what JSON can say.
 */
import type { AxisScale, BarChart, ChartAxis, ChartMarker, LineChart, ValueRange } from '../results/lab-result.js';
import type { Spread } from '../metrics/comparison.js';

/** The axes labs share, so that like charts read alike across labs. */
export const AXIS = {
  RPS: { label: 'throughput', unit: 'req/s' },
  LATENCY: { label: 'latency', unit: 'ms' },
  VUS: { label: 'virtual users', scale: 'auto' },
  CONNECTIONS: { label: 'connections', scale: 'auto' },
  SECONDS: { label: 'time', unit: 's', zero: true },
  FDS: { label: 'open descriptors' },
} as const satisfies Record<string, ChartAxis>;

export interface ChartText {
  title: string;
  /** One sentence: what to look at. */
  caption?: string;
}

export interface SpreadBarSeries {
  name: string;
  /** One per category; null (or a non-finite median) leaves a gap. */
  values: (Spread | number | null)[];
}

/** Bars of medians, each with its runs' min–max, by category. */
export function barChart(
  text: ChartText,
  axes: { x: ChartAxis; y: ChartAxis },
  categories: readonly string[],
  series: readonly SpreadBarSeries[],
  orientation?: BarChart['orientation'],
): BarChart {
  const chart: BarChart = {
    kind: 'bar',
    ...chartText(text),
    categories: [...categories],
    x: { ...axes.x },
    y: { ...axes.y },
    series: series.map((s) => {
      const values = categories.map((_, i) => s.values[i] ?? null);
      const spread = values.map(rangeOf);
      return { name: s.name, values: values.map(middleOf), ...(spread.some((r) => r !== null) ? { spread } : {}) };
    }),
  };
  if (orientation !== undefined) chart.orientation = orientation;
  return chart;
}

export interface SpreadLineSeries {
  name: string;
  /** x and the value there: a spread of runs, or one number. */
  points: readonly { x: number; y: Spread | number | null }[];
}

/** A line through the medians at each x, with each point's min–max. */
export function lineChart(text: ChartText, axes: { x: ChartAxis; y: ChartAxis }, series: readonly SpreadLineSeries[], markers: readonly ChartMarker[] = []): LineChart {
  const chart: LineChart = {
    kind: 'line',
    ...chartText(text),
    x: { ...axes.x },
    y: { ...axes.y },
    series: series
      .map((s) => {
        const kept = s.points.filter((p) => Number.isFinite(p.x) && middleOf(p.y) !== null).sort((a, b) => a.x - b.x);
        const spread = kept.map((p) => rangeOf(p.y));
        return { name: s.name, points: kept.map((p): [number, number] => [p.x, middleOf(p.y) as number]), ...(spread.some((r) => r !== null) ? { spread } : {}) };
      })
      .filter((s) => s.points.length > 0),
  };
  const shown = markers.filter((m) => Number.isFinite(m.x));
  if (shown.length > 0) chart.markers = shown.map((m) => ({ ...m }));
  return chart;
}

/** A time series: [seconds, value] pairs, thinned to at most `max` points (first and last kept). */
export function timeSeries(name: string, points: readonly (readonly [number, number | null])[], max = 600): SpreadLineSeries {
  const finite = points.filter((p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const every = finite.length / max;
  const thinned =
    finite.length <= max
      ? finite
      : [...Array.from({ length: max - 1 }, (_, i) => finite[Math.floor(i * every)] as readonly [number, number]), finite[finite.length - 1] as readonly [number, number]];
  return { name, points: thinned.map(([x, y]) => ({ x, y })) };
}

/**
 * A drawn value that is not its runs' median (lab 6 keeps each step's fastest run: other work
 * on the machine only ever slows a run down), with the runs' min–max around it.
 */
export function valueWithRuns(value: number, runs: readonly number[]): Spread {
  const finite = runs.filter(Number.isFinite);
  return { runs: [...finite], median: value, min: Math.min(value, ...finite), max: Math.max(value, ...finite) };
}

export function axis(label: string, unit?: string, scale?: AxisScale): ChartAxis {
  return { label, ...(unit === undefined ? {} : { unit }), ...(scale === undefined ? {} : { scale }) };
}

function chartText(text: ChartText): { title: string; caption?: string } {
  return text.caption === undefined ? { title: text.title } : { title: text.title, caption: text.caption };
}

function middleOf(value: Spread | number | null): number | null {
  const n = value === null ? null : typeof value === 'number' ? value : value.median;
  return n !== null && Number.isFinite(n) ? n : null;
}

/** A whisker only where the runs differed: one run, or runs that agreed, draw none. */
function rangeOf(value: Spread | number | null): ValueRange | null {
  if (value === null || typeof value === 'number') return null;
  if (!Number.isFinite(value.min) || !Number.isFinite(value.max) || value.min === value.max || !Number.isFinite(value.median)) return null;
  return [value.min, value.max];
}
