/**
 * Labs clean up however they end: SIGTERM, SIGHUP, an uncaught exception or an unhandled
 * rejection stop what the lab made (its namespace, its veth with address and tc queue, its
 * servers) and write the results file; a second signal exits at once; a run killed with
 * SIGKILL is cleaned up by the next run, which never touches what a live run owns; and
 * hasCommand never hands its argument to a shell.
 *
 * Real processes, real namespaces: the lab under test is fixtures/cleanup-lab.ts through the
 * real runner, or `socketlab lab backlog-overflow` itself.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand } from '../../src/labs/kit.js';
import { createNamespace } from '../../src/labs/netns.js';
import type { LabContext, LabResult, Resource } from '../../src/labs/types.js';
import { CLI_PATH } from '../support/cli.js';
import { waitFor, waitForEvent } from '../support/wait.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/cleanup-lab.js', import.meta.url));

const networkSkip: string | false = (() => {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'making network namespaces needs root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (ip and tc)';
  }
  return false;
})();

// Whatever a failing test leaves is removed here, so a failure never leaks into other runs.
const leftovers = { namespaces: new Set<string>(), links: new Set<string>(), pids: new Set<number>(), dirs: new Set<string>() };
after(() => {
  for (const pid of leftovers.pids) killQuietly(pid);
  for (const name of leftovers.namespaces) quietly('ip', ['netns', 'delete', name]);
  for (const name of leftovers.links) quietly('ip', ['link', 'delete', name]);
  for (const dir of leftovers.dirs) rmSync(dir, { recursive: true, force: true });
});

function quietly(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

function links(): string[] {
  return execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => (line.trim().split(/\s+/)[0] ?? '').split('@')[0] ?? '')
    .filter((name) => name !== '');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) is gone for this purpose.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-cleanup-test-'));
  leftovers.dirs.add(dir);
  return dir;
}

function readResult(dir: string): LabResult {
  const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
  assert.equal(files.length, 1, `one results file in ${dir}, found: ${files.join(', ') || 'none'}`);
  return JSON.parse(readFileSync(path.join(dir, files[0] as string), 'utf8')) as LabResult;
}

interface Started {
  child: ChildProcess;
  output(): string;
  closed: Promise<[number | null, NodeJS.Signals | null]>;
}

function start(command: string, args: string[]): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  leftovers.pids.add(child.pid as number);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const closed = waitForEvent<[number | null, NodeJS.Signals | null]>(child, 'close', 240_000);
  return { child, output: () => output, closed };
}

/** What the fixture said it made (recorded as leftovers until the test sees them gone). */
function madeBy(run: Started): { namespaces: string[]; veths: string[]; servers: number[] } {
  const made = (what: string): string[] => [...run.output().matchAll(new RegExp(`^made ${what} (\\S+)$`, 'gm'))].map((m) => m[1] as string);
  const found = { namespaces: made('namespace'), veths: made('veth'), servers: made('server').map(Number) };
  for (const name of found.namespaces) leftovers.namespaces.add(name);
  for (const name of found.veths) leftovers.links.add(name);
  for (const pid of found.servers) leftovers.pids.add(pid);
  return found;
}

async function runFixtureUntilReady(mode: string, dir: string): Promise<{ run: Started; made: ReturnType<typeof madeBy> }> {
  const run = start(process.execPath, [FIXTURE, mode, dir]);
  await waitFor(`the fixture to build its namespace, veth and servers\n${run.output()}`, () => /^ready$/m.test(run.output()) || run.child.exitCode !== null, {
    timeoutMs: 120_000,
  });
  const made = madeBy(run);
  assert.equal(run.child.exitCode, null, `the fixture ended before it was ready:\n${run.output()}`);
  assert.equal(made.namespaces.length, 1, run.output());
  assert.equal(made.veths.length, 1, run.output());
  assert.equal(made.servers.length, 2, run.output());
  // Poll the kernel's view, not the fixture's word, before stopping it.
  await waitFor(`namespace ${made.namespaces[0]} in ip netns list`, () => namespaces().includes(made.namespaces[0] as string));
  return { run, made };
}

/** Everything the fixture made is gone: namespace, veth (its address and qdiscs with it), servers. */
function assertAllGone(made: ReturnType<typeof madeBy>, output: string): void {
  const stillNamespaces = namespaces().filter((name) => made.namespaces.includes(name));
  const stillLinks = links().filter((name) => made.veths.includes(name));
  const stillServers = made.servers.filter(isAlive);
  assert.deepEqual({ namespaces: stillNamespaces, veths: stillLinks, servers: stillServers }, { namespaces: [], veths: [], servers: [] }, `left behind:\n${output}`);
}

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`a lab stopped by ${signal} removes its namespace, veth and servers and says so in its results`, { skip: networkSkip, timeout: 240_000 }, async () => {
    const dir = tempDir();
    const { run, made } = await runFixtureUntilReady('wait', dir);
    run.child.kill(signal);
    const [code, killedBy] = await run.closed;
    assertAllGone(made, run.output());
    assert.equal(code, 128 + (os.constants.signals[signal] as number), `exit ${code ?? killedBy}:\n${run.output()}`);
    const result = readResult(dir);
    assert.equal(result.outcome, 'quit');
    assert.equal(result.signal, signal);
    assert.match(run.output(), new RegExp(`${signal}: stopping everything this lab started`));
  });
}

