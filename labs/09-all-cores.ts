/**
 * Lab 9, all cores and many connections: one process against a cluster, then C10K (10,000
 * keep-alive users), then C100K (100,000 idle connections held at once) and what each costs.
 */
import os from 'node:os';
import type { LoadResult } from '../src/load/index.js';
import { countFds } from '../src/metrics/index.js';
import { ms, runLabLoad, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { AXIS, axis, barChart } from '../src/labs/chart-kit.js';
import { holdConnections, summarizeHold, watchAddedFds } from '../src/labs/cluster-hold-kit.js';
import { startCpuWindow } from '../src/labs/cpu-window.js';
import { createNamespace, namespaceUnavailableReason, type Namespace } from '../src/labs/netns.js';
import { ephemeralPorts, ownFdLimit, parseWorkerPids, planHold, type ProcessFootprint } from '../src/labs/c100k-kit.js';
import { formatBytes, formatNumber, formatReading as num } from '../src/format/numbers.js';
import { compareSpreads, COMPARISON_ROUNDS, describeComparison, formatSpread, measureInterleaved, spreadOf, VERDICT, type Spread } from '../src/metrics/comparison.js';
import { POST_RULE } from '../src/report/post-figures.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext } from '../src/labs/types.js';
import type { ServerProcess } from '../src/labs/serve-process.js';
import { probeReusePort } from '../src/server/cluster-primary.js';

const ROUTES = {
  /** CPU-bound: about WORK_MS of computing per request, where more cores plainly help. */
  WORK: { path: '/work?ms=5', workMs: 5 },
  /** Next to no work per request: the load generator's own CPU is a large share of the total. */
  AGE: { path: '/age?birthdate=1993-05-01' },
  /** Nothing is sent on a held connection; the path only names the server. */
  HOLD: { path: '/healthz' },
} as const;

/** The two sides of step 1. */
const SERVER_SIDES = ['one process', 'cluster'] as const;
type ServerSide = (typeof SERVER_SIDES)[number];

const SERVER = {
  /** The most the kernel allows here (somaxconn 4096): connects in bursts must not overflow the accept queue (that is lab 3). */
  BACKLOG: 4096,
} as const;

/** Each process (server worker or client) of C100K fills at most this share of its RLIMIT_NOFILE. */
const C100K_FD_SHARE = 0.7;

interface Settings {
  /** Step 1: runs of each side, interleaved (comparison.ts COMPARISON_ROUNDS), and each run's length. */
  rounds: number;
  compareMs: number;
  workVus: number;
  ageVus: number;
  /** SO_REUSEPORT: idle connections opened against a --reuse-port cluster, and how long they are held. */
  reusePort: { connections: number; holdMs: number };
  c10k: { vus: number; thinkMs: number; rampMs: number; holdMs: number };
  c100k: { connections: number; minWorkers: number; stepBudgetMs: number };
}

const SETTINGS: LabSettings<Settings> = {
  quick: {
    rounds: COMPARISON_ROUNDS.quick,
    // Two runs a side now where one 2.5 s run was: 1 s each keeps step 1 a little shorter than
    // before, which pays for the SO_REUSEPORT step on a Node that has it.
    compareMs: 1000,
    workVus: 8,
    ageVus: 64,
    reusePort: { connections: 1000, holdMs: 1500 },
    c10k: { vus: 1000, thinkMs: 1000, rampMs: 2000, holdMs: 3000 },
    c100k: { connections: 5000, minWorkers: 2, stepBudgetMs: 40_000 },
  },
  full: {
    rounds: COMPARISON_ROUNDS.full,
    compareMs: 6000,
    workVus: 8,
    ageVus: 64,
    reusePort: { connections: 10_000, holdMs: 5000 },
    c10k: { vus: 10_000, thinkMs: 1000, rampMs: 20_000, holdMs: 30_000 },
    c100k: { connections: 100_000, minWorkers: 2, stepBudgetMs: 240_000 },
  },
};

/** The post's rule for a run (p90 under 500 ms), and for C10K nothing may fail. */
const C10K_THRESHOLDS = [POST_RULE, 'failures:count<1'] as const;

export interface CompareRow {
  /** Which run: "/age?birthdate=1993-05-01, cluster, run 2 of 2". */
  label: string;
  route: string;
  side: ServerSide;
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
  /** Which interleaved round this run belongs to (0-based). */
  round: number;
  /** The machine's 1-minute load average when the run ended: other work competing for the cores. */
  loadAverage: number;
}

export const lab: LabDefinition<Settings> = {
  id: 'all-cores',
  number: 9,
  title: 'All cores, 10,000 users, 100,000 connections',
  layer: '10,000 → 100,000+',
  summary: 'one process vs a cluster; SO_REUSEPORT where Node has it; C10K against p90 < 500 ms and zero failures; C100K idle connections, memory per connection',
  intro: `A Node server runs JavaScript on one thread: one core, however many the machine has. The first
step puts one process beside a cluster (node:cluster, one worker per core, the primary handing
each new connection to the next worker) on a CPU-bound route and on a nearly free one, and
measures who used the cores, the load generator included. Then C10K: ${formatNumber(SETTINGS.full.c10k.vus)} users (${formatNumber(SETTINGS.quick.c10k.vus)} in
the quick form) on kept-alive connections, each pausing a second between requests, against the
post's rule (${POST_RULE}) with no failures. Then C100K: ${formatNumber(SETTINGS.full.c100k.connections)} idle connections (${formatNumber(SETTINGS.quick.c100k.connections)} in
the quick form) held at once. Every connection is a file
descriptor on each side and a port on the client's, so the lab spreads them over enough
server workers and client processes that none passes its open-files limit, binds the clients
to several loopback addresses so the ports do not run out, and weighs what a connection costs.`,

  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const cores = Math.max(2, os.availableParallelism());
    // 1. One process against a cluster of one worker per core.
    const cluster = await startLabServer(lab, ['--cluster', String(cores), '--backlog', String(SERVER.BACKLOG)]);
    const clusterWorkers = parseWorkerPids(cluster.banner);
    const compared = await compareOneProcessWithCluster(lab, settings, cluster, clusterWorkers, cores);
    const ageCluster = recordComparison(lab, compared, cores);
    // 2. SO_REUSEPORT, where this Node has it: the kernel, not the primary, spreads connections.
    await runReusePortStep(lab, settings, cores);
    // 3. C10K against the round-robin cluster.
    await runC10kStep(lab, settings.c10k, cluster, clusterWorkers, cores, ageCluster);
    await stopLabServer(lab, cluster);
    // 4. C100K: idle connections spread over enough workers, clients and source addresses.
    await runC100kStep(lab, settings.c100k);
  },
};

