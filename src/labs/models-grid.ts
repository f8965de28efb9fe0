/**
 * The concurrency-models grid: every cell of models × connection counts × routes, run in
 * rounds so that each comparison has a spread, and what the grid as a whole says about Model
 * A's threads (RSS per thread, start-up time), which also keeps it from being run where the
 * memory is not there.
 */
import { formatBytes } from '../format/numbers.js';
import type { LatencySummary } from '../metrics/histogram.js';
import { MODEL, type ModelName } from '../models/model.js';
import { measureInterleaved, spreadOf, type Spread } from '../metrics/comparison.js';
import { MODEL_ROUTES, type RouteKey } from './models-names.js';
import {
  CELL_STATUS,
  measureCell,
  memoryFloorBytes,
  perThousand,
  readMemAvailableBytes,
  skippedCell,
  type CellEnvironment,
  type CellResult,
  type CellSpec,
  type CellSpread,
  type CellStatus,
} from './models-cell.js';

export interface GridPlan {
  models: readonly ModelName[];
  connections: readonly number[];
  routes: readonly RouteKey[];
  /** Run a route only at these counts (default: every count). */
  routeConnections?: Partial<Record<RouteKey, readonly number[]>>;
  measureSeconds: number;
  warmupDeadlineMs: number;
}

/**
 * Every cell of the grid, model by model, connections ascending. When a model gives way at a
 * count, its larger cells are skipped with the reason: on that route for models B and C (a
 * loop that cannot take 1000 connections on /work may still take them on /uuid), on every
 * route for Model A, whose threads cost the same whatever the route and whose warm-up already
 * ran out of time or memory. Model A's memory for a count is also predicted from the RSS per
 * thread it just showed, so a small machine is not driven into swap to find out.
 */
export async function runGrid(plan: GridPlan, env: CellEnvironment, onCell?: (cell: CellResult) => void): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  const push = (cell: CellResult): void => {
    cells.push(cell);
    onCell?.(cell);
  };
  for (const model of plan.models) {
    /** Why the larger counts are not run, by route ('*': every route). */
    const gaveWay = new Map<RouteKey | '*', string>();
    for (const connections of plan.connections) {
      for (const route of plan.routes) {
        const only = plan.routeConnections?.[route];
        if (only !== undefined && !only.includes(connections)) continue;
        const spec: CellSpec = { model, connections, route, measureSeconds: plan.measureSeconds, warmupDeadlineMs: plan.warmupDeadlineMs };
        if (MODEL_ROUTES[route].needsDb && env.dbUrl === null) {
          push(skippedCell(spec, 'no PostgreSQL'));
          continue;
        }
        const earlier = gaveWay.get('*') ?? gaveWay.get(route);
        if (earlier !== undefined) {
          push(skippedCell(spec, earlier));
          continue;
        }
        const predicted = model === MODEL.THREAD ? predictThreadRss(cells, connections) : null;
        const free = readMemAvailableBytes();
        if (predicted !== null && free !== null && predicted > free - memoryFloorBytes()) {
          const note = `not run: ${connections} threads would need ~${formatBytes(predicted)} (${predictedPerThreadText(cells)}), ${formatBytes(free)} is free`;
          push(skippedCell(spec, note));
          gaveWay.set('*', note);
          continue;
        }
        const cell = await measureCell(spec, env);
        push(cell);
        if (cell.status === CELL_STATUS.MEMORY || cell.status === CELL_STATUS.NOT_READY) {
          const why = `not run: at ${connections} connections on ${MODEL_ROUTES[route].label} ${cell.note ?? 'the model gave way'}`;
          gaveWay.set(model === MODEL.THREAD || cell.status === CELL_STATUS.MEMORY ? '*' : route, why);
        }
      }
    }
  }
  return cells;
}

// ─── rounds ──────────────────────────────────────────────────────────────────────────────

const cellKey = (c: Pick<CellResult, 'model' | 'route' | 'connections'>): string => `${c.model} ${c.route} ${c.connections}`;

/**
 * The grid, then every steady cell again, `rounds` runs in all, interleaved (the first
 * round runs the grid in order, the next in reverse, and so on), so that a comparison
 * between two cells is a median with its range, not one run's luck. A cell that gave way
 * (its warm-up ran out, memory ran low) or was skipped is not repeated: that is a state,
 * not a number with noise, and at 1000 connections one such cell costs 45 s.
 * Returns one combined cell per cell of the grid (combineRuns).
 */
export async function runGridRounds(plan: GridPlan, rounds: number, env: CellEnvironment, onCell?: (cell: CellResult, round: number) => void): Promise<CellResult[]> {
  const first = await runGrid(plan, env, (cell) => onCell?.(cell, 0));
  const runs = new Map(first.map((cell) => [cellKey(cell), [cell]]));
  const specs = new Map(
    first.map((cell) => [
      cellKey(cell),
      { model: cell.model, route: cell.route, connections: cell.connections, measureSeconds: plan.measureSeconds, warmupDeadlineMs: plan.warmupDeadlineMs },
    ]),
  );
  const repeat = first.filter((cell) => cell.status === CELL_STATUS.MEASURED).map(cellKey);
  if (rounds > 1 && repeat.length > 0) {
    // The grid ran in order: the next round starts from its end.
    const more = await measureInterleaved([...repeat].reverse(), rounds - 1, async (key, round) => {
      const cell = await measureCell(specs.get(key) as CellSpec, env);
      onCell?.(cell, round + 1);
      return cell;
    });
    for (const [key, cells] of Object.entries(more)) runs.get(key)?.push(...(cells as CellResult[]));
  }
  return first.map((cell) => combineRuns(runs.get(cellKey(cell)) as CellResult[]));
}

