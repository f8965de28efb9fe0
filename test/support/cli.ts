/**
 * Run the real `socketlab` command (compiled CLI) as a child process, the way a user does.
 */
import { spawn } from 'node:child_process';
import { startServeProcess, type ServerProcess, type StartOptions } from '../../src/labs/serve-process.js';
import { fileURLToPath } from 'node:url';
import { waitForEvent } from './wait.js';

export const CLI_PATH = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `socketlab ...args` to completion (with a deadline) and collect its output; `cwd` is where it runs (default: here). */
export async function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const [code, signal] = (await waitForEvent(child, 'close', (options.timeoutMs ?? 60_000) + 5_000)) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

export type { ServerProcess } from '../../src/labs/serve-process.js';

/** Start `socketlab serve --port 0 ...args` and resolve once it prints its listening line. */
export function startServe(args: string[] = [], options: StartOptions = {}): Promise<ServerProcess> {
  return startServeProcess(args, { startTimeoutMs: 30_000, ...options });
}
