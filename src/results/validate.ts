/**
 * Checks that a value read from a results file is a lab result of the current schema
 * (lab-result.ts), field by field, before anything renders it. A results file is input like
 * any other: it may be from an older socketlab, cut short, edited by hand or crafted, and
 * the report must neither crash on it nor carry its text anywhere unchecked.
 *
 * The answer names the first field that is wrong and what is wrong with it
 * (`steps[2].charts[0].series[1].points[4]: not a pair of finite numbers`), so a skipped file
 * gets one line a person can act on. Hand-written rather than a schema library: the schema
 * is one file of plain interfaces, and these checks read like it.
 */
import {
  AXIS_SCALE,
  LAB_ID_MAX_LENGTH,
  LAB_ID_PATTERN,
  LAB_OUTCOME,
  LAB_RESULT_SCHEMA,
  OLDER_LAB_RESULT_SCHEMAS,
  STEP_STATUS,
  type BarChart,
  type ChartAxis,
  type ChartDeclaration,
  type JsonObject,
  type LabResult,
  type LineChart,
  type MachineInfo,
  type ResultTable,
  type StepRecord,
  type ValueRange,
} from './lab-result.js';

export type Validation = { ok: true; result: LabResult } | { ok: false; field: string; problem: string };

/**
 * Bounds on what one file may ask the report to do: far above what any lab writes (a long
 * time series is a few thousand points), low enough that a crafted file cannot make the
 * report draw for minutes or recurse until the stack overflows.
 */
export const RESULT_LIMITS = { JSON_DEPTH: 64, POINTS: 20_000, SERIES: 64, CHARTS: 64, CATEGORIES: 500, TEXT: 100_000 } as const;

class Problem extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** `value` checked against the lab-result schema: the typed result, or the first wrong field. */
export function validateLabResult(value: unknown): Validation {
  try {
    return { ok: true, result: checkLabResult(value) };
  } catch (error) {
    if (error instanceof Problem) return { ok: false, field: error.field, problem: error.problem };
    throw error;
  }
}

/** "field: problem", for a one-line message. */
export function describeProblem(validation: Extract<Validation, { ok: false }>): string {
  return validation.field === '' ? validation.problem : `${validation.field}: ${validation.problem}`;
}

function checkLabResult(value: unknown): LabResult {
  const root = object(value, '');
  const schema = root.schema;
  if (schema !== LAB_RESULT_SCHEMA) {
    if (typeof schema === 'string' && OLDER_LAB_RESULT_SCHEMAS.includes(schema)) {
      throw new Problem('schema', `${schema} was written by an older socketlab, before labs declared their charts: run the lab again (this socketlab reads ${LAB_RESULT_SCHEMA})`);
    }
    throw new Problem('schema', `not a lab result (${JSON.stringify(schema ?? null)}, expected ${LAB_RESULT_SCHEMA})`);
  }
  const lab = object(root.lab, 'lab');
  const id = text(lab.id, 'lab.id');
  if (id.length > LAB_ID_MAX_LENGTH || !LAB_ID_PATTERN.test(id))
    throw new Problem('lab.id', `not a lab id (lower-case words joined by hyphens, at most ${LAB_ID_MAX_LENGTH} characters)`);
  const options = object(root.options, 'options');
  const startedAt = text(root.startedAt, 'startedAt');
  if (!/^\d{4}-\d\d-\d\dT/.test(startedAt) || Number.isNaN(Date.parse(startedAt))) throw new Problem('startedAt', 'not an ISO date and time');
  const steps = list(root.steps, 'steps');
  const result: LabResult = {
    schema: LAB_RESULT_SCHEMA,
    lab: { id, number: integer(lab.number, 'lab.number', 1, 99), title: text(lab.title, 'lab.title'), layer: text(lab.layer, 'lab.layer') },
    options: { quick: boolean(options.quick, 'options.quick'), yes: boolean(options.yes, 'options.yes') },
    settings: json(root.settings, 'settings'),
    machine: checkMachine(root.machine, 'machine'),
    startedAt,
    durationMs: count(root.durationMs, 'durationMs'),
    outcome: oneOf(root.outcome, 'outcome', Object.values(LAB_OUTCOME)),
    steps: steps.map((step, i) => checkStep(step, `steps[${i}]`)),
    findings: json(root.findings, 'findings'),
  };
  if (root.error !== undefined) result.error = text(root.error, 'error');
  if (root.signal !== undefined) result.signal = oneOf(root.signal, 'signal', ['SIGINT', 'SIGTERM', 'SIGHUP']);
  return result;
}

