/**
 * Starting and stopping one postmaster with pg_ctl, as the cluster user.
 *
 * `pg_ctl start -w` waits until the postmaster writes "ready" into postmaster.pid, and fails
 * at once when it dies during start-up; `pg_ctl stop -m fast|immediate -w` signals it and
 * waits for it to go. Both are what Postgres ships for exactly this, so socketlab does not
 * poll connections or escalate signals by hand; it keeps only the last resort pg_ctl has
 * none for: SIGKILL to a postmaster that survived an immediate shutdown.
 *
 * pg_ctl starts the postmaster in a session of its own (setsid), so a Ctrl-C in the terminal
 * reaches socketlab only, which closes its pool and then stops Postgres in order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LAB_ERR, LabError } from '../errors.js';
import { fileSize, openAppendNoFollow, readFileNoFollow } from './cluster-files.js';
import { isPidAlive, processCommandLine, processUid, runAsUserAsync, signalPid, waitForPidExit, type CommandResult, type SystemUser } from './processes.js';

export interface PostmasterTarget {
  pgCtl: string;
  dataDir: string;
  /** The user Postgres runs as when socketlab is root; null when socketlab is that user. */
  runAs: SystemUser | null;
}

/** A start that failed because another process took the port between our check and postgres's bind. */
export class PortTakenError extends Error {}

/**
 * The postmaster PID recorded in `dataDir`, if that process is alive, runs as the cluster
 * user and is postgres on that very folder. postmaster.pid sits in a folder the cluster
 * user owns: it is read without following links, and what it says is checked, not trusted.
 */
export function livePostmasterPid(dataDir: string, runAs: SystemUser | null): number | null {
  let text: string | null;
  try {
    text = readFileNoFollow(path.join(dataDir, 'postmaster.pid'), { maxBytes: 1024, ...(runAs === null ? {} : { uid: runAs.uid }) });
  } catch {
    return null;
  }
  const pid = Number(text?.split('\n')[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isPidAlive(pid)) return null;
  const uid = processUid(pid);
  if (uid !== null && uid !== (runAs?.uid ?? process.getuid?.() ?? uid)) return null;
  const commandLine = processCommandLine(pid);
  return commandLine?.includes('postgres') && commandLine.includes(dataDir) ? pid : null;
}

/** A word for /bin/sh: pg_ctl hands `-o` to `sh -c "exec postgres ..."`. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Start postgres with `settings` (on its command line, so `ps` shows exactly what runs) and
 * resolve with its PID once it accepts connections. Its output is appended to `logFile`,
 * which root opens (never through a link) and hands over as stdout and stderr.
 * Throws PortTakenError, or LAB_ERR_DB_CLUSTER with the log's first FATAL line.
 */
export async function startPostmaster(target: PostmasterTarget, settings: Record<string, string | number>, logFile: string, timeoutMs: number): Promise<number> {
  const options = Object.entries(settings)
    .map(([key, value]) => `-c ${shellQuote(`${key}=${value}`)}`)
    .join(' ');
  const from = fileSize(logFile);
  const logFd = openAppendNoFollow(logFile);
  let result: CommandResult;
  try {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    result = await runAsUserAsync(target.pgCtl, ['start', '-D', target.dataDir, '-w', '-t', seconds, '-s', '-o', options], target.runAs, {
      timeoutMs: timeoutMs + 10_000,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  const pid = livePostmasterPid(target.dataDir, target.runAs);
  if (result.code === 0 && pid !== null) return pid;
  // pg_ctl gave up (timeout) with a postmaster still starting, or it died: either way, none may stay.
  await stopPostmaster(target, 'immediate', 10_000).catch(() => {});
  const tail = readLogTail(logFile, from);
  if (/could not bind IPv4 address|Address already in use|could not create any TCP\/IP sockets/.test(tail)) throw new PortTakenError(tail);
  const fatal = tail.split('\n').find((line) => /FATAL|PANIC|ERROR/.test(line)) ?? tail.split('\n').filter(Boolean).pop() ?? result.output.trim();
  throw new LabError(
    LAB_ERR.PG_CLUSTER,
    `postgres did not start (pg_ctl ${result.code === null ? `was killed after ${timeoutMs} ms` : `exit ${result.code}`}): ${fatal.trim() || 'no log output'} (log: ${logFile})`,
  );
}

/** What this launch wrote to the log (from byte `from`), at most the last 4 KiB. */
export function readLogTail(logFile: string, from = 0): string {
  try {
    const size = fileSize(logFile);
    return readFileNoFollow(logFile, { offset: Math.max(from, size - 4096) }) ?? '';
  } catch {
    return '';
  }
}

/**
 * Stop the postmaster running on `dataDir`: `pg_ctl stop -m fast` (ends sessions, then a
 * checkpoint), then `-m immediate` (no checkpoint), each waited for with a deadline, then
 * SIGKILL. Resolves with the PID it stopped, or null when none ran.
 */
export async function stopPostmaster(target: PostmasterTarget, mode: 'fast' | 'immediate', stepTimeoutMs: number): Promise<number | null> {
  const pid = livePostmasterPid(target.dataDir, target.runAs);
  if (pid === null) return null;
  const seconds = String(Math.max(1, Math.ceil(stepTimeoutMs / 1000)));
  for (const step of mode === 'fast' ? (['fast', 'immediate'] as const) : (['immediate'] as const)) {
    await runAsUserAsync(target.pgCtl, ['stop', '-D', target.dataDir, '-m', step, '-w', '-t', seconds, '-s'], target.runAs, { timeoutMs: stepTimeoutMs + 5000 });
    // pg_ctl returns once postmaster.pid is gone, which the postmaster removes just before it exits.
    if (await waitForPidExit(pid, 2000)) return pid;
  }
  signalPid(pid, 'SIGKILL');
  if (await waitForPidExit(pid, stepTimeoutMs)) return pid;
  throw new LabError(LAB_ERR.PG_CLUSTER, `postmaster ${pid} did not exit after SIGKILL: check it with ps -p ${pid}`);
}
