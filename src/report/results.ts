/**
 * The results files a report is built from: read every `*.json` in the folders given, keep
 * the ones that are lab results of the current schema (src/results/validate.ts checks every
 * field), and choose one per lab. A file that is not is skipped with one line naming it and
 * its first wrong field; it never stops the report.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LabResult } from '../results/lab-result.js';
import { describeProblem, validateLabResult } from '../results/validate.js';

export interface LoadedResult {
  /** Absolute path of the file read. */
  file: string;
  /** Its base name, which is also its name under the report's data/ folder. */
  name: string;
  result: LabResult;
}

export interface SkippedFile {
  /** The file as given (folder and name), for the message. */
  file: string;
  reason: string;
}

export interface ResultsScan {
  results: LoadedResult[];
  /** Files that were skipped, each with why ("lab.id: not a lab id"). */
  skipped: SkippedFile[];
}

/** Larger than any lab writes (a full run of every lab is a few MB); a bigger file is not read. */
export const MAX_RESULT_BYTES = 64 * 2 ** 20;

/** Every lab result in `dirs` (not recursive). A missing folder adds nothing. */
export function readResults(dirs: readonly string[]): ResultsScan {
  const results: LoadedResult[] = [];
  const skipped: SkippedFile[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.json'));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const file = path.resolve(dir, name);
      const shown = path.join(dir, name);
      const loaded = readOne(file, name);
      if ('reason' in loaded) skipped.push({ file: shown, reason: loaded.reason });
      else if (!results.some((r) => r.file === file)) results.push(loaded);
    }
  }
  return { results, skipped };
}

function readOne(file: string, name: string): LoadedResult | { reason: string } {
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return { reason: 'not a file' };
    if (stat.size > MAX_RESULT_BYTES) return { reason: `${stat.size} bytes, larger than the ${MAX_RESULT_BYTES} a results file may be` };
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      return { reason: `not valid JSON (${error instanceof Error ? error.message : String(error)})` };
    }
    const checked = validateLabResult(data);
    return checked.ok ? { file, name, result: checked.result } : { reason: describeProblem(checked) };
  } catch (error) {
    // Unreadable (permissions, a dangling link): a line, like any other bad file.
    return { reason: `could not be read (${(error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error))})` };
  }
}

/**
 * Which run of a lab to show:
 *   latest     the user's report: the newest completed run (quick or full: the one they just
 *              ran), or the newest run at all when none completed.
 *   reference  the committed reference: a completed run before one that failed or was quit,
 *              then a full run before a --quick one (quick runs shorten every load and shrink
 *              every count, so their numbers understate the effects), then the newest.
 */
export const CHOICE = { LATEST: 'latest', REFERENCE: 'reference' } as const;
export type Choice = (typeof CHOICE)[keyof typeof CHOICE];

export function chooseResults(results: readonly LoadedResult[], choice: Choice = CHOICE.LATEST): Map<string, LoadedResult> {
  const chosen = new Map<string, LoadedResult>();
  for (const candidate of results) {
    const current = chosen.get(candidate.result.lab.id);
    if (current === undefined || compareResults(candidate.result, current.result, choice) < 0) chosen.set(candidate.result.lab.id, candidate);
  }
  return chosen;
}

/** Negative when `a` is the better result to show. */
export function compareResults(a: LabResult, b: LabResult, choice: Choice = CHOICE.LATEST): number {
  const completed = Number(b.outcome === 'completed') - Number(a.outcome === 'completed');
  if (completed !== 0) return completed;
  if (choice === CHOICE.REFERENCE) {
    const full = Number(!b.options.quick) - Number(!a.options.quick);
    if (full !== 0) return full;
  }
  return Date.parse(b.startedAt) - Date.parse(a.startedAt);
}
