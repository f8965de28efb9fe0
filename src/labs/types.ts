/**
 * What a lab is, what it may ask of the runner, and what a run leaves behind. Labs are
 * narrative scripts in labs/ (one per chapter); the runner (runner.ts) gives them spinners,
 * pauses, cleanup and a results file, so a lab reads like the chapter it teaches.
 */
import type { Cell } from '../report/table.js';

export interface LabDefinition {
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
  run(lab: LabContext): Promise<void>;
}

export interface LabRunOptions {
  /** Short durations and small counts (the tests and a quick tour use it). */
  quick: boolean;
  /** No pause between steps. */
  yes: boolean;
  /** Also write the results here (results/<lab>-<timestamp>.json is always written). */
  jsonPath: string | null;
  /** Where results/ goes; default the working directory. */
  resultsDir: string;
  /** Where lab output goes (default stdout). */
  out: NodeJS.WritableStream;
  /** Interactive pauses need a TTY on stdin and stdout. */
  interactive: boolean;
}

export interface StepTable {
  header: string[];
  rows: Cell[][];
}

/** What a step hands back to the runner. */
export interface StepOutcome {
  /** The numbers, as the terminal table shows them. */
  table?: StepTable;
  /** More tables, when one does not fit the story (printed in order). */
  tables?: StepTable[];
  /** Two or three lines that say what the numbers mean. */
  reading: string;
  /** Everything measured, for the results file (plain JSON). */
  measurements?: Record<string, unknown>;
}

export interface StepContext {
  /** Update the spinner's text (e.g. "12 s of 30 s, 4,210 req/s"). */
  progress(text: string): void;
  /** Aborted when the user quits: long waits and load runs should honour it. */
  signal: AbortSignal;
}

export interface Resource {
  /** What it is, for the cleanup line ("socketlab serve pid 1234"). */
  name: string;
  stop(): Promise<void>;
}

export interface LabContext {
  readonly quick: boolean;
  readonly signal: AbortSignal;
  /** The lab's headline numbers, written into the results file under `findings`. */
  readonly findings: Record<string, unknown>;
  /** Run one named step: a spinner while it runs, then its table and reading, then a pause. */
  step(title: string, body: (step: StepContext) => Promise<StepOutcome>): Promise<StepOutcome | null>;
  /** Record a step that cannot run here, and why (root, strace, a kernel feature). */
  skip(title: string, reason: string): void;
  /** A line of narration between steps. */
  say(text: string): void;
  /** Stop this when the lab ends, fails or is quit (last tracked, first stopped). */
  track<T extends Resource>(resource: T): T;
  /** Stop and forget a tracked resource now. */
  release(resource: Resource): Promise<void>;
}

export interface StepRecord {
  title: string;
  status: 'done' | 'skipped' | 'failed';
  reason?: string;
  reading?: string;
  tables?: StepTable[];
  measurements?: Record<string, unknown>;
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

export interface LabResult {
  schema: 'socketlab.lab-result/1';
  lab: { id: string; number: number; title: string; layer: string };
  options: { quick: boolean; yes: boolean };
  machine: MachineInfo;
  startedAt: string;
  durationMs: number;
  /** 'completed', 'quit' (the user pressed q, or a signal stopped it) or 'failed'. */
  outcome: 'completed' | 'quit' | 'failed';
  error?: string;
  /** The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), when one did. */
  signal?: string;
  steps: StepRecord[];
  findings: Record<string, unknown>;
}