/** Step 1: one process and the cluster, on a CPU-bound route and a nearly free one, in interleaved runs. */
async function compareOneProcessWithCluster(lab: LabContext, settings: Settings, cluster: ServerProcess, clusterWorkers: number[], cores: number): Promise<CompareRow[]> {
  const rounds = settings.rounds;
  const compare = await lab.step(`One process against a cluster of ${cores}, on ${ROUTES.WORK.path} and /age: ${rounds} interleaved runs of each`, async (step) => {
    const single = await startLabServer(lab, ['--backlog', String(SERVER.BACKLOG)]);
    const byRoute: Record<string, Record<ServerSide, CompareRow[]>> = {};
    try {
      for (const route of [
        { path: ROUTES.WORK.path, vus: settings.workVus },
        { path: ROUTES.AGE.path, vus: settings.ageVus },
      ]) {
        byRoute[route.path] = await measureInterleaved(SERVER_SIDES, rounds, (side, round) =>
          side === 'one process'
            ? compareRun(step, single, [single.pid], { route: route.path, side, server: side, vus: route.vus, durationMs: settings.compareMs, round, rounds })
            : compareRun(step, cluster, [cluster.pid, ...clusterWorkers], {
                route: route.path,
                side,
                server: `cluster of ${cores}`,
                vus: route.vus,
                durationMs: settings.compareMs,
                round,
                rounds,
              }),
        );
      }
    } finally {
      await stopLabServer(lab, single);
    }
    const work = byRoute[ROUTES.WORK.path] as Record<ServerSide, CompareRow[]>;
    const age = byRoute[ROUTES.AGE.path] as Record<ServerSide, CompareRow[]>;
    // One row per route and side (medians; req/s with its range) for the table and the
    // report's chart; every run, flat and named, for the results file.
    const rows = [work, age].flatMap((sides) =>
      SERVER_SIDES.map((side) => {
        const runs = sides[side];
        const first = runs[0] as CompareRow;
        return {
          route: first.route,
          server: side === 'cluster' ? `cluster of ${cores}` : side,
          vus: first.route === ROUTES.WORK.path ? settings.workVus : settings.ageVus,
          rps: Math.round(spreadOf(runs.map((r) => r.rps)).median),
          rpsRange: formatSpread(spreadOf(runs.map((r) => r.rps))),
          p50Ms: medianOf(runs, (r) => r.p50Ms),
          p99Ms: medianOf(runs, (r) => r.p99Ms),
          failed: runs.reduce((sum, r) => sum + r.failed, 0),
          serverCpuPercent: medianOf(runs, (r) => r.serverCpuPercent),
          loadCpuPercent: medianOf(runs, (r) => r.loadCpuPercent),
        };
      }),
    );
    return {
      table: {
        header: ['route', 'server', 'VUs', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'server CPU %', 'load generator CPU %'],
        rows: rows.map((r) => [r.route, r.server, r.vus, r.rpsRange, r.p50Ms, r.p99Ms, r.failed, r.serverCpuPercent, r.loadCpuPercent]),
      },
      reading: `${readWorkGain(work['one process'], work.cluster, cores, ROUTES.WORK.workMs)}
${readAgeGain(age['one process'], age.cluster, cores)}`,
      charts: (
        [
          [ROUTES.WORK.path, work],
          [ROUTES.AGE.path, age],
        ] as const
      ).map(([route, sides]) =>
        barChart(
          { title: `One process against a cluster of ${cores}: throughput on ${route}`, caption: `Medians of ${rounds} interleaved runs, whiskers their min–max.` },
          { x: axis('server'), y: AXIS.RPS },
          SERVER_SIDES.map((side) => (side === 'cluster' ? `cluster of ${cores}` : side)),
          [{ name: 'req/s', values: SERVER_SIDES.map((side) => spreadOf(sides[side].map((r) => r.rps))) }],
        ),
      ),
      measurements: { cores, rounds, rows, runs: [work, age].flatMap((sides) => SERVER_SIDES.flatMap((side) => sides[side])) },
    };
  });
  return (compare?.measurements?.runs as CompareRow[] | undefined) ?? [];
}

