/**
 * A comparison a lab may print: each side measured several times, interleaved, shown as its
 * median with the min–max of its runs, and called different only when the ranges do not
 * overlap.
 *
 * Why: on a 2-core machine one short run is noise. Measured here, the same 1 s run of Model B
 * on /uuid gave 10,156 req/s once and 2,691 the next time, the opposite of what the full run
 * said. Interleaving (A B, then B A, then A B...) spreads a drift in the machine's state
 * (another process, the page cache, a JIT still warming) over both sides alike, instead of
 * handing it to whichever side ran last. "The ranges do not overlap" is a deliberately plain
 * test: with 2 or 3 runs a side there is no distribution to speak of, and a verdict that
 * needs the worst run of one side to beat the best run of the other cannot be talked into a
 * difference by one lucky run.
 */
import { formatNumber } from '../format/numbers.js';

/** Runs per side: the quick form (tests, `--quick`) and the full one. */
export const COMPARISON_ROUNDS = { quick: 2, full: 3 } as const;

export interface Spread {
  /** Every run's value, in the order measured. */
  runs: number[];
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of a side's runs (the median of an even count is the mean of the middle two). */
export function spreadOf(runs: readonly number[]): Spread {
  if (runs.length === 0) throw new RangeError('a spread needs at least one run');
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { runs: [...runs], median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/**
 * Measure every side `rounds` times, interleaved: even rounds visit the sides in order, odd
 * rounds in reverse (A B, B A, A B), so no side always runs first or last. Returns each
 * side's results in the order they were taken.
 */
export async function measureInterleaved<S extends string, R>(sides: readonly S[], rounds: number, measure: (side: S, round: number) => Promise<R>): Promise<Record<S, R[]>> {
  const results = Object.fromEntries(sides.map((side) => [side, [] as R[]])) as Record<S, R[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) results[side].push(await measure(side, round));
  }
  return results;
}

export const VERDICT = {
  /** Every run of a is above every run of b. */
  HIGHER: 'higher',
  /** Every run of a is below every run of b. */
  LOWER: 'lower',
  /** The ranges overlap: no measurable difference at this noise level. */
  OVERLAP: 'overlap',
} as const;

export type Verdict = (typeof VERDICT)[keyof typeof VERDICT];

/** a against b: higher or lower only when the ranges do not overlap. */
export function compareSpreads(a: Spread, b: Spread): Verdict {
  if (a.min > b.max) return VERDICT.HIGHER;
  if (a.max < b.min) return VERDICT.LOWER;
  return VERDICT.OVERLAP;
}

/** "12,300 (11,900–12,800)"; one run prints alone, since it has no range. */
export function formatSpread(spread: Spread, round: (value: number) => number = defaultRound): string {
  const median = formatNumber(round(spread.median));
  if (spread.runs.length < 2) return median;
  return `${median} (${formatNumber(round(spread.min))}–${formatNumber(round(spread.max))})`;
}

export interface ComparedSide {
  /** How a sentence names the side: "keep-alive", "Model B (event loop)". */
  label: string;
  spread: Spread;
}

/**
 * One sentence that says what the runs show: "keep-alive made 91,606 req/s (90,100–92,300)
 * against 13,312 (12,900–13,800) for a connection per request, 6.9x: the ranges do not
 * overlap." or, when they do, that there is no measurable difference at this noise level.
 * `quantity` names what is compared ("req/s", "ms at p99").
 */
export function describeComparison(a: ComparedSide, b: ComparedSide, quantity: string): string {
  const verdict = compareSpreads(a.spread, b.spread);
  const runs = Math.min(a.spread.runs.length, b.spread.runs.length);
  const values = `${a.label} ${formatSpread(a.spread)} ${quantity} against ${b.label} ${formatSpread(b.spread)} (median and range of ${runs} interleaved runs each)`;
  if (verdict === VERDICT.OVERLAP) return `${values}: the ranges overlap, so there is no measurable difference at this noise level.`;
  const ratio = b.spread.median === 0 ? null : a.spread.median / b.spread.median;
  const ratioText = ratio === null ? '' : `, ${formatRatio(ratio)} the other's median`;
  return `${values}: ${a.label} is ${verdict} in every run${ratioText}.`;
}

/** 6.9x, 1.26x, 0.43x: enough digits to tell apart the ratios a lab prints. */
export function formatRatio(ratio: number): string {
  const digits = ratio >= 10 ? 0 : ratio >= 2 ? 1 : 2;
  return `${ratio.toFixed(digits)}x`;
}

function defaultRound(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}
