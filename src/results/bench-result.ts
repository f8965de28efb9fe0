/**
 * What a bench program writes with `--json FILE`: one envelope for all of them, so that the
 * docs are built from what was run (`socketlab docs`) and a reader of the file knows which
 * program, with which arguments, on which machine and when, before reading a figure.
 *
 * A leaf like lab-result.ts: bench/ writes it, cli/docs reads it, the tests check it.
 * The payload (every figure the program printed, every round) sits beside the envelope's
 * fields, under names each program documents in its own JSON.
 */
import type { MachineInfo } from './lab-result.js';

export const BENCH_RESULT_SCHEMA = 'socketlab-bench/1';

/** Versions of the tools a run depended on; null where the tool was not used or not found. */
export interface BenchVersions {
  node: string;
  postgres?: string | null;
  wrk?: string | null;
  pgbench?: string | null;
  llhttp?: string | null;
}

export interface BenchEnvelope {
  schema: typeof BENCH_RESULT_SCHEMA;
  /** The program's name: `socketlab bench NAME`. */
  bench: string;
  /** The arguments it was given, as typed. */
  args: string[];
  /** A short run (--quick, or shorter runs or fewer rounds than the defaults): docs say so. */
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  versions: BenchVersions;
  /** The 1, 5 and 15 minute load averages at the start and at the end. */
  loadAverage: { start: number[]; end: number[] };
}

/** A bench output: the envelope and the program's own fields. */
export type BenchResult<Payload extends object = Record<string, unknown>> = BenchEnvelope & Payload;

/** Reads what claims to be a bench output; null with the reason when it is not one. */
export function checkBenchEnvelope(value: unknown): { ok: true; result: BenchResult } | { ok: false; reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  const record = value as Record<string, unknown>;
  if (record.schema !== BENCH_RESULT_SCHEMA) return { ok: false, reason: `schema is ${JSON.stringify(record.schema)}, not "${BENCH_RESULT_SCHEMA}"` };
  for (const field of ['bench', 'startedAt'] as const) if (typeof record[field] !== 'string') return { ok: false, reason: `field "${field}" is missing or not a string` };
  if (!Array.isArray(record.args)) return { ok: false, reason: 'field "args" is missing or not a list' };
  if (typeof record.machine !== 'object' || record.machine === null) return { ok: false, reason: 'field "machine" is missing' };
  return { ok: true, result: record as unknown as BenchResult };
}
