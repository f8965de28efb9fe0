/**
 * Run a lab the way a user does (`socketlab lab NAME --quick --yes`) and read back the
 * results file it wrote: lab tests check findings measured for real, not printed text.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import type { LabResult } from '../../src/labs/types.js';

export interface LabTestRun {
  cli: CliResult;
  result: LabResult;
}

export async function runLabQuick(name: string, options: { timeoutMs?: number; extraArgs?: string[] } = {}): Promise<LabTestRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-lab-test-'));
  try {
    const cli = await runCli(['lab', name, '--quick', '--yes', '--results-dir', dir, ...(options.extraArgs ?? [])], { timeoutMs: options.timeoutMs ?? 120_000 });
    const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
    if (files.length !== 1) throw new Error(`expected one results file, found ${files.length}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    const result = JSON.parse(readFileSync(path.join(dir, files[0] as string), 'utf8')) as LabResult;
    if (result.outcome !== 'completed') throw new Error(`lab ${name} ended ${result.outcome}: ${result.error ?? ''}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`);
    return { cli, result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