for (const mode of ['crash', 'reject'] as const) {
  const what = mode === 'crash' ? 'an uncaught exception' : 'an unhandled rejection';
  test(`${what} in a lab stops what it made, in one line, and records a failure`, { skip: networkSkip, timeout: 240_000 }, async () => {
    const dir = tempDir();
    const run = start(process.execPath, [FIXTURE, mode, dir]);
    const [code, killedBy] = await run.closed;
    const made = madeBy(run);
    assert.equal(made.namespaces.length, 1, run.output());
    assert.equal(code, 1, `exit ${code ?? killedBy}:\n${run.output()}`);
    assertAllGone(made, run.output());
    const result = readResult(dir);
    assert.equal(result.outcome, 'failed');
    assert.match(result.error ?? '', /the fixture (broke in a timer|rejected a promise)/);
    assert.match(run.output(), /The lab failed: the fixture/);
    assert.doesNotMatch(run.output(), /^\s+at /m, 'no stack trace for the failure');
  });
}

test('a second signal ends a lab at once, even while its cleanup hangs', { skip: networkSkip, timeout: 240_000 }, async () => {
  const dir = tempDir();
  const { run } = await runFixtureUntilReady('stuck-stop', dir);
  run.child.kill('SIGTERM');
  // The first signal started the cleanup, which now waits on the resource that never stops.
  await waitFor('the cleanup to start', () => /SIGTERM: stopping everything/.test(run.output()));
  run.child.kill('SIGTERM');
  const [code, killedBy] = await run.closed;
  assert.equal(code, 128 + os.constants.signals.SIGTERM, `exit ${code ?? killedBy}:\n${run.output()}`);
  assert.match(run.output(), /SIGTERM again: exiting now/);
  // What the hung cleanup never reached is the next run's to remove (tested below): do it now.
  const made = madeBy(run);
  for (const pid of made.servers) killQuietly(pid);
});

test('socketlab lab backlog-overflow stopped by SIGTERM once its namespace exists: nothing left, exit 143, results say quit', { skip: networkSkip, timeout: 240_000 }, async () => {
  const dir = tempDir();
  const run = start(process.execPath, [CLI_PATH, 'lab', 'backlog-overflow', '--quick', '--yes', '--results-dir', dir]);
  const pid = run.child.pid as number;
  const prefix = `socketlab-backlog-${pid}-`;
  const name = await waitFor(`a namespace ${prefix}N`, () => namespaces().find((n) => n.startsWith(prefix)) ?? (run.child.exitCode !== null ? 'ended' : undefined), {
    timeoutMs: 120_000,
  });
  assert.notEqual(name, 'ended', `the lab ended before making its namespace:\n${run.output()}`);
  leftovers.namespaces.add(name);
  // The server inside it, once it runs: `ip netns pids` lists what lives in the namespace.
  const inside = await waitFor(`a process inside ${name}`, () => {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    return pids.length > 0 ? pids : null;
  });
  for (const p of inside) leftovers.pids.add(p);
  run.child.kill('SIGTERM');
  const [code, killedBy] = await run.closed;
  const left = { namespaces: namespaces().filter((n) => n.startsWith(prefix)), processes: inside.filter(isAlive) };
  assert.deepEqual(left, { namespaces: [], processes: [] }, run.output());
  assert.equal(code, 143, `exit ${code ?? killedBy}:\n${run.output()}`);
  const result = readResult(dir);
  assert.equal(result.outcome, 'quit');
  assert.equal(result.signal, 'SIGTERM');
});

/** A PID that was just used and is now dead (PIDs are not reused until the counter wraps). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await waitForEvent(child, 'exit');
  const pid = child.pid as number;
  assert.equal(isAlive(pid), false);
  return pid;
}

/** A namespace as socketlab names it, with a veth pair (address, tbf queue) into it. */
function plant(label: string, pid: number): { namespace: string; veth: string } {
  const namespace = `socketlab-${label}-${pid}-1`;
  const veth = `sl-${pid}-1h`;
  leftovers.namespaces.add(namespace);
  leftovers.links.add(veth);
  execFileSync('ip', ['netns', 'add', namespace]);
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `sl-${pid}-1n`, 'netns', namespace]);
  execFileSync('ip', ['link', 'set', veth, 'up']);
  execFileSync('tc', ['qdisc', 'add', 'dev', veth, 'root', 'tbf', 'rate', '10mbit', 'burst', '32kb', 'latency', '100ms']);
  return { namespace, veth };
}

