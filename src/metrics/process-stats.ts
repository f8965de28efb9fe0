/**
 * One process as the kernel sees it: CPU time, memory, threads, file descriptors and what
 * they point at, context switches, and its open-files limit, from /proc/PID.
 *
 * CPU and RSS on Linux come from /proc/PID/stat and /proc/PID/status directly rather than
 * through pidusage, which reads the same /proc/PID/stat but asynchronously (through the
 * libuv pool of the process doing the sampling) and keeps one module-wide history per PID,
 * so two samplers in one process would corrupt each other's CPU percentages. pidusage is
 * used where there is no /proc (macOS, Windows: it falls back to ps and wmic), so CPU and
 * RSS are still there when everything else is unavailable.
 */
import fs from 'node:fs';
import pidusage from 'pidusage';
import { errnoCode } from '../errors.js';
import { DIRECT_PROC_FILES, PROCFS, procfsUnavailableReason, readProcDir, readProcText, type ProcFiles } from './procfs.js';
import type { ContextSwitches, FdKinds, FdLimit, LimitValue, ProcessSample } from './types.js';

/**
 * USER_HZ: the unit of utime and stime in /proc/PID/stat. Fixed at 100 in the kernel's
 * user-facing ABI on every mainstream architecture, whatever HZ the kernel runs at
 * (that is what `getconf CLK_TCK` returns). It sets the resolution: 10 ms of CPU.
 */
const CLOCK_TICKS_PER_SECOND = 100;

// ─── pure parsing ────────────────────────────────────────────────────────────

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
  threads: number;
  startTicks: number;
}

/**
 * /proc/PID/stat: one line, fields separated by spaces, but field 2 is `(comm)` and comm
 * may itself contain spaces and parentheses, so everything is counted from the *last* `)`.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  if (rest.length < 20) return null;
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] as string,
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
    threads: field(20),
    startTicks: field(22),
  };
}

export function ticksToMs(ticks: number): number {
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

export interface ProcStatus {
  name: string | null;
  /** `S (sleeping)` */
  state: string | null;
  ppid: number | null;
  threads: number | null;
  rssBytes: number | null;
  /** This thread's (for /proc/PID/status: the main thread's) context switches. */
  voluntary: number | null;
  involuntary: number | null;
}

/**
 * The value of one `Key:\tvalue` line of a status file. Found by searching for the key at a
 * line start rather than splitting all ~57 lines: the sampler reads one status file per
 * thread per sample, and this is ~10× cheaper than a full split.
 */
function statusField(text: string, key: string): string | null {
  let at: number;
  if (text.startsWith(`${key}:`)) at = 0;
  else {
    at = text.indexOf(`\n${key}:`);
    if (at < 0) return null;
    at += 1;
  }
  const start = at + key.length + 1;
  const end = text.indexOf('\n', start);
  return text.slice(start, end < 0 ? undefined : end).trim();
}

const numberOrNull = (text: string | null): number | null => {
  if (text === null) return null;
  const value = parseInt(text, 10);
  return Number.isFinite(value) ? value : null;
};

/**
 * /proc/PID/status (or /proc/PID/task/TID/status). VmRSS is in kB (1,024 bytes) whatever
 * the page size, which is why RSS is taken from here, not from the page count in
 * /proc/PID/stat. The context switches are this thread's alone (for /proc/PID/status: the
 * main thread's): the kernel prints task->nvcsw and task->nivcsw, not a process total.
 */
export function parseProcStatus(text: string): ProcStatus {
  const rssKb = numberOrNull(statusField(text, 'VmRSS'));
  return {
    name: statusField(text, 'Name'),
    state: statusField(text, 'State'),
    ppid: numberOrNull(statusField(text, 'PPid')),
    threads: numberOrNull(statusField(text, 'Threads')),
    rssBytes: rssKb === null ? null : rssKb * 1024,
    voluntary: numberOrNull(statusField(text, 'voluntary_ctxt_switches')),
    involuntary: numberOrNull(statusField(text, 'nonvoluntary_ctxt_switches')),
  };
}

