/**
 * From the charts a lab declared (src/results/lab-result.ts) to the renderer's specs
 * (chart.ts): the axis label takes its unit, the scale hint becomes the renderer's log
 * option, the spread becomes whiskers, and each chart gets an id unique in the page that is
 * also a safe file name. Nothing here looks at what the numbers are called: a lab says what
 * to draw, the report draws it.
 */
import type { ChartAxis, ChartDeclaration } from '../results/lab-result.js';
import type { AxisSpec, ChartSpec } from './chart.js';
import { slugify } from './svg.js';

export function toChartSpec(chart: ChartDeclaration, id: string): ChartSpec {
  const caption = chart.caption === undefined ? {} : { caption: chart.caption };
  if (chart.kind === 'line') {
    return {
      kind: 'line',
      id,
      title: chart.title,
      ...caption,
      x: toAxis(chart.x, false),
      y: toAxis(chart.y, true),
      series: chart.series.map((s) => ({ name: s.name, points: s.points, ...(s.spread === undefined ? {} : { ranges: s.spread }) })),
      markers: chart.markers ?? [],
    };
  }
  return {
    kind: 'bar',
    id,
    title: chart.title,
    ...caption,
    categories: chart.categories,
    x: { label: axisLabel(chart.x) },
    y: toAxis(chart.y, true),
    series: chart.series.map((s) => ({ name: s.name, values: s.values, ...(s.spread === undefined ? {} : { ranges: s.spread }) })),
    ...(chart.orientation === undefined ? {} : { orientation: chart.orientation }),
  };
}

function toAxis(axis: ChartAxis, values: boolean): AxisSpec {
  const log = axis.scale === 'log' ? true : axis.scale === 'auto' ? 'auto' : false;
  return { label: axisLabel(axis), log, zero: axis.zero ?? values };
}

/** "throughput (req/s)": the unit after the label, as axis titles are written. */
export function axisLabel(axis: ChartAxis): string {
  return axis.unit === undefined || axis.unit === '' ? axis.label : `${axis.label} (${axis.unit})`;
}

/**
 * Ids for a lab's charts, in order: `<lab>-<title>`, numbered from the second of a title on.
 * Both parts are slugs (a-z, 0-9 and hyphens), so an id is safe as an HTML id, in a URL and
 * as a file name whatever the lab id or title said.
 */
export function chartIds(labId: string, titles: readonly string[]): string[] {
  const lab = slugify(labId);
  const seen = new Set<string>();
  return titles.map((title) => {
    const base = `${lab}-${slugify(title)}`;
    let id = base;
    for (let n = 2; seen.has(id); n++) id = `${base}-${n}`;
    seen.add(id);
    return id;
  });
}
