/**
 * What the concurrency-models grid says in words: where each model gives way on a route (the
 * first count where requests failed, the warm-up or memory ran out, or throughput stopped
 * growing with the connections), and where its requests wait when it does. Every sentence is
 * computed from the cells' numbers and their spread.
 */
import os from 'node:os';
import { formatReading } from '../format/numbers.js';
import { MODEL, type ModelName } from '../models/model.js';
import { compareSpreads, VERDICT } from '../metrics/comparison.js';
import { MODEL_ROUTES, MODEL_TITLES, WORK_MS, type RouteKey } from './models-names.js';
import { CELL_STATUS, MODELS_SETUP, perThousand, roundTo, rpsSpreadOf, spreadText, type CellResult } from './models-cell.js';

export interface GiveWay {
  model: ModelName;
  route: RouteKey;
  /** The connection count at which it gave way, or null when it held up to the largest count. */
  connections: number | null;
  /**
   * saturated: throughput grew less than 1.25x in every pairing of runs while connections grew
   * 2x or more; failed; not-ready; memory; held; unclear: the runs' ranges allow both.
   */
  kind: 'saturated' | 'failed' | 'not-ready' | 'memory' | 'held' | 'unclear';
  text: string;
}

/** How much throughput must grow, at least, when connections double or more, for a model to count as not yet saturated. */
const SATURATION_GROWTH = 1.25;

/**
 * Where a model gives way on a route, from its cells in ascending connection count: the first
 * count where requests failed, the warm-up never finished, memory ran low, or throughput grew
 * less than 1.25x while connections grew 2x or more (the extra connections only queue; by
 * Little's law latency then grows with the connections). With cells measured in rounds the
 * growth is judged on the ranges: saturated only if even the best pairing of runs grew less
 * than 1.25x, "lost throughput" only if every run at the larger count is below every run at
 * the smaller, still scaling only if even the worst pairing grew 1.25x; anything between is
 * said to be unclear at this noise level.
 */
export function findGiveWay(cells: readonly CellResult[], model: ModelName, route: RouteKey): GiveWay | null {
  const first = firstGiveWay(cells, model, route);
  if (first === null || first.connections === null) return first;
  // What happened further up, when it was worse than saturation: a warm-up that never ended, memory, failures.
  const later = cells
    .filter(
      (c) => c.model === model && c.route === route && c.connections > (first.connections as number) && (c.status === CELL_STATUS.NOT_READY || c.status === CELL_STATUS.MEMORY),
    )
    .sort((a, b) => a.connections - b.connections)[0];
  return later === undefined ? first : { ...first, text: `${first.text}; at ${formatReading(later.connections)}: ${later.note}` };
}

function firstGiveWay(cells: readonly CellResult[], model: ModelName, route: RouteKey): GiveWay | null {
  const series = cells.filter((c) => c.model === model && c.route === route && c.status !== CELL_STATUS.SKIPPED).sort((a, b) => a.connections - b.connections);
  if (series.length === 0) return null;
  const where = MODEL_ROUTES[route].label;
  const name = MODEL_TITLES[model];
  // A larger count not run because the model gave way elsewhere (Model A on another route, or memory).
  const last = series[series.length - 1] as CellResult;
  const skippedAfter = cells
    .filter((c) => c.model === model && c.route === route && c.status === CELL_STATUS.SKIPPED && c.connections > last.connections && c.note !== 'no PostgreSQL')
    .sort((a, b) => a.connections - b.connections)[0];
  let unclear: GiveWay | null = null;
  for (let i = 0; i < series.length; i++) {
    const cur = series[i] as CellResult;
    if (cur.status === CELL_STATUS.MEMORY)
      return { model, route, connections: cur.connections, kind: 'memory', text: `${name} on ${where} gave way at ${cur.connections} connections: ${cur.note}` };
    if (cur.status === CELL_STATUS.NOT_READY)
      return { model, route, connections: cur.connections, kind: 'not-ready', text: `${name} on ${where} gave way at ${cur.connections} connections: ${cur.note}` };
    if (cur.failureRate > 0.01) {
      const kinds = Object.entries(cur.failures)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ');
      return {
        model,
        route,
        connections: cur.connections,
        kind: 'failed',
        text: `${name} on ${where} gave way at ${cur.connections} connections: ${formatReading(roundTo(cur.failureRate * 100, 1))}% of requests failed (${kinds})`,
      };
    }
    const prev = series[i - 1];
    if (prev === undefined || prev.rps === 0) continue;
    const more = cur.connections / prev.connections;
    if (more < 2) continue;
    const lo = rpsSpreadOf(prev);
    const hi = rpsSpreadOf(cur);
    const bestGrowth = lo.min > 0 ? hi.max / lo.min : Infinity;
    const worstGrowth = lo.max > 0 ? hi.min / lo.max : Infinity;
    const growth = `${formatReading(roundTo(more, 1))}× the connections of ${formatReading(prev.connections)} gave ${growthText(worstGrowth, bestGrowth)} the throughput (${spreadText(lo, Math.round)} → ${spreadText(hi, Math.round)} req/s)`;
    if (worstGrowth >= SATURATION_GROWTH) continue;
    if (bestGrowth >= SATURATION_GROWTH) {
      unclear ??= {
        model,
        route,
        connections: cur.connections,
        kind: 'unclear',
        text: `${name} on ${where}, from ${formatReading(prev.connections)} to ${formatReading(cur.connections)} connections: ${growth}; whether it still scales there cannot be told at this noise level`,
      };
      continue;
    }
    const lost = compareSpreads(hi, lo) === VERDICT.LOWER;
    const p50Growth = prev.latency.p50Ms === 0 ? 0 : cur.latency.p50Ms / prev.latency.p50Ms;
    return {
      model,
      route,
      connections: cur.connections,
      kind: 'saturated',
      text: `${name} on ${where} ${lost ? 'lost throughput' : 'stopped scaling'} at ${formatReading(cur.connections)} connections: ${growth} and ${formatReading(roundTo(p50Growth, 1))}× the p50 (${formatReading(prev.latency.p50Ms)} → ${formatReading(cur.latency.p50Ms)} ms): the extra connections only wait, ${queueOf(cur)}`,
    };
  }
  const first = series[0] as CellResult;
  if (skippedAfter !== undefined) {
    return {
      model,
      route,
      connections: skippedAfter.connections,
      kind: 'not-ready',
      text: `${name} on ${where} was not run at ${formatReading(skippedAfter.connections)} connections: ${skippedAfter.note?.replace(/^not run: /, '')}`,
    };
  }
  if (unclear !== null) return unclear;
  if (series.length === 1) {
    return {
      model,
      route,
      connections: null,
      kind: 'held',
      text: `${name} on ${where} was measured at ${formatReading(first.connections)} connections only: ${spreadText(rpsSpreadOf(first), Math.round)} req/s, p99 ${formatReading(first.latency.p99Ms)} ms`,
    };
  }
  return {
    model,
    route,
    connections: null,
    kind: 'held',
    text: `${name} on ${where} held up to ${formatReading(last.connections)} connections: throughput ${spreadText(rpsSpreadOf(first), Math.round)} → ${spreadText(rpsSpreadOf(last), Math.round)} req/s from ${formatReading(first.connections)} connections, p99 ${formatReading(last.latency.p99Ms)} ms`,
  };
}