/** Only the two context-switch counts of a status file: the per-thread hot path. */
export function parseContextSwitchCounts(text: string): { voluntary: number; involuntary: number } | null {
  const voluntary = numberOrNull(statusField(text, 'voluntary_ctxt_switches'));
  const involuntary = numberOrNull(statusField(text, 'nonvoluntary_ctxt_switches'));
  return voluntary === null || involuntary === null ? null : { voluntary, involuntary };
}

export interface ResourceLimit {
  soft: LimitValue;
  hard: LimitValue;
  unit: string | null;
}

/**
 * /proc/PID/limits: a header, then `Max open files            20000   20000   files`. The
 * names contain single spaces and columns are separated by two or more, which is what the
 * pattern relies on.
 */
export function parseProcLimits(text: string): Record<string, ResourceLimit> {
  const limits: Record<string, ResourceLimit> = {};
  const toValue = (word: string): LimitValue => (word === 'unlimited' ? 'unlimited' : Number(word));
  for (const line of text.split('\n')) {
    const match = line.match(/^(\S.*?)\s{2,}(unlimited|\d+)\s+(unlimited|\d+)(?:\s+(\S+))?\s*$/);
    if (match === null) continue;
    limits[match[1] as string] = { soft: toValue(match[2] as string), hard: toValue(match[3] as string), unit: match[4] ?? null };
  }
  return limits;
}

export function fdLimitFrom(limits: Record<string, ResourceLimit>): FdLimit | null {
  const open = limits['Max open files'];
  return open === undefined ? null : { soft: open.soft, hard: open.hard };
}

export type FdKind = keyof FdKinds;

/** What an FD points at, from its /proc/PID/fd/N link text. */
export function classifyFdTarget(target: string): FdKind {
  if (target.startsWith('socket:[')) return 'socket';
  if (target.startsWith('pipe:[')) return 'pipe';
  if (target.startsWith('anon_inode:')) return 'anon';
  if (target.startsWith('/')) return 'file';
  return 'other';
}

export interface FdSummary {
  kinds: FdKinds;
  /** anon_inode kinds by name: `[eventpoll]`, `[eventfd]`, `[timerfd]`. */
  anon: Record<string, number>;
  /** The inode of every socket, to match against /proc/net/tcp. */
  socketInodes: number[];
}

export function emptyFdKinds(): FdKinds {
  return { socket: 0, pipe: 0, anon: 0, file: 0, other: 0 };
}

export function summarizeFdTargets(targets: Iterable<string>): FdSummary {
  const summary: FdSummary = { kinds: emptyFdKinds(), anon: {}, socketInodes: [] };
  for (const target of targets) {
    const kind = classifyFdTarget(target);
    summary.kinds[kind] += 1;
    if (kind === 'socket') summary.socketInodes.push(Number(target.slice(8, -1)));
    else if (kind === 'anon') {
      const name = target.slice('anon_inode:'.length);
      summary.anon[name] = (summary.anon[name] ?? 0) + 1;
    }
  }
  return summary;
}

/** /proc/PID/task/TID/children: the PIDs this thread forked, space-separated. */
export function parseChildPids(text: string): number[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '')
    .map(Number);
}

// ─── reading ─────────────────────────────────────────────────────────────────

/**
 * Open FDs, cheaply. Since Linux 6.2 the size of the /proc/PID/fd directory is the number of
 * open descriptors (counted from the fd bitmap, one stat call whatever the count); before,
 * it is 0, and the fallback lists the directory (one getdents per ~500 entries, no readlink).
 * A process with no FDs at all also reads 0 and takes the (then free) fallback.
 */
export function countFds(pid: number, files: ProcFiles = DIRECT_PROC_FILES): number | null {
  const size = files.size(`${pid}/fd`);
  if (size === null || size > 0) return size;
  try {
    return readProcDir(`${pid}/fd`)?.length ?? null;
  } catch (error) {
    if (errnoCode(error) === 'EACCES') return null;
    throw error;
  }
}

/**
 * Every FD's link text. The expensive path: one readlink per descriptor, ~5 µs each, so
 * ~100 ms for a process at 19,500 FDs (bench/metrics-overhead.ts), where countFds costs
 * 4 µs at any count. That is the trade-off: the sampler counts FDs on every sample and
 * reads their kinds on a CPU budget (at 20,000 FDs: one reading every ~50 s at the default
 * budget); `inspect` reads them once. Descriptors that close between readdir and readlink
 * are skipped.
 */
