/**
 * `--json FILE` for every bench program: the envelope of src/results/bench-result.ts (what
 * ran, where, when) around the program's own figures. A program calls beginBenchRun() before
 * it measures, so the start time and load average are the run's, and writeBenchJson() once it
 * has every figure it printed.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { describeMachine } from '../../src/labs/machine.js';
import { BENCH_RESULT_SCHEMA, type BenchEnvelope, type BenchVersions } from '../../src/results/bench-result.js';

export interface BenchRun {
  bench: string;
  args: string[];
  startedAt: string;
  loadAverageStart: number[];
}

export function beginBenchRun(bench: string, args: string[] = process.argv.slice(2)): BenchRun {
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
