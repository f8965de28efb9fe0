/**
 * What a lab is and what it may ask of the runner. Labs are narrative scripts in labs/ (one
 * per chapter); the runner (runner.ts) gives them spinners, pauses, cleanup and a results
 * file, so a lab reads like the chapter it teaches. What a run leaves behind is the results
 * schema, src/results/lab-result.ts.
 */
import type { Cell } from '../format/table.js';
import type { ChartDeclaration, LabDescription } from '../results/lab-result.js';

export type { ChartDeclaration, LabResult, MachineInfo, StepRecord } from '../results/lab-result.js';

/**
 * A lab's sizes (durations, counts, rounds) in its two forms: `quick` for the tests and a
 * short tour, `full` for the real thing. Declared once, as data, on the lab; the runner
 * hands `run` the chosen one and records it in the results file (so it must be plain JSON:
 * numbers, strings, lists and objects of them).
 */
export interface LabSettings<S extends object> {
  quick: S;
  full: S;
}

export interface LabDefinition<S extends object = object> extends LabDescription {
  settings: LabSettings<S>;
  run(lab: LabContext, settings: S): Promise<void>;
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
  /** What the report draws for this step, from the numbers just measured. */
  charts?: ChartDeclaration[];
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
