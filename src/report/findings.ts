/**
 * A lab's `findings` (its headline numbers, any JSON shape) as tables a page can show:
 * single values as "finding | value" rows, lists of records as tables of their own, objects
 * of like records (`{ "5": {...}, "20": {...} }`) as one table with a row per key.
 */
import type { Cell } from '../format/table.js';

export interface FindingsTable {
  /** Dotted path of the findings key it came from ("age.series"). */
  title: string;
  header: string[];
  rows: Cell[][];
  /** Rows left out to keep the page readable (all are in the data file). */
  omittedRows: number;
}

export interface FindingsView {
  /** `[dotted key, value]` for every single value. */
  values: [string, Cell][];
  tables: FindingsTable[];
}

export const FINDINGS_LIMITS = { ROWS: 40, COLUMNS: 12, LIST_ITEMS: 20 } as const;

export function viewFindings(findings: Record<string, unknown>): FindingsView {
  const view: FindingsView = { values: [], tables: [] };
  walk(findings, '', view, 0);
  return view;
}

function walk(value: Record<string, unknown>, prefix: string, view: FindingsView, depth: number): void {
  // Sibling objects of like shape beside other values (`local`, `remote`, `manyUsers` beside
  // `link` and `bottleneck`) read best as one table with a row each.
  const cases = likeSiblings(value);
  if (cases.length >= 2) {
    const object = Object.fromEntries(cases.map((key) => [key, value[key]]));
    addKeyedTable(object, prefix === '' ? cases.join(', ') : `${prefix}: ${cases.join(', ')}`, view);
    for (const key of cases) walkNested(value[key] as Record<string, unknown>, prefix === '' ? key : `${prefix}.${key}`, view, depth + 1);
  }
  for (const [key, child] of Object.entries(value)) {
    if (cases.includes(key)) continue;
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (isScalar(child)) view.values.push([name, toCell(child)]);
    else if (Array.isArray(child)) addArray(child, name, view);
    else if (isPlainObject(child)) {
      if (isKeyedRecords(child)) {
        addKeyedTable(child, name, view);
        // Lists inside each record (a series per endpoint) still deserve their own tables.
        for (const [k, record] of Object.entries(child)) walkNested(record as Record<string, unknown>, `${name}.${k}`, view, depth + 1);
      } else if (depth < 6) walk(child, name, view, depth + 1);
    }
  }
}

/** Only the parts of a record a keyed table could not show: its lists and deeper objects. */
function walkNested(record: Record<string, unknown>, prefix: string, view: FindingsView, depth: number): void {
  for (const [key, child] of Object.entries(record)) {
    const name = `${prefix}.${key}`;
    if (Array.isArray(child) && !child.every(isScalar)) addArray(child, name, view);
    else if (isPlainObject(child) && depth < 6 && !Object.values(child).every(isScalar)) walkNested(child, name, view, depth + 1);
  }
}

function addArray(items: readonly unknown[], name: string, view: FindingsView): void {
  if (items.every(isScalar)) {
    const shown = items.slice(0, FINDINGS_LIMITS.LIST_ITEMS).map((item) => String(toCell(item) ?? '-'));
    view.values.push([name, items.length > shown.length ? `${shown.join(', ')}, … (${items.length} in all)` : shown.join(', ')]);
    return;
  }
  const records = items.filter(isPlainObject);
  if (records.length === 0) return;
  const flat = records.map((r) => flatten(r));
  const header = unionKeys(flat).slice(0, FINDINGS_LIMITS.COLUMNS);
  const rows = flat.slice(0, FINDINGS_LIMITS.ROWS).map((r) => header.map((h) => r[h]));
  view.tables.push({ title: name, header, rows, omittedRows: Math.max(0, flat.length - FINDINGS_LIMITS.ROWS) });
}

function addKeyedTable(object: Record<string, unknown>, name: string, view: FindingsView): void {
  const entries = Object.entries(object);
  const flat = entries.map(([, v]) => flatten(v as Record<string, unknown>));
  const header = unionKeys(flat).slice(0, FINDINGS_LIMITS.COLUMNS - 1);
  const rows = entries.slice(0, FINDINGS_LIMITS.ROWS).map(([key], i) => [key, ...header.map((h) => (flat[i] as Record<string, Cell>)[h])]);
  view.tables.push({ title: name, header: ['', ...header], rows, omittedRows: Math.max(0, entries.length - FINDINGS_LIMITS.ROWS) });
}

/**
 * The keys of the object-valued entries that share the field most of them have, when the
 * object also holds other things (a pure object of records is a keyed table already).
 */
function likeSiblings(object: Record<string, unknown>): string[] {
  const entries = Object.entries(object);
  const objects = entries.filter(([, v]) => isPlainObject(v) && isMostlyScalar(v as Record<string, unknown>));
  if (objects.length < 2 || objects.length === entries.length) return [];
  const counts = new Map<string, number>();
  for (const [, v] of objects) for (const [field, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'number') counts.set(field, (counts.get(field) ?? 0) + 1);
  const [common, most] = [...counts.entries()].reduce<[string | null, number]>((best, [field, n]) => (n > best[1] ? [field, n] : best), [null, 0]);
  if (common === null || most < 2) return [];
  return objects.filter(([, v]) => typeof (v as Record<string, unknown>)[common] === 'number').map(([k]) => k);
}

function isMostlyScalar(record: Record<string, unknown>): boolean {
  const fields = Object.values(record);
  return fields.length > 0 && fields.filter(isScalar).length >= fields.length / 2;
}

/** An object with two or more entries, each an object whose own values are mostly single values. */
function isKeyedRecords(object: Record<string, unknown>): boolean {
  const values = Object.values(object);
  if (values.length < 2 || !values.every(isPlainObject)) return false;
  return values.every((v) => {
    const fields = Object.values(v as Record<string, unknown>);
    return fields.length > 0 && fields.filter(isScalar).length >= fields.length / 2;
  });
}

/** Single values, with nested objects as dotted keys (two levels), lists left out. */
function flatten(record: Record<string, unknown>, prefix = '', depth = 0): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  for (const [key, value] of Object.entries(record)) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (isScalar(value)) out[name] = toCell(value);
    else if (isPlainObject(value) && depth < 1) Object.assign(out, flatten(value, name, depth + 1));
  }
  return out;
}

function unionKeys(records: readonly Record<string, Cell>[]): string[] {
  const keys = new Set<string>();
  for (const record of records) for (const key of Object.keys(record)) keys.add(key);
  return [...keys];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function toCell(value: unknown): Cell {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' || typeof value === 'string') return value;
  return null;
}
