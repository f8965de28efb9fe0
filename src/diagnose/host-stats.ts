/**
 * How busy a process's busiest thread was over a step, from two readings of
 * src/metrics/thread-times.ts: the share of the step it was runnable, and of that how much it
 * really ran.
 */
import type { ThreadTimes } from '../metrics/thread-times.js';
import type { ThreadLoad } from './types.js';

/**
 * Over `wallMs`: the thread that was runnable the longest, and all threads' CPU together
 * (% of one core). A thread seen only at the end was born inside the window: all its time
 * is in it. Pure.
 */
export function diffThreadTimes(
  before: ReadonlyMap<number, ThreadTimes> | null,
  after: ReadonlyMap<number, ThreadTimes> | null,
  wallMs: number,
): { busiest: ThreadLoad | null; cpuPercent: number | null } {
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

const round1 = (value: number): number => Math.round(value * 10) / 10;