/** The comparison's findings; the cluster's /age runs, which C10K's reading weighs its users against. */
function recordComparison(lab: LabContext, compared: readonly CompareRow[], cores: number): Spread | null {
  const byRoute: Record<string, Record<ServerSide, CompareRow[]>> = {};
  for (const run of compared) {
    const sides = byRoute[run.route] ?? { 'one process': [], cluster: [] };
    byRoute[run.route] = sides;
    sides[run.side].push(run);
  }
  const spreadFor = (route: string, side: ServerSide): Spread | null => {
    const runs = byRoute[route]?.[side] ?? [];
    return runs.length === 0 ? null : spreadOf(runs.map((r) => r.rps));
  };
  lab.findings.clusterWorkers = cores;
  lab.findings.clusterRoute = ROUTES.WORK.path;
  lab.findings.singleRps = roundOrNull(spreadFor(ROUTES.WORK.path, 'one process')?.median);
  lab.findings.clusterRps = roundOrNull(spreadFor(ROUTES.WORK.path, 'cluster')?.median);
  lab.findings.rps = {
    work: { single: spreadFor(ROUTES.WORK.path, 'one process'), cluster: spreadFor(ROUTES.WORK.path, 'cluster') },
    age: { single: spreadFor(ROUTES.AGE.path, 'one process'), cluster: spreadFor(ROUTES.AGE.path, 'cluster') },
  };
  lab.findings.age = { singleRps: roundOrNull(spreadFor(ROUTES.AGE.path, 'one process')?.median), clusterRps: roundOrNull(spreadFor(ROUTES.AGE.path, 'cluster')?.median) };
  return spreadFor(ROUTES.AGE.path, 'cluster');
}

