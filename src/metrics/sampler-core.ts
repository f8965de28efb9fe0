/**
 * Taking one sample, and the bookkeeping between samples: the same code runs in the
 * sampler's worker thread and, when asked, in the caller's own thread (sampler.ts decides).
 *
 * What a sample reads, and how often. Costs are medians on the development machine (2
 * vCPUs, 24 GiB RAM, Linux 6.18; bench/metrics-overhead.ts):
 *
 * | reading                                   | cost                          | when                      |
 * |-------------------------------------------|-------------------------------|---------------------------|
 * | process: stat, status, FD count           | ~40 µs per process            | every sample              |
 * | process: RLIMIT_NOFILE                    | ~20 µs per process            | at most once a second     |
 * | kernel counters (netstat + snmp)          | ~130 µs                       | every sample              |
 * | process: context switches, every thread   | ~20 µs per thread             | budget share 20%          |
 * | accept queues (listeners only)            | 0.1-4 ms (see tcp-sockets.ts) | budget share 25%          |
 * | TCP census (whole tcp + tcp6)             | 10 ms at 2,000 sockets        | budget share 35%          |
 * | FD kinds (readlink every FD)              | ~5 µs per FD                  | budget share 20%          |
 *
 * The cheap readings are what 10 samples/s is for. The others cost in proportion to
 * something the lab is growing (threads, sockets, FDs), so each gets a share of `budget`
 * (1% of a core by default) and cadence.ts turns its last cost into its next interval:
 * at most every sample when it is cheap, less often as it grows. A sample holds null for a
 * reading it did not take.
 */
import os from 'node:os';
import { diffCounters, KEY_COUNTERS, nonZeroCounters, readKernelCounters, type CounterValues } from './kernel-counters.js';
import { findChildPids, readContextSwitches, readFdLimit, readFdSummary, readProcessSample, readProcessSamplePortable } from './process-stats.js';
import { createProcFileCache, isUnavailable, procfsUnavailableReason, readThreadCpuNs } from './procfs.js';
import { readSysctls } from './sysctls.js';
import { createCapacityLookup, readListenQueues, readTcpCensus, type ListenQueue, type PortCensus } from './tcp-sockets.js';
import { createCadence } from './cadence.js';
import type { FdLimit, PortSample, ProcessSample, Sample, SamplerConfig, SamplerOverhead, Series } from './types.js';

export const SAMPLER_DEFAULTS = {
  intervalMs: 100,
  /** Share of one core for the readings that grow with the load (see the table above). */
  budget: 0.01,
  /** Thirty minutes at 10 samples/s; older samples are dropped first. */
  maxSamples: 18_000,
} as const;

/** How `budget` is split between the readings that grow with the load. */
const BUDGET_SHARES = {
  contextSwitches: 0.2,
  listeners: 0.25,
  census: 0.35,
  fdKinds: 0.2,
} as const;

const KEY_COUNTER_NAMES = Object.keys(KEY_COUNTERS);
const LIMITS_EVERY_MS = 1000;

export interface SamplerCore {
  /** Take one sample now. Synchronous work on Linux; awaits pidusage elsewhere. */
  tick(): Promise<Sample>;
  samples(): Sample[];
  latest(): Sample | undefined;
  /** What could not be read so far, in words. */
  unavailable(): string[];
  /** Record a tick that failed (it is skipped; the run goes on). */
  fail(error: unknown): void;
  /** Close the run and describe it. */
  finish(): Series;
}

