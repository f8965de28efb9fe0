/**
 * Lab results shaped like the ones each lab writes (src/results/lab-result.ts), with numbers
 * of the size a run on the reference machine gives and the charts each lab's steps declare
 * (built with the labs' own chart-kit). The report's tests render these.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AXIS, axis, barChart, lineChart } from '../../src/labs/chart-kit.js';
import { spreadOf } from '../../src/metrics/comparison.js';
import { LAB_RESULT_SCHEMA, type ChartDeclaration, type JsonObject, type LabResult, type MachineInfo, type StepRecord } from '../../src/results/lab-result.js';

export const MACHINE: MachineInfo = {
  hostname: 'vm',
  cores: 2,
  cpuModel: 'AMD EPYC',
  memoryBytes: 25_276_502_016,
  kernel: 'Linux 6.18.44',
  platform: 'linux-x64',
  node: 'v20.20.2',
  sysctls: { 'net.core.somaxconn': '4096', 'net.ipv4.ip_local_port_range': '32768 60999' },
  openFilesLimit: { soft: 20_000, hard: 20_000 },
  root: true,
};

interface Spec {
  id: string;
  number: number;
  title: string;
  layer: string;
  quick?: boolean;
  startedAt?: string;
  outcome?: LabResult['outcome'];
  steps: (Omit<StepRecord, 'durationMs' | 'status' | 'measurements'> & { status?: StepRecord['status']; measurements?: Record<string, unknown> })[];
  findings: Record<string, unknown>;
}

/** Plain JSON, as a results file holds it. */
const json = (value: unknown): JsonObject => JSON.parse(JSON.stringify(value)) as JsonObject;

export function labResult(spec: Spec): LabResult {
  return {
    schema: LAB_RESULT_SCHEMA,
    lab: { id: spec.id, number: spec.number, title: spec.title, layer: spec.layer },
    options: { quick: spec.quick ?? false, yes: true },
    settings: { durationMs: 1000 },
    machine: MACHINE,
    startedAt: spec.startedAt ?? '2026-11-27T20:04:57.500Z',
    durationMs: 61_000,
    outcome: spec.outcome ?? 'completed',
    steps: spec.steps.map(
      ({ measurements, ...step }) => ({ status: 'done', durationMs: 1000, ...step, ...(measurements === undefined ? {} : { measurements: json(measurements) }) }) as StepRecord,
    ),
    findings: json(spec.findings),
  };
}

const STAGES = { 'accepted → first byte read': 1.87, 'read + parse head': 0.936, body: 0.014, handler: 6.45, 'serialize + write': 0.557, 'total (first byte → flushed)': 7.96 };

export const REQUEST_CYCLE = labResult({
  id: 'request-cycle',
  number: 1,
  title: 'One request, from socket() to JSON',
  layer: '1 request',
  steps: [
    {
      title: 'The server at rest: what its descriptors are',
      reading: 'Even idle, the server holds 24 descriptors.',
      tables: [{ header: ['server descriptors', 'total', 'sockets'], rows: [['before any client', 24, 7]] }],
      measurements: { fds: 24, fdKinds: { socket: 7, pipe: 9, anon: 6, file: 2, other: 0 } },
    },
    {
      title: 'One request: GET /uuid/42, stage by stage',
      reading: 'Of 7.959 ms inside the server, the handler took 6.452 ms.',
      tables: [{ header: ['server stage', 'ms'], rows: Object.entries(STAGES) }],
      charts: [
        barChart(
          { title: "Where one request's time went inside the server (GET /uuid/42)" },
          { x: axis('stage'), y: AXIS.LATENCY },
          Object.keys(STAGES),
          [{ name: 'ms', values: Object.values(STAGES) }],
          'horizontal',
        ),
      ],
      measurements: { route: '/uuid/42', stagesMs: STAGES, client: { connectMs: 1.95, ttfbMs: 11.1, totalMs: 14.4 } },
    },
    { title: 'System calls per request', status: 'skipped', reason: 'strace is not installed (apt-get install strace)' },
  ],
  findings: { stages: STAGES, syscallsPerRequest: null, syscallsPerRequestReason: 'strace is not installed' },
});

