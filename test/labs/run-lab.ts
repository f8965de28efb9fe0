/**
 * Run a lab the way a user does (`socketlab lab NAME --quick --yes`) and read back the
 * results file it wrote: lab tests check findings measured for real, not printed text.
 * Every file read is first checked against the results schema (src/results/validate.ts), so
 * each lab test also proves its lab writes a file the report will draw.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import type { LabResult, StepRecord } from '../../src/results/lab-result.js';
import { describeProblem, validateLabResult } from '../../src/results/validate.js';

/**
 * A validated result, its findings and measurements seen as the tests read them: each test
 * casts the few fields it checks to the lab's own types.
 */
export type TestLabResult = Omit<LabResult, 'findings' | 'steps'> & {
  findings: Record<string, unknown>;
  steps: (Omit<StepRecord, 'measurements'> & { measurements?: Record<string, unknown> })[];
};

export interface LabTestRun {
  cli: CliResult;
  result: TestLabResult;
}

export async function runLabQuick(name: string, options: { timeoutMs?: number; extraArgs?: string[] } = {}): Promise<LabTestRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-lab-test-'));
  try {
    const cli = await runCli(['lab', name, '--quick', '--yes', '--results-dir', dir, ...(options.extraArgs ?? [])], { timeoutMs: options.timeoutMs ?? 120_000 });
    const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
    if (files.length !== 1) throw new Error(`expected one results file, found ${files.length}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    const checked = validateLabResult(JSON.parse(readFileSync(path.join(dir, files[0] as string), 'utf8')));
    if (!checked.ok) throw new Error(`lab ${name} wrote a results file the report would skip: ${describeProblem(checked)}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    const result = checked.result;
    if (result.outcome !== 'completed') throw new Error(`lab ${name} ended ${result.outcome}: ${result.error ?? ''}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    return { cli, result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