/** Step 3: C10K, kept-alive users who pause between requests, against the post's rule. */
async function runC10kStep(lab: LabContext, c10k: Settings['c10k'], cluster: ServerProcess, clusterWorkers: number[], cores: number, ageCluster: Spread | null): Promise<void> {
  await lab.step(`C10K: ${formatNumber(c10k.vus)} keep-alive users, ${formatNumber(c10k.thinkMs)} ms think time, against the cluster`, async (step) => {
    const watch = watchAddedFds(clusterWorkers, 500);
    const cpuWindow = startCpuWindow({ pids: [cluster.pid, ...clusterWorkers, process.pid] });
    let result: LoadResult;
    let added: Map<number, number>;
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
      added = watch.stop();
    }
    const cpu = await cpuWindow.stop();
    const loadAverage = Math.round((os.loadavg()[0] ?? 0) * 10) / 10;
    const workerCpu = clusterWorkers.map((pid) => Math.round(cpu.percentOf(pid) ?? 0));
    const clientCpu = Math.round(cpu.percentOf(process.pid) ?? 0);
    const s = result.summary;
    const held = clusterWorkers.map((pid) => added.get(pid) ?? 0);
    const passed = result.thresholdsPassed;
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
          header: ['VUs', 'think ms', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'connect p99 ms', 'failed', `${POST_RULE} and no failures`],
          rows: [
            [
              c10k.vus,
              c10k.thinkMs,
              Math.round(s.rps),
              s.latency.total.p50Ms,
              s.latency.total.p90Ms,
              s.latency.total.p99Ms,
              s.latency.total.maxMs,
              s.latency.connect.p99Ms,
              s.failed,
              passed ? 'pass' : 'FAIL',
            ],
          ],
        },
        {
          header: ['process', 'pid', 'connections at peak (descriptors added)', 'CPU % of a core'],
          rows: [...clusterWorkers.map((pid, i) => ['worker', pid, held[i] ?? null, workerCpu[i] ?? null]), ['load generator (this process)', process.pid, s.connected, clientCpu]],
        },
      ],
      reading: readC10k({
        vus: c10k.vus,
        thinkMs: c10k.thinkMs,
        connected: s.connected,
        held,
        rps: s.rps,
        p90Ms: s.latency.total.p90Ms,
        failed: s.failed,
        passed,
        workerCpu,
        clientCpu,
        loadAverage,
        cores,
        ageClusterRps: ageCluster,
      }),
      charts: [
        workerChart(
          `Connections each worker held at the peak of C10K (${formatNumber(c10k.vus)} users)`,
          held,
          "The cluster's primary hands each new connection to the next worker in turn.",
        ),
      ],
      measurements: { result: { summary: s, thresholds: result.thresholds }, workerConnections: held },
    };
  });
}

/**
 * Step 4: C100K, in a network namespace of its own where the machine allows it: its socket
 * totals (/proc/net/sockstat) and ports are then this step's alone, not shared with whatever
 * else runs on the machine's loopback.
 */
async function runC100kStep(lab: LabContext, c100k: Settings['c100k']): Promise<void> {
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
  const perProcess = Math.floor(fdLimit * C100K_FD_SHARE);
  const ports = namespace === null ? ephemeralPorts() : ephemeralPorts(await namespace.readSysctl('net.ipv4.ip_local_port_range'));
  const shares = planHold(c100k.connections, perProcess, ports, { minProcesses: 2 });
  const workers = Math.max(c100k.minWorkers, Math.ceil(c100k.connections / perProcess));
  const addresses = shares.flatMap((s) => s.addresses);
  await lab.step(
    `C100K: ${formatNumber(c100k.connections)} idle connections over ${workers} workers, from ${shares.length} client processes on ${addresses.length} source addresses`,
    async (step) => {
      const outcome = await holdConnections(lab, step, { workers, shares, stepBudgetMs: c100k.stepBudgetMs, namespace, backlog: SERVER.BACKLOG });
      const { before, during } = outcome;
      const byPid = new Map(before.footprints.map((f) => [f.pid, f]));
      const clientRows = during.footprints.filter((f) => f.role === 'client');
      const { heldPerWorker, held, bytesPerConn, kernel, maxWorkerFds, maxClientFds, clientOpen, clientFailed, clientFailures, tcpInuseAdded } = summarizeHold(outcome);
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
        serverCpuPercentHolding: outcome.idleCpuPercent,
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
        reading: readC100k({
          target: c100k.connections,
          heldPerWorker,
          maxWorkerFds,
          maxClientFds,
          fdLimit,
          addressesPerClient: shares[0]?.addresses.length ?? 0,
          portsPerAddress: ports,
          bytesPerConn,
          kernelBytesPerConn: kernel?.perConnection ?? null,
          tcpBufferPages: during.sockstat?.tcpMemPages ?? null,
          idleCpuPercent: outcome.idleCpuPercent,
          perProcess,
        }),
        charts: [
          workerChart(
            `Connections each worker held in C100K (${formatNumber(held)} of ${formatNumber(c100k.connections)})`,
            heldPerWorker,
            'Descriptors each worker gained while every client held its connections open.',
          ),
        ],
        measurements: { shares, before, during, clients: outcome.clients.map((c) => (c === null ? null : c.summary)), heldPerWorker, kernel },
      };
    },
  );
}