/** Lab 2: one step per model, each with `cells` (model × route × connections); findings.models.<model>.<metric>.<route>.<N>. */
const MODELS = ['thread', 'loop', 'pool'] as const;
const ROUTES = ['age', 'work'] as const;
const CONNECTIONS = [10, 100, 1000];
const RPS: Record<string, Record<string, number[]>> = {
  thread: { age: [9_800, 7_400, 3_100], work: [380, 360, 290] },
  loop: { age: [31_000, 34_000, 30_500], work: [190, 192, 188] },
  pool: { age: [14_000, 16_500, 15_900], work: [370, 375, 371] },
};
const P99: Record<string, Record<string, number[]>> = {
  thread: { age: [2.1, 31, 900], work: [60, 520, 6_100] },
  loop: { age: [0.6, 4.8, 48], work: [70, 640, 6_400] },
  pool: { age: [1.2, 9.1, 95], work: [35, 330, 3_200] },
};
const THREADS: Record<string, number[]> = { thread: [21, 111, 1_011], loop: [11, 11, 11], pool: [13, 13, 13] };
const RSS: Record<string, number[]> = { thread: [62, 140, 900], loop: [58, 64, 120], pool: [80, 86, 140] };

function cell(model: string, route: string, i: number): Record<string, unknown> {
  return {
    model,
    route,
    connections: CONNECTIONS[i],
    status: 'measured',
    rps: RPS[model]?.[route]?.[i],
    latency: { count: 1000, p50Ms: (P99[model]?.[route]?.[i] ?? 1) / 3, p90Ms: 1, p99Ms: P99[model]?.[route]?.[i], maxMs: 2 * (P99[model]?.[route]?.[i] ?? 1) },
    end: { threads: THREADS[model]?.[i], rssBytes: (RSS[model]?.[i] ?? 0) * 2 ** 20 },
    ctxSwitches: { voluntary: 1200, involuntary: 40 },
  };
}

const perRoute = (read: (model: string, route: string, i: number) => number | undefined, model: string): Record<string, Record<string, number | null>> =>
  Object.fromEntries(ROUTES.map((route) => [route, Object.fromEntries(CONNECTIONS.map((n, i) => [String(n), read(model, route, i) ?? null]))]));

export const CONCURRENCY_MODELS = labResult({
  id: 'concurrency-models',
  number: 2,
  title: 'Thread per connection, event loop, or thread pool',
  layer: '0 → 100',
  steps: MODELS.map((model): Spec['steps'][number] => ({
    title: `Model ${model}`,
    reading: `${model} numbers.`,
    tables: [{ header: ['route', 'connections', 'req/s'], rows: ROUTES.flatMap((route) => CONNECTIONS.map((n, i) => [route, n, RPS[model]?.[route]?.[i] ?? null])) }],
    measurements: { cells: ROUTES.flatMap((route) => CONNECTIONS.map((_, i) => cell(model, route, i))) },
  })).concat([
    {
      title: 'Side by side: where each model gives way',
      reading: 'Ratios of the medians.',
      tables: [],
      measurements: { cells: [] },
      charts: ROUTES.flatMap((route) => {
        const lines = (values: Record<string, Record<string, number[]>> | Record<string, number[]>, ranged: boolean) =>
          MODELS.map((model) => {
            const row = values[model] as Record<string, number[]> | number[];
            const ys = (Array.isArray(row) ? row : row[route]) as number[];
            return {
              name: `Model ${model}`,
              points: CONNECTIONS.map((x, i) => ({ x, y: ranged ? spreadOf([(ys[i] as number) * 0.95, ys[i] as number, (ys[i] as number) * 1.04]) : (ys[i] as number) })),
            };
          });
        return [
          lineChart({ title: `Throughput against connections, ${route}`, caption: 'Medians, whiskers the runs.' }, { x: AXIS.CONNECTIONS, y: AXIS.RPS }, lines(RPS, true)),
          lineChart({ title: `p99 latency against connections, ${route}` }, { x: AXIS.CONNECTIONS, y: { ...AXIS.LATENCY, label: 'p99 latency' } }, lines(P99, true)),
          lineChart({ title: `Threads against connections, ${route}` }, { x: AXIS.CONNECTIONS, y: axis('threads') }, lines(THREADS, false)),
          lineChart({ title: `Memory (RSS) against connections, ${route}` }, { x: AXIS.CONNECTIONS, y: axis('RSS', 'MiB') }, lines(RSS, false)),
        ];
      }),
    },
  ]),
  findings: {
    connections: CONNECTIONS,
    routes: { age: 'GET /age', work: 'GET /work?ms=2' },
    models: Object.fromEntries(
      MODELS.map((model) => [
        model,
        {
          rps: perRoute((m, r, i) => RPS[m]?.[r]?.[i], model),
          p99Ms: perRoute((m, r, i) => P99[m]?.[r]?.[i], model),
          threads: perRoute((m, _r, i) => THREADS[m]?.[i], model),
          rssMb: perRoute((m, _r, i) => RSS[m]?.[i], model),
        },
      ]),
    ),
    givesWay: { thread: 'memory at 10,000 connections' },
  },
});

