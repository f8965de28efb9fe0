/**
 * A child node process for the metrics proofs: run a small inline script, read the lines it
 * prints, talk to it on stdin, and kill it by PID, confirming it is gone.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { waitFor } from '../support/wait.js';

export interface Child {
  pid: number;
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the first stdout line that starts with `prefix`, minus the prefix. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  send(text: string): void;
  /** SIGKILL by PID, wait for the exit, and check /proc/PID no longer exists. */
  kill(): Promise<void>;
}

/** `node -e script`, optionally behind a launcher such as `taskset -c 0`. */
export function spawnNodeScript(script: string, launcher: string[] = []): Child {
  const argv = [...launcher, process.execPath, '-e', script];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  return {
    pid,
    process: child,
    async line(prefix, timeoutMs = 10_000) {
      const found = await waitFor(`child ${pid} to print "${prefix}..." (stderr so far: ${stderr.slice(0, 300)})`, () => stdout.split('\n').find((l) => l.startsWith(prefix)), {
        timeoutMs,
      });
      return found.slice(prefix.length);
    },
    send(text) {
      child.stdin.write(text);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      await waitFor(`child ${pid} to exit`, () => child.exitCode !== null || child.signalCode !== null);
      await exited;
      // Reaped by Node once 'exit' fired: no zombie is left under /proc.
      await waitFor(`process ${pid} to be gone`, async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    },
  };
}