/** Connections per worker process: how evenly the cluster spread them. */
function workerChart(title: string, perWorker: readonly number[], caption: string): ChartDeclaration {
  return barChart(
    { title, caption },
    { x: axis('process'), y: axis('connections') },
    perWorker.map((_, i) => `worker ${i + 1}`),
    [{ name: 'connections', values: [...perWorker] }],
  );
}

/**
 * SO_REUSEPORT, on a Node that has it: a cluster whose workers each listen on the port
 * themselves, idle connections opened against it, and who took them: each worker's
 * descriptors, and the primary's, which a round-robin cluster's grow with every connection
 * it passes on. Skipped, with the reason, where this Node or this `socketlab serve` cannot.
 */
async function runReusePortStep(lab: LabContext, settings: Settings, cores: number): Promise<void> {
  const title = 'SO_REUSEPORT: one listening socket per worker, balanced by the kernel';
  const skip = (reason: string): void => {
    lab.skip(title, reason);
    lab.findings.reusePort = { available: false, skipped: reason };
  };
  if (!(await probeReusePort())) return skip(`net.Server's reusePort option (SO_REUSEPORT) needs Node 22.12 or 23.1+; this is Node ${process.versions.node}`);
  let server: ServerProcess;
  try {
    server = await startLabServer(lab, ['--cluster', String(cores), '--reuse-port', '--backlog', String(SERVER.BACKLOG)]);
  } catch (error) {
    return skip(`socketlab serve --cluster ${cores} --reuse-port did not start: ${error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error)}`);
  }
  const { connections, holdMs } = settings.reusePort;
  await lab.step(`${title}: ${formatNumber(connections)} idle connections to a cluster of ${cores}`, async (step) => {
    const workers = parseWorkerPids(server.banner);
    const pids = [server.pid, ...workers];
    const base = new Map(pids.map((pid) => [pid, countFds(pid) ?? 0]));
    const peak = new Map(base);
    const poller = setInterval(() => {
      for (const pid of pids) peak.set(pid, Math.max(peak.get(pid) ?? 0, countFds(pid) ?? 0));
    }, 100);
    const cpuWindow = startCpuWindow({ pids });
    let result: LoadResult;
    try {
      result = await runLabLoad(step, { url: `${server.url}${ROUTES.HOLD.path}`, connections, durationMs: holdMs }, 'held connections');
    } finally {
      clearInterval(poller);
    }
    const cpu = await cpuWindow.stop();
    await stopLabServer(lab, server);
    const added = (pid: number): number => (peak.get(pid) ?? 0) - (base.get(pid) ?? 0);
    const measured: ReusePortReading = {
      connections,
      opened: result.summary.openAtEnd,
      perWorker: workers.map(added),
      primaryAdded: added(server.pid),
      primaryCpuPercent: cpu.percentOf(server.pid),
      workerCpuPercent: workers.map((pid) => cpu.percentOf(pid)),
    };
    lab.findings.reusePort = { available: true, ...measured, failed: result.summary.failed };
    return {
      table: {
        header: ['process', 'pid', 'connections (descriptors added)', 'CPU % of a core'],
        rows: [
          ['primary', server.pid, measured.primaryAdded, measured.primaryCpuPercent],
          ...workers.map((pid, i) => ['worker', pid, measured.perWorker[i] ?? null, measured.workerCpuPercent[i] ?? null]),
        ],
      },
      reading: readReusePort(measured),
      measurements: { ...measured, summary: result.summary },
    };
  });
}

export interface ReusePortReading {
  connections: number;
  /** Connections the load generator had open at the end of the hold. */
  opened: number;
  /** Descriptors each worker gained while they were held. */
  perWorker: number[];
  /** Descriptors the primary gained meanwhile. */
  primaryAdded: number;
  primaryCpuPercent: number | null;
  workerCpuPercent: (number | null)[];
}

/** The primary's descriptors may move by this many for reasons of its own (an IPC message, a timer): it took no connection. */
const PRIMARY_FD_SLACK = 2;

