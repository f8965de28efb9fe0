/**
 * The few facts about processes and users the cluster code needs: is a PID alive (and still
 * the same process, not a reused PID), what command line it runs, which unprivileged user
 * Postgres runs as when socketlab runs as root, and running a command as that user.
 */
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';

/**
 * The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null.
 * Stored next to a PID so that a PID reused by an unrelated process is not taken for ours.
 */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

/** Whether `pid` exists (signal 0 probes without sending anything). EPERM means it exists. */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/** A zombie has exited and only waits for its parent to reap it: for us it is gone. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Alive and, when a start time was recorded and /proc can tell, the very same process. */
export function isSameProcessAlive(pid: number, startTime: number | null): boolean {
  if (!isPidAlive(pid)) return false;
  if (startTime === null) return true;
  const now = processStartTime(pid);
  return now === null || now === startTime;
}

/** The NUL-separated argv of a process joined by spaces, or null when unreadable. */
export function processCommandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** Poll until `pid` is gone, at most `timeoutMs`. Returns whether it went. */
export async function waitForPidExit(pid: number, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() <= deadline) {
    if (!isPidAlive(pid)) return true;
    await delay(intervalMs);
  }
  return !isPidAlive(pid);
}

/** Send a signal, ignoring "no such process" (it already went). */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return false;
    if (errnoCode(error) === 'EPERM') {
      throw new LabError(LAB_ERR.PG_CLUSTER, `not allowed to signal process ${pid}: it was started by another user (root?); run the command as that user`);
    }
    throw error;
  }
}

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

/** A user from /etc/passwd, or null. Read directly: `id` and getent may be absent in slim images. */
export function lookupUser(name: string): SystemUser | null {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

/**
 * Can `user` reach `dir` (search permission on every component of the path)?
 * Asked by running `test` as that user, because the real answer depends on group membership
 * and ACLs that are easy to get wrong by reading modes. Node drops supplementary groups when
 * it switches uid (libuv calls setgroups(0)), exactly as it will for Postgres itself.
 */
export function canUserReach(user: SystemUser, dir: string): boolean {
  const result = spawnSync('/bin/sh', ['-c', 'test -d "$1" && test -x "$1"', 'sh', dir], {
    uid: user.uid,
    gid: user.gid,
    stdio: 'ignore',
    timeout: 5000,
  });
  return result.status === 0;
}

/** A small, predictable environment for Postgres's programs: no PG* variables from the caller's shell leak in. */
export function postgresEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: process.env.TZ ?? 'UTC' };
}

function asUser(runAs: SystemUser | null): { uid?: number; gid?: number } {
  return runAs === null ? {} : { uid: runAs.uid, gid: runAs.gid };
}

function describeFailure(command: string, output: string, error: Error | undefined, status: number | null, signal: string | null): string {
  const tail = output.trim().split('\n').slice(-3).join(' / ');
  const why = error !== undefined ? error.message : tail || `exit ${status ?? signal}`;
  return `${path.basename(command)} failed: ${why}`;
}

/**
 * Run a program as the cluster user (or as ourselves when runAs is null), collecting its
 * output; throws LAB_ERR_DB_CLUSTER on failure. `input` is written to its stdin.
 */
export function runAsUser(command: string, args: string[], runAs: SystemUser | null, options: { timeoutMs: number; input?: string }): void {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: options.timeoutMs,
    env: postgresEnv(),
    cwd: '/',
    ...(options.input === undefined ? {} : { input: options.input }),
    ...asUser(runAs),
  });
  if (result.status === 0) return;
  throw new LabError(LAB_ERR.PG_CLUSTER, describeFailure(command, `${result.stderr ?? ''}${result.stdout ?? ''}`, result.error, result.status, result.signal));
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout + stderr, when they were piped. */
  output: string;
}

/** The same without blocking the event loop; resolves with the exit status, never rejects for a non-zero one. */
export function runAsUserAsync(command: string, args: string[], runAs: SystemUser | null, options: { timeoutMs: number; stdio?: StdioOptions }): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: postgresEnv(), cwd: '/', stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'], ...asUser(runAs) });
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, output: `${output}${error.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Throw LAB_ERR_DB_CLUSTER for a failed runAsUserAsync. */
export function assertCommandSucceeded(command: string, result: CommandResult): void {
  if (result.code === 0) return;
  throw new LabError(LAB_ERR.PG_CLUSTER, describeFailure(command, result.output, undefined, result.code, result.signal));
}

/** The real uid a process runs as (from /proc/PID/status), or null when unreadable. */
export function processUid(pid: number): number | null {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return uid === undefined ? null : Number(uid);
  } catch {
    return null;
  }
}
