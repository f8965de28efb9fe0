/**
 * The results files a report is built from: read every `results/*.json` a lab run wrote,
 * keep the ones that are lab results, and choose one per lab.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LabResult } from '../labs/types.js';

export const LAB_RESULT_SCHEMA = 'socketlab.lab-result/1';

export interface LoadedResult {
  /** Absolute path of the file read. */
  file: string;
  /** Its base name, which is also its name under docs/results/data/. */
  name: string;
  result: LabResult;
}

export interface ResultsScan {
  results: LoadedResult[];
  /** Files that were skipped, each with why ("not JSON", "not a lab result"). */
  skipped: { name: string; reason: string }[];
}

/** Every lab result in `dir` (not recursive). A missing folder is an empty scan. */
export function readResults(dir: string): ResultsScan {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return { results: [], skipped: [] };
  }
  const results: LoadedResult[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of names.sort()) {
    const file = path.resolve(dir, name);
    if (!statSync(file).isFile()) continue;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      skipped.push({ name, reason: `not valid JSON (${error instanceof Error ? error.message : String(error)})` });
      continue;
    }
    const problem = checkLabResult(data);
    if (problem !== null) {
      skipped.push({ name, reason: problem });
      continue;
    }
    results.push({ file, name, result: data as LabResult });
  }
  return { results, skipped };
}

/** Why `data` is not a lab result the report can read, or null when it is. */
export function checkLabResult(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const r = data as Partial<LabResult>;
  if (r.schema !== LAB_RESULT_SCHEMA) return `not a lab result (schema ${JSON.stringify(r.schema ?? null)}, expected ${LAB_RESULT_SCHEMA})`;
  if (typeof r.lab?.id !== 'string' || typeof r.lab.number !== 'number') return 'lab result without lab id and number';
  if (!Array.isArray(r.steps)) return 'lab result without steps';
  if (typeof r.startedAt !== 'string' || Number.isNaN(Date.parse(r.startedAt))) return 'lab result without a valid startedAt';
  return null;
}

/**
 * One result per lab: a completed run before one that failed or was quit, then a full run
 * before a --quick one (quick runs shorten every load and shrink every count, so their
 * numbers understate the effects), then the newest.
 */
export function chooseResults(results: readonly LoadedResult[]): Map<string, LoadedResult> {
  const chosen = new Map<string, LoadedResult>();
  for (const candidate of results) {
    const current = chosen.get(candidate.result.lab.id);
    if (current === undefined || compareResults(candidate.result, current.result) < 0) chosen.set(candidate.result.lab.id, candidate);
  }
  return chosen;
}

/** Negative when `a` is the better result to show. */
export function compareResults(a: LabResult, b: LabResult): number {
  const completed = Number(b.outcome === 'completed') - Number(a.outcome === 'completed');
  if (completed !== 0) return completed;
  const full = Number(b.options?.quick === false) - Number(a.options?.quick === false);
  if (full !== 0) return full;
  return Date.parse(b.startedAt) - Date.parse(a.startedAt);
}
