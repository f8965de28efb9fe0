/**
 * Finding the tables inside a results file. Labs record their numbers as plain JSON of
 * their own shape (a knee sweep as `[{ vus, rps, p99Ms }, ...]`, pool sizes as
 * `{ "5": { rps, waitP99Ms }, "20": ... }`, a sampler's `samples`), so the report does not
 * hard-code paths: it walks the JSON, collects every list of like records, and lets the
 * chart rules (lab-charts.ts) pick the ones whose field names say what they hold.
 */

/** One row: its numbers by (flattened) field name, its label. */
export interface NumericRecord {
  /** The object key it was found under, or its name/label field, or its position. */
  label: string;
  /** The field the label was taken from (`model`, `workers`); null for keys and positions. */
  labelField: string | null;
  values: Record<string, number>;
  texts: Record<string, string>;
}

/** A list of like records found somewhere in a results file. */
export interface RecordSet {
  /** JSON path from the result's root: `findings.age.series`, `steps[2].measurements.pools`. */
  path: string;
  /** The records came from an object's keys (`{ "5": {...} }`) rather than an array. */
  keyed: boolean;
  records: NumericRecord[];
  /** The object that holds this set (for siblings such as `kneeVus` beside `series`). */
  parent: Record<string, unknown> | null;
  /** Index of the step this set was found in, or null for findings and the top level. */
  step: number | null;
  /** Labels of the list items the walk went through to reach it ("pool 20"): what the path's [i] stand for. */
  via: string[];
}

const MAX_DEPTH = 8;
/** Nested objects inside a record are flattened this far: `latency.total.p99Ms`. */
const FLATTEN_DEPTH = 3;
/**
 * A series longer than this is thinned for charts (the walk itself keeps everything): a
 * 640-pixel chart cannot show more points, and comparing charts point by point stays cheap.
 */
export const MAX_RECORDS = 600;

const LABEL_FIELDS = ['label', 'name', 'model', 'endpoint', 'route', 'scenario', 'mode', 'kind', 'title', 'case', 'variant', 'pool', 'poolSize', 'size', 'workers', 'processes', 'cores', 'cluster'] as const;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every record set under `root`, outermost first. */
export function collectRecordSets(root: unknown, options: { rootPath?: string; step?: number | null } = {}): RecordSet[] {
  const sets: RecordSet[] = [];
  const visit = (value: unknown, path: string, parent: Record<string, unknown> | null, depth: number, via: string[] = []): void => {
    if (depth > MAX_DEPTH) return;
    if (Array.isArray(value)) {
      const objects = value.filter(isPlainObject);
      const records = objects.map((item, i) => toRecord(item, null, i));
      if (objects.length >= 2 && objects.length === value.length && records.some((r) => Object.keys(r.values).length > 0)) {
        sets.push({ path, keyed: false, records, parent, step: options.step ?? null, via });
      }
      // Arrays of records are not descended into item by item beyond a few: a sampler's
      // thousand samples would otherwise each become a set of their own.
      value.slice(0, 3).forEach((item, i) => {
        const record = isPlainObject(item) ? toRecord(item, null, i) : null;
        const label = record?.labelField == null ? null : `${record.labelField} ${record.label}`;
        visit(item, `${path}[${i}]`, null, depth + 1, label === null ? via : [...via, label]);
      });
      return;
    }
    if (!isPlainObject(value)) return;
    const entries = Object.entries(value);
    // Objects side by side under one parent are cases of one thing (`{ unbounded: {...},
    // bounded: {...} }`) when they share a numeric field; scalar siblings (`rate: 6000`) are
    // settings of the comparison, not cases.
    // Of several such objects, the cases are those that share the field most of them have
    // (`local`, `remote`, `manyUsers` all have `rps`; `link` beside them does not).
    const objectEntries = entries.filter(([, v]) => isPlainObject(v));
    if (objectEntries.length >= 2) {
      const all = objectEntries.map(([key, item], i) => toRecord(item as Record<string, unknown>, key, i));
      const counts = new Map<string, number>();
      for (const record of all) for (const field of Object.keys(record.values)) counts.set(field, (counts.get(field) ?? 0) + 1);
      const [common, most] = [...counts.entries()].reduce<[string | null, number]>((best, [field, n]) => (n > best[1] ? [field, n] : best), [null, 0]);
      if (common !== null && most >= 2) {
        const records = all.filter((r) => r.values[common] !== undefined);
        sets.push({ path, keyed: true, records, parent, step: options.step ?? null, via });
      }
    }
    for (const [key, child] of entries) visit(child, path === '' ? key : `${path}.${key}`, value, depth + 1, via);
  };
  visit(root, options.rootPath ?? '', null, 0);
  return sets;
}

