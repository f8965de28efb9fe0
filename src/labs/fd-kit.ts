/**
 * What the FD-exhaustion lab needs besides the shared kit: a server started with a low
 * RLIMIT_NOFILE (and, where strace is installed, with its failed accept() calls logged),
 * and a watch over the descriptors of the server and of PostgreSQL's processes.
 *
 * Why strace: when accept(2) fails with EMFILE, libuv does not report it. It closes a
 * descriptor it keeps in reserve for this moment, accepts every connection waiting in the
 * queue and closes each at once, then takes its reserve back (uv__emfile_trick in
 * deps/uv/src/unix/stream.c); the error reaches Node only if that fails. Without the trick
 * the listening socket would stay readable and the loop would spin on EMFILE. So the
 * server's /stats `acceptErrors` stays empty, and the kernel's answer to accept4() is the
 * one place the event is visible: strace records it (only that call, filtered in the
 * kernel with --seccomp-bpf, so the rest of the server runs untraced).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { countFds, findChildPids, readLimits } from '../metrics/index.js';
import { hasCommand } from './kit.js';

/** The command prefix that runs a process with `limit` descriptors (soft and hard). */
export function fdLimitPrefix(limit: number): { prefix: string[]; how: string } {
  if (hasCommand('prlimit')) return { prefix: ['prlimit', `--nofile=${limit}:${limit}`, '--'], how: `prlimit --nofile=${limit}:${limit}` };
  // The shell lowers its own limit, then becomes the command ("$0" "$@": the words after -c's script).
  return { prefix: ['sh', '-c', `ulimit -n ${limit} && exec "$0" "$@"`], how: `sh -c 'ulimit -n ${limit}; exec ...'` };
}

/** strace, tracing only failed accept calls of every thread, into `file`. */
export function acceptTracePrefix(file: string): string[] {
  return ['strace', '-f', '-qq', '--seccomp-bpf', '-Z', '-e', 'trace=accept,accept4', '-o', file];
}

/** accept()/accept4() calls that failed with EMFILE, in strace's output. */
export function countEmfileAccepts(straceText: string): number {
  let count = 0;
  for (const line of straceText.split('\n')) if (/\baccept4?\(.*= -1 EMFILE\b/.test(line)) count += 1;
  return count;
}

export function readTextOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Descriptors numbered below `limit`: the slots RLIMIT_NOFILE governs. The limit is "one
 * more than the highest descriptor number the process may open" (getrlimit(2)), so a
 * descriptor inherited with a higher number (a pipe leaked by whatever started us) is open
 * but takes no slot, and counting all of them would show more open than the limit allows.
 */
export function countFdSlots(pid: number, limit: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((name) => Number(name) < limit).length;
  } catch {
    return null;
  }
}

/** The soft RLIMIT_NOFILE of a running process, as the kernel holds it. */
export function readFdSoftLimit(pid: number): number | null {
  const open = readLimits(pid)?.['Max open files'];
  return open === undefined || open.soft === 'unlimited' ? null : open.soft;
}

// ── PostgreSQL's descriptors ─────────────────────────────────────────────────────────────

/**
 * A backend's process title is `postgres: USER DB HOST(PORT) STATE`; the postmaster's other
 * children (checkpointer, walwriter, autovacuum...) have one-word roles.
 */
const BACKEND_TITLE = /^postgres: \S+ \S+ [^ ]+\(\d+\)/;

export interface DescriptorPoint {
  tMs: number;
  /** The server's open descriptors. */
  fds: number | null;
  /** Postmaster and every child. */
  postgresProcesses: number;
  /** Children serving a client connection. */
  backends: number;
  /** Open descriptors of the postmaster and all its children together. */
  postgresFds: number;
}

export interface DescriptorWatch {
  stop(): DescriptorPoint[];
}

/** One reading of the server's (null: no server yet) and PostgreSQL's descriptors. */
export function readDescriptors(serverPid: number | null, postmasterPid: number, tMs = 0): DescriptorPoint {
  const children = findChildPids(postmasterPid);
  let backends = 0;
  let postgresFds = countFds(postmasterPid) ?? 0;
  let postgresProcesses = 1;
  for (const pid of children) {
    const fds = countFds(pid);
    // A child that exited between the listing and the count is not counted.
    if (fds === null) continue;
    postgresProcesses += 1;
    postgresFds += fds;
    if (BACKEND_TITLE.test(readTextOrNull(`/proc/${pid}/cmdline`)?.replaceAll('\0', ' ').trim() ?? '')) backends += 1;
  }
  return { tMs, fds: serverPid === null ? null : countFds(serverPid), postgresProcesses, backends, postgresFds };
}

/**
 * Read both every `intervalMs` until stopped. Not the shared sampler: that one counts a
 * postmaster's children but cannot tell a backend from the checkpointer, which is the
 * number this lab is about. ~2 µs per countFds and one cmdline read per process: a few ms
 * a tick at 200 backends, on the lab's loop, not the server's.
 */
export function watchDescriptors(serverPid: number, postmasterPid: number, intervalMs: number): DescriptorWatch {
  const started = performance.now();
  const points: DescriptorPoint[] = [];
  const tick = (): void => void points.push(readDescriptors(serverPid, postmasterPid, Math.round(performance.now() - started)));
  tick();
  // unref: a watch a failed step forgot to stop must not keep the lab's process alive.
  const timer = setInterval(tick, intervalMs).unref();
  return {
    stop() {
      clearInterval(timer);
      tick();
      return points;
    },
  };
}

export interface DescriptorPeak {
  fds: number;
  postgresProcesses: number;
  backends: number;
  postgresFds: number;
}

/** The peak of each column over a watch. */
export function peakDescriptors(points: readonly DescriptorPoint[]): DescriptorPeak {
  const max = (pick: (p: DescriptorPoint) => number | null): number => Math.max(0, ...points.map((p) => pick(p) ?? 0));
  return { fds: max((p) => p.fds), postgresProcesses: max((p) => p.postgresProcesses), backends: max((p) => p.backends), postgresFds: max((p) => p.postgresFds) };
}
