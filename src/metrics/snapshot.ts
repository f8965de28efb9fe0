/**
 * Before and after: the way a lab step states what it did to the kernel and the processes.
 * takeSnapshot() before the step, takeSnapshot() after, diffSnapshots() for the change.
 * A snapshot reads everything, every thread and the whole socket table, because it is
 * taken twice per step, not ten times a second.
 */
import { diffCounters, KEY_COUNTERS, nonZeroCounters, readKernelCounters, type CounterValues } from './kernel-counters.js';
import { readProcessSample, readProcessSamplePortable } from './process-stats.js';
import { isUnavailable, procfsUnavailableReason } from './procfs.js';
import { createCapacityLookup, readTcpCensus, type TcpStateCounts } from './tcp-sockets.js';
import type { PortSample, ProcessSample } from './types.js';

export interface Snapshot {
  /** Wall clock, ms since the epoch. */
  at: number;
  /** Monotonic clock (performance.now()), for the elapsed time between two snapshots. */
  monotonicMs: number;
  processes: ProcessSample[];
  /** Every counter in /proc/net/netstat and /proc/net/snmp; null where unavailable. */
  counters: CounterValues | null;
  tcp: TcpStateCounts | null;
  ports: PortSample[];
  unavailable: string[];
}

export interface SnapshotOptions {
  pids?: number[];
  ports?: number[];
  /** Read the whole TCP table for a census (~7 ms here). Default true. */
  tcpCensus?: boolean;
  /** Readlink every FD to count kinds. Default false. */
  fdKinds?: boolean;
}

export async function takeSnapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
  const pids = options.pids ?? [];
  const ports = options.ports ?? [];
  const unavailable: string[] = [];
  const reason = procfsUnavailableReason();
  const monotonicMs = performance.now();
  const at = Date.now();
  if (reason !== null) {
    unavailable.push(`${reason}: only CPU time and RSS (from pidusage) are available`);
    return { at, monotonicMs, processes: await readProcessSamplePortable(pids), counters: null, tcp: null, ports: [], unavailable };
  }
  const processes = pids.map((pid) => readProcessSample(pid, { fdKinds: options.fdKinds === true }));
  const counters = readKernelCounters();
  if (isUnavailable(counters)) unavailable.push(`kernel counters: ${counters.unavailable}`);
  let tcp: TcpStateCounts | null = null;
  let portSamples: PortSample[] = [];
  if (options.tcpCensus !== false || ports.length > 0) {
    const census = readTcpCensus(ports);
    if (isUnavailable(census)) unavailable.push(`TCP sockets: ${census.unavailable}`);
    else {
      tcp = census.states;
      const listeners = ports.length > 0 ? census.listeners : [];
      if (listeners.length > 0) {
        const capacities = createCapacityLookup();
        capacities.fill(listeners);
        const capacityReason = capacities.unavailable();
        if (capacityReason !== null) unavailable.push(capacityReason);
      }
      portSamples = census.ports.map((portCensus) => ({
        port: portCensus.port,
        listeners: listeners.filter((l) => l.port === portCensus.port),
        census: portCensus,
      }));
    }
  }
  return { at, monotonicMs, processes, counters: isUnavailable(counters) ? null : counters, tcp, ports: portSamples, unavailable };
}

/** What changed in one process between two snapshots. */
export interface ProcessDelta {
  pid: number;
  name: string | null;
  /** False when the process was gone at the second snapshot. */
  alive: boolean;
  cpuTimeMs: number | null;
  /** Average share of one core between the snapshots (250 = 2.5 cores). */
  cpuPercent: number | null;
  voluntaryCtxSwitches: number | null;
  involuntaryCtxSwitches: number | null;
  fds: number | null;
  threads: number | null;
  rssBytes: number | null;
}

export interface SnapshotDiff {
  elapsedMs: number;
  processes: ProcessDelta[];
  /** Every counter that changed, plus every KEY_COUNTERS entry even at zero. Empty where unavailable. */
  counters: CounterValues;
  tcp: { before: TcpStateCounts; after: TcpStateCounts } | null;
}

const minus = (a: number | null | undefined, b: number | null | undefined): number | null => (a === null || a === undefined || b === null || b === undefined ? null : b - a);

export function diffSnapshots(before: Snapshot, after: Snapshot): SnapshotDiff {
  const elapsedMs = after.monotonicMs - before.monotonicMs;
  const processes = after.processes.map((b): ProcessDelta => {
    const a = before.processes.find((p) => p.pid === b.pid);
    const cpu = minus(a?.cpuTimeMs, b.cpuTimeMs);
    return {
      pid: b.pid,
      name: b.name ?? a?.name ?? null,
      alive: b.alive,
      cpuTimeMs: cpu,
      cpuPercent: cpu === null || elapsedMs <= 0 ? null : Math.round((cpu / elapsedMs) * 1000) / 10,
      voluntaryCtxSwitches: minus(a?.ctxSwitches?.voluntary, b.ctxSwitches?.voluntary),
      involuntaryCtxSwitches: minus(a?.ctxSwitches?.involuntary, b.ctxSwitches?.involuntary),
      fds: minus(a?.fds, b.fds),
      threads: minus(a?.threads, b.threads),
      rssBytes: minus(a?.rssBytes, b.rssBytes),
    };
  });
  const counters =
    before.counters !== null && after.counters !== null
      ? { ...diffCounters(before.counters, after.counters, Object.keys(KEY_COUNTERS)), ...nonZeroCounters(diffCounters(before.counters, after.counters)) }
      : {};
  const tcp = before.tcp !== null && after.tcp !== null ? { before: before.tcp, after: after.tcp } : null;
  return { elapsedMs, processes, counters, tcp };
}