export function readReusePort(m: ReusePortReading): string {
  const held = sum(m.perWorker);
  const busiest = Math.max(...m.perWorker);
  const even = m.perWorker.length > 0 ? 100 / m.perWorker.length : 0;
  const spread = `The kernel spread ${formatNumber(held)} connections${held < m.opened ? ` (of ${formatNumber(m.opened)} opened)` : ''} over the ${m.perWorker.length} workers' own listening sockets:
${m.perWorker.map((n) => formatNumber(n)).join(' + ')}; the busiest took ${held > 0 ? Math.round((busiest / held) * 100) : 0}% of them, an even split is ${Math.round(even)}%.`;
  const cpu = m.primaryCpuPercent === null ? '' : `, on ${m.primaryCpuPercent}% of a core`;
  const primary =
    m.primaryAdded <= PRIMARY_FD_SLACK
      ? `The primary took none of them: its descriptors grew by ${m.primaryAdded}${cpu}. In a round-robin cluster every
new connection passes through it.`
      : `The primary's descriptors still grew by ${formatNumber(m.primaryAdded)}${cpu}: some connections passed through it.`;
  return `${spread}\n${primary}`;
}

/** One load run against `server` with the CPU of its processes and of this (the load generator's) process measured. */
async function compareRun(
  step: StepContext,
  server: ServerProcess,
  serverPids: number[],
  run: { route: string; side: ServerSide; server: string; vus: number; durationMs: number; round: number; rounds: number },
): Promise<CompareRow> {
  const cpu = startCpuWindow({ pids: [...serverPids, process.pid] });
  const result = await runLabLoad(step, { url: `${server.url}${run.route}`, vus: run.vus, durationMs: run.durationMs }, `${run.server}, ${run.route}, run ${run.round + 1}`);
  const reading = await cpu.stop();
  const s = result.summary;
  return {
    label: `${run.route}, ${run.server}, run ${run.round + 1} of ${run.rounds}`,
    route: run.route,
    side: run.side,
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
    round: run.round,
  };
}

/** Why C10K missed its rule, from who used the CPU. */
export function readC10kFailure(workerCpu: number[], clientCpu: number, loadAverage: number, cores: number): string {
  const total = sum(workerCpu) + clientCpu;
  const saturated = workerCpu.some((cpu) => cpu >= SATURATED_PERCENT);
  if (saturated) return `The workers ran at ${workerCpu.join('% + ')}% of a core: they were the limit.`;
  return `The workers used ${workerCpu.join('% + ')}% of a core and the load generator ${clientCpu}%: ${total}% of the ${cores * 100}% here,${
    loadAverage > cores ? `\nwhile the load average was ${loadAverage}: requests waited for CPUs that other processes held.` : ' with cores to spare.'
  }`;
}

export interface C10kReading {
  vus: number;
  thinkMs: number;
  connected: number;
  /** Connections each worker held at the peak (descriptors added). */
  held: number[];
  rps: number;
  p90Ms: number;
  failed: number;
  /** The post's rule and no failures. */
  passed: boolean;
  workerCpu: number[];
  clientCpu: number;
  loadAverage: number;
  cores: number;
  /** What the cluster made on /age in step 1 (its runs), null when step 1 did not run. */
  ageClusterRps: Spread | null;
}

/** C10K against the post's rule, and what holding the users cost next to what serving them without a pause would. */
export function readC10k(m: C10kReading): string {
  const rule = `the post's rule (${POST_RULE}) with no failures`;
  const head = `${formatNumber(m.vus)} users held ${formatNumber(m.connected)} kept-alive connections (${m.held.map((n) => formatNumber(n)).join(' + ')} across the workers)
and made ${num(m.rps)} req/s: p90 ${num(m.p90Ms)} ms, ${formatNumber(m.failed)} failed, so ${rule} ${m.passed ? 'holds' : 'FAILS here'}.${m.passed ? '' : `\n${readC10kFailure(m.workerCpu, m.clientCpu, m.loadAverage, m.cores)}`}`;
  const cheap = m.workerCpu.every((cpu) => cpu < CHEAP_PERCENT)
    ? `\nHolding them cost the workers ${m.workerCpu.join('% + ')}% of a core: concurrency is cheap.`
    : `\nThe workers used ${m.workerCpu.join('% + ')}% of a core meanwhile.`;
  const offered = m.vus / (m.thinkMs / 1000);
  const needRps = m.vus / (POST_P90_LIMIT_MS / 1000);
  const need = `Users who pause ${formatNumber(m.thinkMs / 1000)} s offer at most ${num(offered)} req/s. By Little's law the same users with no pause
would need ${num(needRps)} req/s to keep the average response under ${POST_P90_LIMIT_MS} ms`;
  const a = m.ageClusterRps;
  if (a === null) return `${head}${cheap}\n${need}.`;
  const made = `; this cluster made ${formatSpread(a)} on /age in step 1`;
  const verdict =
    a.max < needRps
      ? `${made}, less than that in every run:\nthroughput, not concurrency, is what runs out.`
      : a.min >= needRps
        ? `${made}, more than that in every run:\nhere even users with no pause would be answered in time.`
        : `${made}, on both sides of that across its runs.`;
  return `${head}${cheap}\n${need}${verdict}`;
}