/** Lab 3: the accept queue sampled over time while a slow-accepting server is flooded. */
const QUEUE_TIMELINE = Array.from({ length: 40 }, (_, i) => ({ tMs: i * 250, queued: Math.min(65, i * 4), max: 64, listenOverflows: Math.max(0, i * 4 - 65) * 3 }));

export const BACKLOG_OVERFLOW = labResult({
  id: 'backlog-overflow',
  number: 3,
  title: 'The accept queue overflows',
  layer: '100 → 1,000',
  steps: [
    {
      title: 'Backlog 64, accepting 50 connections a second, 500 clients',
      reading: 'The queue filled to 65 in 4 s; 1,935 SYNs were dropped (ListenOverflows), while accepted requests answered in 2 ms.',
      tables: [
        {
          header: ['', 'value'],
          rows: [
            ['ListenOverflows', 1935],
            ['connect timeouts', 212],
          ],
        },
      ],
      charts: [
        lineChart({ title: 'Accept queue length over time (backlog 64)' }, { x: AXIS.SECONDS, y: axis('connections waiting for accept()') }, [
          { name: 'queued', points: QUEUE_TIMELINE.map((p) => ({ x: p.tMs / 1000, y: p.queued })) },
          { name: 'backlog', points: QUEUE_TIMELINE.map((p) => ({ x: p.tMs / 1000, y: p.max })) },
        ]),
        barChart(
          { title: 'What the clients lived through (backlog 64)' },
          { x: axis('client'), y: axis('clients') },
          ['at once', 'after a SYN retransmission', 'failed'],
          [{ name: 'backlog 64', values: [65, 223, 212] }],
        ),
      ],
      measurements: { backlog: 64, acceptRate: 50, timeline: QUEUE_TIMELINE, counters: { 'TcpExt.ListenOverflows': 1935, 'TcpExt.ListenDrops': 1935 } },
    },
  ],
  findings: { listenOverflows: 1935, connectTimeouts: 212, acceptedP99Ms: 2.1, queuePeak: 65 },
});

/** Lab 4: a sampler Series (src/metrics/types.ts) kept whole, with the server's FDs climbing to the limit. */
const SAMPLES = Array.from({ length: 30 }, (_, i) => ({
  t: i * 200,
  at: 1_790_000_000_000 + i * 200,
  processes: [
    {
      pid: 4242,
      name: 'node',
      alive: true,
      cpuPercent: 40,
      cpuTimeMs: 100,
      rssBytes: 60e6,
      threads: 11,
      fds: Math.min(64, 20 + i * 3),
      fdKinds: null,
      ctxSwitches: null,
      fdLimit: { soft: 64, hard: 64 },
    },
  ],
  ports: [{ port: 40123, listeners: [{ port: 40123, address: '127.0.0.1', family: 4, inode: 1, queued: i > 15 ? Math.min(511, (i - 15) * 30) : 0, max: 511 }], census: null }],
  tcp: null,
  counters: { 'TcpExt.ListenOverflows': 0 },
  costUs: 300,
}));

