/**
 * Durations as people type them (`500ms`, `30s`, `1m30s`) and as a summary prints them. A
 * leaf: the CLI's flags and the load plan's stages read durations the same way, and neither
 * has to import the other to do it.
 */
import { formatNumber } from './numbers.js';

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration such as `500ms`, `30s`, `2m`, `1m30s`; a bare number means milliseconds when
 * `bareUnit` is 'ms' (timeouts) and seconds when it is 's' (run lengths, as k6 reads them).
 * undefined when the text is not a duration.
 */
export function parseDuration(text: string, bareUnit: 'ms' | 's' = 's'): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * (bareUnit === 's' ? 1000 : 1);
  const parts = text.match(/(\d+(?:\.\d+)?)(ms|s|m|h)/g);
  if (parts === null || parts.join('') !== text) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, amount, unit] = part.match(/^(\d+(?:\.\d+)?)(ms|s|m|h)$/) as RegExpMatchArray;
    total += Number(amount) * (DURATION_UNITS_MS[unit as string] as number);
  }
  return total;
}

/** Milliseconds as seconds, the way k6 and `--duration` write them: 1500 → "1.50s", 30000 → "30s". */
export function formatSeconds(ms: number): string {
  return `${formatNumber(ms / 1000)}s`;
}
