/**
 * Lab 9, all cores and many connections: one process against a cluster, then C10K (10,000
 * keep-alive users), then C100K (100,000 idle connections held at once) and what each costs.
 */
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { LoadResult } from '../src/load/index.js';
import { countFds } from '../src/metrics/index.js';
import { ms, pick, runLabLoad, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { startCpuWindow } from '../src/labs/cpu-window.js';
import { startLoadProcess, type LoadProcess } from '../src/labs/load-process.js';
import { createNamespace, namespaceUnavailableReason, type Namespace } from '../src/labs/netns.js';
import {
  countEstablished,
  ephemeralPorts,
  ownFdLimit,
  parseWorkerPids,
  planHold,
  readFootprint,
  readSlabs,
  readSockstat,
  reusePortSupport,
  SOCKET_SLABS,
  type HoldShare,
  type ProcessFootprint,
  type SlabReading,
  type Sockstat,
} from '../src/labs/c100k-kit.js';
import { formatBytes, formatNumber } from '../src/report/table.js';
import { LAB_ERR, LabError } from '../src/errors.js';
import type { LabContext, LabDefinition, StepContext } from '../src/labs/types.js';
import type { ServerProcess } from '../src/server/serve-process.js';

const ROUTES = {
  /** CPU-bound: about WORK_MS of computing per request, where more cores plainly help. */
  WORK: { path: '/work?ms=5', workMs: 5 },
  /** Next to no work per request: the load generator's own CPU is a large share of the total. */
  AGE: { path: '/age?birthdate=1993-05-01' },
  /** Nothing is sent on a held connection; the path only names the server. */
  HOLD: { path: '/healthz' },
} as const;

const SERVER = {
  /** The most the kernel allows here (somaxconn 4096): connects in bursts must not overflow the accept queue (that is lab 3). */
  BACKLOG: 4096,
} as const;

const C100K = {
  /** Each process (server worker or client) fills at most this share of its RLIMIT_NOFILE. */
  FD_SHARE: 0.7,
  /** Give up waiting for one client's connections to reach the server after this long without progress. */
  STALL_MS: 15_000,
  /**
   * In the step's own namespace the server takes a port below the ephemeral range, so no
   * client socket (127.0.0.2:PORT is a different socket from 127.0.0.1:PORT) can share its
   * number and be counted as the server's in the census.
   */
  PORT: 8100,
  /** How often the server's descriptors are counted while connections open (a stat per process). */
  POLL_MS: 200,
} as const;

interface Settings {
  /** Step 1: each run, and how many interleaved rounds of one process then the cluster. */
  compareMs: number;
  rounds: number;
  workVus: number;
  ageVus: number;
  c10k: { vus: number; thinkMs: number; rampMs: number; holdMs: number };
  c100k: { connections: number; minWorkers: number; stepBudgetMs: number };
}

const SETTINGS: { readonly quick: Settings; readonly full: Settings } = {
  quick: {
    compareMs: 2500,
    rounds: 1,
    workVus: 8,
    ageVus: 64,
    c10k: { vus: 1000, thinkMs: 1000, rampMs: 2000, holdMs: 4000 },
    c100k: { connections: 5000, minWorkers: 2, stepBudgetMs: 40_000 },
  },
  full: {
    compareMs: 8000,
    rounds: 2,
    workVus: 8,
    ageVus: 64,
    c10k: { vus: 10_000, thinkMs: 1000, rampMs: 20_000, holdMs: 30_000 },
    c100k: { connections: 100_000, minWorkers: 2, stepBudgetMs: 240_000 },
  },
} as const;

/** The seed's rule for C10K: p90 under 500 ms, and nothing may fail. */
const C10K_THRESHOLDS = ['p(90)<500', 'failures:count<1'] as const;

interface CompareRow {
  route: string;
  server: string;
  processes: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  serverCpuPercent: number;
  /** Each worker's share of a core (the one process's alone for a single server). */
  workerCpuPercent: number[];
  loadCpuPercent: number | null;
  /** The machine's 1-minute load average when the run ended: other work competing for the cores. */
  loadAverage: number;
}

export const lab: LabDefinition = {
  id: 'all-cores',
  number: 9,
  title: 'All cores, 10,000 users, 100,000 connections',
  layer: '10,000 → 100,000+',
  summary: 'one process vs a cluster; C10K with zero failures and p90 < 500 ms; C100K idle connections, memory per connection',
  intro: `A Node server runs JavaScript on one thread: one core, however many the machine has. The first
step puts one process beside a cluster (node:cluster, one worker per core, the primary handing
each new connection to the next worker) on a CPU-bound route and on a nearly free one, and
measures who used the cores, the load generator included. Then C10K: 10,000 users on kept-alive
connections, each pausing a second between requests, against the seed's rule (p90 under 500 ms,
no failures). Then C100K: 100,000 idle connections held at once. Every connection is a file
descriptor on each side and a port on the client's, so the lab spreads them over enough
server workers and client processes that none passes its open-files limit, binds the clients
to several loopback addresses so the ports do not run out, and weighs what a connection costs.`,

  async run(lab: LabContext) {
    const settings = pick(lab, SETTINGS.quick, SETTINGS.full);
    const cores = Math.max(2, os.availableParallelism());

    // 1. One process against a cluster of one worker per core.
    const cluster = await startLabServer(lab, ['--cluster', String(cores), '--backlog', String(SERVER.BACKLOG)]);
    const clusterWorkers = parseWorkerPids(cluster.banner);
    const compare = await lab.step(`One process, then a cluster of ${cores}, on ${ROUTES.WORK.path} and /age`, async (step) => {
      const single = await startLabServer(lab, ['--backlog', String(SERVER.BACKLOG)]);
      // Interleaved rounds, best of each kept: other work on a shared machine comes and goes,
      // and a run that lost its cores to it says nothing about one process against several.
      const runs: CompareRow[] = [];
      const rows: CompareRow[] = [];
      for (const route of [{ path: ROUTES.WORK.path, vus: settings.workVus }, { path: ROUTES.AGE.path, vus: settings.ageVus }]) {
        const pair: CompareRow[] = [];
        for (let round = 0; round < settings.rounds; round += 1) {
          pair.push(await compareRun(step, single, [single.pid], { route: route.path, server: 'one process', vus: route.vus, durationMs: settings.compareMs }));
          pair.push(await compareRun(step, cluster, [cluster.pid, ...clusterWorkers], { route: route.path, server: `cluster of ${cores}`, vus: route.vus, durationMs: settings.compareMs }));
        }
        runs.push(...pair);
        rows.push(bestOf(pair.filter((r) => r.processes === 1)), bestOf(pair.filter((r) => r.processes > 1)));
      }
      await stopLabServer(lab, single);
      const [workOne, workCluster, ageOne, ageCluster] = rows as [CompareRow, CompareRow, CompareRow, CompareRow];
      const roundsText = settings.rounds > 1 ? ` (the best of ${settings.rounds} interleaved runs each)` : '';
      const ratio = (a: CompareRow, b: CompareRow): number => (a.rps > 0 ? Math.round((b.rps / a.rps) * 100) / 100 : 0);
      const cpuCeiling = Math.round(1000 / ROUTES.WORK.workMs);
      return {
        table: {
          header: ['route', 'server', 'VUs', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'server CPU %', 'load generator CPU %'],
          rows: rows.map((r) => [r.route, r.server, r.route === ROUTES.WORK.path ? settings.workVus : settings.ageVus, Math.round(r.rps), r.p50Ms, r.p99Ms, r.failed, r.serverCpuPercent, r.loadCpuPercent]),
        },
        reading: `${ROUTES.WORK.path}${roundsText}: one process made ${num(workOne.rps)} req/s on ${num(workOne.serverCpuPercent)}% of a core
(${ROUTES.WORK.workMs} ms of work a request caps one core at ${cpuCeiling} req/s); the cluster made ${num(workCluster.rps)} (${ratio(workOne, workCluster)}x), its workers
on ${workCluster.workerCpuPercent.join('% + ')}%. ${readGain(workOne, workCluster, cores)}
/age: ${num(ageOne.rps)} vs ${num(ageCluster.rps)} req/s (${ratio(ageOne, ageCluster)}x). Each request is almost free there, so the load generator
needed ${num(ageCluster.loadCpuPercent)}% of a core itself: on ${cores} cores it competes with the workers, and a cluster cannot use
the cores its clients are using.`,
        measurements: { cores, rounds: settings.rounds, rows, runs },
      };
    });
    const rows = (compare?.measurements?.rows as CompareRow[] | undefined) ?? [];
    const findRow = (route: string, one: boolean): CompareRow | undefined => rows.find((r) => r.route === route && (r.processes === 1) === one);
    lab.findings.clusterWorkers = cores;
    lab.findings.clusterRoute = ROUTES.WORK.path;
    lab.findings.singleRps = roundOrNull(findRow(ROUTES.WORK.path, true)?.rps);
    lab.findings.clusterRps = roundOrNull(findRow(ROUTES.WORK.path, false)?.rps);
    lab.findings.age = { singleRps: roundOrNull(findRow(ROUTES.AGE.path, true)?.rps), clusterRps: roundOrNull(findRow(ROUTES.AGE.path, false)?.rps) };

    const reusePort = reusePortSupport();
    lab.skip('SO_REUSEPORT: one listening socket per worker, balanced by the kernel', reusePort.reason);
    lab.findings.reusePort = { available: reusePort.available, skipped: reusePort.reason };

    // 2. C10K against the same cluster.
    const c10k = settings.c10k;
    await lab.step(`C10K: ${formatNumber(c10k.vus)} keep-alive users, ${formatNumber(c10k.thinkMs)} ms think time, against the cluster`, async (step) => {
      const peakFds = new Map<number, number>();
      const baseFds = new Map(clusterWorkers.map((pid) => [pid, countFds(pid) ?? 0]));
      const poller = setInterval(() => {
        for (const pid of clusterWorkers) peakFds.set(pid, Math.max(peakFds.get(pid) ?? 0, countFds(pid) ?? 0));
      }, 500);
      const cpuWindow = startCpuWindow({ pids: [cluster.pid, ...clusterWorkers, process.pid] });
      let result: LoadResult;
      try {
        result = await runLabLoad(
          step,
          {
            url: `${cluster.url}${ROUTES.AGE.path}`,
            stages: [
              { durationMs: c10k.rampMs, target: c10k.vus },
              { durationMs: c10k.holdMs, target: c10k.vus },
            ],
            thinkMs: c10k.thinkMs,
            thresholds: [...C10K_THRESHOLDS],
          },
          'C10K',
        );
      } finally {
        clearInterval(poller);
      }
      const cpu = await cpuWindow.stop();
      const loadAverage = Math.round((os.loadavg()[0] ?? 0) * 10) / 10;
      const workerCpu = clusterWorkers.map((pid) => Math.round(cpu.percentOf(pid) ?? 0));
      const clientCpu = Math.round(cpu.percentOf(process.pid) ?? 0);
      const s = result.summary;
      const held = clusterWorkers.map((pid) => (peakFds.get(pid) ?? 0) - (baseFds.get(pid) ?? 0));
      const passed = result.thresholdsPassed;
      const needRps = Math.round(c10k.vus / 0.5);
      const ageCluster = findRow(ROUTES.AGE.path, false);
      lab.findings.c10k = {
        vus: c10k.vus,
        thinkMs: c10k.thinkMs,
        failures: s.failed,
        p90Ms: s.latency.total.p90Ms,
        p99Ms: s.latency.total.p99Ms,
        rps: Math.round(s.rps),
        passed,
        workerConnections: held,
        workerCpuPercent: workerCpu,
        loadGeneratorCpuPercent: clientCpu,
        loadAverage,
      };
      return {
        tables: [
          {
            header: ['VUs', 'think ms', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'connect p99 ms', 'failed', 'p(90)<500 and no failures'],
            rows: [[c10k.vus, c10k.thinkMs, Math.round(s.rps), s.latency.total.p50Ms, s.latency.total.p90Ms, s.latency.total.p99Ms, s.latency.total.maxMs, s.latency.connect.p99Ms, s.failed, passed ? 'pass' : 'FAIL']],
          },
          {
            header: ['process', 'pid', 'connections at peak (descriptors added)', 'CPU % of a core'],
            rows: [...clusterWorkers.map((pid, i) => ['worker', pid, held[i] ?? null, workerCpu[i] ?? null]), ['load generator (this process)', process.pid, s.connected, clientCpu]],
          },
        ],
        reading: `${formatNumber(c10k.vus)} users held ${formatNumber(s.connected)} kept-alive connections (${held.map((n) => formatNumber(n)).join(' + ')} across the workers)
and made ${num(s.rps)} req/s: p90 ${num(s.latency.total.p90Ms)} ms, ${formatNumber(s.failed)} failed, so the seed's rule ${passed ? 'holds' : 'FAILS here'}.${passed ? '' : `\n${readC10kFailure(workerCpu, clientCpu, loadAverage)}`}
Users who pause ${c10k.thinkMs / 1000} s offer at most ${num(c10k.vus / (c10k.thinkMs / 1000))} req/s. By Little's law the same users with no pause
would need ${num(needRps)} req/s for a 500 ms p90${ageCluster === undefined ? '' : `; this cluster made ${num(ageCluster.rps)} on /age in step 1`}: concurrency is cheap,
throughput is not.`,
        measurements: { result: { summary: s, thresholds: result.thresholds }, workerConnections: held },
      };
    });
    await stopLabServer(lab, cluster);

    // 3. C100K, in a network namespace of its own where the machine allows it: its socket
    // totals (/proc/net/sockstat) and ports are then this step's alone, not shared with
    // whatever else runs on the machine's loopback.
    const c100k = settings.c100k;
    let namespaceReason = await namespaceUnavailableReason();
    let namespace: Namespace | null = null;
    if (namespaceReason === null) {
      try {
        namespace = await createNamespace(lab, 'c100k');
      } catch (error) {
        namespaceReason = `ip netns failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      }
    }
    if (namespace === null) lab.say(`C100K runs in this machine's own network namespace (${namespaceReason}): the socket totals below include everything else on it.`);
    const fdLimit = ownFdLimit() ?? 1024;
    const perProcess = Math.floor(fdLimit * C100K.FD_SHARE);
    const ports = namespace === null ? ephemeralPorts() : ephemeralPorts(await namespace.readSysctl('net.ipv4.ip_local_port_range'));
    const shares = planHold(c100k.connections, perProcess, ports, { minProcesses: 2 });
    const workers = Math.max(c100k.minWorkers, Math.ceil(c100k.connections / perProcess));
    const addresses = shares.flatMap((s) => s.addresses);
    await lab.step(
      `C100K: ${formatNumber(c100k.connections)} idle connections over ${workers} workers, from ${shares.length} client processes on ${addresses.length} source addresses`,
      async (step) => {
        const outcome = await holdConnections(lab, step, { workers, shares, stepBudgetMs: c100k.stepBudgetMs, namespace });
        const { before, during } = outcome;
        const byPid = new Map(before.footprints.map((f) => [f.pid, f]));
        const serverRows = during.footprints.filter((f) => f.role !== 'client');
        const workerRows = during.footprints.filter((f) => f.role === 'worker');
        const clientRows = during.footprints.filter((f) => f.role === 'client');
        const heldPerWorker = workerRows.map((f) => (f.fds ?? 0) - (byPid.get(f.pid)?.fds ?? 0));
        const held = sum(heldPerWorker);
        const rssBefore = sum(before.footprints.map((f) => f.rssBytes ?? 0));
        const rssDuring = sum(serverRows.map((f) => f.rssBytes ?? 0));
        const bytesPerConn = held > 0 ? Math.round((rssDuring - rssBefore) / held) : null;
        const kernel = kernelCost(before.slabs, during.slabs, held);
        const maxWorkerFds = Math.max(...workerRows.map((f) => f.fds ?? 0));
        const maxClientFds = clientRows.length === 0 ? null : Math.max(...clientRows.map((f) => f.fds ?? 0));
        const clientOpen = sum(outcome.clients.map((c) => c?.summary.openAtEnd ?? 0));
        const clientFailed = sum(outcome.clients.map((c) => c?.summary.failed ?? 0));
        const clientFailures = mergeFailures(outcome.clients);
        const tcpInuseAdded = before.sockstat !== null && during.sockstat !== null ? during.sockstat.tcpInuse - before.sockstat.tcpInuse : null;
        lab.findings.c100k = {
          target: c100k.connections,
          held,
          bytesPerConn,
          workers,
          heldPerWorker,
          maxWorkerFds,
          maxClientFds,
          fdLimit,
          loadProcesses: shares.length,
          sourceAddresses: addresses.length,
          portsPerAddress: ports,
          censusEstablished: during.established,
          tcpInuseAdded,
          clientOpen,
          clientFailed,
          clientFailures,
          kernelBytesPerConn: kernel?.perConnection ?? null,
          tcpBufferPagesHolding: during.sockstat?.tcpMemPages ?? null,
          openingMs: outcome.openingMs,
          primaryPeakFds: outcome.primaryPeakFds,
          namespace: namespace === null ? null : namespace.name,
        };
        const mib = (bytes: number | null): string => (bytes === null ? '-' : formatBytes(bytes));
        const heldBy = (f: ProcessFootprint): number | null =>
          f.role === 'worker' ? (f.fds ?? 0) - (byPid.get(f.pid)?.fds ?? 0) : f.role === 'client' ? (shares[clientRows.indexOf(f)]?.connections ?? null) : null;
        return {
          tables: [
            {
              header: ['process', 'pid', 'connections', 'descriptors', 'open-files limit', 'RSS before', 'RSS holding'],
              rows: during.footprints.map((f) => [f.role, f.pid, heldBy(f), f.fds, f.fdLimit, mib(byPid.get(f.pid)?.rssBytes ?? null), mib(f.rssBytes)]),
            },
            {
              header: ['measure', 'value'],
              rows: [
                ['connections held by the server workers (descriptors added)', held],
                ['server-side ESTABLISHED on the port (kernel census)', during.established],
                ['TCP sockets in use, added (sockstat: both ends)', tcpInuseAdded],
                ['held open by the clients when interrupted', clientOpen],
                ['client connections that failed', clientFailed],
                ['seconds to open them all (one client process at a time)', Math.round(outcome.openingMs / 100) / 10],
                ["the primary's descriptors at most, handing them to workers", outcome.primaryPeakFds],
                ['server memory (RSS of all processes) added per connection, bytes', bytesPerConn],
                ['kernel slab objects per connection (both ends), bytes', kernel?.perConnection ?? null],
                ['TCP buffer pages in use while holding (whole machine)', during.sockstat?.tcpMemPages ?? null],
              ],
            },
            ...(kernel === null
              ? []
              : [
                  {
                    header: ['slab cache', 'bytes per object', 'objects added (whole machine)', 'per connection (2 sockets)'],
                    rows: Object.entries(kernel.caches).map(([name, c]) => [name, c.objectSize, c.added, held > 0 ? Math.round((c.added / held) * 100) / 100 : null]),
                  },
                ]),
          ],
          reading: `${formatNumber(held)} connections were held at once${held >= c100k.connections ? '' : ` (of ${formatNumber(c100k.connections)} asked for)`}, ${formatNumber(Math.min(...heldPerWorker))} to ${formatNumber(Math.max(...heldPerWorker))} per worker.
The busiest worker had ${formatNumber(maxWorkerFds)} descriptors and the busiest client ${maxClientFds === null ? '?' : formatNumber(maxClientFds)}, each against a
limit of ${formatNumber(fdLimit)}; each client bound ${addressText(shares[0]?.addresses.length ?? 0)} (${formatNumber(ports)} ports each).
A connection cost the servers ${bytesPerConn === null ? '?' : formatBytes(bytesPerConn)} of memory (RSS added ÷ connections, V8's uncollected
garbage included)${kernel === null ? '' : ` and the kernel ${formatBytes(kernel.perConnection)} of socket objects for its two ends`}. Idle sockets hold
no buffers: ${during.sockstat === null ? '?' : formatNumber(during.sockstat.tcpMemPages)} TCP buffer pages were in use on the whole machine. At this rate a million
connections need ${bytesPerConn === null ? '?' : formatBytes(bytesPerConn * 1_000_000)} in the servers and ${Math.ceil(1_000_000 / perProcess)} processes at this open-files limit:
memory and descriptors run out long before the CPU does.`,
          measurements: { shares, before, during, clients: outcome.clients.map((c) => (c === null ? null : c.summary)), heldPerWorker, kernel },
        };
      },
    );
  },
};

/** One load run against `server` with the CPU of its processes and of this (the load generator's) process measured. */
async function compareRun(step: StepContext, server: ServerProcess, serverPids: number[], run: { route: string; server: string; vus: number; durationMs: number }): Promise<CompareRow> {
  const cpu = startCpuWindow({ pids: [...serverPids, process.pid] });
  const result = await runLabLoad(step, { url: `${server.url}${run.route}`, vus: run.vus, durationMs: run.durationMs }, `${run.server}, ${run.route}`);
  const reading = await cpu.stop();
  const s = result.summary;
  return {
    route: run.route,
    server: run.server,
    processes: serverPids.length === 1 ? 1 : serverPids.length - 1,
    rps: Math.round(s.rps * 10) / 10,
    p50Ms: s.latency.total.p50Ms,
    p99Ms: s.latency.total.p99Ms,
    failed: s.failed,
    serverCpuPercent: Math.round(sum(serverPids.map((pid) => reading.percentOf(pid) ?? 0))),
    workerCpuPercent: (serverPids.length === 1 ? serverPids : serverPids.slice(1)).map((pid) => Math.round(reading.percentOf(pid) ?? 0)),
    loadCpuPercent: reading.percentOf(process.pid),
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 10) / 10,
  };
}

interface HoldSnapshot {
  footprints: ProcessFootprint[];
  sockstat: Sockstat | null;
  slabs: SlabReading | null;
  /** Server-side ESTABLISHED sockets on the port (null before, or when /proc/net/tcp is unreadable). */
  established: number | null;
}

interface HoldOutcome {
  before: HoldSnapshot;
  during: HoldSnapshot;
  clients: (LoadResult | null)[];
  openingMs: number;
  primaryPeakFds: number | null;
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
async function holdConnections(
  lab: LabContext,
  step: StepContext,
  plan: { workers: number; shares: HoldShare[]; stepBudgetMs: number; namespace: Namespace | null },
): Promise<HoldOutcome> {
  const started = Date.now();
  const deadline = started + plan.stepBudgetMs;
  // --keep-alive-timeout 0: no idle timeout, or the server would close what we came to hold.
  const server = await startLabServer(
    lab,
    ['--cluster', String(plan.workers), '--backlog', String(SERVER.BACKLOG), '--keep-alive-timeout', '0', ...(plan.namespace === null ? [] : ['--port', String(C100K.PORT)])],
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
      startLoadProcess(lab, [`${server.url}${ROUTES.HOLD.path}`, '--hold', String(share.connections), '--local-address', share.addresses.join(','), '--duration', `${holdSeconds}s`], {
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
      if (Date.now() - bestAt > C100K.STALL_MS || Date.now() > deadline) break;
      await delay(C100K.POLL_MS);
    }
  }
  const openingMs = Date.now() - openStarted;
  const during = snapshot(
    countEstablished(server.pid, server.port),
    clients.map((c) => c.pid),
  );
  step.progress('closing every connection');
  for (const client of clients) client.interrupt();
  const clientResults = await Promise.all(clients.map((c) => c.result.catch(() => null)));
  await stopLabServer(lab, server);
  if (clientResults.every((r) => r === null)) throw new LabError(LAB_ERR.LAB_CHILD, 'no client process of the C100K step produced a result');
  return { before, during, clients: clientResults, openingMs, primaryPeakFds };
}

/**
 * The kernel's memory for a connection: every socket takes one object from each socket
 * cache (SOCKET_SLABS), and both ends of each connection are on this machine, so a
 * connection costs two of each. The object sizes are exact; how far the counts grew is
 * shown beside them as a check (the caches are shared with everything else running).
 */
function kernelCost(before: SlabReading | null, during: SlabReading | null, held: number): { caches: Record<string, { objectSize: number; added: number }>; perConnection: number } | null {
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

/** Why C10K missed its rule, from who used the CPU. */
function readC10kFailure(workerCpu: number[], clientCpu: number, loadAverage: number): string {
  const cores = Math.max(2, os.availableParallelism());
  const total = sum(workerCpu) + clientCpu;
  const saturated = workerCpu.some((cpu) => cpu >= 90);
  if (saturated) return `The workers ran at ${workerCpu.join('% + ')}% of a core: they were the limit.`;
  return `The workers used ${workerCpu.join('% + ')}% of a core and the load generator ${clientCpu}%: ${total}% of the ${cores * 100}% here,${
    loadAverage > cores ? `\nwhile the load average was ${loadAverage}: requests waited for CPUs that other processes held.` : ' with cores to spare.'
  }`;
}

/** Whether more processes bought more throughput, and if not, what the numbers say took the cores. */
function readGain(one: CompareRow, cluster: CompareRow, cores: number): string {
  const gain = one.rps > 0 ? cluster.rps / one.rps : 0;
  if (gain >= 1.2) return `More cores, more work done: ${Math.round((gain - 1) * 100)}% more requests.`;
  const busy = Math.max(one.loadAverage, cluster.loadAverage);
  return busy > cores
    ? `No gain this time: the machine's load average was ${busy} on ${cores} cores,
so other processes held the cores the second worker needed (the workers together got ${num(cluster.serverCpuPercent)}% of a core,
one process ${num(one.serverCpuPercent)}%).`
    : `No gain this time, though the load average (${busy}) left cores free: the workers together got ${num(cluster.serverCpuPercent)}% of a core.`;
}

function bestOf(rows: CompareRow[]): CompareRow {
  return rows.reduce((best, row) => (row.rps > best.rps ? row : best));
}

function addressText(count: number): string {
  return count === 1 ? 'one source address' : `${count} source addresses`;
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

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value);
}

/** A number for a reading: thousands separated, at most 3 significant decimals, '?' when not measured. */
function num(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '?';
  return formatNumber(Math.abs(value) >= 100 ? Math.round(value) : ms(value));
}
