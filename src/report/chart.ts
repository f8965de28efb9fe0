/**
 * Line and bar charts as standalone SVG text, drawn on the server with no DOM and no
 * browser: the same markup is inlined in docs/results/index.html and written as .svg files
 * the layer pages embed, so the charts read the same on GitHub, in a browser with scripts
 * off, and in a terminal's `cat`.
 *
 * Why not a library: @observablehq/plot and d3-axis draw through a DOM (server-side they
 * need jsdom, a large dependency for four kinds of chart), chartjs-node-canvas draws bitmaps
 * through a native canvas, and the useful part of d3-scale (nice ticks) is 20 lines in
 * scale.ts. What is left is layout: margins, axes, a legend, a path per series.
 *
 * Styles are attributes rather than a <style> sheet so that a chart copied out of the page
 * (or embedded with <img>, where the page's CSS does not reach) looks the same.
 */
import { formatTick, linearScale, logScale, shouldUseLog, type Scale } from './scale.js';
import { escapeXml, px, tag } from './svg.js';

/** [min, max] of the runs behind a drawn median: a whisker through the point or bar. */
export type ValueRange = readonly [number, number];

export interface LineSeries {
  name: string;
  /** [x, y] pairs; pairs with a non-finite number are left out. */
  points: readonly (readonly [number, number])[];
  /** One per point: the runs' [min, max] around y, drawn as a whisker; null (or absent) for none. */
  ranges?: readonly (ValueRange | null)[];
}

export interface AxisSpec {
  label: string;
  /** true, false, or 'auto' (log when positive values span 20x or more). Default false. */
  log?: boolean | 'auto';
  /** Start the axis at zero (default true for y, false for x). */
  zero?: boolean;
}

export interface LineChartSpec {
  kind: 'line';
  /** Unique within a page: used for element ids and file names. */
  id: string;
  title: string;
  /** One sentence under the chart: what to look at. */
  caption?: string;
  x: AxisSpec;
  y: AxisSpec;
  series: LineSeries[];
  /** Vertical reference lines ("knee at 800 VUs"). */
  markers?: { x: number; label: string }[];
}

export interface BarSeries {
  name: string;
  /** One value per category; null leaves a gap. */
  values: readonly (number | null)[];
  /** One per value: the runs' [min, max], drawn as a whisker; null (or absent) for none. */
  ranges?: readonly (ValueRange | null)[];
}

export interface BarChartSpec {
  kind: 'bar';
  id: string;
  title: string;
  caption?: string;
  categories: readonly string[];
  /** The categories' axis. */
  x: { label: string };
  /** The values' axis (drawn across when the bars are horizontal). */
  y: AxisSpec;
  series: BarSeries[];
  /** Default: vertical, unless the category names are too long to sit under the bars. */
  orientation?: 'vertical' | 'horizontal';
}

export type ChartSpec = LineChartSpec | BarChartSpec;

export const CHART_SIZE = { WIDTH: 640, HEIGHT: 360 } as const;

/**
 * Okabe & Ito's palette (2008), chosen to stay distinct under the common colour-vision
 * deficiencies; each series also gets its own dash pattern so a greyscale print still works.
 */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#000000'] as const;
const DASHES = [null, '6 3', '2 3', '8 3 2 3', '4 4', '1 2', '10 4'] as const;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const INK = '#222';
const MUTED = '#666';
const GRID = '#e3e3e3';
/** Above this many points a series is drawn as a line alone. */
const MAX_DOTS = 40;
/** Characters of title that fit across the chart at 15 px. */
const TITLE_MAX = 72;
/** Average glyph width at 11 px, for laying out labels without measuring text. */
const CHAR_PX = 6.4;