function checkMachine(value: unknown, at: string): MachineInfo {
  const m = object(value, at);
  const sysctls = object(m.sysctls, `${at}.sysctls`);
  const limits = object(m.openFilesLimit, `${at}.openFilesLimit`);
  return {
    hostname: text(m.hostname, `${at}.hostname`),
    cores: integer(m.cores, `${at}.cores`, 1, 1_000_000),
    cpuModel: text(m.cpuModel, `${at}.cpuModel`),
    memoryBytes: count(m.memoryBytes, `${at}.memoryBytes`),
    kernel: text(m.kernel, `${at}.kernel`),
    platform: text(m.platform, `${at}.platform`),
    node: text(m.node, `${at}.node`),
    sysctls: Object.fromEntries(Object.entries(sysctls).map(([key, v]) => [key, nullable(v, `${at}.sysctls${fieldKey(key)}`, text)])),
    openFilesLimit: { soft: nullable(limits.soft, `${at}.openFilesLimit.soft`, count), hard: nullable(limits.hard, `${at}.openFilesLimit.hard`, count) },
    root: boolean(m.root, `${at}.root`),
  };
}

function checkStep(value: unknown, at: string): StepRecord {
  const s = object(value, at);
  const step: StepRecord = {
    title: text(s.title, `${at}.title`),
    status: oneOf(s.status, `${at}.status`, Object.values(STEP_STATUS)),
    durationMs: count(s.durationMs, `${at}.durationMs`),
  };
  if (s.reason !== undefined) step.reason = text(s.reason, `${at}.reason`);
  if (s.reading !== undefined) step.reading = text(s.reading, `${at}.reading`);
  if (s.tables !== undefined) step.tables = list(s.tables, `${at}.tables`).map((t, i) => checkTable(t, `${at}.tables[${i}]`));
  if (s.charts !== undefined) step.charts = limited(list(s.charts, `${at}.charts`), `${at}.charts`, RESULT_LIMITS.CHARTS).map((c, i) => checkChart(c, `${at}.charts[${i}]`));
  if (s.measurements !== undefined) step.measurements = json(s.measurements, `${at}.measurements`);
  return step;
}

function checkTable(value: unknown, at: string): ResultTable {
  const t = object(value, at);
  const header = list(t.header, `${at}.header`).map((h, i) => text(h, `${at}.header[${i}]`));
  const rows = list(t.rows, `${at}.rows`).map((row, r) => {
    const cells = list(row, `${at}.rows[${r}]`);
    // A cell past the header would have no column to show in: it would be lost silently.
    if (cells.length > header.length) throw new Problem(`${at}.rows[${r}]`, `${cells.length} cells for ${header.length} columns`);
    return cells.map((cell, c) => {
      if (cell === null || typeof cell === 'string') return cell;
      return finite(cell, `${at}.rows[${r}][${c}]`);
    });
  });
  return { header, rows };
}

function checkChart(value: unknown, at: string): ChartDeclaration {
  const c = object(value, at);
  const kind = oneOf(c.kind, `${at}.kind`, ['line', 'bar'] as const);
  const title = text(c.title, `${at}.title`, 1);
  const caption = c.caption === undefined ? undefined : text(c.caption, `${at}.caption`);
  const x = checkAxis(c.x, `${at}.x`);
  const y = checkAxis(c.y, `${at}.y`);
  const seriesList = limited(list(c.series, `${at}.series`), `${at}.series`, RESULT_LIMITS.SERIES);
  if (kind === 'line') {
    const chart: LineChart = {
      kind,
      title,
      x,
      y,
      series: seriesList.map((value, i) => {
        const where = `${at}.series[${i}]`;
        const s = object(value, where);
        const points = limited(list(s.points, `${where}.points`), `${where}.points`, RESULT_LIMITS.POINTS).map((p, j) => pair(p, `${where}.points[${j}]`));
        return { name: text(s.name, `${where}.name`), points, ...spreadOf(s.spread, points.length, `${where}.spread`) };
      }),
    };
    if (caption !== undefined) chart.caption = caption;
    if (c.markers !== undefined) {
      chart.markers = list(c.markers, `${at}.markers`).map((m, i) => {
        const marker = object(m, `${at}.markers[${i}]`);
        return { x: finite(marker.x, `${at}.markers[${i}].x`), label: text(marker.label, `${at}.markers[${i}].label`) };
      });
    }
    return chart;
  }
  const categories = limited(list(c.categories, `${at}.categories`), `${at}.categories`, RESULT_LIMITS.CATEGORIES).map((name, i) => text(name, `${at}.categories[${i}]`));
  const chart: BarChart = {
    kind,
    title,
    categories,
    x,
    y,
    series: seriesList.map((value, i) => {
      const where = `${at}.series[${i}]`;
      const s = object(value, where);
      const values = list(s.values, `${where}.values`);
      if (values.length !== categories.length) throw new Problem(`${where}.values`, `${values.length} values for ${categories.length} categories`);
      return {
        name: text(s.name, `${where}.name`),
        values: values.map((v, j) => nullable(v, `${where}.values[${j}]`, finite)),
        ...spreadOf(s.spread, categories.length, `${where}.spread`),
      };
    }),
  };
  if (caption !== undefined) chart.caption = caption;
  if (c.orientation !== undefined) chart.orientation = oneOf(c.orientation, `${at}.orientation`, ['vertical', 'horizontal'] as const);
  return chart;
}