export const FD_EXHAUSTION = labResult({
  id: 'fd-exhaustion',
  number: 4,
  title: 'Out of file descriptors',
  layer: '100 → 1,000',
  quick: true,
  steps: [
    {
      title: 'RLIMIT_NOFILE 64, 200 clients',
      reading: 'The server reached 64 descriptors after 3 s; accept() failed with EMFILE 1,204 times.',
      tables: [{ header: ['', 'value'], rows: [['EMFILE', 1204]] }],
      charts: [
        lineChart({ title: "The server's descriptors while 200 clients connect and stay" }, { x: AXIS.SECONDS, y: AXIS.FDS }, [
          { name: 'open', points: SAMPLES.map((p) => ({ x: p.t / 1000, y: p.processes[0]?.fds ?? null })) },
          { name: 'RLIMIT_NOFILE', points: SAMPLES.map((p) => ({ x: p.t / 1000, y: 64 })) },
        ]),
      ],
      measurements: { limit: 64, monitor: { version: 1, intervalMs: 200, samples: SAMPLES } },
    },
  ],
  findings: { fdLimit: 64, emfile: 1204, recoveredAfterMs: 420, pooled: { fds: 24 }, unpooled: { fds: 212 } },
});

const fdSeries = (top: number): Record<string, number>[] => Array.from({ length: 12 }, (_, i) => ({ tMs: i * 200, fds: Math.round(top * Math.min(1, (i + 1) / 4)) }));

/** As labs/04-fd-exhaustion.ts records its pooled-vs-unpooled step: a list of runs, each with its own `fdSeries`. */
export const FD_EXHAUSTION_RUNS = labResult({
  id: 'fd-exhaustion',
  number: 4,
  title: 'Out of file descriptors',
  layer: '100 → 1,000',
  steps: [
    {
      title: '200 concurrent /uuid requests: a pool of 20 vs a connection per request',
      reading: 'Pooled: 169 descriptors; unpooled: 420.',
      tables: [],
      measurements: {
        durationMs: 2000,
        runs: [
          { pool: 20, load: { rps: 165.4 }, fdSeries: fdSeries(169) },
          { pool: 200, load: { rps: 499 }, fdSeries: fdSeries(420) },
        ],
      },
    },
  ],
  findings: { fdsPooled: { server: 169, postgres: 286 }, fdsUnpooled: { server: 420, postgres: 2433 } },
});

/** Lab 5: pool sizes × VUs (as labs/05-db-pool.ts records them). */
const POOLS = [5, 20, 100];
/** Each VU count with the p99 and pool-wait p99 that the smallest pool shows at it. */
const VUS = [
  { vus: 50, p99Ms: 40, waitP99Ms: 30 },
  { vus: 200, p99Ms: 160, waitP99Ms: 140 },
  { vus: 800, p99Ms: 700, waitP99Ms: 650 },
];
const PHASES = POOLS.flatMap((pool, p) =>
  VUS.map(({ vus, p99Ms, waitP99Ms }, v) => ({
    pool,
    vus,
    rps: 4_000 + p * 900 + v * 300,
    p50Ms: 10 + v * 20 - p * 3,
    p99Ms: p99Ms / (p + 1),
    maxMs: 900,
    waitP99Ms: waitP99Ms / (p + 1) ** 2,
    queryP99Ms: 2 + p * 3,
  })),
);

