/**
 * Holding many idle connections against a `socketlab serve --cluster` and accounting for
 * them, for the all-cores lab's C100K step (and the descriptor watch its C10K and
 * SO_REUSEPORT steps share): the cluster and the client processes started in order, each
 * client only once the server holds what the previous ones opened, the footprints before
 * and while holding, and what that adds up to per connection. The lab keeps the tables and
 * the sentences; this is the machinery under them. Its readings of /proc are c100k-kit.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { LoadResult } from '../load/index.js';
import { countFds } from '../metrics/index.js';
import { formatNumber } from '../format/numbers.js';
import { LAB_ERR, LabError } from '../errors.js';
import { startCpuWindow } from './cpu-window.js';
import { startLabServer, stopLabServer } from './kit.js';
import { startLoadProcess, type LoadProcess } from './load-process.js';
import type { Namespace } from './netns.js';
import {
  countEstablished,
  parseWorkerPids,
  readFootprint,
  readSlabs,
  readSockstat,
  SOCKET_SLABS,
  type HoldShare,
  type ProcessFootprint,
  type SlabReading,
  type Sockstat,
} from './c100k-kit.js';
import type { LabContext, StepContext } from './types.js';

/** How the connections are opened and watched. */
const HOLD = {
  /** Give up waiting for one client's connections to reach the server after this long without progress. */
  STALL_MS: 15_000,
  /**
   * In a namespace of its own the server takes a port below the ephemeral range, so no
   * client socket (127.0.0.2:PORT is a different socket from 127.0.0.1:PORT) can share its
   * number and be counted as the server's in the census.
   */
  PORT: 8100,
  /** How often the server's descriptors are counted while connections open (a stat per process). */
  POLL_MS: 200,
  /** The window in which the servers' CPU is measured while they only hold the connections. */
  IDLE_CPU_MS: 500,
  /** Nothing is sent on a held connection; the path only names the server. */
  PATH: '/healthz',
} as const;

export interface HoldPlan {
  /** Server worker processes. */
  workers: number;
  /** The connections each client process opens, and from which source addresses. */
  shares: HoldShare[];
  /** The whole step gives up opening connections after this long. */
  stepBudgetMs: number;
  /** Run the server and the clients in this namespace (null: the machine's own). */
  namespace: Namespace | null;
  /** The server's listen backlog: connects in bursts must not overflow it. */
  backlog: number;
}

export interface HoldSnapshot {
  footprints: ProcessFootprint[];
  sockstat: Sockstat | null;
  slabs: SlabReading | null;
  /** Server-side ESTABLISHED sockets on the port (null before, or when /proc/net/tcp is unreadable). */
  established: number | null;
}

export interface HoldOutcome {
  before: HoldSnapshot;
  during: HoldSnapshot;
  clients: (LoadResult | null)[];
  openingMs: number;
  primaryPeakFds: number | null;
  /** CPU of the primary and every worker together (% of one core) while they only held the connections. */
  idleCpuPercent: number | null;
}

/**
 * Start a cluster that keeps idle connections open, then the client processes one after the
 * other, each only once the server holds everything the previous ones opened. One at a
 * time because a client's connect() completes with the kernel's handshake, before anyone
 * accept()s: clients can open connections much faster than the primary accepts them and
 * passes each to a worker over IPC. Started all at once (7 clients × 14,286 while this lab
 * was written), they outran it: the workers got under 25,000 connections, the accept queue
 * overflowed, and the clients saw most of the rest closed. Measured once everything is
 * held; then every client is interrupted (closing its connections) and the server stopped.
 */
