/**
 * CPU of a few groups of processes over one load run, for the labs that must say who was
 * busy (the server, Postgres, the load generator, everything else) while the numbers were
 * taken: lab 5 (the database idles while requests queue for a connection) and lab 6 (on
 * two cores the generator and the server share the machine).
 *
 * Why not the sampler's CPU %: it reads /proc/PID/stat, whose utime and stime are whole
 * clock ticks (10 ms), truncated per process. A pool of 100 Postgres backends that each
 * ran 1 ms in a 2 s window reads as 0 ticks each, 0% in total, while together they used
 * 100 ms. /proc/PID/task/TID/schedstat gives each thread's run time in nanoseconds
 * (sum_exec_runtime), so a window of any length and any number of small processes adds
 * up. The machine's total, for "everything else", comes from /proc/stat (ticks summed over
 * all CPUs, which is plenty for a whole machine).
 *
 * Readings are taken at start and at stop only: nothing runs in between, so watching 100
 * backends costs nothing while the load runs.
 */
import { readMachineBusyMs } from '../metrics/host.js';
import { findChildPids } from '../metrics/index.js';
import { readProcessCpuNs } from '../metrics/thread-times.js';

export interface CpuWindowOptions {
  /** Processes watched by PID (a server, this process). */
  pids: number[];
  /** Parents whose children are watched too (a postmaster, for its backends), found at start and at stop. */
  childrenOf?: number[];
}

export interface CpuWindow {
  /** End the window and read what each process used. */
  stop(): Promise<CpuReading>;
}

export interface CpuReading {
  wallMs: number;
  /** CPU % of one process over the window (100 = one core), or null if it could not be read. */
  percentOf(pid: number): number | null;
  /** Summed CPU % of every watched process not in `exclude` (the postmaster's children). */
  percentOfOthers(exclude: readonly number[]): number;
  /** How many processes were watched outside `exclude`. */
  countOthers(exclude: readonly number[]): number;
  /**
   * CPU % the whole machine was busy (all cores, all processes: 200 is two cores flat out),
   * from /proc/stat; null without it.
   */
  machinePercent: number | null;
  /** machinePercent minus every watched process (never below 0): what everything else took, the noise in a number. */
  othersPercent: number | null;
}

export function startCpuWindow(options: CpuWindowOptions): CpuWindow {
  const watched = (): number[] => [...new Set([...options.pids, ...(options.childrenOf ?? []).flatMap((ppid) => findChildPids(ppid))])];
  const startedAt = performance.now();
  const machineBefore = readMachineBusyMs();
  const before = new Map(watched().map((pid) => [pid, readProcessCpuNs(pid)]));
  return {
    async stop() {
      const after = new Map(watched().map((pid) => [pid, readProcessCpuNs(pid)]));
      const machineAfter = readMachineBusyMs();
      const wallMs = performance.now() - startedAt;
      // A process seen only at stop was born inside the window: all of its CPU time is in it.
      // One seen only at start ended inside it: what it used since start is lost (rare: a backend that quit).
      const usedMs = new Map<number, number | null>();
      for (const [pid, end] of after) {
        const start = before.has(pid) ? before.get(pid) : 0;
        usedMs.set(pid, end === null || start === null || start === undefined ? null : Math.max(0, end - start) / 1e6);
      }
      const percent = (msValue: number): number => (wallMs > 0 ? Math.round((msValue / wallMs) * 1000) / 10 : 0);
      const machinePercent = machineBefore === null || machineAfter === null || wallMs <= 0 ? null : percent(machineAfter - machineBefore);
      let watchedMs = 0;
      for (const value of usedMs.values()) watchedMs += value ?? 0;
      return {
        wallMs,
        machinePercent,
        othersPercent: machinePercent === null ? null : Math.max(0, Math.round((machinePercent - percent(watchedMs)) * 10) / 10),
        percentOf(pid) {
          const value = usedMs.get(pid);
          return value === undefined || value === null ? null : percent(value);
        },
        percentOfOthers(exclude) {
          let total = 0;
          for (const [pid, value] of usedMs) if (!exclude.includes(pid)) total += value ?? 0;
          return percent(total);
        },
        countOthers(exclude) {
          return [...usedMs.keys()].filter((pid) => !exclude.includes(pid)).length;
        },
      };
    },
  };
}
