/**
 * Readings diagnose needs that src/metrics does not take (yet): each thread's time on a CPU
 * *and* waiting for one, the machine's busy CPU, its available memory and swap-ins.
 *
 * Why run-queue wait: a thread's CPU % says how much it ran, not whether it wanted more. On
 * a machine shared with other busy processes a saturated thread may run only half the time
 * and wait the other half; one that idles in epoll_wait waits for nothing. The second field
 * of /proc/PID/task/TID/schedstat (time spent runnable but not running, in ns, next to the
 * run time in the first) tells the two apart, at nanosecond precision rather than the 10 ms
 * ticks of /proc/PID/stat. (src/labs/cpu-window.ts reads the first field the same way; both
 * belong in src/metrics, see the report of issue 17.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ThreadLoad } from './types.js';

export interface ThreadTimes {
  runNs: number;
  waitNs: number;
  name: string | null;
}

/** Every thread of `pid`: run and run-queue wait times, and its name; null when the process is gone. */
export function readThreadTimes(pid: number): Map<number, ThreadTimes> | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out = new Map<number, ThreadTimes>();
  for (const tid of tids) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').trim().split(/\s+/);
      let name: string | null = null;
      try {
        name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
      } catch {
        // the thread ended between the two reads
      }
      out.set(Number(tid), { runNs: Number(fields[0]), waitNs: Number(fields[1] ?? 0), name });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Over `wallMs`: the thread that was runnable the longest, and all threads' CPU together
 * (% of one core). A thread seen only at the end was born inside the window: all its time
 * is in it. Pure.
 */
export function diffThreadTimes(before: ReadonlyMap<number, ThreadTimes> | null, after: ReadonlyMap<number, ThreadTimes> | null, wallMs: number): { busiest: ThreadLoad | null; cpuPercent: number | null } {
  if (before === null || after === null || !(wallMs > 0)) return { busiest: null, cpuPercent: null };
  let busiest: ThreadLoad | null = null;
  let runNs = 0;
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { runNs: 0, waitNs: 0 };
    const run = Math.max(0, end.runNs - start.runNs);
    const wait = Math.max(0, end.waitNs - start.waitNs);
    runNs += run;
    // Both shares come from the same two readings and are capped alike: the readings span a
    // little more than `wallMs` (each takes time), so a thread that ran throughout can read
    // 100.3%; capping only the runnable share would then put its CPU share above it, which
    // no thread can be (time on a CPU is part of time runnable).
    const runnableShare = Math.min(1, (run + wait) / 1e6 / wallMs);
    const load: ThreadLoad = {
      tid,
      name: end.name,
      cpuPercent: round1(Math.min(runnableShare, run / 1e6 / wallMs) * 100),
      runnablePercent: round1(runnableShare * 100),
    };
    if (busiest === null || load.runnablePercent > busiest.runnablePercent) busiest = load;
  }
  return { busiest, cpuPercent: round1((runNs / 1e6 / wallMs) * 100) };
}

/** USER_HZ: /proc/stat counts in 1/100 s whatever the kernel's own tick. */
const TICK_MS = 10;

/** Busy time of all CPUs since boot in ms: user, nice, system, irq, softirq, steal (idle and iowait are not busy). */
export function readMachineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] as string;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_MS;
  } catch {
    return null;
  }
}

/** MemTotal and MemAvailable from /proc/meminfo, in bytes. */
export function readMemInfo(): { totalBytes: number; availableBytes: number } | null {
  try {
    return parseMemInfo(readFileSync('/proc/meminfo', 'latin1'));
  } catch {
    return null;
  }
}

export function parseMemInfo(text: string): { totalBytes: number; availableBytes: number } | null {
  const field = (name: string): number | null => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? null : Number(match[1]) * 1024;
  };
  const totalBytes = field('MemTotal');
  const availableBytes = field('MemAvailable');
  return totalBytes === null || availableBytes === null ? null : { totalBytes, availableBytes };
}

/** Pages swapped in since boot (/proc/vmstat pswpin). */
export function readSwapInPages(): number | null {
  try {
    const match = /^pswpin (\d+)$/m.exec(readFileSync('/proc/vmstat', 'latin1'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

const round1 = (value: number): number => Math.round(value * 10) / 10;