export async function holdConnections(lab: LabContext, step: StepContext, plan: HoldPlan): Promise<HoldOutcome> {
  const started = Date.now();
  const deadline = started + plan.stepBudgetMs;
  // --keep-alive-timeout 0: no idle timeout, or the server would close what we came to hold.
  const server = await startLabServer(
    lab,
    ['--cluster', String(plan.workers), '--backlog', String(plan.backlog), '--keep-alive-timeout', '0', ...(plan.namespace === null ? [] : ['--port', String(HOLD.PORT)])],
    plan.namespace === null ? {} : { prefix: ['ip', 'netns', 'exec', plan.namespace.name] },
  );
  const workerPids = parseWorkerPids(server.banner);
  const snapshot = (established: number | null, clientPids: number[] = []): HoldSnapshot => ({
    footprints: [readFootprint(server.pid, 'primary'), ...workerPids.map((pid) => readFootprint(pid, 'worker')), ...clientPids.map((pid) => readFootprint(pid, 'client'))],
    // /proc/PID/net is the server's namespace, wherever this lab runs.
    sockstat: readSockstat(server.pid),
    slabs: readSlabs(),
    established,
  });
  const before = snapshot(null);
  const baseFds = new Map(before.footprints.map((f) => [f.pid, f.fds ?? 0]));
  const heldNow = (): number => sum(workerPids.map((pid) => (countFds(pid) ?? 0) - (baseFds.get(pid) ?? 0)));
  let primaryPeakFds = before.footprints[0]?.fds ?? null;

  const clients: LoadProcess[] = [];
  let target = 0;
  const openStarted = Date.now();
  for (const [index, share] of plan.shares.entries()) {
    if (step.signal.aborted) break;
    target += share.connections;
    // Each client holds until interrupted below; the duration only bounds it if this lab dies.
    const holdSeconds = Math.max(10, Math.ceil((deadline - Date.now()) / 1000));
    clients.push(
      startLoadProcess(lab, [`${server.url}${HOLD.PATH}`, '--hold', String(share.connections), '--local-address', share.addresses.join(','), '--duration', `${holdSeconds}s`], {
        deadlineMs: holdSeconds * 1000 + 60_000,
        ...(plan.namespace === null ? {} : { namespace: plan.namespace.name }),
      }),
    );
    const client = clients[clients.length - 1] as LoadProcess;
    let best = heldNow();
    let bestAt = Date.now();
    for (;;) {
      const held = heldNow();
      const primaryFds = countFds(server.pid);
      if (primaryFds !== null) primaryPeakFds = Math.max(primaryPeakFds ?? 0, primaryFds);
      step.progress(`client ${index + 1} of ${plan.shares.length}: the server holds ${formatNumber(held)} of ${formatNumber(target)} connections`);
      if (held >= target || client.exited() || step.signal.aborted) break;
      if (held > best) {
        best = held;
        bestAt = Date.now();
      }
      if (Date.now() - bestAt > HOLD.STALL_MS || Date.now() > deadline) break;
      await delay(HOLD.POLL_MS);
    }
  }
  const openingMs = Date.now() - openStarted;
  // What holding costs the CPU: a short window with every connection open and nothing sent.
  const idleWindow = startCpuWindow({ pids: [server.pid, ...workerPids] });
  await delay(HOLD.IDLE_CPU_MS);
  const idle = await idleWindow.stop();
  const idleReadings = [server.pid, ...workerPids].map((pid) => idle.percentOf(pid));
  const idleCpuPercent = idleReadings.some((v) => v === null) ? null : Math.round(sum(idleReadings as number[]) * 10) / 10;
  const during = snapshot(
    countEstablished(server.pid, server.port),
    clients.map((c) => c.pid),
  );
  step.progress('closing every connection');
  for (const client of clients) client.interrupt();
  const clientResults = await Promise.all(clients.map((c) => c.result.catch(() => null)));
  await stopLabServer(lab, server);
  if (clientResults.every((r) => r === null)) throw new LabError(LAB_ERR.LAB_CHILD, 'no client process of the C100K step produced a result');
  return { before, during, clients: clientResults, openingMs, primaryPeakFds, idleCpuPercent };
}

