/**
 * Every layer watched at each step, with the instruments socketlab already has:
 *
 * - during the step, src/metrics' sampler in a worker thread (so its reads never block the
 *   generator's event loop): each watched process's descriptors, RSS and threads; the
 *   target port's accept queue against its backlog; the client's sockets towards the port
 *   by state (TIME_WAIT, ports in use). Peaks are taken over the step's samples;
 * - at the step's two ends: every thread's run and run-queue time (host-stats.ts), the
 *   processes' context switches, the namespace's TCP counters, the machine's CPU and
 *   swap-ins, the link's byte counters, socketlab serve's /stats, Postgres' processes;
 * - a light poll of /proc/meminfo for the lowest available memory.
 */
import { START_LEAD_MS } from '../load/index.js';
import { performance } from 'node:perf_hooks';
import {
  diffCounters,
  findChildPids,
  isUnavailable,
  readContextSwitches,
  readKernelCounters,
  readTcpCensus,
  startSampler,
  type CounterValues,
  type PortCensus,
  type Sample,
  type Sampler,
} from '../metrics/index.js';
import { readProcessSample } from '../metrics/process-stats.js';
import { DIAGNOSE_DEFAULTS } from './constants.js';
import { readInterfaceCounters, readMachineBusyMs, readMemInfo, readSwapInPages, type InterfaceCounters } from '../metrics/host.js';
import { readThreadTimes, type ThreadTimes } from '../metrics/thread-times.js';
import { diffThreadTimes } from './host-stats.js';
import { diffServeStats, fetchServeStats, type ServeStats } from './serve-stats.js';
import type { DiagnoseContext, ProcessStep, StepMeasurement } from './types.js';

export type WatchedStep = Pick<StepMeasurement, 'generator' | 'targets' | 'listener' | 'kernel' | 'client' | 'machine' | 'serve' | 'database' | 'link'>;

export interface StepProbe {
  /** End the step's watch and put its readings together. */
  finish(): Promise<WatchedStep>;
}

export interface Watcher {
  /**
   * Take the step's opening readings; the load starts once this resolves and is planned to
   * run `plannedMs`. The rates (CPU per thread, the machine's CPU, the link's bytes) are read
   * again when that time is up, before the step's last requests drain: a drain in which the
   * server has less and less to do is not part of what the step asked of it.
   */
  startStep(plannedMs: number): Promise<StepProbe>;
  /** What could not be read, in words (from the sampler). */
  unavailable(): string[];
  /** Stop the sampler. Safe to call more than once. */
  stop(): Promise<void>;
}

const COUNTERS = {
  listenOverflows: 'TcpExt.ListenOverflows',
  listenDrops: 'TcpExt.ListenDrops',
  synRetransmits: 'TcpExt.TCPSynRetrans',
  attemptFails: 'Tcp.AttemptFails',
  estabResets: 'Tcp.EstabResets',
} as const;

const MEMINFO_POLL_MS = 250;
/** The load's engines start about this long after runLoad is called (plus setup). */
const LOAD_LEAD_MS = START_LEAD_MS;
/**
 * The rates skip the step's first fifth: the engines' start, the connections opening (a
 * busy server accepts them late), during which the server is not yet asked what the step
 * asks. Measured on the crowded 2-core development machine, a node:http server burning 3 ms
 * per request under 16 users: its thread read 80-88% runnable over the whole 1 s step, and
 * 95-100% with the first fifth and the final drain left out.
 */
const WARM_UP_SHARE = 0.2;

/** The readings that are rates over the step's planned window. */
interface RateReadings {
  monoMs: number;
  threads: Map<number, Map<number, ThreadTimes> | null>;
  machineBusyMs: number | null;
  link: InterfaceCounters | null;
}
/** pswpin counts pages: 4 KiB on x86-64 and on most arm64 kernels (a 64 KiB-page kernel under-reads 16x). */
const PAGE_BYTES = 4096;

interface Opening {
  wallStart: number;
  /** Replaced by a fresh reading once the step's warm-up is over. */
  rates: RateReadings;
  ctxSwitches: Map<number, { voluntary: number; involuntary: number } | null>;
  counters: CounterValues | null;
  swapInPages: number | null;
  stats: ServeStats | null;
  databaseProcesses: number[];
}

