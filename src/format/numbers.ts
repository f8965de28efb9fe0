/**
 * Numbers and bytes as a person reads them, the same in every table, sentence and panel.
 * A leaf: it imports nothing of the project, so every folder can use it.
 */

/** Integers with thousands separators; fractions with up to 3 significant decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * A measured number for a sentence, the way the tables print it (1,234; 12.3; 0.123), or '?'
 * when it was not measured: a reading never prints "null" or "NaN".
 */
export function formatReading(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '?' : formatNumber(value);
}

/** Bytes as KiB/MiB/GiB with one decimal. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
