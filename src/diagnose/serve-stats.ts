/**
 * When the target is `socketlab serve`, its own numbers: GET /stats before and after each
 * step, and the step's share of them. /stats keeps running totals since the server started
 * (the loop monitor's mean and count, the pool's wait and query summaries, piscina's), so
 * the step's mean is recovered from two readings: (mean₂·n₂ − mean₁·n₁) / (n₂ − n₁).
 *
 * Any other server: the first GET /stats answers something else (or 404) and diagnose
 * does without these numbers, saying which layers that hides.
 */
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

/** The mean of the values recorded between two readings of a running mean and count. */
export function meanBetween(meanBefore: number | null, countBefore: number | null, meanAfter: number | null, countAfter: number | null): number | null {
  if (meanBefore === null || countBefore === null || meanAfter === null || countAfter === null) return null;
  const added = countAfter - countBefore;
  if (added <= 0) return null;
  return round3(Math.max(0, (meanAfter * countAfter - meanBefore * countBefore) / added));
}

/** The step's share of two /stats readings. Pure. */
export function diffServeStats(before: ServeStats | null, after: ServeStats | null): ServeStep | null {
  if (before === null || after === null) return null;
  const loopMean = meanBetween(
    numberAt(before, 'eventLoop', 'delayMs', 'mean'),
    numberAt(before, 'eventLoop', 'delayMs', 'count'),
    numberAt(after, 'eventLoop', 'delayMs', 'mean'),
    numberAt(after, 'eventLoop', 'delayMs', 'count'),
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
    p1 === null || p2 === null ? null : meanBetween(numberAt(p1, which, 'avgMs'), numberAt(p1, which, 'count'), numberAt(p2, which, 'avgMs'), numberAt(p2, which, 'count'));
  const taskWait = meanBetween(numberAt(before, 'model', 'waitTime', 'avgMs'), numberAt(before, 'model', 'completed'), numberAt(after, 'model', 'waitTime', 'avgMs'), numberAt(after, 'model', 'completed'));
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
