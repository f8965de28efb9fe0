/**
 * The names socketlab gives the network namespaces and veths it makes, each carrying its
 * owner's PID, and the sweep that removes the ones whose owner is gone.
 *
 * A lab removes what it made however it ends, except when it cannot run at all: SIGKILL, the
 * OOM killer, a power cut. What such a run leaves (a namespace, a host-side veth with its
 * address and tc queues, a server inside the namespace) is removed by the next run that
 * makes namespaces. The owner's PID in the name says whose it is; only objects whose owner is
 * provably gone are touched, because other runs (labs, tests, benchmarks, on this machine at
 * the same time) own theirs.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { isPidAlive, processCommandLine, processStartTime } from '../db/processes.js';

const run = promisify(execFile);

/** `socketlab-<label>-<pid>-<n>`: ip netns names may be long, so the label says which lab. */
const NAMESPACE_NAME = /^socketlab-(.+)-(\d+)-(\d+)$/;
/**
 * `sl-<pid>-<n>h` (host end) and `sl-<pid>-<n>n` (the namespace end): an interface name is at
 * most 15 bytes (IFNAMSIZ - 1), and a PID at most 7 digits (pid_max ≤ 2^22). `sl<pid>h` is the
 * form socketlab used before the counter, still recognised so its leftovers go too.
 */
const VETH_NAME = /^sl-?(\d{1,7})(?:-(\d{1,3}))?[hn]$/;
const IFNAMSIZ_BYTES = 15;
/** The kernel's USER_HZ: /proc/PID/stat counts a process's start in these ticks since boot. */
const CLOCK_TICKS_PER_SECOND = 100;
/** btime is whole seconds and a namespace's nsfs time is set when first mounted: room for both. */
const START_TIME_SLACK_MS = 2_000;
/** How long to wait for `ip netns pids` and friends: bounds a hung ip, not a normal run. */
const IP_TIMEOUT_MS = 10_000;

export function namespaceName(label: string, pid: number, n: number): string {
  return `socketlab-${label}-${pid}-${n}`;
}

/** The host and namespace ends of this process's n-th veth pair. */
export function vethNames(pid: number, n: number): { host: string; peer: string } {
  const host = `sl-${pid}-${n}h`;
  if (host.length > IFNAMSIZ_BYTES) throw new RangeError(`veth name ${host} is longer than ${IFNAMSIZ_BYTES} bytes: too many veths in one process`);
  return { host, peer: `sl-${pid}-${n}n` };
}

/** The owner PID a socketlab namespace name carries, or null for a name socketlab did not make. */
export function namespaceOwner(name: string): number | null {
  const match = NAMESPACE_NAME.exec(name);
  return match === null ? null : Number(match[2]);
}

/** The owner PID a socketlab veth name carries (`ip -br link` adds `@peer`, which is ignored), or null. */
export function vethOwner(name: string): number | null {
  const match = VETH_NAME.exec(name.split('@')[0] ?? '');
  return match === null ? null : Number(match[1]);
}

/**
 * Is the process that made an object gone? Dead, or its PID now belongs to another process:
 * one that is not node (socketlab, its tests and its benchmarks all are), or, when the
 * object's creation time is known, one that started after the object existed and so cannot
 * have made it. When /proc cannot tell, the owner counts as alive: a leak until its PID dies
 * is better than removing the namespace of a run in progress.
 */
export function isOwnerGone(pid: number, createdAtMs: number | null): boolean {
  if (pid === process.pid) return false;
  if (!isPidAlive(pid)) return true;
  const commandLine = processCommandLine(pid);
  if (commandLine === null || commandLine === '') return false;
  const program = path.basename(commandLine.split(' ')[0] ?? '');
  if (!/^node(js)?(\d+)?$/.test(program) && program !== path.basename(process.execPath)) return true;
  if (createdAtMs === null) return false;
  const startedAtMs = processStartedAtMs(pid);
  return startedAtMs !== null && startedAtMs > createdAtMs + START_TIME_SLACK_MS;
}

export interface ReapedNetwork {
  namespaces: string[];
  veths: string[];
  /** Processes that were still running inside a stale namespace (a server, a load client). */
  processes: number[];
}

/**
 * Remove every socketlab namespace and veth whose owner is gone (see isOwnerGone), after
 * killing what still runs inside such a namespace: a server left there keeps the namespace,
 * and its end of the veth, alive after its name is deleted. Needs root and iproute2; errors
 * on one object do not stop the sweep (another run may be removing it at the same moment).
 */