function checkAxis(value: unknown, at: string): ChartAxis {
  const a = object(value, at);
  const axis: ChartAxis = { label: text(a.label, `${at}.label`) };
  if (a.unit !== undefined) axis.unit = text(a.unit, `${at}.unit`);
  if (a.scale !== undefined) axis.scale = oneOf(a.scale, `${at}.scale`, Object.values(AXIS_SCALE));
  if (a.zero !== undefined) axis.zero = boolean(a.zero, `${at}.zero`);
  return axis;
}

/** `{ spread }` when the series has one, with an entry per value; `{}` when it has none. */
function spreadOf(value: unknown, length: number, at: string): { spread?: (ValueRange | null)[] } {
  if (value === undefined) return {};
  const items = list(value, at);
  if (items.length !== length) throw new Problem(at, `${items.length} ranges for ${length} values`);
  return {
    spread: items.map((item, i) => {
      if (item === null) return null;
      const [lo, hi] = pair(item, `${at}[${i}]`);
      if (lo > hi) throw new Problem(`${at}[${i}]`, `min ${lo} above max ${hi}`);
      return [lo, hi];
    }),
  };
}

// ── The primitives: each returns the value typed, or throws a Problem naming the field ──

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Problem(at, value === undefined ? 'missing' : `not an object (${describe(value)})`);
  return value as Record<string, unknown>;
}

function list(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw new Problem(at, value === undefined ? 'missing' : `not a list (${describe(value)})`);
  return value;
}

function limited<T>(items: T[], at: string, max: number): T[] {
  if (items.length > max) throw new Problem(at, `${items.length} items, more than the ${max} a report draws`);
  return items;
}

function text(value: unknown, at: string, minLength = 0): string {
  if (typeof value !== 'string') throw new Problem(at, value === undefined ? 'missing' : `not a string (${describe(value)})`);
  if (value.length < minLength) throw new Problem(at, 'empty');
  if (value.length > RESULT_LIMITS.TEXT) throw new Problem(at, `${value.length} characters, more than ${RESULT_LIMITS.TEXT}`);
  return value;
}

function boolean(value: unknown, at: string): boolean {
  if (typeof value !== 'boolean') throw new Problem(at, value === undefined ? 'missing' : `not true or false (${describe(value)})`);
  return value;
}

function finite(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Problem(at, value === undefined ? 'missing' : `not a number (${describe(value)})`);
  return value;
}

function count(value: unknown, at: string): number {
  const n = finite(value, at);
  if (n < 0) throw new Problem(at, `negative (${n})`);
  return n;
}

function integer(value: unknown, at: string, min: number, max: number): number {
  const n = finite(value, at);
  if (!Number.isInteger(n) || n < min || n > max) throw new Problem(at, `not a whole number from ${min} to ${max} (${n})`);
  return n;
}

function pair(value: unknown, at: string): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw new Problem(at, `not a pair of finite numbers (${describe(value)})`);
  return [value[0] as number, value[1] as number];
}

function oneOf<T extends string>(value: unknown, at: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw new Problem(at, value === undefined ? 'missing' : `${describe(value)} is not one of ${allowed.join(', ')}`);
  return value as T;
}

function nullable<T>(value: unknown, at: string, check: (value: unknown, at: string) => T): T | null {
  return value === null ? null : check(value, at);
}

/** Any JSON object: what measurements, findings and settings hold, checked for depth only. */
function json(value: unknown, at: string): JsonObject {
  const root = object(value, at);
  const walk = (v: unknown, where: string, depth: number): void => {
    if (depth > RESULT_LIMITS.JSON_DEPTH) throw new Problem(where, `nested more than ${RESULT_LIMITS.JSON_DEPTH} deep`);
    if (Array.isArray(v))
      v.forEach((item, i) => {
        walk(item, `${where}[${i}]`, depth + 1);
      });
    else if (typeof v === 'object' && v !== null) for (const [key, item] of Object.entries(v)) walk(item, `${where}${fieldKey(key)}`, depth + 1);
    else if (typeof v === 'number' && !Number.isFinite(v)) throw new Problem(where, 'not a finite number');
    else if (v !== null && typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean') throw new Problem(where, `not JSON (${typeof v})`);
  };
  walk(root, at, 0);
  return root as JsonObject;
}

/**
 * A key in a field path: `.name` when it is a plain name, `["…"]` (JSON-quoted, so control
 * characters are escaped) when it is not: the path is printed on a terminal.
 */
function fieldKey(key: string): string {
  return /^[A-Za-z_$][\w$.-]{0,63}$/.test(key) ? `.${key}` : `[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
}

/** A short, safe description of a wrong value for the message: its type, or a cut-down string. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}