export function readFdTargets(pid: number): string[] | null {
  let entries: string[] | null;
  try {
    entries = readProcDir(`${pid}/fd`);
  } catch (error) {
    if (errnoCode(error) === 'EACCES') return null;
    throw error;
  }
  if (entries === null) return null;
  const targets: string[] = [];
  for (const entry of entries) {
    try {
      targets.push(fs.readlinkSync(`${PROCFS}/${pid}/fd/${entry}`));
    } catch (error) {
      // EACCES: the directory may be listable while its links are not (ptrace access mode
      // checks, a process in another user namespace such as the container's PID 1).
      if (errnoCode(error) === 'EACCES') return null;
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }
  return targets;
}

export function readFdSummary(pid: number): FdSummary | null {
  const targets = readFdTargets(pid);
  return targets === null ? null : summarizeFdTargets(targets);
}

export function readFdLimit(pid: number, files: ProcFiles = DIRECT_PROC_FILES): FdLimit | null {
  const text = files.text(`${pid}/limits`);
  return text === null ? null : fdLimitFrom(parseProcLimits(text));
}

export function readLimits(pid: number): Record<string, ResourceLimit> | null {
  const text = readProcText(`${pid}/limits`);
  return text === null ? null : parseProcLimits(text);
}

/** One thread of a process. */
export interface ThreadSample {
  tid: number;
  name: string | null;
  cpuTimeMs: number | null;
  voluntary: number | null;
  involuntary: number | null;
}

/** Every thread's name, CPU time and context switches (two reads per thread). */
export function readThreads(pid: number): ThreadSample[] | null {
  const tids = readProcDir(`${pid}/task`);
  if (tids === null) return null;
  const threads: ThreadSample[] = [];
  for (const tid of tids) {
    const status = readProcText(`${pid}/task/${tid}/status`);
    if (status === null) continue; // the thread ended between readdir and read
    const parsed = parseProcStatus(status);
    const stat = readProcText(`${pid}/task/${tid}/stat`);
    const ticks = stat === null ? null : parseProcStat(stat);
    threads.push({
      tid: Number(tid),
      name: parsed.name,
      cpuTimeMs: ticks === null ? null : ticksToMs(ticks.utimeTicks + ticks.stimeTicks),
      voluntary: parsed.voluntary,
      involuntary: parsed.involuntary,
    });
  }
  return threads;
}

/**
 * Context switches summed over the process's live threads (one status read per thread,
 * ~20 µs each), or the main thread's alone when it has more than `threadLimit` threads.
 */
export function readContextSwitches(pid: number, mainStatus: ProcStatus | null = null, threadLimit = Infinity): ContextSwitches | null {
  if (threadLimit !== Infinity) {
    const main =
      mainStatus ??
      (() => {
        const text = readProcText(`${pid}/status`);
        return text === null ? null : parseProcStatus(text);
      })();
    if (main === null || main.voluntary === null || main.involuntary === null) return null;
    if ((main.threads ?? 1) > threadLimit) return { voluntary: main.voluntary, involuntary: main.involuntary, scope: 'main-thread' };
  }
  const tids = readProcDir(`${pid}/task`);
  if (tids === null) return null;
  let voluntary = 0;
  let involuntary = 0;
  let counted = 0;
  for (const tid of tids) {
    const text = readProcText(`${pid}/task/${tid}/status`);
    const counts = text === null ? null : parseContextSwitchCounts(text);
    if (counts === null) continue; // the thread ended between readdir and read
    voluntary += counts.voluntary;
    involuntary += counts.involuntary;
    counted += 1;
  }
  return counted === 0 ? null : { voluntary, involuntary, scope: 'all-threads' };
}

/**
 * The children of `ppid` (for a postmaster: its backends and auxiliary processes). Uses
 * /proc/PID/task/TID/children (one small read per thread of the parent; the kernel lists
 * children per forking thread) and falls back to scanning every /proc/N/stat for the ppid
 * field (~1 ms at 100 processes) on kernels built without CONFIG_PROC_CHILDREN.
 */
export function findChildPids(ppid: number): number[] {
  if (procfsUnavailableReason() !== null) return [];
  const tids = readProcDir(`${ppid}/task`);
  if (tids === null) return [];
  const children: number[] = [];
  let supported = true;
  for (const tid of tids) {
    const text = readProcText(`${ppid}/task/${tid}/children`);
    if (text === null) {
      supported = false;
      break;
    }
    children.push(...parseChildPids(text));
  }
  if (supported) return children.sort((a, b) => a - b);
  const scanned: number[] = [];
  for (const entry of readProcDir('') ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcText(`${entry}/stat`);
    const parsed = stat === null ? null : parseProcStat(stat);
    if (parsed !== null && parsed.ppid === ppid) scanned.push(parsed.pid);
  }
  return scanned.sort((a, b) => a - b);
}

/** The command line, arguments joined by spaces (NULs in /proc/PID/cmdline). */
export function readCommandLine(pid: number): string | null {
  const text = readProcText(`${pid}/cmdline`);
  if (text === null) return null;
  return text.replace(/\0+$/, '').split('\0').join(' ');
}

export interface ReadProcessOptions {
  /** Readlink every FD to count kinds (costly at many FDs). Default false. */
  fdKinds?: boolean;
  /** Read /proc/PID/limits. Default true. */
  limits?: boolean;
  /** Read context switches (a read per thread). Default true. */
  contextSwitches?: boolean;
  /** Sum context switches over at most this many threads, else the main thread's only. Default: no limit. */
  threadLimit?: number;
}

/**
 * One reading of a process: ~40 µs, plus ~20 µs per thread for context switches. CPU percent
 * is left null: it needs a previous reading, which the sampler or a snapshot diff supplies.
 * A process that has exited comes back with alive: false.
 */
export function readProcessSample(pid: number, options: ReadProcessOptions = {}, files: ProcFiles = DIRECT_PROC_FILES): ProcessSample {
  const gone: ProcessSample = {
    pid,
    name: null,
    alive: false,
    cpuPercent: null,
    cpuTimeMs: null,
    rssBytes: null,
    threads: null,
    fds: null,
    fdKinds: null,
    ctxSwitches: null,
    fdLimit: null,
  };
  const statText = files.text(`${pid}/stat`);
  const statusText = statText === null ? null : files.text(`${pid}/status`);
  if (statText === null || statusText === null) return gone;
  const stat = parseProcStat(statText);
  const status = parseProcStatus(statusText);
  // A zombie has exited; only its exit status remains for the parent to collect.
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return { ...gone, name: status.name };
  return {
    pid,
    name: status.name ?? stat.comm,
    alive: true,
    cpuPercent: null,
    cpuTimeMs: ticksToMs(stat.utimeTicks + stat.stimeTicks),
    rssBytes: status.rssBytes,
    threads: status.threads ?? stat.threads,
    fds: countFds(pid, files),
    fdKinds: options.fdKinds === true ? (readFdSummary(pid)?.kinds ?? null) : null,
    ctxSwitches: options.contextSwitches === false ? null : readContextSwitches(pid, status, options.threadLimit ?? Infinity),
    fdLimit: options.limits === false ? null : readFdLimit(pid, files),
  };
}

/**
 * CPU time and RSS where there is no /proc, through pidusage (ps on macOS, wmic/gwmi on
 * Windows). Everything else in the sample stays null.
 */
export async function readProcessSamplePortable(pids: readonly number[]): Promise<ProcessSample[]> {
  let stats: Record<string, pidusage.Status> = {};
  try {
    stats = pids.length === 0 ? {} : await pidusage([...pids]);
  } catch {
    // One exited PID fails the whole batch: ask again one by one so the others still count.
    const settled = await Promise.allSettled(pids.map((pid) => pidusage(pid)));
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') stats[String(pids[i])] = result.value;
    });
  }
  return pids.map((pid) => {
    const stat = stats[String(pid)];
    return {
      pid,
      name: null,
      alive: stat !== undefined && stat !== null,
      cpuPercent: null,
      cpuTimeMs: stat?.ctime ?? null,
      rssBytes: stat?.memory ?? null,
      threads: null,
      fds: null,
      fdKinds: null,
      ctxSwitches: null,
      fdLimit: null,
    };
  });
}

/** For `inspect` and errors: whether a PID exists at all, on any platform. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(error) === 'EPERM';
  }
}