/** A process at this share of one core is saturated. */
const SATURATED_PERCENT = 90;
/** A worker under this share of one core while it holds its users has plenty left: holding them is cheap. */
const CHEAP_PERCENT = 50;
/** The p90 limit of the post's rule, in ms (from POST_RULE, `p(90)<500`). */
const POST_P90_LIMIT_MS = Number(/<(\d+)/.exec(POST_RULE)?.[1] ?? 500);

/** The median of one number across runs, rounded for a table. */
function medianOf(runs: readonly CompareRow[], pickValue: (row: CompareRow) => number | null): number | null {
  const values = runs.map(pickValue);
  if (values.some((v) => v === null)) return null;
  const median = spreadOf(values as number[]).median;
  return Math.abs(median) >= 100 ? Math.round(median) : ms(median);
}

/** "97% + 99%": each worker's CPU, the median of its runs. */
function workerCpuText(runs: readonly CompareRow[]): string {
  const workers = runs[0]?.workerCpuPercent.length ?? 0;
  return Array.from({ length: workers }, (_, i) => `${Math.round(spreadOf(runs.map((r) => r.workerCpuPercent[i] ?? 0)).median)}%`).join(' + ');
}

/**
 * One process against the cluster on the CPU-bound route: the comparison, who computed, and,
 * when the cluster did not come out ahead in every run, what the load average says took the
 * cores.
 */
export function readWorkGain(one: readonly CompareRow[], cluster: readonly CompareRow[], cores: number, workMs: number): string {
  const oneRps = spreadOf(one.map((r) => r.rps));
  const clusterRps = spreadOf(cluster.map((r) => r.rps));
  const route = cluster[0]?.route ?? one[0]?.route ?? '';
  const comparison = describeComparison({ label: `the cluster of ${cores}`, spread: clusterRps }, { label: 'one process', spread: oneRps }, 'req/s');
  const cpu = `One process ran on ${Math.round(medianOf(one, (r) => r.serverCpuPercent) ?? 0)}% of a core (${workMs} ms of work a request caps one core at ${formatNumber(Math.round(1000 / workMs))} req/s); the
cluster's workers on ${workerCpuText(cluster)}.`;
  const verdict = compareSpreads(clusterRps, oneRps);
  if (verdict === VERDICT.HIGHER) return `${route}: ${comparison}\n${cpu} More processes, more work done.`;
  const busy = Math.max(...one.map((r) => r.loadAverage), ...cluster.map((r) => r.loadAverage));
  const why =
    busy > cores
      ? `The machine's load average reached ${busy} on ${cores} cores: other processes held the cores the second worker needed.`
      : `The load average (${busy}) left cores free: the workers together got ${Math.round(medianOf(cluster, (r) => r.serverCpuPercent) ?? 0)}% of a core.`;
  return `${route}: ${comparison}\n${cpu} ${verdict === VERDICT.LOWER ? 'The cluster did less work.' : 'No gain here.'} ${why}`;
}

/**
 * The nearly free route: whether the cluster gained, and, when it did not, whether the load
 * generator's own CPU is what the numbers point at.
 */
export function readAgeGain(one: readonly CompareRow[], cluster: readonly CompareRow[], cores: number): string {
  const oneRps = spreadOf(one.map((r) => r.rps));
  const clusterRps = spreadOf(cluster.map((r) => r.rps));
  const route = cluster[0]?.route ?? one[0]?.route ?? '/age';
  const comparison = describeComparison({ label: `the cluster of ${cores}`, spread: clusterRps }, { label: 'one process', spread: oneRps }, 'req/s');
  const verdict = compareSpreads(clusterRps, oneRps);
  const generator = Math.round(medianOf(cluster, (r) => r.loadCpuPercent) ?? 0);
  const servers = Math.round(medianOf(cluster, (r) => r.serverCpuPercent) ?? 0);
  if (verdict === VERDICT.HIGHER) return `${route}: ${comparison}\nThe cluster gained here too, with the load generator on ${generator}% of a core beside it.`;
  const full = generator + servers >= MACHINE_FULL_SHARE * cores * 100;
  const why = full
    ? `Each request is almost free there, so the load generator needed ${generator}% of a core itself: with the workers'
${servers}% that is ${Math.round(generator + servers)}% of the ${cores * 100}% ${cores} cores offer, and a cluster cannot use the cores its clients are using.`
    : `The load generator used ${generator}% of a core and the workers ${servers}%, ${Math.round(generator + servers)}% of the ${cores * 100}%: cores were left,
so it was not the generator that held the cluster back.`;
  return `${route}: ${comparison}\n${why}`;
}