export async function startWatcher(ctx: DiagnoseContext, baseUrl: string): Promise<Watcher> {
  const generatorPid = process.pid;
  const watched = [...ctx.targetPids, generatorPid];
  const sampler: Sampler = startSampler({
    pids: watched,
    ports: [ctx.port],
    intervalMs: DIAGNOSE_DEFAULTS.SAMPLE_INTERVAL_MS,
    budget: DIAGNOSE_DEFAULTS.SAMPLE_BUDGET,
    tcpCensus: true,
    thread: true,
  });
  await sampler.ready;

  const databaseProcesses = (): number[] => [...new Set(ctx.databasePids.flatMap((pm) => [pm, ...findChildPids(pm)]))];
  const readStats = (): Promise<ServeStats | null> => (ctx.serve ? fetchServeStats(baseUrl, DIAGNOSE_DEFAULTS.STATS_TIMEOUT_MS) : Promise.resolve(null));

  const readRates = (pids: readonly number[]): RateReadings => ({
    monoMs: performance.now(),
    threads: new Map(pids.map((pid) => [pid, readThreadTimes(pid)])),
    machineBusyMs: readMachineBusyMs(),
    link: ctx.link === null ? null : readInterfaceCounters(ctx.link.device),
  });

  async function startStep(plannedMs: number): Promise<StepProbe> {
    const stats = await readStats();
    const dbPids = databaseProcesses();
    const opening: Opening = {
      wallStart: Date.now(),
      rates: readRates([...watched, ...dbPids]),
      ctxSwitches: new Map(watched.map((pid) => [pid, readContextSwitches(pid)])),
      counters: countersNow(),
      swapInPages: readSwapInPages(),
      stats,
      databaseProcesses: dbPids,
    };
    let memAvailableMin = readMemInfo()?.availableBytes ?? null;
    const memTimer = setInterval(() => {
      const available = readMemInfo()?.availableBytes;
      if (available !== undefined && (memAvailableMin === null || available < memAvailableMin)) memAvailableMin = available;
    }, MEMINFO_POLL_MS);
    memTimer.unref();
    let rates: RateReadings | null = null;
    const pidsNow = (): number[] => [...new Set([...watched, ...opening.databaseProcesses, ...databaseProcesses()])];
    const takeRates = (): void => {
      rates ??= readRates(pidsNow());
    };
    const warmedUp = setTimeout(
      () => {
        if (rates === null) opening.rates = readRates(pidsNow());
      },
      LOAD_LEAD_MS + WARM_UP_SHARE * plannedMs,
    );
    const cutoff = setTimeout(takeRates, LOAD_LEAD_MS + plannedMs);
    // A step whose load failed never calls finish(): its timers must not hold the process.
    warmedUp.unref();
    cutoff.unref();

    return {
      async finish() {
        clearInterval(memTimer);
        clearTimeout(warmedUp);
        clearTimeout(cutoff);
        takeRates();
        const { monoMs, threads: threadsAfter, machineBusyMs, link: linkAfter } = rates as unknown as RateReadings;
        const start = opening.rates;
        const wallMs = monoMs - start.monoMs;
        const wallEnd = Date.now();
        const dbNow = [...threadsAfter.keys()].filter((pid) => !watched.includes(pid));
        const counters = countersNow();
        const swapInPages = readSwapInPages();
        const endMemory = readMemInfo()?.availableBytes;
        if (endMemory !== undefined && (memAvailableMin === null || endMemory < memAvailableMin)) memAvailableMin = endMemory;
        const samples = sampler.samples().filter((s) => s.at >= opening.wallStart && s.at <= wallEnd);
        // One census of our own after the load: the sampler takes it on a budget and may have
        // skipped a short step, and the client's sockets of the step are all still here (the
        // ones it closed sit in TIME_WAIT for 60 s).
        const census = readTcpCensus([ctx.port]);
        const endCensus = isUnavailable(census) ? null : (census.ports[0] ?? null);
        const stats = await readStats();

        const processStep = (pid: number): ProcessStep => {
          const end = readProcessSample(pid);
          const own = samples.flatMap((s) => s.processes.filter((p) => p.pid === pid && p.alive));
          const peak = (read: (p: (typeof own)[number]) => number | null): number | null => {
            let best: number | null = null;
            for (const p of [...own, end]) {
              const v = read(p);
              if (v !== null && (best === null || v > best)) best = v;
            }
            return best;
          };
          const cpu = diffThreadTimes(start.threads.get(pid) ?? null, threadsAfter.get(pid) ?? null, wallMs);
          const switchesBefore = opening.ctxSwitches.get(pid) ?? null;
          const switchesAfter = end.alive ? readContextSwitches(pid) : null;
          const soft = end.fdLimit?.soft ?? [...own].reverse().find((p) => p.fdLimit !== null)?.fdLimit?.soft ?? null;
          return {
            pid,
            name: end.name ?? own[0]?.name ?? null,
            alive: end.alive,
            cpuPercent: cpu.cpuPercent,
            busiestThread: cpu.busiest,
            threads: end.threads ?? own[own.length - 1]?.threads ?? null,
            rssPeakBytes: peak((p) => p.rssBytes),
            fdsPeak: peak((p) => p.fds),
            fdLimit: typeof soft === 'number' ? soft : null,
            voluntaryCtxSwitches: switchesBefore === null || switchesAfter === null ? null : switchesAfter.voluntary - switchesBefore.voluntary,
            involuntaryCtxSwitches: switchesBefore === null || switchesAfter === null ? null : switchesAfter.involuntary - switchesBefore.involuntary,
          };
        };

        let database: StepMeasurement['database'] = null;
        if (ctx.databasePids.length > 0) {
          let cpuPercent = 0;
          let busiest: NonNullable<StepMeasurement['database']>['busiest'] = null;
          for (const pid of dbNow) {
            const load = diffThreadTimes(start.threads.get(pid) ?? new Map(), threadsAfter.get(pid) ?? null, wallMs);
            cpuPercent += load.cpuPercent ?? 0;
            if (load.busiest !== null && (busiest === null || load.busiest.runnablePercent > busiest.runnablePercent)) busiest = { ...load.busiest, pid };
          }
          database = { processes: dbNow.length, cpuPercent: Math.round(cpuPercent * 10) / 10, busiest };
        }

        const kernel =
          opening.counters === null || counters === null
            ? null
            : (() => {
                const delta = diffCounters(opening.counters, counters, Object.values(COUNTERS));
                return {
                  listenOverflows: delta[COUNTERS.listenOverflows] ?? 0,
                  listenDrops: delta[COUNTERS.listenDrops] ?? 0,
                  synRetransmits: delta[COUNTERS.synRetransmits] ?? 0,
                  attemptFails: delta[COUNTERS.attemptFails] ?? 0,
                  estabResets: delta[COUNTERS.estabResets] ?? 0,
                };
              })();

        const seconds = wallMs / 1000;
        return {
          generator: processStep(generatorPid),
          targets: ctx.targetPids.map(processStep),
          listener: ctx.listenerSeen ? listenerPeak(samples, ctx.port) : null,
          kernel,
          client: clientPeak(samples, endCensus),
          machine: {
            cpuPercent: start.machineBusyMs === null || machineBusyMs === null || wallMs <= 0 ? null : Math.round(((machineBusyMs - start.machineBusyMs) / wallMs) * 1000) / 10,
            memAvailableMinBytes: memAvailableMin,
            swapInBytesPerSec:
              opening.swapInPages === null || swapInPages === null || wallEnd <= opening.wallStart
                ? null
                : Math.round(((swapInPages - opening.swapInPages) * PAGE_BYTES) / ((wallEnd - opening.wallStart) / 1000)),
          },
          serve: diffServeStats(opening.stats, stats),
          database,
          link:
            start.link === null || linkAfter === null || seconds <= 0
              ? null
              : { rxBytesPerSec: Math.round((linkAfter.rxBytes - start.link.rxBytes) / seconds), txBytesPerSec: Math.round((linkAfter.txBytes - start.link.txBytes) / seconds) },
        };
      },
    };
  }

  let stopping: Promise<void> | null = null;
  return {
    startStep,
    unavailable: () => sampler.unavailable(),
    stop() {
      stopping ??= sampler.stop().then(
        () => undefined,
        () => undefined,
      );
      return stopping;
    },
  };
}

