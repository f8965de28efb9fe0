/**
 * What a lab run leaves behind, `results/<lab>-<timestamp>.json`: the one schema the runner
 * writes, the report reads and the tests check. Plain JSON only (no Date, no undefined inside
 * arrays, no NaN), so a file read back is the value that was written.
 *
 * A leaf: it imports nothing of the project, so the labs, the runner, the report and the
 * tests can all depend on it without depending on each other.
 *
 * Versions:
 *   socketlab.lab-result/1  steps and findings; the report guessed charts from field names.
 *   socketlab.lab-result/2  adds `settings` (the quick or full settings the run used) and
 *                           `charts` on each step: what to draw, declared by the lab from its
 *                           own numbers (a lab's summary step declares the charts across
 *                           steps). The report draws exactly these and nothing else.
 */

export const LAB_RESULT_SCHEMA = 'socketlab.lab-result/2';
/** Schemas of lab results this socketlab no longer reads (their charts were never declared). */
export const OLDER_LAB_RESULT_SCHEMAS: readonly string[] = ['socketlab.lab-result/1'];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A table cell as stored: a missing value is null (JSON has no undefined). */
export type ResultCell = string | number | null;

export interface ResultTable {
  header: string[];
  rows: ResultCell[][];
}

export const STEP_STATUS = { DONE: 'done', SKIPPED: 'skipped', FAILED: 'failed' } as const;
export type StepStatus = (typeof STEP_STATUS)[keyof typeof STEP_STATUS];

export const LAB_OUTCOME = { COMPLETED: 'completed', QUIT: 'quit', FAILED: 'failed' } as const;
export type LabOutcome = (typeof LAB_OUTCOME)[keyof typeof LAB_OUTCOME];

// ── Charts: what a lab asks the report to draw ──────────────────────────────────────────

export const AXIS_SCALE = { LINEAR: 'linear', LOG: 'log', AUTO: 'auto' } as const;
export type AxisScale = (typeof AXIS_SCALE)[keyof typeof AXIS_SCALE];

export interface ChartAxis {
  /** What the axis measures: "throughput", "virtual users". */
  label: string;
  /** Its unit, shown after the label: "req/s", "ms". Absent for counts that need none. */
  unit?: string;
  /** linear (default), log, or auto (log when the values span 20x or more). */
  scale?: AxisScale;
  /** Start the axis at zero (default: yes for values, no for a line chart's x). */
  zero?: boolean;
}

/** [min, max] of the runs behind one drawn value (its median): drawn as a whisker. */
export type ValueRange = [number, number];

export interface LineSeries {
  name: string;
  /** [x, y] pairs, finite numbers. */
  points: [number, number][];
  /** One entry per point: the runs' [min, max] around y, or null where it was measured once. */
  spread?: (ValueRange | null)[];
}

export interface ChartMarker {
  /** A vertical line at this x ("knee ≈ 400 VUs"). */
  x: number;
  label: string;
}

export interface LineChart {
  kind: 'line';
  title: string;
  /** One sentence under the chart: what to look at. */
  caption?: string;
  x: ChartAxis;
  y: ChartAxis;
  series: LineSeries[];
  markers?: ChartMarker[];
}

export interface BarSeries {
  name: string;
  /** One value per category; null leaves a gap. */
  values: (number | null)[];
  /** One entry per value: the runs' [min, max], or null where it was measured once. */
  spread?: (ValueRange | null)[];
}

export interface BarChart {
  kind: 'bar';
  title: string;
  caption?: string;
  categories: string[];
  /** The categories' axis: a label (and unit, for numeric categories such as pool sizes). */
  x: ChartAxis;
  /** The values' axis. */
  y: ChartAxis;
  series: BarSeries[];
  /** Default: vertical, unless the category names are too long to sit under the bars. */
  orientation?: 'vertical' | 'horizontal';
}

export type ChartDeclaration = LineChart | BarChart;

// ── The run ──────────────────────────────────────────────────────────────────────────────

export interface StepRecord {
  title: string;
  status: StepStatus;
  /** Why it was skipped or failed. */
  reason?: string;
  reading?: string;
  tables?: ResultTable[];
  /** What to draw for this step, declared by the lab. */
  charts?: ChartDeclaration[];
  /** Everything measured, as the lab recorded it. */
  measurements?: JsonObject;
  durationMs: number;
}

export interface MachineInfo {
  hostname: string;
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  platform: string;
  node: string;
  /** The sysctls that decide where one server breaks. */
  sysctls: Record<string, string | null>;
  openFilesLimit: { soft: number | null; hard: number | null };
  root: boolean;
}

/** What a lab says of itself, as the report shows it beside its results. */
export interface LabDescription {
  /** Kebab-case name used on the command line: `socketlab lab backlog-overflow`. */
  id: string;
  /** Position in the tour (1..9). */
  number: number;
  title: string;
  /** The rung of the load ladder, e.g. '100 → 1,000'. */
  layer: string;
  /** One line for `socketlab labs`. */
  summary: string;
  /** What you are about to see and why: printed before the first step. */
  intro: string;
}

export interface LabResult {
  schema: typeof LAB_RESULT_SCHEMA;
  lab: { id: string; number: number; title: string; layer: string };
  options: { quick: boolean; yes: boolean };
  /** The settings the run used: the lab's quick or full ones. */
  settings: JsonObject;
  machine: MachineInfo;
  startedAt: string;
  durationMs: number;
  /** 'completed', 'quit' (the user pressed q, or a signal stopped it) or 'failed'. */
  outcome: LabOutcome;
  error?: string;
  /** The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), when one did. */
  signal?: string;
  steps: StepRecord[];
  /** The lab's headline numbers. */
  findings: JsonObject;
}

/**
 * A lab id as it may appear in a file name, an HTML id and a URL: lower-case words joined by
 * single hyphens. Anything else in a results file is refused, not cleaned up.
 */
export const LAB_ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const LAB_ID_MAX_LENGTH = 64;

/** One line: "2 cores (AMD EPYC), 24.0 GiB, Linux 6.18, Node v20.20.2". */
export function summarizeMachine(machine: MachineInfo): string {
  const gib = (machine.memoryBytes / 2 ** 30).toFixed(1);
  return `${machine.cores} cores (${machine.cpuModel}), ${gib} GiB, ${machine.kernel}, Node ${machine.node}`;
}
