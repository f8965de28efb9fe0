/**
 * The concurrency-models grid as tables: one row per cell, and each model against the loop
 * model (B) as ratios. Cells measured in rounds show their median with the range.
 */
import { formatReading } from '../format/numbers.js';
import type { Cell } from '../format/table.js';
import { MODEL } from '../models/model.js';
import type { StepTable } from './types.js';
import { MODEL_LETTERS, MODEL_ROUTES, type RouteKey } from './models-names.js';
import { CELL_STATUS, mib, perThousand, roundTo, spreadText, type CellResult } from './models-cell.js';
import { findCell } from './models-grid.js';

const measured = (cell: CellResult): boolean => cell.status === CELL_STATUS.MEASURED || cell.status === CELL_STATUS.NOT_READY;

/** One row per cell: the table issue 6 asks for. */
export function gridTable(cells: readonly CellResult[], options: { modelColumn?: boolean } = {}): StepTable {
  const modelColumn = options.modelColumn ?? true;
  const header = [
    ...(modelColumn ? ['model'] : []),
    'route',
    'conns',
    'all answered s',
    'req/s',
    'p50 ms',
    'p99 ms',
    'threads',
    'RSS MiB',
    'vol cs',
    'invol cs',
    'CPU ms/req',
    'errors',
    'note',
  ];
  const rows: Cell[][] = cells.map((c) => {
    const ok = measured(c);
    const errors = Object.values(c.failures).reduce((sum, n) => sum + (n ?? 0), 0);
    return [
      ...(modelColumn ? [`${MODEL_LETTERS[c.model]} ${c.model}`] : []),
      MODEL_ROUTES[c.route].label,
      c.connections,
      c.status === CELL_STATUS.SKIPPED ? null : c.status === CELL_STATUS.MEASURED ? c.warmupMs / 1000 : `> ${c.warmupMs / 1000}`,
      // Cells measured in rounds show the median and the range of their runs.
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.rps, Math.round) : Math.round(c.rps)) : null,
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p50Ms) : c.latency.p50Ms) : null,
      ok ? (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p99Ms) : c.latency.p99Ms) : null,
      c.end.threads ?? c.idle.threads,
      mib(c.end.rssBytes ?? c.peakRssBytes),
      c.ctxSwitches.voluntary,
      c.ctxSwitches.involuntary,
      ok ? c.cpuMsPerRequest : null,
      ok ? errors : null,
      c.status === CELL_STATUS.MEASURED ? '' : `${c.status}: ${c.note ?? ''}`,
    ];
  });
  return { header, rows };
}

/** Each model against the loop model (B), per route and connection count, from the same run. */
export function ratioTable(cells: readonly CellResult[], routes: readonly RouteKey[], connections: readonly number[]): StepTable {
  const header = ['route', 'conns', 'A÷B req/s', 'C÷B req/s', 'A÷B p99', 'C÷B p99', 'A÷B RSS', 'C÷B RSS', 'invol/1k req A | B | C'];
  const rows: Cell[][] = [];
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? null : roundTo(a / b, 2);
  for (const route of routes) {
    for (const n of connections) {
      const loop = findCell(cells, MODEL.LOOP, route, n);
      const thread = findCell(cells, MODEL.THREAD, route, n);
      const pool = findCell(cells, MODEL.POOL, route, n);
      // Steady cells only: a cell whose warm-up ran out measured a server still starting.
      const ok = (c: CellResult | undefined): CellResult | undefined => (c !== undefined && c.status === CELL_STATUS.MEASURED ? c : undefined);
      const [a, b, c] = [ok(thread), ok(loop), ok(pool)];
      if (b === undefined) continue;
      const inv = (x: CellResult | undefined): string => (x === undefined ? '-' : formatReading(perThousand(x.ctxSwitches.involuntary, x.responses)));
      rows.push([
        MODEL_ROUTES[route].label,
        n,
        ratio(a?.rps, b.rps),
        ratio(c?.rps, b.rps),
        ratio(a?.latency.p99Ms, b.latency.p99Ms),
        ratio(c?.latency.p99Ms, b.latency.p99Ms),
        ratio(a?.end.rssBytes, b.end.rssBytes),
        ratio(c?.end.rssBytes, b.end.rssBytes),
        `${inv(a)} | ${inv(b)} | ${inv(c)}`,
      ]);
    }
  }
  return { header, rows };
}