export function createSamplerCore(config: SamplerConfig, resolvePids: () => number[], mode: SamplerOverhead['mode']): SamplerCore {
  const startedAt = new Date();
  const startNs = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - startNs) / 1e6;
  const procfsReason = procfsUnavailableReason();
  const unavailable = new Set<string>();
  if (procfsReason !== null) {
    unavailable.add(
      `${procfsReason}: FD counts and kinds, threads, context switches, open-file limits, TCP states, accept queues and kernel counters are unavailable; CPU and RSS come from pidusage`,
    );
  }
  const sysctls = readSysctls();

  const samples: Sample[] = [];
  let dropped = 0;
  const seenPids = new Set<number>();
  const previousCpu = new Map<number, { cpuTimeMs: number; atMs: number }>();
  const limits = new Map<number, { limit: FdLimit | null; atMs: number }>();
  let firstCounters: CounterValues | null = null;
  let lastCounters: CounterValues | null = null;

  const files = createProcFileCache();
  let watched: number[] = [];
  const capacities = createCapacityLookup();
  // Which of /proc/net/tcp and tcp6 held our listeners at the last census: the listener-only
  // read skips the other file (each costs a walk of the kernel's listening hash).
  let listenerFamilies: (4 | 6)[] = [4, 6];
  const cadence = {
    contextSwitches: createCadence(config.budget * BUDGET_SHARES.contextSwitches, config.intervalMs),
    listeners: createCadence(config.budget * BUDGET_SHARES.listeners, config.intervalMs),
    census: createCadence(config.budget * BUDGET_SHARES.census, config.intervalMs),
    fdKinds: createCadence(config.budget * BUDGET_SHARES.fdKinds, config.intervalMs),
  };

  let ticks = 0;
  let busyNs = 0n;
  // The worker's own CPU from its first tick: isolate start-up and module loading are
  // reported apart (startupMs) so the percentage describes the steady state.
  let threadCpuStartNs: number | null = null;
  let startupMs: number | null = null;

  const pidsNow = (): number[] => {
    const pids = new Set(resolvePids());
    for (const parent of config.childrenOf) {
      pids.add(parent);
      for (const child of findChildPids(parent)) pids.add(child);
    }
    return [...pids];
  };

  /** Run `read` if its cadence says so, and charge its cost to that cadence. */
  const budgeted = <T>(which: keyof typeof cadence, nowMs: number, read: () => T): T | undefined => {
    if (!cadence[which].due(nowMs)) return undefined;
    const start = performance.now();
    const result = read();
    cadence[which].ran(nowMs, performance.now() - start);
    return result;
  };

  const readProcesses = async (pids: number[], nowMs: number): Promise<ProcessSample[]> => {
    if (procfsReason !== null) return readProcessSamplePortable(pids);
    const processes = pids.map((pid) => {
      const sample = readProcessSample(pid, { limits: false, contextSwitches: false }, files);
      if (sample.alive) {
        const cached = limits.get(pid);
        if (cached === undefined || nowMs - cached.atMs >= LIMITS_EVERY_MS) limits.set(pid, { limit: readFdLimit(pid, files), atMs: nowMs });
        sample.fdLimit = limits.get(pid)?.limit ?? null;
      } else {
        files.forgetPid(pid);
        limits.delete(pid);
      }
      return sample;
    });
    // Close the files of processes no longer asked for (a backend that exited, a changed list).
    for (const pid of watched) if (!pids.includes(pid)) files.forgetPid(pid);
    watched = pids;
    const alive = processes.filter((p) => p.alive);
    budgeted('contextSwitches', nowMs, () => {
      for (const p of alive) p.ctxSwitches = readContextSwitches(p.pid);
    });
    if (config.fdKinds) {
      budgeted('fdKinds', nowMs, () => {
        for (const p of alive) p.fdKinds = readFdSummary(p.pid)?.kinds ?? null;
      });
    }
    return processes;
  };

  const fillCpuPercent = (processes: ProcessSample[], nowMs: number): void => {
    for (const p of processes) {
      if (p.cpuTimeMs === null) continue;
      const previous = previousCpu.get(p.pid);
      if (previous !== undefined && nowMs > previous.atMs) {
        p.cpuPercent = Math.round(((p.cpuTimeMs - previous.cpuTimeMs) / (nowMs - previous.atMs)) * 1000) / 10;
      }
      previousCpu.set(p.pid, { cpuTimeMs: p.cpuTimeMs, atMs: nowMs });
    }
  };

  const groupPorts = (listeners: ListenQueue[], censuses: PortCensus[] | null): PortSample[] =>
    config.ports.map((port) => ({
      port,
      listeners: listeners.filter((l) => l.port === port),
      census: censuses?.find((c) => c.port === port) ?? null,
    }));

  async function tick(): Promise<Sample> {
    const tickStart = process.hrtime.bigint();
    if (threadCpuStartNs === null && mode === 'worker-thread') {
      threadCpuStartNs = readThreadCpuNs();
      if (threadCpuStartNs !== null) startupMs = Math.round(threadCpuStartNs / 1e4) / 100;
    }
    const nowMs = elapsedMs();
    const pids = pidsNow();
    for (const pid of pids) seenPids.add(pid);

    const processes = await readProcesses(pids, nowMs);
    fillCpuPercent(processes, nowMs);

    let counters: CounterValues | null = null;
    const current = readKernelCounters(files);
    if (isUnavailable(current)) {
      if (procfsReason === null) unavailable.add(`kernel counters: ${current.unavailable}`);
    } else {
      firstCounters ??= current;
      counters = diffCounters(lastCounters ?? current, current, KEY_COUNTER_NAMES);
      lastCounters = current;
    }

    let ports: PortSample[] | null = null;
    let tcp: Sample['tcp'] = null;
    if (procfsReason === null) {
      const census = config.tcpCensus ? budgeted('census', nowMs, () => readTcpCensus(config.ports)) : undefined;
      if (census !== undefined) {
        // The full read holds the listeners too: this sample needs no separate listener read.
        if (isUnavailable(census)) unavailable.add(`TCP states: ${census.unavailable}`);
        else {
          tcp = census.states;
          if (config.ports.length > 0) {
            // Outside the budgeted read: the one ss run per new listener must not be charged
            // to the census and space out the next ones.
            capacities.fill(census.listeners);
            ports = groupPorts(census.listeners, census.ports);
            listenerFamilies = census.listeners.length > 0 ? [...new Set(census.listeners.map((l) => l.family))] : [4, 6];
          }
        }
      } else if (config.ports.length > 0) {
        const listeners = budgeted('listeners', nowMs, () => readListenQueues(config.ports, undefined, listenerFamilies));
        if (listeners !== undefined) {
          if (isUnavailable(listeners)) unavailable.add(`accept queues: ${listeners.unavailable}`);
          else {
            // Outside the budgeted read, as for the census.
            capacities.fill(listeners);
            ports = groupPorts(listeners, null);
          }
        }
      }
      const capacityReason = capacities.unavailable();
      if (capacityReason !== null) unavailable.add(capacityReason);
    }

    const costNs = process.hrtime.bigint() - tickStart;
    busyNs += costNs;
    ticks += 1;
    const sample: Sample = {
      t: Math.round(nowMs * 10) / 10,
      at: startedAt.getTime() + Math.round(nowMs),
      processes,
      ports,
      tcp,
      counters,
      costUs: Math.round(Number(costNs) / 1000),
    };
    if (samples.length >= config.maxSamples) {
      const drop = Math.max(1, Math.ceil(config.maxSamples / 10));
      samples.splice(0, drop);
      dropped += drop;
    }
    samples.push(sample);
    return sample;
  }

  function finish(): Series {
    files.close();
    const wallMs = elapsedMs();
    const threadCpuNow = mode === 'worker-thread' ? readThreadCpuNs() : null;
    const threadCpuMs = threadCpuNow !== null && threadCpuStartNs !== null ? (threadCpuNow - threadCpuStartNs) / 1e6 : null;
    const busyMs = Number(busyNs) / 1e6;
    const spent = threadCpuMs ?? busyMs;
    const round2 = (n: number): number => Math.round(n * 100) / 100;
    return {
      version: 1,
      platform: `${process.platform} ${os.release()}`,
      cpus: os.availableParallelism(),
      startedAt: startedAt.toISOString(),
      intervalMs: config.intervalMs,
      pids: [...seenPids].sort((a, b) => a - b),
      ports: [...config.ports],
      sysctls,
      unavailable: [...unavailable],
      samples,
      droppedSamples: dropped,
      counterTotals: firstCounters !== null && lastCounters !== null ? nonZeroCounters(diffCounters(firstCounters, lastCounters)) : {},
      overhead: {
        mode,
        ticks,
        wallMs: round2(wallMs),
        busyMs: round2(busyMs),
        threadCpuMs: threadCpuMs === null ? null : round2(threadCpuMs),
        percentOfOneCore: wallMs > 0 ? round2((spent / wallMs) * 100) : 0,
        startupMs,
      },
    };
  }

  const fail = (error: unknown): void => {
    unavailable.add(`a sample failed and was skipped: ${error instanceof Error ? error.message : String(error)}`);
  };

  return { tick, samples: () => samples, latest: () => samples[samples.length - 1], unavailable: () => [...unavailable], fail, finish };
}

/**
 * Run `tick` every `intervalMs` on a fixed grid (start + k × interval), never two at once;
 * a slow tick skips the slots it overran instead of bunching up. The timer is unref'd: a
 * forgotten sampler does not keep a process alive.
 */
export function scheduleTicks(intervalMs: number, tick: () => Promise<unknown>, onError: (error: unknown) => void): { stop(): Promise<void> } {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const loop = (): void => {
    if (stopped) return;
    running = tick()
      .catch(onError)
      .finally(() => {
        if (stopped) return;
        const elapsed = performance.now() - start;
        const next = (Math.floor(elapsed / intervalMs) + 1) * intervalMs;
        timer = setTimeout(loop, next - elapsed);
        timer.unref();
      });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
