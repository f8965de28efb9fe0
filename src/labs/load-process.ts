/**
 * `socketlab load` in a process of its own, for the labs whose client cannot live in the
 * lab's process: a client inside a network namespace (`ip netns exec` switches the network
 * namespace of the process it starts, not of threads inside ours), or several clients that
 * together hold more connections than one process has descriptors (RLIMIT_NOFILE is per
 * process: worker threads share it).
 *
 * The run is the CLI a user would type, and its numbers come back from its `--json` file, so
 * the lab reads exactly the LoadResult described in docs/load.md. Every process started here
 * is tracked by the lab: quitting or failing stops it (SIGINT first, which makes the CLI end
 * early and still write its result; SIGKILL if it does not exit in time).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SOCKETLAB_CLI } from '../program.js';
import type { LoadResult } from '../load/index.js';
import { LAB_ERR, LabError } from '../errors.js';
import type { LabContext, Resource, StepContext } from './types.js';

export interface LoadProcessOptions {
  /** Run the client inside this network namespace (`ip netns exec NAME node ...`). */
  namespace?: string;
  /** SIGKILL the client if it is still running this long after it started. */
  deadlineMs: number;
}

export interface LoadProcess {
  /** The client's PID (`ip netns exec` execs node in place, so it is node's PID either way). */
  pid: number;
  /** Resolves once the client has exited and its result has been read. */
  result: Promise<LoadResult>;
  /** Has the process exited? */
  exited(): boolean;
  /** End the run early, as Ctrl-C does: the client closes its connections and writes its result. */
  interrupt(): void;
}

/** How long an interrupted client may take to close its connections and write its result. */
const INTERRUPT_GRACE_MS = 20_000;

/** Start `socketlab load ...args --json FILE`; the lab tracks it until it has exited. */
export function startLoadProcess(lab: LabContext, args: string[], options: LoadProcessOptions): LoadProcess {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-load-'));
  const jsonFile = path.join(dir, 'result.json');
  const command = [...(options.namespace === undefined ? [] : ['ip', 'netns', 'exec', options.namespace]), process.execPath, SOCKETLAB_CLI, 'load', ...args, '--json', jsonFile];
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let hasExited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => {
      hasExited = true;
      resolve({ code: null, signal: null, error });
    });
    child.once('close', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
  });
  const killer = setTimeout(() => signalChild('SIGKILL'), options.deadlineMs);
  killer.unref();

  function signalChild(signal: NodeJS.Signals): void {
    if (hasExited || child.pid === undefined) return;
    try {
      process.kill(child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  const resource: Resource = {
    name: `socketlab load pid ${child.pid ?? '?'}`,
    async stop() {
      if (hasExited) return;
      signalChild('SIGINT');
      const timer = setTimeout(() => signalChild('SIGKILL'), INTERRUPT_GRACE_MS);
      await exit;
      clearTimeout(timer);
    },
  };
  lab.track(resource);

  const result = exit.then(async ({ code, signal, error }) => {
    clearTimeout(killer);
    await lab.release(resource);
    try {
      if (error !== undefined) throw new LabError(LAB_ERR.LAB_CHILD, `could not start the load generator (${command[0]}): ${error.message}`, { cause: error });
      // 0: done; 99: a threshold failed, which is a result like any other.
      if (code !== 0 && code !== 99) {
        throw new LabError(
          LAB_ERR.LAB_CHILD,
          `socketlab load exited ${code ?? signal}${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}: ${lastLines(stderr || stdout)}`,
        );
      }
      return JSON.parse(readFileSync(jsonFile, 'utf8')) as LoadResult;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  // A caller that stops waiting (the lab failed elsewhere) must not leave an unhandled rejection.
  result.catch(() => {});

  return {
    pid: child.pid ?? -1,
    result,
    exited: () => hasExited,
    interrupt: () => signalChild('SIGINT'),
  };
}

/**
 * One closed- or open-model run in its own process, with the elapsed time on the step's
 * spinner (the CLI shows no progress when its output is not a terminal) and Ctrl-C honoured.
 */
export async function runLoadProcess(lab: LabContext, step: StepContext, args: string[], options: LoadProcessOptions & { label: string; plannedMs: number }): Promise<LoadResult> {
  const started = Date.now();
  const run = startLoadProcess(lab, args, options);
  const onAbort = (): void => run.interrupt();
  step.signal.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(() => {
    step.progress(`${options.label}: ${Math.round((Date.now() - started) / 1000)} s of ${Math.round(options.plannedMs / 1000)} s`);
  }, 500);
  try {
    return await run.result;
  } finally {
    clearInterval(ticker);
    step.signal.removeEventListener('abort', onAbort);
  }
}

function lastLines(text: string): string {
  const lines = text.trim().split('\n');
  return lines.slice(-3).join(' / ') || '(no output)';
}