export const DB_POOL = labResult({
  id: 'db-pool',
  number: 5,
  title: 'The database pool: waiting is not querying',
  layer: '1,000 → 10,000',
  steps: [
    {
      title: 'Pools of 5, 20, 100 against 50, 200, 800 virtual users on /uuid',
      reading: 'Pool of 5, 800 users: p99 700 ms, of which the wait for a connection was most.',
      tables: [{ header: ['pool', 'VUs', 'req/s', 'p99 ms'], rows: PHASES.map((p) => [p.pool, p.vus, p.rps, p.p99Ms]) }],
      charts: [
        barChart({ title: 'Pool wait against query time, p99, at 800 users' }, { x: axis('pool size', 'connections'), y: AXIS.LATENCY }, POOLS.map(String), [
          { name: 'pool wait p99', values: PHASES.filter((p) => p.vus === 800).map((p) => spreadOf([p.waitP99Ms * 0.9, p.waitP99Ms, p.waitP99Ms * 1.2])) },
          { name: 'query p99', values: PHASES.filter((p) => p.vus === 800).map((p) => p.queryP99Ms) },
        ]),
        lineChart(
          { title: 'Throughput against virtual users, by pool size' },
          { x: AXIS.VUS, y: AXIS.RPS },
          POOLS.map((pool) => ({
            name: `pool ${pool}`,
            points: PHASES.filter((p) => p.pool === pool).map((p) => ({ x: p.vus, y: spreadOf([p.rps * 0.97, p.rps, p.rps * 1.01]) })),
          })),
        ),
        lineChart(
          { title: 'p99 latency against virtual users, by pool size' },
          { x: AXIS.VUS, y: AXIS.LATENCY },
          POOLS.map((pool) => ({ name: `pool ${pool}`, points: PHASES.filter((p) => p.pool === pool).map((p) => ({ x: p.vus, y: p.p99Ms })) })),
        ),
      ],
      measurements: { durationMs: 10_000, phases: PHASES },
    },
    {
      title: 'A pool timeout',
      reading: 'With --pool-timeout 500, no request waited past 500 ms.',
      tables: [
        {
          header: ['', 'ok req/s', 'p99 ms'],
          rows: [
            ['unbounded', 4000, 2400],
            ['--pool-timeout 500', 3900, 510],
          ],
        },
      ],
      charts: [
        barChart(
          { title: 'Latency with and without a pool timeout (pool of 5, 800 users)' },
          { x: axis('pool'), y: AXIS.LATENCY },
          ['unbounded wait', '--pool-timeout 500'],
          [
            { name: 'p50', values: [900, 120] },
            { name: 'p99', values: [spreadOf([2300, 2400, 2600]), spreadOf([500, 510, 530])] },
          ],
        ),
      ],
      measurements: { rate: 6000, unbounded: { okRps: 4000, p50Ms: 900, p99Ms: 2400, waitP99Ms: 2300 }, bounded: { okRps: 3900, p50Ms: 120, p99Ms: 510, waitP99Ms: 500 } },
    },
  ],
  findings: {
    pools: Object.fromEntries(
      PHASES.filter((p) => p.vus === 800).map((p) => [String(p.pool), { vus: p.vus, rps: p.rps, p99Ms: p.p99Ms, waitP99Ms: p.waitP99Ms, queryP99Ms: p.queryP99Ms }]),
    ),
    matrix: PHASES,
    backendRssMb: 9.8,
  },
});

/** Lab 6: a VU sweep per endpoint, with the knee located. */
const SWEEP_VUS = [50, 100, 200, 400, 800, 1600, 3200];
const sweep = (peak: number, knee: number): Record<string, number>[] =>
  SWEEP_VUS.map((vus) => {
    const rps = Math.round(peak * Math.min(1, vus / knee) * (vus > knee * 2 ? 0.93 : 1));
    const p50Ms = Math.round((vus / rps) * 1000 * 100) / 100;
    return { vus, rps, p50Ms, p95Ms: p50Ms * 1.8, p99Ms: p50Ms * 3.1, failures: 0 };
  });

function sweepCharts(endpoint: string, steps: Record<string, number>[], knee: number): ChartDeclaration[] {
  const markers = [{ x: knee, label: `knee ≈ ${knee} VUs` }];
  const line = (name: string, field: string) => ({ name, points: steps.map((s) => ({ x: s.vus as number, y: s[field] as number })) });
  return [
    lineChart({ title: `Throughput against virtual users (/${endpoint})` }, { x: AXIS.VUS, y: AXIS.RPS }, [line('req/s', 'rps')], markers),
    lineChart(
      { title: `Latency percentiles against virtual users (/${endpoint})` },
      { x: AXIS.VUS, y: AXIS.LATENCY },
      [line('p50', 'p50Ms'), line('p95', 'p95Ms'), line('p99', 'p99Ms')],
      markers,
    ),
  ];
}

/** As labs/06-knee.ts records it: the sweeps under `series.<endpoint>`, each knee under `<endpoint>`. */
export const KNEE = labResult({
  id: 'knee',
  number: 6,
  title: 'The knee of the curve',
  layer: '1,000 → 10,000',
  steps: [
    {
      title: '/age (compute only): 50 … 3200 users',
      reading: 'age sweep.',
      tables: [],
      charts: sweepCharts('age', sweep(21_000, 400), 400),
      measurements: { endpoint: '/age', steps: sweep(21_000, 400), knee: { vus: 400 } },
    },
    {
      title: '/uuid (one Postgres query): 50 … 3200 users',
      reading: 'uuid sweep.',
      tables: [],
      charts: sweepCharts('uuid', sweep(5_900, 200), 200),
      measurements: { endpoint: '/uuid', steps: sweep(5_900, 200), knee: { vus: 200 } },
    },
  ],
  findings: {
    thinkMs: 5,
    vus: SWEEP_VUS,
    series: { age: sweep(21_000, 400), uuid: sweep(5_900, 200) },
    age: { kneeVus: 400, peakRps: 21_000, peakVus: 400, pastKneeShares: [0.93] },
    uuid: { kneeVus: 200, peakRps: 5_900, peakVus: 200, pastKneeShares: [0.93, 0.93] },
  },
});

