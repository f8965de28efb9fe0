/**
 * `--json FILE` for every bench program: the envelope of src/results/bench-result.ts (what
 * ran, where, when) around the program's own figures. A program calls beginBenchRun() before
 * it measures, so the start time and load average are the run's, and writeBenchJson() once it
 * has every figure it printed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { describeMachine } from '../../src/labs/machine.js';
import { BENCH_RESULT_SCHEMA, type BenchEnvelope, type BenchVersions } from '../../src/results/bench-result.js';

export interface BenchRun {
  bench: string;
  args: string[];
  startedAt: string;
  loadAverageStart: number[];
}

/** The flags every bench program takes for its JSON output: spread them into its parseArgs options. */
export const JSON_OUTPUT_FLAGS = { json: { type: 'string' }, force: { type: 'boolean' } } as const;

/**
 * Call before measuring. `flags` are the program's parsed --json and --force: a --json file that
 * exists already is a reference run or a user's result, so it is overwritten only with --force,
 * and the refusal comes now, not after minutes of measuring (one line, exit 2).
 */
export function beginBenchRun(bench: string, flags: { json?: string | undefined; force?: boolean | undefined }, args: string[] = process.argv.slice(2)): BenchRun {
  const file = flags.json;
  if (file !== undefined) {
    const problem = !existsSync(path.dirname(path.resolve(file)))
      ? `--json ${file}: its folder does not exist`
      : existsSync(file) && flags.force !== true
        ? `--json ${file} exists already: add --force to overwrite it, or choose another file`
        : null;
    if (problem !== null) {
      process.stderr.write(`socketlab bench ${bench}: ${problem}\n`);
      process.exit(2);
    }
  }
  return { bench, args, startedAt: new Date().toISOString(), loadAverageStart: loadAverages() };
}

/**
 * Writes the envelope and `payload` to `file` (nothing when no --json was given) and says so
 * on stdout. `quick` marks a run shorter than the program's defaults: the docs built from it
 * say so.
 */
export function writeBenchJson(file: string | undefined, run: BenchRun, fields: { quick: boolean; versions?: Omit<BenchVersions, 'node'> }, payload: object): void {
  if (file === undefined) return;
  const envelope: BenchEnvelope = {
    schema: BENCH_RESULT_SCHEMA,
    bench: run.bench,
    args: run.args,
    quick: fields.quick,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
    versions: { node: process.version, ...fields.versions },
    loadAverage: { start: run.loadAverageStart, end: loadAverages() },
  };
  // JSON has no NaN: a figure that could not be measured is written as null, never as a string.
  writeFileSync(file, `${JSON.stringify({ ...envelope, ...payload }, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

function loadAverages(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}
