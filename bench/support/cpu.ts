/**
 * A process's CPU time from /proc/PID/stat (user + system, 10 ms resolution), for CPU per
 * request: on a shared 2-core machine requests per second swing with whatever else runs, while
 * the CPU a server spends per request holds up much better.
 */
import os from 'node:os';
import { parseProcStat, ticksToMs } from '../../src/metrics/process-stats.js';
import { readProcText } from '../../src/metrics/procfs.js';

/** CPU milliseconds `pid` has used so far, or null off Linux (or once it is gone). */
export function cpuMsOf(pid: number): number | null {
  const text = readProcText(`${pid}/stat`);
  const stat = text === null ? null : parseProcStat(text);
  return stat === null ? null : ticksToMs(stat.utimeTicks + stat.stimeTicks);
}

/** "1.23 0.98 0.75": the 1, 5 and 15 minute load averages, to print beside every figure. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
