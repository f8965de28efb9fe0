/**
 * Scales and axis ticks for the report's charts: a value in data units to a position in
 * pixels, and the round numbers an axis is labelled with. Linear and log10, nothing else:
 * the charts plot throughput, latency and counts, and a virtual-user sweep that doubles at
 * each step (100, 200, 400 ... 6,400) reads best on a log axis.
 *
 * Tick steps follow Heckbert's "nice numbers" (Graphics Gems, 1990), as d3-scale does: a
 * step of 1, 2 or 5 times a power of ten, so that labels are numbers a person would write.
 */

export interface Scale {
  kind: 'linear' | 'log';
  /** The domain after rounding out to nice numbers. */
  domain: readonly [number, number];
  range: readonly [number, number];
  /** A data value to a pixel position (values outside the domain extrapolate). */
  map(value: number): number;
  /** The values to draw ticks at, inside the domain, in increasing order. */
  ticks: readonly number[];
}

/** The nice step for dividing `span` into about `count` intervals. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !(count > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * power;
}

/**
 * A linear scale whose domain is widened to nice bounds around [min, max]. A flat series
 * (min === max) gets a domain around its one value so that it draws as a level line, not a
 * division by zero; `zero` pulls the domain down (or up) to 0, as bars and counts need.
 */
export function linearScale(min: number, max: number, range: readonly [number, number], options: { zero?: boolean; tickCount?: number } = {}): Scale {
  let lo = Math.min(min, max);
  let hi = Math.max(min, max);
  if (options.zero === true) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo = options.zero === true && lo >= 0 ? 0 : lo - pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, options.tickCount ?? 5);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  // Counted rather than accumulated, so 0.1 + 0.2 never prints as 0.30000000000000004.
  const steps = Math.round((hi - lo) / step);
  for (let i = 0; i <= steps; i++) ticks.push(roundTo(lo + i * step, step));
  const [r0, r1] = range;
  return {
    kind: 'linear',
    domain: [lo, hi],
    range,
    map: (value) => r0 + ((value - lo) / (hi - lo)) * (r1 - r0),
    ticks,
  };
}

/**
 * A log10 scale for strictly positive data, from the 1-2-5 number at or below `min` to the
 * one at or above `max` (a sweep from 50 to 3,200 gets 50..5,000, not 10..10,000). Ticks at
 * 1, 2 and 5 times each power of ten when the domain spans few decades, at the powers (and
 * the two ends) when it spans many.
 */
export function logScale(min: number, max: number, range: readonly [number, number]): Scale {
  if (!(min > 0) || !(max > 0)) throw new RangeError('a log scale needs positive values');
  const lo = niceLogFloor(Math.min(min, max));
  let hi = niceLogCeil(Math.max(min, max));
  if (hi <= lo) hi = niceLogCeil(lo * 1.01);
  const decades = Math.log10(hi / lo);
  const multiples = decades <= 3.5 ? [1, 2, 5] : [1];
  const ticks = new Set<number>([lo]);
  for (let power = 10 ** Math.floor(Math.log10(lo)); power <= hi; power *= 10) {
    for (const m of multiples) {
      const value = roundTo(power * m, power);
      if (value >= lo * 0.999999 && value <= hi * 1.000001) ticks.add(value);
    }
  }
  ticks.add(hi);
  const [r0, r1] = range;
  const l0 = Math.log10(lo);
  const span = Math.log10(hi) - l0;
  return {
    kind: 'log',
    domain: [lo, hi],
    range,
    map: (value) => r0 + ((Math.log10(Math.max(value, Number.MIN_VALUE)) - l0) / span) * (r1 - r0),
    ticks: [...ticks].sort((a, b) => a - b),
  };
}

const ONE_TWO_FIVE = [1, 2, 5, 10] as const;

/** The largest 1, 2 or 5 × 10^k not above `value`. */
function niceLogFloor(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const m = [...ONE_TWO_FIVE].reverse().find((f) => f * power <= value * 1.000001) ?? 1;
  return roundTo(m * power, power);
}

/** The smallest 1, 2 or 5 × 10^k not below `value`. */
function niceLogCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const m = ONE_TWO_FIVE.find((f) => f * power >= value * 0.999999) ?? 10;
  return roundTo(m * power, power);
}

/**
 * Log when the values are all positive and span at least `ratio` (a doubling sweep from
 * 100 to 6,400 is 64x); linear otherwise.
 */
export function shouldUseLog(values: readonly number[], ratio = 20): boolean {
  if (values.length < 3) return false;
  const min = Math.min(...values);
  const max = Math.max(...values);
  return min > 0 && max / min >= ratio;
}

/** A tick label: 1,500 → "1.5k", 20,000 → "20k", 0.25 → "0.25". */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trimZeros((value / 1e6).toFixed(abs >= 1e7 ? 0 : 1))}M`;
  if (abs >= 1e4) return `${trimZeros((value / 1e3).toFixed(abs >= 1e5 ? 0 : 1))}k`;
  if (abs >= 1000) return `${trimZeros((value / 1e3).toFixed(2))}k`;
  if (abs === 0) return '0';
  if (abs < 1) return trimZeros(value.toPrecision(2));
  return trimZeros(value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2));
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Round `value` to the precision its step implies (0.1 steps → 1 decimal). */
function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(decimals, 12)));
}