interface Frame {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function renderChart(spec: ChartSpec): string {
  return spec.kind === 'line' ? renderLineChart(spec) : renderBarChart(spec);
}

/** A point as drawn: x, y, and the runs' range around y when there is one. */
type PlotPoint = readonly [number, number, ValueRange | null];

export function renderLineChart(spec: LineChartSpec): string {
  const series = spec.series
    .map((s) => ({
      name: s.name,
      points: s.points.map(([x, y], i): PlotPoint => [x, y, finiteRange(s.ranges?.[i])]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
    }))
    .filter((s) => s.points.length > 0);
  const { WIDTH, HEIGHT } = CHART_SIZE;
  if (series.length === 0) return renderEmpty(spec.id, spec.title, 'no data points');

  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const xLog = spec.x.log === true || (spec.x.log === 'auto' && shouldUseLog([...new Set(xs)]));
  const ysAll = series.flatMap((s) => s.points.flatMap(([, y, range]) => (range === null ? [y] : [y, ...range])));
  const yLog = spec.y.log === true || (spec.y.log === 'auto' && shouldUseLog(ysAll, 50));
  // A log axis cannot place zero or negatives: those points are left out rather than faked.
  const visible = series
    .map((s) => ({
      ...s,
      points: s.points
        .filter(([x, y]) => (!xLog || x > 0) && (!yLog || y > 0))
        .map(([x, y, range]): PlotPoint => [x, y, yLog && range !== null && range[0] <= 0 ? null : range])
        .sort((a, b) => a[0] - b[0]),
    }))
    .filter((s) => s.points.length > 0);
  if (visible.length === 0) return renderEmpty(spec.id, spec.title, 'no positive values for a log axis');
  const vx = visible.flatMap((s) => s.points.map(([x]) => x));
  const vy = visible.flatMap((s) => s.points.flatMap(([, y, range]) => (range === null ? [y] : [y, ...range])));

  const legend = layoutLegend(
    visible.map((s) => s.name),
    WIDTH - 24,
  );
  const top = 34 + legend.height + 10;
  const yProbe = makeScale(vy, [0, 1], yLog, spec.y.zero ?? true);
  const left = 30 + Math.max(...yProbe.ticks.map((t) => formatTick(t).length)) * CHAR_PX + 8;
  const frame: Frame = { left, right: WIDTH - 20, top, bottom: HEIGHT - 48 };
  const xScale = makeScale(vx, [frame.left, frame.right], xLog, spec.x.zero ?? false);
  const yScale = makeScale(vy, [frame.bottom, frame.top], yLog, spec.y.zero ?? true);

  const parts: string[] = [];
  parts.push(renderGrid(yScale, frame));
  parts.push(renderXAxis(xScale, frame, spec.x.label));
  parts.push(renderYAxis(yScale, frame, spec.y.label));
  for (const marker of spec.markers ?? []) {
    if (!Number.isFinite(marker.x) || (xLog && marker.x <= 0)) continue;
    const x = xScale.map(marker.x);
    if (x < frame.left - 0.5 || x > frame.right + 0.5) continue;
    parts.push(
      tag('g', { class: 'marker' }, [
        tag('line', { x1: x, x2: x, y1: frame.top, y2: frame.bottom, stroke: MUTED, 'stroke-width': 1, 'stroke-dasharray': '3 3' }),
        tag('text', { x: x + 4, y: frame.top + 12, 'font-size': 11, fill: MUTED, 'font-family': FONT }, escapeXml(marker.label)),
      ]),
    );
  }
  visible.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(xScale.map(x))} ${px(yScale.map(y))}`).join(' ');
    // A whisker from the lowest to the highest run at each point measured in rounds: the
    // line joins the medians, the whisker shows how far apart the runs fell.
    const whiskers = s.points.flatMap(([x, , range]) => (range === null ? [] : [renderWhisker(xScale.map(x), yScale.map(range[0]), yScale.map(range[1]), color, 'vertical')]));
    // A dot per point while the points are few enough to tell apart; a dense time series is a line.
    const dots =
      s.points.length > MAX_DOTS
        ? []
        : s.points.map(([x, y, range]) =>
            tag(
              'circle',
              { cx: xScale.map(x), cy: yScale.map(y), r: 3, fill: color },
              tag('title', {}, escapeXml(`${s.name}: ${formatTick(x)} → ${formatValue(y)}${rangeText(range)}`)),
            ),
          );
    parts.push(
      tag('g', { class: 'series', 'data-series': s.name }, [
        tag('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-dasharray': DASHES[i % DASHES.length], 'stroke-linejoin': 'round' }),
        ...whiskers,
        ...dots,
      ]),
    );
  });
  parts.push(
    renderLegend(
      legend,
      visible.map((s) => s.name),
    ),
  );
  return wrapSvg(spec.id, spec.title, describeLine(spec, visible), parts);
}

export function renderBarChart(spec: BarChartSpec): string {
  const { WIDTH, HEIGHT } = CHART_SIZE;
  const series = spec.series.filter((s) => s.values.some((v) => v !== null && Number.isFinite(v)));
  if (series.length === 0 || spec.categories.length === 0) return renderEmpty(spec.id, spec.title, 'no data');
  // The scale spans the whiskers too, so a run above the tallest median is not cut off.
  const values = series.flatMap((s) =>
    s.values.flatMap((v, c) => {
      if (v === null || !Number.isFinite(v)) return [];
      const range = finiteRange(s.ranges?.[c]);
      return range === null ? [v] : [v, ...range];
    }),
  );
  const longest = Math.max(...spec.categories.map((c) => c.length)) * CHAR_PX;
  const horizontal = spec.orientation === 'horizontal' || (spec.orientation === undefined && longest > ((WIDTH - 100) / spec.categories.length) * 0.95);
  if (horizontal) return renderHorizontalBars(spec, series, values);
  const legend = layoutLegend(
    series.map((s) => s.name),
    WIDTH - 24,
  );
  const top = 34 + legend.height + 10;
  const yProbe = linearScale(Math.min(...values), Math.max(...values), [0, 1], { zero: true });
  const left = 30 + Math.max(...yProbe.ticks.map((t) => formatTick(t).length)) * CHAR_PX + 8;
  const frame: Frame = { left, right: WIDTH - 20, top, bottom: HEIGHT - 48 };
  const yScale = linearScale(Math.min(...values), Math.max(...values), [frame.bottom, frame.top], { zero: true });

  const band = (frame.right - frame.left) / spec.categories.length;
  const inner = band * 0.8;
  const barWidth = inner / series.length;
  const showValues = spec.categories.length * series.length <= 24;
  const parts: string[] = [renderGrid(yScale, frame), renderYAxis(yScale, frame, spec.y.label)];
  const labels = spec.categories.map((category, c) => {
    const cx = frame.left + band * (c + 0.5);
    return tag('text', { x: cx, y: frame.bottom + 16, 'text-anchor': 'middle', 'font-size': 11, fill: INK, 'font-family': FONT }, escapeXml(category));
  });
  parts.push(
    tag('g', { class: 'axis x-axis' }, [
      tag('line', { x1: frame.left, x2: frame.right, y1: frame.bottom, y2: frame.bottom, stroke: INK, 'stroke-width': 1 }),
      ...labels,
      tag(
        'text',
        { class: 'axis-label', x: (frame.left + frame.right) / 2, y: HEIGHT - 10, 'text-anchor': 'middle', 'font-size': 12, fill: INK, 'font-family': FONT },
        escapeXml(spec.x.label),
      ),
    ]),
  );
  const zeroY = yScale.map(0);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const bars: string[] = [];
    s.values.forEach((value, c) => {
      if (value === null || !Number.isFinite(value)) return;
      const x = frame.left + band * c + (band - inner) / 2 + barWidth * i;
      const y = yScale.map(value);
      const height = Math.abs(zeroY - y);
      const range = finiteRange(s.ranges?.[c]);
      bars.push(
        tag(
          'rect',
          { x: x + 1, y: Math.min(y, zeroY), width: Math.max(1, barWidth - 2), height: Math.max(0.5, height), fill: color },
          tag('title', {}, escapeXml(`${s.name}, ${spec.categories[c]}: ${formatValue(value)}${rangeText(range)}`)),
        ),
      );
      if (range !== null) bars.push(renderWhisker(x + barWidth / 2, yScale.map(range[0]), yScale.map(range[1]), INK, 'vertical'));
      if (showValues) {
        // The label sits above the bar, or above its whisker when the runs reach higher.
        const top = Math.min(y, zeroY, range === null ? Infinity : yScale.map(range[1]));
        bars.push(tag('text', { x: x + barWidth / 2, y: top - 3, 'text-anchor': 'middle', 'font-size': 10, fill: MUTED, 'font-family': FONT }, escapeXml(formatTick(value))));
      }
    });
    parts.push(tag('g', { class: 'series', 'data-series': s.name }, bars));
  });
  parts.push(
    renderLegend(
      legend,
      series.map((s) => s.name),
      'box',
    ),
  );
  return wrapSvg(spec.id, spec.title, describeBars(spec, series), parts);
}

/** Bars across, one row per category: for long category names ("read + parse head"). */
function renderHorizontalBars(spec: BarChartSpec, series: readonly BarSeries[], values: readonly number[]): string {
  const { WIDTH } = CHART_SIZE;
  const legend =
    series.length > 1
      ? layoutLegend(
          series.map((s) => s.name),
          WIDTH - 24,
        )
      : { height: 0, items: [] };
  const top = 34 + legend.height + 10;
  const labelWidth = Math.min(WIDTH * 0.45, Math.max(...spec.categories.map((c) => c.length)) * CHAR_PX + 8);
  const barHeight = 14;
  const rowHeight = series.length * barHeight + 8;
  const height = top + rowHeight * spec.categories.length + 48;
  const frame: Frame = { left: 12 + labelWidth, right: WIDTH - 44, top, bottom: top + rowHeight * spec.categories.length };
  const xScale = linearScale(Math.min(...values), Math.max(...values), [frame.left, frame.right], { zero: true });
  const zeroX = xScale.map(0);
  const maxChars = Math.floor((labelWidth - 8) / CHAR_PX);
  const parts: string[] = [
    tag(
      'g',
      { class: 'grid' },
      xScale.ticks.map((t) => tag('line', { x1: xScale.map(t), x2: xScale.map(t), y1: frame.top, y2: frame.bottom, stroke: GRID, 'stroke-width': 1 })),
    ),
    tag('g', { class: 'axis x-axis' }, [
      tag('line', { x1: frame.left, x2: frame.right, y1: frame.bottom, y2: frame.bottom, stroke: INK, 'stroke-width': 1 }),
      ...xScale.ticks.map((t) =>
        tag('text', { class: 'tick', x: xScale.map(t), y: frame.bottom + 16, 'text-anchor': 'middle', 'font-size': 11, fill: INK, 'font-family': FONT }, escapeXml(formatTick(t))),
      ),
      tag(
        'text',
        { class: 'axis-label', x: (frame.left + frame.right) / 2, y: height - 10, 'text-anchor': 'middle', 'font-size': 12, fill: INK, 'font-family': FONT },
        escapeXml(spec.y.label),
      ),
    ]),
    tag('g', { class: 'axis y-axis' }, [
      tag('line', { x1: frame.left, x2: frame.left, y1: frame.top, y2: frame.bottom, stroke: INK, 'stroke-width': 1 }),
      ...spec.categories.map((category, c) => {
        const label = category.length > maxChars ? `${category.slice(0, maxChars - 1)}…` : category;
        return tag(
          'text',
          { class: 'tick', x: frame.left - 6, y: frame.top + rowHeight * c + rowHeight / 2 + 4, 'text-anchor': 'end', 'font-size': 11, fill: INK, 'font-family': FONT },
          [tag('title', {}, escapeXml(category)), escapeXml(label)],
        );
      }),
    ]),
  ];
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const bars: string[] = [];
    s.values.forEach((value, c) => {
      if (value === null || !Number.isFinite(value)) return;
      const y = frame.top + rowHeight * c + 4 + barHeight * i;
      const x = xScale.map(value);
      const range = finiteRange(s.ranges?.[c]);
      bars.push(
        tag(
          'rect',
          { x: Math.min(x, zeroX), y, width: Math.max(0.5, Math.abs(x - zeroX)), height: barHeight - 2, fill: color },
          tag('title', {}, escapeXml(`${s.name}, ${spec.categories[c]}: ${formatValue(value)}${rangeText(range)}`)),
        ),
      );
      if (range !== null) bars.push(renderWhisker(y + (barHeight - 2) / 2, xScale.map(range[0]), xScale.map(range[1]), INK, 'horizontal'));
      const end = Math.max(x, zeroX, range === null ? -Infinity : xScale.map(range[1]));
      bars.push(tag('text', { x: end + 4, y: y + barHeight - 4, 'font-size': 10, fill: MUTED, 'font-family': FONT }, escapeXml(formatValue(value))));
    });
    parts.push(tag('g', { class: 'series', 'data-series': s.name }, bars));
  });
  if (series.length > 1)
    parts.push(
      renderLegend(
        legend,
        series.map((s) => s.name),
        'box',
      ),
    );
  return wrapSvg(spec.id, spec.title, describeBars(spec, series), parts, height);
}

/** A range to draw: both ends finite, in order; anything else draws no whisker. */
function finiteRange(range: ValueRange | null | undefined): ValueRange | null {
  if (range === null || range === undefined) return null;
  const [lo, hi] = range;
  return Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi ? [lo, hi] : null;
}

function rangeText(range: ValueRange | null): string {
  return range === null ? '' : ` (runs ${formatValue(range[0])} to ${formatValue(range[1])})`;
}

/**
 * An error bar: a line from one end of the range to the other with a short cap at each end.
 * `at` is the position across the line (x for a vertical whisker), `from`/`to` along it.
 */
function renderWhisker(at: number, from: number, to: number, color: string, direction: 'vertical' | 'horizontal'): string {
  const CAP = 4;
  const line = (a1: number, b1: number, a2: number, b2: number): string =>
    direction === 'vertical'
      ? tag('line', { x1: a1, y1: b1, x2: a2, y2: b2, stroke: color, 'stroke-width': 1.5 })
      : tag('line', { x1: b1, y1: a1, x2: b2, y2: a2, stroke: color, 'stroke-width': 1.5 });
  return tag('g', { class: 'spread' }, [line(at, from, at, to), line(at - CAP, from, at + CAP, from), line(at - CAP, to, at + CAP, to)]);
}

function makeScale(values: number[], range: readonly [number, number], log: boolean, zero: boolean): Scale {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return log ? logScale(min, max, range) : linearScale(min, max, range, { zero });
}

function renderGrid(scale: Scale, frame: Frame): string {
  return tag(
    'g',
    { class: 'grid' },
    scale.ticks.map((t) => {
      const y = scale.map(t);
      return tag('line', { x1: frame.left, x2: frame.right, y1: y, y2: y, stroke: GRID, 'stroke-width': 1 });
    }),
  );
}

function renderXAxis(scale: Scale, frame: Frame, label: string): string {
  const ticks = thinTicks(scale.ticks, (frame.right - frame.left) / 48);
  return tag('g', { class: 'axis x-axis' }, [
    tag('line', { x1: frame.left, x2: frame.right, y1: frame.bottom, y2: frame.bottom, stroke: INK, 'stroke-width': 1 }),
    ...ticks.map((t) => {
      const x = scale.map(t);
      return (
        tag('line', { x1: x, x2: x, y1: frame.bottom, y2: frame.bottom + 4, stroke: INK, 'stroke-width': 1 }) +
        tag('text', { class: 'tick', x, y: frame.bottom + 16, 'text-anchor': 'middle', 'font-size': 11, fill: INK, 'font-family': FONT }, escapeXml(formatTick(t)))
      );
    }),
    tag(
      'text',
      { class: 'axis-label', x: (frame.left + frame.right) / 2, y: CHART_SIZE.HEIGHT - 10, 'text-anchor': 'middle', 'font-size': 12, fill: INK, 'font-family': FONT },
      escapeXml(label),
    ),
  ]);
}

function renderYAxis(scale: Scale, frame: Frame, label: string): string {
  const midY = (frame.top + frame.bottom) / 2;
  return tag('g', { class: 'axis y-axis' }, [
    tag('line', { x1: frame.left, x2: frame.left, y1: frame.top, y2: frame.bottom, stroke: INK, 'stroke-width': 1 }),
    ...scale.ticks.map((t) => {
      const y = scale.map(t);
      return tag('text', { class: 'tick', x: frame.left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: INK, 'font-family': FONT }, escapeXml(formatTick(t)));
    }),
    tag(
      'text',
      { class: 'axis-label', x: 14, y: midY, 'text-anchor': 'middle', 'font-size': 12, fill: INK, 'font-family': FONT, transform: `rotate(-90 14 ${px(midY)})` },
      escapeXml(label),
    ),
  ]);
}

/** Keep at most `max` ticks, evenly, always keeping the first and the last. */
function thinTicks(ticks: readonly number[], max: number): number[] {
  if (ticks.length <= max) return [...ticks];
  const every = Math.ceil(ticks.length / Math.max(2, Math.floor(max)));
  return ticks.filter((_, i) => i % every === 0 || i === ticks.length - 1);
}

interface LegendLayout {
  height: number;
  /** Position of each item. */
  items: { x: number; y: number }[];
}

/** Items left to right, wrapping to a new row when the next would cross `width`. */
function layoutLegend(names: readonly string[], width: number): LegendLayout {
  if (names.length <= 1) return { height: names.length === 1 ? 16 : 0, items: names.map(() => ({ x: 12, y: 44 })) };
  const items: { x: number; y: number }[] = [];
  let x = 12;
  let row = 0;
  for (const name of names) {
    const itemWidth = 22 + name.length * CHAR_PX + 14;
    if (x + itemWidth > width && x > 12) {
      row += 1;
      x = 12;
    }
    items.push({ x, y: 44 + row * 16 });
    x += itemWidth;
  }
  return { height: (row + 1) * 16, items };
}

function renderLegend(layout: LegendLayout, names: readonly string[], swatch: 'line' | 'box' = 'line'): string {
  return tag(
    'g',
    { class: 'legend' },
    names.map((name, i) => {
      const at = layout.items[i] as { x: number; y: number };
      const color = PALETTE[i % PALETTE.length] as string;
      const mark =
        swatch === 'box'
          ? tag('rect', { x: at.x + 3, y: at.y - 10, width: 10, height: 10, fill: color })
          : tag('line', { x1: at.x, x2: at.x + 16, y1: at.y - 4, y2: at.y - 4, stroke: color, 'stroke-width': 3, 'stroke-dasharray': DASHES[i % DASHES.length] });
      return mark + tag('text', { x: at.x + 21, y: at.y, 'font-size': 11, fill: INK, 'font-family': FONT }, escapeXml(name));
    }),
  );
}

function wrapSvg(id: string, title: string, description: string, parts: readonly string[], height: number = CHART_SIZE.HEIGHT): string {
  const { WIDTH } = CHART_SIZE;
  const HEIGHT = height;
  // Long titles are cut on the picture; <title> keeps the whole one.
  const shown = title.length > TITLE_MAX ? `${title.slice(0, title.lastIndexOf(' ', TITLE_MAX - 1))} …` : title;
  return tag(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      class: 'chart',
      id,
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      width: WIDTH,
      height: HEIGHT,
      role: 'img',
      'aria-labelledby': `${id}-title ${id}-desc`,
    },
    [
      tag('title', { id: `${id}-title` }, escapeXml(title)),
      tag('desc', { id: `${id}-desc` }, escapeXml(description)),
      tag('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, fill: '#fff' }),
      tag('text', { class: 'chart-title', x: 12, y: 22, 'font-size': 15, 'font-weight': 600, fill: INK, 'font-family': FONT }, escapeXml(shown)),
      ...parts,
    ].join('\n'),
  );
}

function renderEmpty(id: string, title: string, why: string): string {
  const { WIDTH } = CHART_SIZE;
  return tag(
    'svg',
    { xmlns: 'http://www.w3.org/2000/svg', class: 'chart chart-empty', id, viewBox: `0 0 ${WIDTH} 60`, width: WIDTH, height: 60, role: 'img', 'aria-label': `${title}: ${why}` },
    [
      tag('text', { x: 12, y: 22, 'font-size': 15, 'font-weight': 600, fill: INK, 'font-family': FONT }, escapeXml(title)),
      tag('text', { x: 12, y: 44, 'font-size': 12, fill: MUTED, 'font-family': FONT }, escapeXml(`(${why})`)),
    ],
  );
}

/** The chart in words, for screen readers and for anyone reading the SVG source. */
function describeLine(spec: LineChartSpec, series: readonly { name: string; points: readonly PlotPoint[] }[]): string {
  const parts = series.map((s) => {
    const first = s.points[0] as PlotPoint;
    const last = s.points[s.points.length - 1] as PlotPoint;
    return `${s.name} from ${formatValue(first[1])} at ${formatTick(first[0])} to ${formatValue(last[1])} at ${formatTick(last[0])}`;
  });
  return `${spec.y.label} against ${spec.x.label}: ${parts.join('; ')}.`;
}

function describeBars(spec: BarChartSpec, series: readonly BarSeries[]): string {
  const parts = series.map((s) => `${s.name}: ${s.values.map((v, i) => `${spec.categories[i]} ${v === null ? 'none' : formatValue(v)}`).join(', ')}`);
  return `${spec.y.label} by ${spec.x.label}. ${parts.join('. ')}.`;
}

/** A value in a tooltip or description: full precision up to 3 decimals, thousands separated. */
function formatValue(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}