export const PORTS_AND_KEEPALIVE = labResult({
  id: 'ports-and-keepalive',
  number: 7,
  title: 'Keep-alive, TIME_WAIT and ephemeral ports',
  layer: '1,000 → 10,000',
  steps: [
    {
      title: 'Keep-alive against a connection per request',
      reading: 'A new connection per request cost 3.1x the throughput and left 28,000 sockets in TIME_WAIT.',
      tables: [
        {
          header: ['', 'req/s', 'TIME_WAIT'],
          rows: [
            ['keep-alive', 30_000, 0],
            ['close', 9_700, 28_000],
          ],
        },
      ],
      charts: [
        barChart(
          { title: 'Throughput by mode' },
          { x: axis('mode'), y: AXIS.RPS },
          ['keep-alive', 'close'],
          [{ name: 'req/s', values: [spreadOf([29_000, 30_000, 30_500]), spreadOf([9_500, 9_700, 9_900])] }],
        ),
        barChart({ title: 'Latency by mode' }, { x: axis('mode'), y: AXIS.LATENCY }, ['keep-alive', 'close'], [{ name: 'p99', values: [3.2, 11] }]),
        barChart(
          { title: 'Sockets left in TIME_WAIT, by the side that closed' },
          { x: axis('mode'), y: axis('sockets in TIME_WAIT') },
          ['keep-alive', 'close'],
          [{ name: 'client', values: [0, 28_000] }],
        ),
      ],
      measurements: { modes: { 'keep-alive': { rps: 30_000, p99Ms: 3.2, timeWait: 0 }, close: { rps: 9_700, p99Ms: 11, timeWait: 28_000 } } },
    },
  ],
  findings: { keepAliveRps: 30_000, closeRps: 9_700, timeWaitPeak: 28_000, eaddrnotavail: 0 },
});

const PHASE = (where: string, vus: number, rps: number, p50Ms: number, p99Ms: number): Record<string, unknown> => ({
  where,
  vus,
  rps,
  p50Ms,
  p99Ms,
  failed: 0,
  waitAvgMs: 2.2,
  queryAvgMs: 1.5,
});

/** As labs/08-slow-link.ts records it: `local`, `remote` and `manyUsers` beside the link's settings. */
export const SLOW_LINK = labResult({
  id: 'slow-link',
  number: 8,
  title: 'A remote client behind a slow link',
  layer: '1,000 → 10,000',
  steps: [
    {
      title: 'Next to the server: 32 users on /uuid/:id',
      reading: 'Local: 4,640 req/s.',
      tables: [{ header: ['where', 'req/s'], rows: [['local', 4640]] }],
      charts: [
        barChart(
          { title: 'Throughput by case' },
          { x: axis('where the client runs'), y: AXIS.RPS },
          ['local', 'remote', 'many users'],
          [{ name: 'req/s', values: [spreadOf([4600, 4640.3]), spreadOf([600, 606.2]), 1660] }],
          'horizontal',
        ),
        barChart(
          { title: 'Latency by case' },
          { x: axis('where the client runs'), y: AXIS.LATENCY },
          ['local', 'remote', 'many users'],
          [{ name: 'p50', values: [3.4, 45, 151.3] }],
          'horizontal',
        ),
      ],
      measurements: { phase: PHASE('local', 32, 4640.3, 3.4, 80), localLimit: 'database' },
    },
    { title: 'Through the link: the same 32 users, 4 Mbit/s, +40 ms round trip', status: 'skipped', reason: 'tc netem is not in this kernel: the delay comes from a relay' },
  ],
  findings: {
    addedRttMs: 40,
    link: { rateMbit: 4, rttMs: 40, burst: '8kb', queueLatency: '300ms' },
    localRps: 4640,
    local: PHASE('local', 32, 4640.3, 3.4, 80),
    remoteRps: 606,
    remote: PHASE('remote', 32, 606.2, 45, 131.7),
    manyUsers: { vus: 256, rps: 1660, p50Ms: 151.3, downlinkUtilisation: 0.998, bottleneck: 'link', capRps: 1663 },
    bottleneck: 'link',
  },
});