function countersNow(): CounterValues | null {
  const counters = readKernelCounters();
  return isUnavailable(counters) ? null : counters;
}

/** The deepest accept queue seen on the port over the step, with its backlog. */
function listenerPeak(samples: readonly Sample[], port: number): StepMeasurement['listener'] {
  let queuedPeak: number | null = null;
  let backlog: number | null = null;
  let sockets = 0;
  for (const sample of samples) {
    const entry = sample.ports?.find((p) => p.port === port);
    if (entry === undefined || entry.listeners.length === 0) continue;
    sockets = Math.max(sockets, entry.listeners.length);
    for (const l of entry.listeners) {
      queuedPeak = Math.max(queuedPeak ?? 0, l.queued);
      if (l.max !== null) backlog = Math.max(backlog ?? 0, l.max);
    }
  }
  return queuedPeak === null ? null : { port, queuedPeak, backlog, sockets };
}

/** The most client-side sockets towards the port, and the most of them in TIME_WAIT. */
function clientPeak(samples: readonly Sample[], endCensus: PortCensus | null): StepMeasurement['client'] {
  let portsInUsePeak: number | null = null;
  let timeWaitPeak: number | null = null;
  const censuses = [...samples.flatMap((s) => (s.ports ?? []).map((p) => p.census)), endCensus];
  for (const census of censuses) {
    if (census === null) continue;
    const inUse = Object.values(census.client).reduce((n, v) => n + v, 0);
    portsInUsePeak = Math.max(portsInUsePeak ?? 0, inUse);
    timeWaitPeak = Math.max(timeWaitPeak ?? 0, census.client.TIME_WAIT);
  }
  return { portsInUsePeak, timeWaitPeak };
}