function toRecord(item: Record<string, unknown>, key: string | null, index: number): NumericRecord {
  const values: Record<string, number> = {};
  const texts: Record<string, string> = {};
  const flatten = (object: Record<string, unknown>, prefix: string, depth: number): void => {
    for (const [name, value] of Object.entries(object)) {
      const field = prefix === '' ? name : `${prefix}.${name}`;
      if (typeof value === 'number' && Number.isFinite(value)) values[field] = value;
      else if (typeof value === 'string' && prefix === '') texts[field] = value;
      else if (isPlainObject(value) && depth < FLATTEN_DEPTH) flatten(value, field, depth + 1);
    }
  };
  flatten(item, '', 1);
  const labelled = key === null ? labelOf(values, texts) : null;
  return { label: key ?? labelled?.label ?? `#${index + 1}`, labelField: labelled?.field ?? null, values, texts };
}

function labelOf(values: Record<string, number>, texts: Record<string, string>): { label: string; field: string } | null {
  for (const field of LABEL_FIELDS) {
    if (texts[field] !== undefined) return { label: texts[field] as string, field };
  }
  for (const field of LABEL_FIELDS) {
    if (values[field] !== undefined) return { label: String(values[field]), field };
  }
  return null;
}

/**
 * The field of a record set named like one of `names` (case-insensitive, on the last dotted
 * segment), present as a number in at least `minShare` of the records; the shortest
 * (outermost) path wins, so `p99Ms` beats `connect.p99Ms`.
 */
export function findField(set: RecordSet, names: readonly string[] | RegExp, minShare = 0.5): string | null {
  const fields = fieldsOf(set).filter((field) => {
    const last = (field.split('.').pop() as string).toLowerCase();
    return Array.isArray(names) ? names.some((n) => n.toLowerCase() === last) : (names as RegExp).test(last);
  });
  const present = fields.filter((field) => set.records.filter((r) => r.values[field] !== undefined).length >= Math.max(1, set.records.length * minShare));
  present.sort((a, b) => a.split('.').length - b.split('.').length || rank(a, names) - rank(b, names));
  return present[0] ?? null;
}

/** All fields (outermost first) whose last segment matches. */
export function findFields(set: RecordSet, pattern: RegExp, minShare = 0.5): string[] {
  return fieldsOf(set).filter((field) => {
    const last = field.split('.').pop() as string;
    return pattern.test(last) && set.records.filter((r) => r.values[field] !== undefined).length >= Math.max(1, set.records.length * minShare);
  });
}

function rank(field: string, names: readonly string[] | RegExp): number {
  if (!Array.isArray(names)) return 0;
  const last = (field.split('.').pop() as string).toLowerCase();
  return (names as readonly string[]).findIndex((n) => n.toLowerCase() === last);
}

/** Every numeric field name in the set, in first-seen order. */
export function fieldsOf(set: RecordSet): string[] {
  const seen = new Set<string>();
  for (const record of set.records) for (const field of Object.keys(record.values)) seen.add(field);
  return [...seen];
}

/** Evenly thinned to at most `max` items (first and last kept), for charts of long series. */
export function thin<T>(items: readonly T[], max = MAX_RECORDS): T[] {
  if (items.length <= max) return [...items];
  const every = items.length / max;
  const out: T[] = [];
  for (let i = 0; i < max - 1; i++) out.push(items[Math.floor(i * every)] as T);
  out.push(items[items.length - 1] as T);
  return out;
}