/** What holding added up to: per worker, per connection, and as the clients saw it. */
export interface HoldSummary {
  /** Connections each worker holds (descriptors added). */
  heldPerWorker: number[];
  held: number;
  /** Server memory (RSS of all its processes) added per connection held. */
  bytesPerConn: number | null;
  kernel: KernelCost | null;
  maxWorkerFds: number;
  maxClientFds: number | null;
  clientOpen: number;
  clientFailed: number;
  clientFailures: Record<string, number>;
  /** TCP sockets in use added (sockstat: both ends), null where unreadable. */
  tcpInuseAdded: number | null;
}

export function summarizeHold(outcome: HoldOutcome): HoldSummary {
  const { before, during } = outcome;
  const byPid = new Map(before.footprints.map((f) => [f.pid, f]));
  const serverRows = during.footprints.filter((f) => f.role !== 'client');
  const workerRows = during.footprints.filter((f) => f.role === 'worker');
  const clientRows = during.footprints.filter((f) => f.role === 'client');
  const heldPerWorker = workerRows.map((f) => (f.fds ?? 0) - (byPid.get(f.pid)?.fds ?? 0));
  const held = sum(heldPerWorker);
  const rssBefore = sum(before.footprints.map((f) => f.rssBytes ?? 0));
  const rssDuring = sum(serverRows.map((f) => f.rssBytes ?? 0));
  return {
    heldPerWorker,
    held,
    bytesPerConn: held > 0 ? Math.round((rssDuring - rssBefore) / held) : null,
    kernel: kernelCost(before.slabs, during.slabs, held),
    maxWorkerFds: Math.max(...workerRows.map((f) => f.fds ?? 0)),
    maxClientFds: clientRows.length === 0 ? null : Math.max(...clientRows.map((f) => f.fds ?? 0)),
    clientOpen: sum(outcome.clients.map((c) => c?.summary.openAtEnd ?? 0)),
    clientFailed: sum(outcome.clients.map((c) => c?.summary.failed ?? 0)),
    clientFailures: mergeFailures(outcome.clients),
    tcpInuseAdded: before.sockstat !== null && during.sockstat !== null ? during.sockstat.tcpInuse - before.sockstat.tcpInuse : null,
  };
}

export interface KernelCost {
  caches: Record<string, { objectSize: number; added: number }>;
  perConnection: number;
}

/**
 * The kernel's memory for a connection: every socket takes one object from each socket
 * cache (SOCKET_SLABS), and both ends of each connection are on this machine, so a
 * connection costs two of each. The object sizes are exact; how far the counts grew is
 * shown beside them as a check (the caches are shared with everything else running).
 */
export function kernelCost(before: SlabReading | null, during: SlabReading | null, held: number): KernelCost | null {
  if (before === null || during === null || held <= 0) return null;
  const caches: Record<string, { objectSize: number; added: number }> = {};
  let perSocket = 0;
  for (const name of SOCKET_SLABS) {
    const now = during.caches[name];
    if (now === undefined) continue;
    caches[name] = { objectSize: now.objectSize, added: now.objects - (before.caches[name]?.objects ?? 0) };
    perSocket += now.objectSize;
  }
  return { caches, perConnection: 2 * perSocket };
}

/**
 * The most descriptors each process gained over its count now, polled every `everyMs` until
 * stopped: how many connections each worker (or the primary) took while a load ran.
 */
export function watchAddedFds(pids: readonly number[], everyMs: number): { stop(): Map<number, number> } {
  const base = new Map(pids.map((pid) => [pid, countFds(pid) ?? 0]));
  const peak = new Map(base);
  const poller = setInterval(() => {
    for (const pid of pids) peak.set(pid, Math.max(peak.get(pid) ?? 0, countFds(pid) ?? 0));
  }, everyMs);
  return {
    stop() {
      clearInterval(poller);
      return new Map(pids.map((pid) => [pid, (peak.get(pid) ?? 0) - (base.get(pid) ?? 0)]));
    },
  };
}

function mergeFailures(results: (LoadResult | null)[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const result of results) {
    if (result === null) continue;
    for (const [kind, count] of Object.entries(result.summary.failures)) if (count > 0) merged[kind] = (merged[kind] ?? 0) + count;
  }
  return merged;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