/** "1.02×", or "0.95–1.10×" when the runs allow a range. */
function growthText(worst: number, best: number): string {
  const a = formatReading(roundTo(worst, 2));
  const b = formatReading(roundTo(best, 2));
  return a === b ? `${a}×` : `${a}–${b}×`;
}

/** Where a saturated model's requests wait, named from what the server and the kernel reported. */
export function queueOf(cell: CellResult): string {
  const stats = cell.modelStats as { waitTime?: { p99Ms: number }; runTime?: { p99Ms: number }; tasksPerWorker?: number } | null;
  switch (cell.model) {
    case MODEL.LOOP:
      if (cell.route === 'uuid' && cell.dbWaitP99Ms !== null && cell.dbQueryP99Ms !== null && cell.dbWaitP99Ms > cell.dbQueryP99Ms) {
        return `in the database pool's queue (${MODELS_SETUP.dbPool} connections; wait p99 ${formatReading(cell.dbWaitP99Ms)} ms > query p99 ${formatReading(cell.dbQueryP99Ms)} ms)`;
      }
      return `in the one event loop's queue (one core; loop delay p99 ${formatReading(cell.eventLoopDelayP99Ms)} ms)`;
    case MODEL.POOL: {
      if (cell.route === 'uuid' && cell.dbWaitP99Ms !== null && cell.dbQueryP99Ms !== null && cell.dbWaitP99Ms > cell.dbQueryP99Ms) {
        return `in the workers' database pools (wait p99 ${formatReading(cell.dbWaitP99Ms)} ms > query p99 ${formatReading(cell.dbQueryP99Ms)} ms)`;
      }
      // A worker takes several tasks at once; on /work it runs them one after another, so a
      // task's time well over the work itself is time queued inside the worker.
      // piscina's queue is named only when its wait is measurable (a millisecond or more).
      const inWorker = cell.route === 'work' && (stats?.runTime?.p99Ms ?? 0) > 2 * WORK_MS;
      const inPiscina = (stats?.waitTime?.p99Ms ?? 0) >= 1;
      const piscina = `piscina's queue (wait p99 ${formatReading(stats?.waitTime?.p99Ms)} ms)`;
      const worker = `each worker's own, which takes up to ${formatReading(stats?.tasksPerWorker)} tasks at once (task time p99 ${formatReading(stats?.runTime?.p99Ms)} ms for ${WORK_MS} ms of work)`;
      if (inWorker) return inPiscina ? `in the pool: ${piscina}, then ${worker}` : `in the pool: in ${worker}; ${piscina} hardly held them`;
      return `in the pool: ${piscina}; task time p99 ${formatReading(stats?.runTime?.p99Ms)} ms`;
    }
    case MODEL.THREAD: {
      const inv = perThousand(cell.ctxSwitches.involuntary, cell.responses);
      return `in the kernel's run queue (${formatReading(cell.end.threads)} threads for ${os.availableParallelism()} cores; ${formatReading(inv)} involuntary context switches per 1,000 requests)`;
    }
  }
}
