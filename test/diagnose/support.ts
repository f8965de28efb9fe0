/**
 * What the planted-bottleneck tests share: run `socketlab diagnose` the way a user does (as
 * a child process, optionally through a prefix such as `ip netns exec NS` or `prlimit`) and
 * read back its --json; start the fixture servers; and a scope that stops everything a test
 * started, also when the test fails.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess, type StartOptions } from '../../src/labs/serve-process.js';
import type { DiagnoseResult } from '../../src/diagnose/types.js';
import type { LabContext, Resource } from '../../src/labs/types.js';
import { CLI_PATH } from '../support/cli.js';
import { waitForEvent } from '../support/wait.js';

export const FIXTURE_SERVER = fileURLToPath(new URL('./fixture-server.js', import.meta.url));

export interface DiagnoseRun {
  code: number | null;
  stdout: string;
  stderr: string;
  result: DiagnoseResult | null;
  elapsedMs: number;
}

/** `[prefix...] node cli.js diagnose ...args --json FILE` to completion, with a deadline. */
export async function runDiagnoseCli(args: string[], options: { prefix?: string[]; timeoutMs?: number } = {}): Promise<DiagnoseRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-diagnose-test-'));
  const json = path.join(dir, 'result.json');
  const command = [...(options.prefix ?? []), process.execPath, CLI_PATH, 'diagnose', ...args, '--json', json];
  const started = Date.now();
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  // SIGINT first: diagnose ends its step and still writes its verdict; SIGKILL if that hangs.
  const interrupt = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
  try {
    const [code] = (await waitForEvent(child, 'close', timeoutMs + 15_000)) as [number | null];
    let result: DiagnoseResult | null = null;
    try {
      result = JSON.parse(readFileSync(json, 'utf8')) as DiagnoseResult;
    } catch {
      // no verdict written: the caller reports stdout and stderr
    }
    return { code, stdout, stderr, result, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(interrupt);
    clearTimeout(kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fixture server (fixture-server.ts) in its own process. */
export function startFixtureServer(args: string[], options: StartOptions = {}): Promise<ServerProcess> {
  return startServerProcess('fixture server', FIXTURE_SERVER, args, { startTimeoutMs: 30_000, ...options });
}

/**
 * Stops what a test started, last first, whatever happened; also a LabContext for the lab
 * helpers that make namespaces and veths (they only ever call track and release).
 */
export interface Scope {
  lab: LabContext;
  track<T extends Resource>(resource: T): T;
  server(server: ServerProcess): ServerProcess;
  stopAll(): Promise<void>;
}

export function createScope(): Scope {
  const resources: Resource[] = [];
  const track = <T extends Resource>(resource: T): T => {
    resources.push(resource);
    return resource;
  };
  const unused = (): never => {
    throw new Error('not available in a diagnose test scope');
  };
  const lab: LabContext = {
    quick: true,
    signal: new AbortController().signal,
    findings: {},
    step: unused,
    skip: unused,
    say: unused,
    track,
    async release(resource) {
      const at = resources.indexOf(resource);
      if (at >= 0) resources.splice(at, 1);
      await resource.stop();
    },
  };
  return {
    lab,
    track,
    server(server) {
      track({ name: `${server.name} pid ${server.pid}`, stop: async () => void (await server.stop()) });
      return server;
    },
    async stopAll() {
      while (resources.length > 0) {
        const resource = resources.pop() as Resource;
        await resource.stop().catch(() => undefined);
      }
    },
  };
}

export { hasCommand, isRoot } from '../../src/labs/kit.js';

/** Everything a failed assertion needs to say what was measured. */
export function explain(run: DiagnoseRun): string {
  const steps = run.result?.steps.map((s) => `${s.vus}${s.phase === 'confirm' ? 'c' : ''}: ${s.load.rps} req/s failed ${s.load.failed}`).join('; ') ?? '';
  return `exit ${run.code}; layer ${run.result?.bottleneck.layer ?? '?'}; steps ${steps}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}
