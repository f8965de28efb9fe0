/**
 * When the target is `socketlab serve`, its own numbers: GET /stats before and after each
 * step, and the step's share of them. /stats keeps running totals since the server started
 * (the loop monitor's mean and count, the pool's wait and query summaries, piscina's), so
 * the step's mean is recovered from two readings: (mean₂·n₂ − mean₁·n₁) / (n₂ − n₁).
 *
 * Any other server: the first GET /stats answers something else (or 404) and diagnose
 * does without these numbers, saying which layers that hides.
 */
import { meanBetween } from '../metrics/histogram.js';
import type { ServeStep } from './types.js';

export type ServeStats = Record<string, unknown>;

/** GET /stats, or null when it fails, times out or is not JSON. */
export async function fetchServeStats(baseUrl: string, timeoutMs: number): Promise<ServeStats | null> {
  try {
    const response = await fetch(new URL('/stats', baseUrl), { headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return null;
    const json = (await response.json()) as unknown;
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as ServeStats) : null;
  } catch {
    return null;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const numberAt = (value: unknown, ...path: string[]): number | null => {
  let at: unknown = value;
  for (const key of path) {
    if (!isObject(at)) return null;
    at = at[key];
  }
  return typeof at === 'number' && Number.isFinite(at) ? at : null;
};

/** socketlab serve's /stats has a model with a name and an event-loop reading. */
export function isServeStats(stats: ServeStats | null): boolean {
  return stats !== null && isObject(stats.model) && typeof stats.model.name === 'string' && 'eventLoop' in stats;
}

/** The pool's summary: in /stats.db for the loop model, in model.workerDb for the pool model. */
function poolOf(stats: ServeStats): Record<string, unknown> | null {
  if (isObject(stats.db) && isObject(stats.db.waitMs)) return stats.db;
  if (isObject(stats.model) && isObject(stats.model.workerDb) && isObject(stats.model.workerDb.waitMs)) return stats.model.workerDb;
  return null;
}

export function hasPool(stats: ServeStats | null): boolean {
  return stats !== null && (poolOf(stats) !== null || isObject(stats.db));
}

/** A cumulative mean and its count out of /stats, or null where the server has no such field. */
function readMean(stats: ServeStats, meanPath: readonly string[], countPath: readonly string[]): { mean: number; count: number } | null {
  const mean = numberAt(stats, ...meanPath);
  const count = numberAt(stats, ...countPath);
  return mean === null || count === null ? null : { mean, count };
}

/** The step's own mean; unknown (null) when either reading lacks the field. */
function meanAdded(before: { mean: number; count: number } | null, after: { mean: number; count: number } | null): number | null {
  return before === null || after === null ? null : meanBetween(before, after);
}

/** The step's share of two /stats readings. Pure. */
export function diffServeStats(before: ServeStats | null, after: ServeStats | null): ServeStep | null {
  if (before === null || after === null) return null;
  const loopMean = meanAdded(
    readMean(before, ['eventLoop', 'delayMs', 'mean'], ['eventLoop', 'delayMs', 'count']),
    readMean(after, ['eventLoop', 'delayMs', 'mean'], ['eventLoop', 'delayMs', 'count']),
  );
  // Utilisation is a share of the window: busy ms = share × window.
  const w1 = numberAt(before, 'eventLoop', 'windowMs');
  const w2 = numberAt(after, 'eventLoop', 'windowMs');
  const u1 = numberAt(before, 'eventLoop', 'utilization');
  const u2 = numberAt(after, 'eventLoop', 'utilization');
  const loopUtilization = w1 === null || w2 === null || u1 === null || u2 === null || w2 <= w1 ? null : round3(Math.min(1, Math.max(0, (u2 * w2 - u1 * w1) / (w2 - w1))));
  const p1 = poolOf(before);
  const p2 = poolOf(after);
  const poolMean = (which: 'waitMs' | 'queryMs'): number | null =>
    p1 === null || p2 === null ? null : meanAdded(readMean(p1, [which, 'avgMs'], [which, 'count']), readMean(p2, [which, 'avgMs'], [which, 'count']));
  const taskWait = meanAdded(readMean(before, ['model', 'waitTime', 'avgMs'], ['model', 'completed']), readMean(after, ['model', 'waitTime', 'avgMs'], ['model', 'completed']));
  return {
    loopDelayMeanMs: loopMean,
    loopUtilization,
    poolWaitAvgMs: poolMean('waitMs'),
    poolQueryAvgMs: poolMean('queryMs'),
    poolSize: p2 === null ? null : numberAt(p2, 'size'),
    poolWaitingAtEnd: p2 === null ? null : numberAt(p2, 'waiting'),
    taskWaitAvgMs: taskWait,
  };
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;