export async function reapStaleNetwork(): Promise<ReapedNetwork> {
  reapedOnce ??= Promise.resolve();
  const reaped: ReapedNetwork = { namespaces: [], veths: [], processes: [] };
  for (const name of await listNamespaces()) {
    const owner = namespaceOwner(name);
    if (owner === null || !isOwnerGone(owner, namespaceCreatedAtMs(name))) continue;
    reaped.processes.push(...(await killNamespaceProcesses(name)));
    if (await succeeds('ip', ['netns', 'delete', name])) reaped.namespaces.push(name);
  }
  for (const name of await listLinks()) {
    const owner = vethOwner(name);
    if (owner === null || !isOwnerGone(owner, null)) continue;
    // Deleting either end deletes the pair, with the host end's addresses and qdiscs.
    if (await succeeds('ip', ['link', 'delete', name])) reaped.veths.push(name);
  }
  return reaped;
}

let reapedOnce: Promise<unknown> | null = null;

/** reapStaleNetwork, once per process: what makes a namespace calls it before its first. */
export async function reapStaleNetworkOnce(): Promise<void> {
  reapedOnce ??= reapStaleNetwork().catch(() => {});
  await reapedOnce;
}

/**
 * Remove this process's own namespaces and veths. For a run cut short (a signal, a crash)
 * after the tracked ones were stopped: an `ip netns add` that finished while the lab was
 * being stopped made a namespace nobody tracked.
 */
export async function removeOwnNetwork(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    if (namespaceOwner(name) !== process.pid) continue;
    await killNamespaceProcesses(name);
    if (await succeeds('ip', ['netns', 'delete', name])) removed.push(name);
  }
  for (const name of await listLinks()) {
    if (vethOwner(name) === process.pid && (await succeeds('ip', ['link', 'delete', name]))) removed.push(name);
  }
  return removed;
}

/** One line per removed object, for a lab's output ('' when nothing was removed). */
export function describeReaped(reaped: ReapedNetwork): string {
  const lines = [
    ...reaped.namespaces.map((name) => `removed network namespace ${name}, left by socketlab pid ${namespaceOwner(name)}, which ended without removing it`),
    ...reaped.veths.map((name) => `removed veth ${name}, left by socketlab pid ${vethOwner(name)}, which ended without removing it`),
  ];
  if (reaped.processes.length > 0) lines.push(`stopped ${reaped.processes.length} process(es) left running inside those namespaces (pid ${reaped.processes.join(', ')})`);
  return lines.join('\n');
}

async function listNamespaces(): Promise<string[]> {
  // `ip netns list` prints `NAME (id: N)` for a namespace with an id, `NAME` otherwise.
  const { stdout } = await run('ip', ['netns', 'list'], { timeout: IP_TIMEOUT_MS });
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith('socketlab-'));
}

async function listLinks(): Promise<string[]> {
  // `ip -br link`: `NAME[@PEER] STATE MAC FLAGS`, one interface a line.
  const { stdout } = await run('ip', ['-br', 'link'], { timeout: IP_TIMEOUT_MS });
  return stdout
    .split('\n')
    .map((line) => (line.trim().split(/\s+/)[0] ?? '').split('@')[0] ?? '')
    .filter((name) => vethOwner(name) !== null);
}

/** SIGKILL what runs inside the namespace: orphans of a run that is gone, with nothing to save. */
async function killNamespaceProcesses(name: string): Promise<number[]> {
  let stdout = '';
  try {
    ({ stdout } = await run('ip', ['netns', 'pids', name], { timeout: IP_TIMEOUT_MS }));
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const pid of stdout
    .split('\n')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Gone already.
    }
  }
  return killed;
}

/** When the namespace was made: its nsfs file under /run/netns is stamped at its first mount. */
function namespaceCreatedAtMs(name: string): number | null {
  try {
    return statSync(path.join('/run/netns', name)).mtimeMs;
  } catch {
    return null;
  }
}

function processStartedAtMs(pid: number): number | null {
  const ticks = processStartTime(pid);
  const bootSeconds = /^btime (\d+)$/m.exec(readText('/proc/stat'))?.[1];
  if (ticks === null || bootSeconds === undefined) return null;
  return Number(bootSeconds) * 1000 + (ticks / CLOCK_TICKS_PER_SECOND) * 1000;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    await run(command, args, { timeout: IP_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}