/** As labs/09-all-cores.ts records it: rows of route × server, and idle clients that make no requests. */
export const ALL_CORES = labResult({
  id: 'all-cores',
  number: 9,
  title: 'All cores, and 100,000 idle connections',
  layer: '10,000 → 100,000+',
  steps: [
    {
      title: 'One process, then a cluster of 2, on /work?ms=5 and /age',
      reading: 'The cluster of 2 served 0.6x one process on this 2-core machine.',
      tables: [
        {
          header: ['route', 'server', 'req/s'],
          rows: [
            ['/work?ms=5', 'one process', 95.9],
            ['/work?ms=5', 'cluster of 2', 73.7],
          ],
        },
      ],
      charts: [
        barChart(
          { title: 'One process against a cluster of 2: throughput on /work?ms=5' },
          { x: axis('server'), y: AXIS.RPS },
          ['one process', 'cluster of 2'],
          [{ name: 'req/s', values: [spreadOf([94, 95.9]), spreadOf([70, 73.7])] }],
        ),
        barChart(
          { title: 'One process against a cluster of 2: throughput on /age?birthdate=1993-05-01' },
          { x: axis('server'), y: AXIS.RPS },
          ['one process', 'cluster of 2'],
          [{ name: 'req/s', values: [spreadOf([30_000, 31_155]), spreadOf([19_000, 19_327])] }],
        ),
      ],
      measurements: {
        cores: 2,
        rows: [
          { route: '/work?ms=5', server: 'one process', processes: 1, rps: 95.9, p50Ms: 64, p99Ms: 267.5 },
          { route: '/work?ms=5', server: 'cluster of 2', processes: 2, rps: 73.7, p50Ms: 81.2, p99Ms: 538.6 },
          { route: '/age?birthdate=1993-05-01', server: 'one process', processes: 1, rps: 31_155, p50Ms: 1.4, p99Ms: 10.1 },
          { route: '/age?birthdate=1993-05-01', server: 'cluster of 2', processes: 2, rps: 19_327, p50Ms: 1.5, p99Ms: 37.8 },
        ],
      },
    },
    {
      title: 'C100K: 5,000 idle connections',
      reading: 'Held 5,000 connections at 10 KiB each.',
      tables: [],
      charts: [
        barChart(
          { title: 'Connections each worker held in C100K (5,000 of 5,000)' },
          { x: axis('process'), y: axis('connections') },
          ['worker 1', 'worker 2'],
          [{ name: 'connections', values: [2500, 2500] }],
        ),
      ],
      measurements: {
        clients: [
          { connects: 2500, openAtEnd: 2500, rps: 0, latency: { total: { p99Ms: 0 } } },
          { connects: 2500, openAtEnd: 2500, rps: 0, latency: { total: { p99Ms: 0 } } },
        ],
      },
    },
  ],
  findings: { clusterWorkers: 2, singleRps: 96, clusterRps: 74, c100k: { target: 5000, held: 5000, bytesPerConn: 10_333 } },
});

export const ALL_FIXTURES: readonly LabResult[] = [REQUEST_CYCLE, CONCURRENCY_MODELS, BACKLOG_OVERFLOW, FD_EXHAUSTION, DB_POOL, KNEE, PORTS_AND_KEEPALIVE, SLOW_LINK, ALL_CORES];

/** The fixtures as a lab run writes them, results/<lab>-<timestamp>.json; returns the file names. */
/** `startedAt` overrides every fixture's, e.g. to make them newer than the committed reference. */
export function writeFixtureResults(dir: string, startedAt?: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ALL_FIXTURES.map((fixture) => {
    const result = startedAt === undefined ? fixture : { ...fixture, startedAt };
    const name = `${result.lab.id}-${result.startedAt.replace(/[:.]/g, '-')}.json`;
    writeFileSync(path.join(dir, name), `${JSON.stringify(result, null, 2)}\n`);
    return name;
  });
}