export interface C100kReading {
  target: number;
  heldPerWorker: number[];
  maxWorkerFds: number;
  maxClientFds: number | null;
  fdLimit: number;
  addressesPerClient: number;
  portsPerAddress: number;
  /** Server RSS added per held connection, bytes. */
  bytesPerConn: number | null;
  kernelBytesPerConn: number | null;
  /** TCP buffer pages in use on the whole machine while holding (/proc/net/sockstat "mem"). */
  tcpBufferPages: number | null;
  /** The servers' CPU while holding, % of one core, all processes together. */
  idleCpuPercent: number | null;
  /** Connections a process may hold (its share of RLIMIT_NOFILE). */
  perProcess: number;
}

/** An idle connection holding less buffer memory than this, on average, holds none worth the name. */
const IDLE_BUFFER_BYTES = 1024;
/** Servers under this share of one core while holding are idle: the CPU is not what runs out. */
const IDLE_CPU_PERCENT = 10;
/** Linux's page, the unit of sockstat's TCP memory. */
const PAGE_BYTES = 4096;

/** What holding the connections cost, and what a million would. */
export function readC100k(m: C100kReading): string {
  const held = sum(m.heldPerWorker);
  const heldText = `${formatNumber(held)} connections were held at once${held >= m.target ? '' : ` (of ${formatNumber(m.target)} asked for)`}, ${formatNumber(Math.min(...m.heldPerWorker))} to ${formatNumber(Math.max(...m.heldPerWorker))} per worker.
The busiest worker had ${formatNumber(m.maxWorkerFds)} descriptors and the busiest client ${m.maxClientFds === null ? '?' : formatNumber(m.maxClientFds)}, each against a
limit of ${formatNumber(m.fdLimit)}; each client bound ${addressText(m.addressesPerClient)} (${formatNumber(m.portsPerAddress)} ports each).`;
  const memory = `A connection cost the servers ${m.bytesPerConn === null ? '?' : formatBytes(m.bytesPerConn)} of memory (RSS added ÷ connections, V8's uncollected
garbage included)${m.kernelBytesPerConn === null ? '' : ` and the kernel ${formatBytes(m.kernelBytesPerConn)} of socket objects for its two ends`}.`;
  const buffers =
    m.tcpBufferPages === null || held <= 0
      ? ''
      : (m.tcpBufferPages * PAGE_BYTES) / held < IDLE_BUFFER_BYTES
        ? ` Idle sockets hold
almost no buffers: ${formatNumber(m.tcpBufferPages)} TCP buffer pages were in use on the whole machine.`
        : ` ${formatNumber(m.tcpBufferPages)} TCP buffer
pages were in use on the whole machine, ${formatBytes(Math.round((m.tcpBufferPages * PAGE_BYTES) / held))} a connection: these sockets still held data.`;
  const million = `At this rate a million connections need ${m.bytesPerConn === null ? '?' : formatBytes(m.bytesPerConn * 1_000_000)} in the servers and ${formatNumber(Math.ceil(1_000_000 / m.perProcess))} processes at this
open-files limit`;
  const cpu =
    m.idleCpuPercent === null
      ? '.'
      : m.idleCpuPercent < IDLE_CPU_PERCENT
        ? `; holding them, the servers used ${m.idleCpuPercent}% of a core in all: memory and descriptors
run out long before the CPU does.`
        : `; holding them, the servers used ${m.idleCpuPercent}% of a core in all.`;
  return `${heldText}\n${memory}${buffers}\n${million}${cpu}`;
}

/** The processes together used this share of all cores: none was left. */
const MACHINE_FULL_SHARE = 0.85;

function addressText(count: number): string {
  return count === 1 ? 'one source address' : `${count} source addresses`;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : Math.round(value);
}
