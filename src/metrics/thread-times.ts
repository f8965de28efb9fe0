/**
 * Each thread's time on a CPU *and* waiting for one, from the scheduler's own accounting.
 *
 * Why run-queue wait: a thread's CPU % says how much it ran, not whether it wanted more. On
 * a machine shared with other busy processes a saturated thread may run only half the time
 * and wait the other half; one that idles in epoll_wait waits for nothing. The second field
 * of /proc/PID/task/TID/schedstat (time spent runnable but not running, in ns, next to the
 * run time in the first) tells the two apart, at nanosecond precision rather than the 10 ms
 * ticks of /proc/PID/stat.
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/** Run time of every thread of `pid` together, in ns; null when the process is gone. */
export function readProcessCpuNs(pid: number): number | null {
  const threads = readThreadTimes(pid);
  if (threads === null) return null;
  let total = 0;
  for (const times of threads.values()) total += times.runNs;
  return total;
}