/** A long sleep inside `namespace`, as a server left there would be. */
function plantProcess(namespace: string): number {
  const child = spawn('ip', ['netns', 'exec', namespace, 'sleep', '600'], { stdio: 'ignore', detached: true });
  child.unref();
  leftovers.pids.add(child.pid as number);
  return child.pid as number;
}

async function plantAll(): Promise<{
  stale: ReturnType<typeof plant>;
  staleProcess: number;
  reused: ReturnType<typeof plant>;
  live: ReturnType<typeof plant>;
  cleanupLive(): void;
}> {
  const stale = plant('planted', await deadPid());
  const staleProcess = plantProcess(stale.namespace);
  await waitFor(`the sleep inside ${stale.namespace}`, () => execFileSync('ip', ['netns', 'pids', stale.namespace], { encoding: 'utf8' }).includes(String(staleProcess)));
  // A PID reused by a process that is not socketlab's (a sleep): its owner is gone too.
  const stranger = spawn('sleep', ['600'], { stdio: 'ignore' });
  leftovers.pids.add(stranger.pid as number);
  const reused = plant('planted', stranger.pid as number);
  // This test process is alive and is node: what it owns stays.
  const live = plant('planted', process.pid);
  return {
    stale,
    staleProcess,
    reused,
    live,
    cleanupLive() {
      killQuietly(stranger.pid as number);
      quietly('ip', ['netns', 'delete', live.namespace]);
      quietly('ip', ['link', 'delete', live.veth]);
    },
  };
}

function assertReaped(planted: Awaited<ReturnType<typeof plantAll>>, output: string): void {
  const nowNamespaces = namespaces();
  const nowLinks = links();
  assert.deepEqual(
    {
      staleNamespace: nowNamespaces.includes(planted.stale.namespace),
      staleVeth: nowLinks.includes(planted.stale.veth),
      staleProcess: isAlive(planted.staleProcess),
      reusedNamespace: nowNamespaces.includes(planted.reused.namespace),
      reusedVeth: nowLinks.includes(planted.reused.veth),
      liveNamespace: nowNamespaces.includes(planted.live.namespace),
      liveVeth: nowLinks.includes(planted.live.veth),
    },
    { staleNamespace: false, staleVeth: false, staleProcess: false, reusedNamespace: false, reusedVeth: false, liveNamespace: true, liveVeth: true },
    output,
  );
}

test("a lab run removes the namespaces and veths of killed runs, and keeps a live run's", { skip: networkSkip, timeout: 120_000 }, async () => {
  const planted = await plantAll();
  try {
    const dir = tempDir();
    const run = start(process.execPath, [FIXTURE, 'empty', dir]);
    const [code] = await run.closed;
    assert.equal(code, 0, run.output());
    // SIGKILL takes effect a moment after it is sent: poll for the process to be gone.
    await waitFor(`the process left in ${planted.stale.namespace} to be killed`, () => !isAlive(planted.staleProcess));
    assertReaped(planted, run.output());
    assert.match(run.output(), new RegExp(`removed network namespace ${planted.stale.namespace}`));
  } finally {
    planted.cleanupLive();
  }
});

test("the first namespace a process makes (bench seed, a lab) removes the killed runs' first", { skip: networkSkip, timeout: 120_000 }, async () => {
  const planted = await plantAll();
  const resources: Resource[] = [];
  const lab = {
    track: (resource: Resource) => {
      resources.push(resource);
      return resource;
    },
  } as unknown as LabContext;
  try {
    const made = await createNamespace(lab, 'cleanup');
    leftovers.namespaces.add(made.name);
    await waitFor(`the process left in ${planted.stale.namespace} to be killed`, () => !isAlive(planted.staleProcess));
    assertReaped(planted, '');
  } finally {
    for (const resource of resources.reverse()) await resource.stop();
    planted.cleanupLive();
  }
});

test('hasCommand looks a name up without a shell: metacharacters are never run', () => {
  const dir = tempDir();
  const witness = path.join(dir, 'pwned');
  for (const name of [`true; touch ${witness}`, `$(touch ${witness})`, `\`touch ${witness}\``, `true && touch ${witness}`]) {
    assert.equal(hasCommand(name), false, name);
    assert.equal(existsSync(witness), false, `hasCommand(${JSON.stringify(name)}) ran a shell command`);
  }
  assert.equal(hasCommand('sh'), true, 'sh is on PATH');
  assert.equal(hasCommand(''), false);
  // A file on PATH that is not executable is not a command; one that is, is.
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'socketlab-probe-cmd'), '#!/bin/sh\n');
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ''}`;
  try {
    chmodSync(path.join(bin, 'socketlab-probe-cmd'), 0o644);
    assert.equal(hasCommand('socketlab-probe-cmd'), false, 'not executable');
    chmodSync(path.join(bin, 'socketlab-probe-cmd'), 0o755);
    assert.equal(hasCommand('socketlab-probe-cmd'), true, 'executable');
    assert.equal(hasCommand(path.join(bin, 'socketlab-probe-cmd')), true, 'a path');
  } finally {
    process.env.PATH = savedPath;
  }
});
