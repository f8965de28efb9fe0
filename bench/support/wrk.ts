/**
 * wrk as the reference load generator: a C program with its own threads, so the numbers it
 * reports are the server's, not a JavaScript client's. Missing wrk is said plainly.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** Socket errors and non-2xx/3xx responses wrk counted. */
  errors: number;
  latencyAvgMs: number;
  raw: string;
}

export async function findWrk(): Promise<string | null> {
  try {
    await run('wrk', ['--version']).catch((error: { stdout?: string }) => {
      // wrk --version exits 1 after printing its version.
      if (!String(error.stdout ?? '').includes('wrk')) throw error;
    });
    return 'wrk';
  } catch {
    return null;
  }
}

/** "4.1.0" from `wrk --version` ("wrk debian/4.1.0-3+b2 [epoll] ..."), or null without wrk. */
export async function wrkVersion(): Promise<string | null> {
  const text = await run('wrk', ['--version']).then(
    (r) => r.stdout,
    (error: { stdout?: string }) => String(error.stdout ?? ''),
  );
  const match = /^wrk\s+(?:\S*\/)?(\d+(?:\.\d+)+)/.exec(text);
  return match === null ? null : (match[1] as string);
}

export const WRK_MISSING = 'wrk is not installed: install it with `apt-get install -y wrk` (Debian/Ubuntu) to get this baseline';

function toMs(value: string, unit: string): number {
  const factor: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(value) * (factor[unit] ?? 1);
}

export async function runWrk(url: string, options: { connections: number; threads: number; durationS: number; headers?: readonly string[] }): Promise<WrkResult> {
  const headers = (options.headers ?? []).flatMap((header) => ['-H', header]);
  const { stdout } = await run('wrk', [`-t${options.threads}`, `-c${options.connections}`, `-d${options.durationS}s`, '--timeout', '5s', ...headers, url], {
    timeout: (options.durationS + 30) * 1000,
  });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  const latency = /Latency\s+([\d.]+)(us|ms|s|m)/.exec(stdout);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (rps === null || total === null) throw new Error(`could not read wrk's output:\n${stdout}`);
  const errors = (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)) + Number(non2xx?.[1] ?? 0);
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    errors,
    latencyAvgMs: latency === null ? Number.NaN : toMs(latency[1] as string, latency[2] as string),
    raw: stdout,
  };
}
