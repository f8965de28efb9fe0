/**
 * How diagnose writes its numbers in sentences: percentages and milliseconds with at most
 * one or two decimals, so that "2.6%" reads as measured, not as "2.60%" (format/numbers.ts's
 * formatNumber pads fractions to a fixed count of digits for aligned table columns).
 */

/** 2.6 → "2.6%", 0.5 → "0.5%", 1234.5 → "1,234.5%". */
export function formatPercent(value: number): string {
  return `${value.toLocaleString('en-US', { maximumFractionDigits: 1 })}%`;
}

/** A fraction as a percentage: 0.026 → "2.6%". */
export function formatShare(fraction: number): string {
  return formatPercent(fraction * 100);
}

/** Decimals that say something at this size: 3.68, 41.6, 1,025. */
function digitsFor(value: number): number {
  const abs = Math.abs(value);
  return abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
}

/** 3.684 → "3.68 ms", 1024.51 → "1,025 ms". */
export function formatMs(value: number): string {
  return `${formatValue(value)} ms`;
}

/** A measured number, as many decimals as its size warrants: 6.1 → "6.1", 13506.5 → "13,507". */
export function formatValue(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digitsFor(value) });
}

/** 1 → "1 VU", 16 → "16 VUs", 4096 → "4,096 VUs". */
export function formatVus(vus: number): string {
  return `${formatValue(vus)} ${vus === 1 ? 'VU' : 'VUs'}`;
}
