/**
 * Plain terminal tables: every command and lab prints its numbers through this, so they
 * line up the same way everywhere. Numbers are right-aligned, text left-aligned.
 * A leaf: it imports nothing of the project outside src/format.
 */
import { formatNumber } from './numbers.js';

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Indent each line by this many spaces. */
  indent?: number;
}

export function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') return formatNumber(value);
  return value;
}

export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string {
  const indent = ' '.repeat(options.indent ?? 2);
  const text = rows.map((row) => header.map((_, i) => formatCell(row[i])));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === null || row[i] === undefined));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    indent +
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const rule = indent + widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(header), rule, ...text.map(line)].join('\n');
}