const STATUS_RANK: Record<CellStatus, number> = { measured: 0, 'not-ready': 1, memory: 2, skipped: 3 };

/**
 * One cell from its runs: the numbers readings use are medians (the spread keeps their
 * range), the status is the worst any run had, and the rest (the model's /stats, notes)
 * comes from the run whose throughput is nearest the median.
 */
export function combineRuns(runs: readonly CellResult[]): CellResult {
  const first = runs[0];
  if (first === undefined) throw new RangeError('a cell needs at least one run');
  const all = (read: (c: CellResult) => number | null): number[] | null => {
    const values = runs.map(read);
    return values.every((v): v is number => v !== null && Number.isFinite(v)) ? values : null;
  };
  const spreadOrNull = (read: (c: CellResult) => number | null): Spread | null => {
    const values = all(read);
    return values === null ? null : spreadOf(values);
  };
  const median = (read: (c: CellResult) => number | null, fallback: number | null): number | null => spreadOrNull(read)?.median ?? fallback;
  const rps = spreadOf(runs.map((c) => c.rps));
  const typical = [...runs].sort((a, b) => Math.abs(a.rps - rps.median) - Math.abs(b.rps - rps.median))[0] as CellResult;
  const worst = [...runs].sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status])[0] as CellResult;
  const spread: CellSpread = {
    runs: runs.length,
    rps,
    p50Ms: spreadOf(runs.map((c) => c.latency.p50Ms)),
    p99Ms: spreadOf(runs.map((c) => c.latency.p99Ms)),
    warmupMs: spreadOf(runs.map((c) => c.warmupMs)),
    rssBytes: spreadOrNull((c) => c.end.rssBytes),
    cpuMsPerRequest: spreadOrNull((c) => c.cpuMsPerRequest),
    involuntaryPerThousand: spreadOrNull((c) => perThousand(c.ctxSwitches.involuntary, c.responses)),
  };
  return {
    ...typical,
    status: worst.status,
    note: worst.note ?? typical.note,
    warmupMs: spread.warmupMs.median,
    rps: rps.median,
    responses: Math.round(median((c) => c.responses, typical.responses) as number),
    latency: { ...typical.latency, p50Ms: spread.p50Ms.median, p99Ms: spread.p99Ms.median },
    end: {
      ...typical.end,
      threads: median((c) => c.end.threads, typical.end.threads),
      rssBytes: median((c) => c.end.rssBytes, typical.end.rssBytes),
    },
    ctxSwitches: {
      voluntary: median((c) => c.ctxSwitches.voluntary, typical.ctxSwitches.voluntary),
      involuntary: median((c) => c.ctxSwitches.involuntary, typical.ctxSwitches.involuntary),
    },
    cpuMsPerRequest: spread.cpuMsPerRequest?.median ?? typical.cpuMsPerRequest,
    pgBackends: median((c) => c.pgBackends, typical.pgBackends),
    spread,
    runs: [...runs],
  };
}

export function findCell(cells: readonly CellResult[], model: ModelName, route: RouteKey, connections: number): CellResult | undefined {
  return cells.find((c) => c.model === model && c.route === route && c.connections === connections);
}

/** Model A's RSS per connection thread: the slope of end-of-window RSS over thread count, across the counts measured. */
export function threadRssSlope(cells: readonly CellResult[], route?: RouteKey): { bytesPerThread: number; from: number; to: number; route: RouteKey } | null {
  const routes = route === undefined ? (Object.keys(MODEL_ROUTES) as RouteKey[]) : [route];
  let best: { bytesPerThread: number; from: number; to: number; route: RouteKey } | null = null;
  for (const r of routes) {
    const points = cells
      // Only cells whose threads were all up: an isolate still starting holds less memory.
      .filter((c) => c.model === MODEL.THREAD && c.route === r && c.status === CELL_STATUS.MEASURED && c.end.rssBytes !== null && c.end.threads !== null)
      .sort((a, b) => a.connections - b.connections);
    const first = points[0];
    const last = points[points.length - 1];
    if (first === undefined || last === undefined || first === last) continue;
    const threads = (last.end.threads as number) - (first.end.threads as number);
    if (threads <= 0) continue;
    const slope = ((last.end.rssBytes as number) - (first.end.rssBytes as number)) / threads;
    if (best === null || last.connections - first.connections > best.to - best.from) best = { bytesPerThread: slope, from: first.connections, to: last.connections, route: r };
  }
  return best;
}

function predictThreadRss(cells: readonly CellResult[], connections: number): number | null {
  const slope = threadRssSlope(cells);
  if (slope === null || slope.bytesPerThread <= 0) return null;
  const base = cells.find((c) => c.model === MODEL.THREAD && c.idle.rssBytes !== null)?.idle.rssBytes ?? 0;
  return base + slope.bytesPerThread * connections;
}

function predictedPerThreadText(cells: readonly CellResult[]): string {
  const slope = threadRssSlope(cells);
  return slope === null ? 'RSS per thread unknown' : `${formatBytes(slope.bytesPerThread)} per thread, measured from ${slope.from} to ${slope.to}`;
}

/** Model A's thread start-up, from the server's own /stats (worker 'online' minus new Worker()). */
export function threadSpawn(cells: readonly CellResult[]): { connections: number; route: RouteKey; p50Ms: number; p99Ms: number; count: number }[] {
  return cells
    .filter((c) => c.model === MODEL.THREAD && c.modelStats !== null)
    .map((c) => {
      const spawn = (c.modelStats as { spawnMs?: LatencySummary }).spawnMs;
      return { connections: c.connections, route: c.route, p50Ms: spawn?.p50Ms ?? 0, p99Ms: spawn?.p99Ms ?? 0, count: spawn?.count ?? 0 };
    })
    .filter((s) => s.count > 0);
}
