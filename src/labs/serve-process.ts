/**
 * A server in a process of its own, started the way a user starts it, for labs, benchmarks
 * and tests: the process under measurement then has its own PID, event loop, descriptors and
 * limits, and nothing the caller does (a load generator, a spinner) runs on its loop.
 *
 * Every server here (`socketlab serve` and the bench baselines) prints a line that starts
 * `listening on http://HOST:PORT` when it is ready (program.ts's LISTENING_PREFIX).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { LISTENING_PREFIX, SOCKETLAB_CLI } from '../program.js';

export interface ServerProcess {
  name: string;
  /** The process we spawned: the server itself, or the wrapper named by `prefix` (strace, prlimit). */
  child: ChildProcess;
  /** The server's own PID (from its listening line when a wrapper runs it). */
  pid: number;
  host: string;
  port: number;
  url: string;
  /** The whole listening line. */
  banner: string;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when the process exits, however that happens. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send `signal` (SIGTERM by default) by PID and wait for exit; SIGKILL after the deadline. Idempotent. */
  stop(signal?: NodeJS.Signals, deadlineMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Give up (and kill the process) if it has not printed its listening line by then. Default 60 s. */
  startTimeoutMs?: number;
  /** Run the command through this prefix, e.g. ['prlimit', '--nofile=64:64', '--'] or ['strace', '-c', '-f']. */
  prefix?: string[];
  /** Extra node flags, before the script. */
  nodeArgs?: string[];
  stdio?: SpawnOptions['stdio'];
}

/** Start `node script ...args` and resolve once it prints its listening line. */
export async function startServerProcess(name: string, script: string, args: string[], options: StartOptions = {}): Promise<ServerProcess> {
  const command = [...(options.prefix ?? []), process.execPath, ...(options.nodeArgs ?? []), script, ...args];
  const child = spawn(command[0] as string, command.slice(1), {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not print its listening line in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.startTimeoutMs ?? 60_000);
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith(LISTENING_PREFIX));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  const match = /^(\[[^\]]+\]|[^:/\s]+):(\d+)/.exec(banner.slice(LISTENING_PREFIX.length)) as RegExpExecArray;
  const host = (match[1] as string).replace(/^\[|\]$/g, '');
  const port = Number(match[2]);
  const bannerPid = /\bpid=(\d+)/.exec(banner);
  const pid = bannerPid === null ? (child.pid as number) : Number(bannerPid[1]);
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  return {
    name,
    child,
    pid,
    host,
    port,
    url: `http://${match[1]}:${port}`,
    banner,
    output: () => ({ stdout, stderr }),
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM', deadlineMs = 15_000) {
      // Once only: a second SIGTERM tells socketlab serve to stop waiting for its requests.
      stopping ??= (async () => {
        // Signal the server, not a wrapper: strace, for one, would detach and leave the
        // server running without writing its summary. The wrapper exits when the server does.
        if (child.exitCode === null && child.signalCode === null) signalPid(pid, signal);
        const timer = setTimeout(() => {
          signalPid(pid, 'SIGKILL');
          child.kill('SIGKILL');
        }, deadlineMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      })();
      return stopping;
    },
  };
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** `socketlab serve --port 0 ...args` in its own process. */
export function startServeProcess(args: string[] = [], options: StartOptions = {}): Promise<ServerProcess> {
  return startServerProcess('socketlab serve', SOCKETLAB_CLI, ['serve', '--port', '0', ...args], options);
}
