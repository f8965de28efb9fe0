/**
 * Lab 5, the database pool: where a request waits when every pooled connection is busy,
 * and what a connection costs Postgres.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, findPgBinaries, installHint, type EmbeddedCluster } from '../src/db/index.js';
import type { LoadResult } from '../src/load/index.js';
import type { LatencySummary } from '../src/metrics/histogram.js';
import { fetchJson, ms, runLabLoad, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { startCpuWindow } from '../src/labs/cpu-window.js';
import { COMPARISON_ROUNDS, compareSpreads, describeComparison, formatSpread, measureInterleaved, spreadOf, VERDICT, type Spread } from '../src/metrics/comparison.js';
import { postgresComplaint, readPostgresMemory, summarizeMemory, type PostgresMemory } from '../src/labs/db-pool-kit.js';
import { postPoolSize, postRun } from '../src/report/post-figures.js';
import { formatNumber } from '../src/format/numbers.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext } from '../src/labs/types.js';
import { AXIS, axis, barChart, lineChart } from '../src/labs/chart-kit.js';

/** The smallest pool (the post's trap, and the one the pool timeout is tried on) and the largest (its backends' memory is read). */
const SMALL_POOL = 5;
const LARGE_POOL = 100;

interface Settings {
  /** Runs of every phase, interleaved (comparison.ts COMPARISON_ROUNDS). */
  rounds: number;
  /** Pool sizes, rising: the first is SMALL_POOL, the last LARGE_POOL. */
  pools: readonly number[];
  /** Virtual users per phase, rising. */
  vus: readonly number[];
  durationMs: number;
}

/**
 * Every phase (a pool size against a number of users, and the pool timeout's run) is
 * measured COMPARISON_ROUNDS times, interleaved, so that a row compared with another is a
 * median with its range, not one run's luck. That multiplies the runs, so the quick form
 * keeps one user count (the post's 1,000), the smallest and the largest pool, and 1.5 s
 * phases: 6 phases and 9 s of load, against 7 phases and 14 s before the rounds (with the
 * pool of 20 as well, 8 phases took a fifth longer than those 7). The full form runs every
 * pool against every user count, in 6 s phases.
 */
const SETTINGS: LabSettings<Settings> = {
  quick: { rounds: COMPARISON_ROUNDS.quick, pools: [SMALL_POOL, LARGE_POOL], vus: [1000], durationMs: 1500 },
  full: { rounds: COMPARISON_ROUNDS.full, pools: [SMALL_POOL, 20, LARGE_POOL], vus: [100, 1000, 10_000], durationMs: 6000 },
};

const LIMITS = {
  /** --pool-timeout for the step that turns waits into 503s. */
  POOL_TIMEOUT_MS: 50,
  /** max_connections of the small cluster that a pool outgrows on purpose. */
  SMALL_MAX_CONNECTIONS: 20,
  /** The pool that asks for more than SMALL_MAX_CONNECTIONS. */
  OVERSIZED_POOL: 30,
  /** Callers hammering the oversized pool, and for how long. */
  OVERSIZED_CALLERS: 60,
  OVERSIZED_MS: 2000,
  /** The side requests that look for a 503 while the pool is saturated: at most this many, within this long. */
  PROBE_TRIES: 12,
  PROBE_MS: 15_000,
  /** Listen backlog: big enough that 10,000 connects at once do not overflow the accept queue (that is lab 3). */
  BACKLOG: 4096,
} as const;

const UUID_PATH = '/uuid/{1..1000}';

/** The post's run whose long tail this lab checks: /uuid at 1,000 VUs, on its own machine. */
const POST = postRun('uuid-1000-local');

interface DbStats {
  size: number;
  acquired: number;
  timeouts: number;
  peakWaiting: number;
  waitMs: LatencySummary;
  queryMs: LatencySummary;
}

export interface Phase {
  pool: number;
  vus: number;
  poolTimeoutMs: number | null;
  rps: number;
  okRps: number;
  /** Complete responses of any status. */
  responses: number;
  status503: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  avgMs: number;
  waitP99Ms: number;
  waitMaxMs: number;
  waitAvgMs: number;
  queryP99Ms: number;
  queryAvgMs: number;
  queryMaxMs: number;
  /** Mean time outside the pool: the server's loop, parsing, writing, the kernel's queues. */
  elsewhereAvgMs: number;
  peakWaiting: number;
  poolTimeouts: number;
  serverCpuPercent: number | null;
  postgresCpuPercent: number;
  postgresProcesses: number;
  /** This process: the load generator (and the sampler). */
  generatorCpuPercent: number | null;
  /** Everything else on the machine (other people's work), % of one core. */
  othersCpuPercent: number | null;
  failures: Record<string, number>;
}

/** One phase's every run, and the spread of each number a reading or a table compares. */
export interface PhaseRuns {
  pool: number;
  vus: number;
  poolTimeoutMs: number | null;
  runs: Phase[];
  rps: Spread;
  okRps: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  maxMs: Spread;
  avgMs: Spread;
  waitP99Ms: Spread;
  waitAvgMs: Spread;
  queryP99Ms: Spread;
  queryAvgMs: Spread;
  elsewhereAvgMs: Spread;
  postgresCpuPercent: Spread;
  serverCpuPercent: Spread | null;
  /** The largest of every run: a maximum is the worst any run saw. */
  waitMaxMs: number;
  queryMaxMs: number;
  peakWaiting: number;
  status503: number;
  responses: number;
  poolTimeouts: number;
}

/** Spreads over the runs of one phase. */
export function summarizePhase(runs: readonly Phase[]): PhaseRuns {
  const first = runs[0];
  if (first === undefined) throw new RangeError('a phase needs at least one run');
  const spread = (read: (p: Phase) => number): Spread => spreadOf(runs.map(read));
  const cpu = runs.map((p) => p.serverCpuPercent).filter((v): v is number => v !== null);
  const sum = (read: (p: Phase) => number): number => runs.reduce((total, p) => total + read(p), 0);
  const max = (read: (p: Phase) => number): number => Math.max(...runs.map(read));
  return {
    pool: first.pool,
    vus: first.vus,
    poolTimeoutMs: first.poolTimeoutMs,
    runs: [...runs],
    rps: spread((p) => p.rps),
    okRps: spread((p) => p.okRps),
    p50Ms: spread((p) => p.p50Ms),
    p99Ms: spread((p) => p.p99Ms),
    maxMs: spread((p) => p.maxMs),
    avgMs: spread((p) => p.avgMs),
    waitP99Ms: spread((p) => p.waitP99Ms),
    waitAvgMs: spread((p) => p.waitAvgMs),
    queryP99Ms: spread((p) => p.queryP99Ms),
    queryAvgMs: spread((p) => p.queryAvgMs),
    elsewhereAvgMs: spread((p) => p.elsewhereAvgMs),
    postgresCpuPercent: spread((p) => p.postgresCpuPercent),
    serverCpuPercent: cpu.length === runs.length ? spreadOf(cpu) : null,
    waitMaxMs: max((p) => p.waitMaxMs),
    queryMaxMs: max((p) => p.queryMaxMs),
    peakWaiting: max((p) => p.peakWaiting),
    status503: sum((p) => p.status503),
    responses: sum((p) => p.responses),
    poolTimeouts: sum((p) => p.poolTimeouts),
  };
}

export const lab: LabDefinition<Settings> = {
  id: 'db-pool',
  number: 5,
  title: 'The database pool: waiting is not querying',
  layer: '1,000 → 10,000',
  summary: 'pool sizes against rising load: pool wait vs query time, fast 503s, memory per Postgres backend, max_connections',
  intro: `The post this project reproduces saw /uuid requests take up to ${formatNumber((POST.maxMs ?? 0) / 1000)} s at ${formatNumber(POST.vus)} virtual users,
and put it down to requests queueing for one of its pool's ${postPoolSize(POST.vus)} connections. Here the same
server runs with pools of ${SMALL_POOL} to ${LARGE_POOL} connections under many virtual users, and the pool itself reports two
clocks per request: the wait (queued for a connection) and the query (Postgres answering). From
them you see how much of the slowest request the pool can account for, and how much came from
outside it. Then a pool timeout turns long waits into quick 503s, you see what one Postgres
backend costs in memory, and what happens when a pool asks Postgres for more connections than
it allows.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    if (findPgBinaries() === null) {
      const reason = `PostgreSQL server binaries were not found: ${installHint()}`;
      for (const title of ['Pool sizes against rising load', 'A pool timeout', 'Memory per Postgres backend', 'A pool larger than max_connections', 'Batch mode'])
        lab.skip(title, reason);
      lab.findings.skipped = reason;
      lab.findings.pools = null;
      lab.findings.backendRssMb = null;
      return;
    }
    const rounds = settings.rounds;
    const topVus = settings.vus[settings.vus.length - 1] as number;
    const pg = await startLabDatabase(lab);
    let memory: PostgresMemory | null = null;
    let probe: Probe | null = null;

    // Every phase, the pool timeout's included, interleaved: the timeout's run is compared
    // with the unbounded pool of the same size, so it is measured in the same rounds.
    const phases: PhaseSide[] = [
      ...settings.pools.flatMap((pool) => settings.vus.map((vus) => ({ pool, vus, poolTimeoutMs: null }))),
      { pool: SMALL_POOL, vus: topVus, poolTimeoutMs: LIMITS.POOL_TIMEOUT_MS },
    ];
    const byKey = new Map(phases.map((side) => [sideKey(side), side]));
    let summaries: PhaseRuns[] = [];
    const matrixTitle = `Pools of ${settings.pools.join(', ')} against ${settings.vus.join(', ')} virtual users on /uuid (${rounds} interleaved runs each)`;
    await lab.step(matrixTitle, async (step) => {
      const runs = await measureInterleaved([...byKey.keys()], rounds, async (key, round) => {
        const side = byKey.get(key) as PhaseSide;
        const largest = side.pool === LARGE_POOL && side.vus === topVus && side.poolTimeoutMs === null;
        const bounded = side.poolTimeoutMs !== null;
        // A fresh server per run: its pool histograms start empty, so each row's wait and
        // query percentiles are that run's alone.
        return runPhase(lab, step, pg, { ...side, durationMs: settings.durationMs }, `round ${round + 1} of ${rounds}`, {
          whileWarm: async () => {
            // While the largest pool is open and warm, read what its backends hold.
            if (largest && memory === null) memory = readPostgresMemory(pg.postmasterPid);
          },
          ...(bounded && round === 0
            ? {
                duringLoad: async (url: string, signal: AbortSignal) => {
                  // The load generator counts statuses but keeps no headers: ask ourselves while the
                  // pool is saturated, and keep the first 503 to show its Retry-After.
                  probe = await probeFor503(url, signal);
                },
              }
            : {}),
        });
      });
      summaries = phases.map((side) => summarizePhase(runs[sideKey(side)] ?? []));
      const matrix = summaries.filter((s) => s.poolTimeoutMs === null);
      const small = matrix.find((p) => p.pool === SMALL_POOL && p.vus === topVus) as PhaseRuns;
      const large = matrix.find((p) => p.pool === LARGE_POOL && p.vus === topVus) as PhaseRuns;
      return {
        tables: [
          {
            header: ['pool', 'VUs', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'Postgres CPU %'],
            rows: matrix.map((p) => [
              p.pool,
              p.vus,
              spreadText(p.rps, 0),
              spreadText(p.p50Ms),
              spreadText(p.p99Ms),
              spreadText(p.maxMs),
              p.serverCpuPercent === null ? null : spreadText(p.serverCpuPercent),
              spreadText(p.postgresCpuPercent),
            ]),
          },
          {
            header: ['pool', 'VUs', 'avg ms', '= wait avg', '+ query avg', '+ elsewhere', 'wait p99', 'wait max', 'query p99', 'most queued'],
            rows: matrix.map((p) => [
              p.pool,
              p.vus,
              p.avgMs.median,
              p.waitAvgMs.median,
              p.queryAvgMs.median,
              p.elsewhereAvgMs.median,
              p.waitP99Ms.median,
              p.waitMaxMs,
              p.queryP99Ms.median,
              p.peakWaiting,
            ]),
          },
        ],
        reading: `${readPools({ small, large })}
Each cell is the median (min–max) of ${rounds} interleaved runs; the second table shows medians, and the largest wait of any run.`,
        charts: matrixCharts(matrix, settings, topVus),
        measurements: { durationMs: settings.durationMs, rounds, phases: summaries },
      };
    });
    if (summaries.length === 0) return;
    const matrix = summaries.filter((s) => s.poolTimeoutMs === null);
    const at = (pool: number, vus: number): PhaseRuns | undefined => matrix.find((x) => x.pool === pool && x.vus === vus);
    lab.findings.rounds = rounds;
    lab.findings.pools = Object.fromEntries(
      settings.pools.map((pool) => {
        const p = at(pool, topVus);
        return [
          String(pool),
          p === undefined
            ? null
            : {
                vus: p.vus,
                rps: Math.round(p.rps.median),
                p99Ms: p.p99Ms.median,
                maxMs: p.maxMs.max,
                waitP99Ms: p.waitP99Ms.median,
                waitMaxMs: p.waitMaxMs,
                queryP99Ms: p.queryP99Ms.median,
                waitAvgMs: p.waitAvgMs.median,
                queryAvgMs: p.queryAvgMs.median,
                avgMs: p.avgMs.median,
                peakWaiting: p.peakWaiting,
                serverCpuPercent: p.serverCpuPercent?.median ?? null,
                postgresCpuPercent: p.postgresCpuPercent.median,
                runs: p.runs.length,
              },
        ];
      }),
    );
    // Medians where a number stands for the cell (the report charts them), every run beside them.
    lab.findings.matrix = matrix.map((p) => ({
      pool: p.pool,
      vus: p.vus,
      rps: Math.round(p.rps.median),
      p99Ms: p.p99Ms.median,
      maxMs: p.maxMs.max,
      waitP99Ms: p.waitP99Ms.median,
      queryP99Ms: p.queryP99Ms.median,
      postgresCpuPercent: p.postgresCpuPercent.median,
      runs: {
        rps: p.rps.runs,
        p99Ms: p.p99Ms.runs,
        maxMs: p.maxMs.runs,
        waitP99Ms: p.waitP99Ms.runs,
        queryP99Ms: p.queryP99Ms.runs,
        postgresCpuPercent: p.postgresCpuPercent.runs,
      },
    }));

    // The post's slowest request, against this run's at the nearest user count.
    const tailVus = [...settings.vus].sort((a, b) => Math.abs(a - POST.vus) - Math.abs(b - POST.vus))[0] as number;
    await lab.step(`The post's ${formatNumber((POST.maxMs ?? 0) / 1000)} s: the pool, or outside it? (${formatNumber(tailVus)} users here)`, async () => {
      const slowest = matrix
        .filter((p) => p.vus === tailVus)
        .flatMap((p) => p.runs)
        .reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
      const tail: TailReading = {
        postMaxMs: POST.maxMs ?? null,
        postVus: POST.vus,
        postPool: postPoolSize(POST.vus),
        vus: slowest.vus,
        pool: slowest.pool,
        maxMs: slowest.maxMs,
        waitMaxMs: slowest.waitMaxMs,
        queryMaxMs: slowest.queryMaxMs,
        elsewhereAvgMs: slowest.elsewhereAvgMs,
      };
      lab.findings.tail = { ...tail, ...tailShares(tail) };
      return {
        table: {
          header: ['the slowest request', 'the post', 'here'],
          rows: [
            ['virtual users', POST.vus, slowest.vus],
            ['pool connections', postPoolSize(POST.vus), slowest.pool],
            ['max latency ms', POST.maxMs ?? null, slowest.maxMs],
            ['longest wait for a connection ms (the pool)', null, slowest.waitMaxMs],
            ['longest query ms (Postgres)', null, slowest.queryMaxMs],
          ],
        },
        reading: readTail(tail),
        measurements: { tail, run: slowest },
      };
    });

    const unbounded = at(SMALL_POOL, topVus) as PhaseRuns;
    const bounded = summaries.find((s) => s.poolTimeoutMs !== null) as PhaseRuns;
    await lab.step(`A pool timeout: pool of ${SMALL_POOL}, ${topVus} users, --pool-timeout ${LIMITS.POOL_TIMEOUT_MS}`, async () => {
      const seen = probe as Probe | null;
      const row = (name: string, p: PhaseRuns): (string | number | null)[] => [
        name,
        spreadText(p.okRps, 0),
        p.status503,
        spreadText(p.p50Ms),
        spreadText(p.p99Ms),
        spreadText(p.maxMs),
        spreadText(p.waitP99Ms),
        p.waitMaxMs,
        p.poolTimeouts,
        p.serverCpuPercent === null ? null : spreadText(p.serverCpuPercent),
      ];
      const turnedAwayPercent = bounded.responses > 0 ? Math.round((bounded.status503 / bounded.responses) * 100) : 0;
      const side = (p: PhaseRuns): Record<string, unknown> => ({
        okRps: Math.round(p.okRps.median),
        p50Ms: p.p50Ms.median,
        p99Ms: p.p99Ms.median,
        maxMs: p.maxMs.max,
        waitP99Ms: p.waitP99Ms.median,
        waitMaxMs: p.waitMaxMs,
        status503: p.status503,
        poolTimeouts: p.poolTimeouts,
        runs: p.runs.length,
      });
      lab.findings.poolTimeout = {
        poolTimeoutMs: LIMITS.POOL_TIMEOUT_MS,
        vus: topVus,
        unbounded: side(unbounded),
        bounded: { ...side(bounded), turnedAwayPercent },
        probe: seen,
      };
      return {
        table: {
          header: [`pool of ${SMALL_POOL}, ${topVus} VUs`, 'ok req/s', '503s', 'p50 ms', 'p99 ms', 'max ms', 'wait p99 ms', 'wait max ms', 'pool timeouts', 'server CPU %'],
          rows: [row('unbounded wait (step 1)', unbounded), row(`--pool-timeout ${LIMITS.POOL_TIMEOUT_MS}`, bounded)],
        },
        reading: readPoolTimeout({ poolTimeoutMs: LIMITS.POOL_TIMEOUT_MS, unbounded, bounded, probe: seen }),
        charts: [
          barChart(
            {
              title: `Latency with and without a pool timeout (pool of ${SMALL_POOL}, ${formatNumber(topVus)} users)`,
              caption: `Medians of ${rounds} interleaved runs, whiskers their min–max. With --pool-timeout ${LIMITS.POOL_TIMEOUT_MS}, a request that would wait longer gets a quick 503 instead.`,
            },
            { x: axis('pool'), y: AXIS.LATENCY },
            ['unbounded wait', `--pool-timeout ${LIMITS.POOL_TIMEOUT_MS}`],
            [
              { name: 'p50', values: [unbounded.p50Ms, bounded.p50Ms] },
              { name: 'p99', values: [unbounded.p99Ms, bounded.p99Ms] },
            ],
          ),
        ],
        measurements: { unbounded, bounded, probe: seen },
      };
    });

    await lab.step(`Memory per Postgres backend (${LARGE_POOL} connections, after load)`, async () => {
      const read = memory ?? readPostgresMemory(pg.postmasterPid);
      const rss = summarizeMemory(read.backends, 'rssKb');
      const pss = summarizeMemory(read.backends, 'pssKb');
      const priv = summarizeMemory(read.backends, 'privateKb');
      const auxRss = summarizeMemory(read.auxiliary, 'rssKb');
      const auxPss = summarizeMemory(read.auxiliary, 'pssKb');
      lab.findings.backendRssMb = rss.avgMb;
      lab.findings.backendPssMb = pss.avgMb;
      lab.findings.backendPrivateMb = priv.avgMb;
      lab.findings.backends = rss.count;
      lab.findings.memorySource = read.source;
      return {
        table: {
          header: ['processes', 'count', 'RSS avg MB', 'RSS sum MB', 'Pss avg MB', 'Pss sum MB', 'private avg MB', 'private sum MB'],
          rows: [
            ['client backends (one per connection)', rss.count, rss.avgMb, rss.totalMb, pss.avgMb, pss.totalMb, priv.avgMb, priv.totalMb],
            ['background processes', auxRss.count, auxRss.avgMb, auxRss.totalMb, auxPss.avgMb, auxPss.totalMb, null, null],
          ],
        },
        reading: readBackendMemory({
          source: read.source,
          count: rss.count,
          rssAvgMb: rss.avgMb,
          rssTotalMb: rss.totalMb,
          pssAvgMb: pss.avgMb,
          privateAvgMb: priv.avgMb,
          privateTotalMb: priv.totalMb,
          maxConnections: pg.maxConnections,
        }),
        measurements: { source: read.source, backends: read.backends, auxiliary: read.auxiliary },
      };
    });

    await lab.step(`A pool larger than max_connections (${LIMITS.OVERSIZED_POOL} against ${LIMITS.SMALL_MAX_CONNECTIONS})`, async (step) => {
      step.progress(`starting a Postgres with max_connections ${LIMITS.SMALL_MAX_CONNECTIONS}`);
      const small = await startLabDatabase(lab, { maxConnections: LIMITS.SMALL_MAX_CONNECTIONS });
      // 1. socketlab serve opens its whole pool before listening: it refuses to start.
      step.progress(`socketlab serve --pool ${LIMITS.OVERSIZED_POOL}`);
      const started = performance.now();
      let serveOutcome: { started: boolean; afterMs: number; complaint: string | null };
      try {
        const server = await startLabServer(lab, ['--db', small.url, '--pool', String(LIMITS.OVERSIZED_POOL)], { startTimeoutMs: 30_000 });
        await stopLabServer(lab, server);
        serveOutcome = { started: true, afterMs: Math.round(performance.now() - started), complaint: null };
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        serveOutcome = { started: false, afterMs: Math.round(performance.now() - started), complaint: postgresComplaint(text) ?? text.split('\n')[0] ?? text };
      }
      // 2. A pool that grows on demand (most pools do) starts fine and fails under load.
      step.progress(`a pool of ${LIMITS.OVERSIZED_POOL} that opens connections on demand, ${LIMITS.OVERSIZED_CALLERS} callers`);
      const lazy = await hammerLazyPool(small, step.signal);
      // Stopped now rather than at the end (stop() is idempotent, so the runner's later call is a no-op).
      await small.stop();
      lab.findings.maxConnections = {
        limit: LIMITS.SMALL_MAX_CONNECTIONS,
        pool: LIMITS.OVERSIZED_POOL,
        serveStarted: serveOutcome.started,
        serveComplaint: serveOutcome.complaint,
        ...lazy,
      };
      return {
        table: {
          header: ['pool of 30 on max_connections 20', 'result'],
          rows: [
            ['socketlab serve (opens its pool up front)', serveOutcome.started ? `started (${serveOutcome.afterMs} ms)` : `refused to start after ${serveOutcome.afterMs} ms`],
            ['  Postgres said', serveOutcome.complaint ?? '-'],
            ['on-demand pool: connections Postgres accepted', lazy.opened],
            ['  connects refused', lazy.connectFailures],
            ['  lookups served', lazy.ok],
            ['  lookups failed (503 in serve)', lazy.failed],
            ['  Postgres said', lazy.complaint ?? '-'],
          ],
        },
        reading: readMaxConnections({
          wanted: LIMITS.OVERSIZED_POOL,
          opened: lazy.opened,
          connectFailures: lazy.connectFailures,
          complaint: lazy.complaint,
          ok: lazy.ok,
          failed: lazy.failed,
          serveStarted: serveOutcome.started,
        }),
        measurements: { serve: serveOutcome, lazy },
      };
    });

    await stepBatchMode(lab, pg, settings, rounds);
  },
};

/**
 * The matrix drawn: p99 pool wait against p99 query time per pool at the heaviest load (the
 * two clocks the pool keeps), and, when several user counts ran, throughput and p99 latency
 * against the users, a line per pool. Medians of the runs, whiskers their min–max.
 */
function matrixCharts(matrix: readonly PhaseRuns[], settings: Settings, topVus: number): ChartDeclaration[] {
  const atTop = settings.pools.map((pool) => matrix.find((p) => p.pool === pool && p.vus === topVus) ?? null);
  const charts: ChartDeclaration[] = [
    barChart(
      {
        title: `Pool wait against query time, p99, at ${formatNumber(topVus)} users`,
        caption: "Waiting for one of the pool's connections against Postgres answering: a small pool makes requests queue, not query longer.",
      },
      { x: axis('pool size', 'connections'), y: AXIS.LATENCY },
      settings.pools.map(String),
      [
        { name: 'pool wait p99', values: atTop.map((p) => p?.waitP99Ms ?? null) },
        { name: 'query p99', values: atTop.map((p) => p?.queryP99Ms ?? null) },
      ],
    ),
  ];
  if (settings.vus.length < 2) {
    charts.push(
      barChart({ title: `Throughput by pool size at ${formatNumber(topVus)} users` }, { x: axis('pool size', 'connections'), y: AXIS.RPS }, settings.pools.map(String), [
        { name: 'req/s', values: atTop.map((p) => p?.rps ?? null) },
      ]),
    );
    return charts;
  }
  const lines = (read: (p: PhaseRuns) => Spread) =>
    settings.pools.map((pool) => ({ name: `pool ${pool}`, points: matrix.filter((p) => p.pool === pool).map((p) => ({ x: p.vus, y: read(p) })) }));
  charts.push(
    lineChart(
      { title: 'Throughput against virtual users, by pool size', caption: 'Where a line flattens, more users only queue for the pool.' },
      { x: AXIS.VUS, y: AXIS.RPS },
      lines((p) => p.rps),
    ),
    lineChart(
      { title: 'p99 latency against virtual users, by pool size' },
      { x: AXIS.VUS, y: { ...AXIS.LATENCY, label: 'p99 latency' } },
      lines((p) => p.p99Ms),
    ),
  );
  return charts;
}

/** One server, one load run, the pool's own histograms and the CPU of both sides. */
async function runPhase(
  lab: LabContext,
  step: StepContext,
  pg: EmbeddedCluster,
  phase: PhaseSide & { durationMs: number },
  round: string,
  hooks: { whileWarm?: () => Promise<void>; duringLoad?: (url: string, signal: AbortSignal) => Promise<void> } = {},
): Promise<Phase> {
  const label = `${sideKey(phase)} (${round})`;
  step.progress(`${label}: starting the server`);
  // --pool-batch off: this lab is about the ceiling a pool sets when every lookup holds a
  // connection for its round trip; the batch step lifts it on purpose.
  const args = ['--db', pg.url, '--pool', String(phase.pool), '--backlog', String(LIMITS.BACKLOG), '--pool-batch', 'off'];
  // The only bound on the wait is the one a phase asks for: no --pool-timeout means none at all
  // (serve's default is 15 s), and no phase caps how many may queue (serve's default is 1,024),
  // so the unbounded queue and the timeout are each seen on their own.
  args.push('--pool-timeout', phase.poolTimeoutMs === null ? 'off' : String(phase.poolTimeoutMs), '--pool-queue', 'off');
  const server = await startLabServer(lab, args);
  try {
    const cpu = startCpuWindow({ pids: [server.pid, process.pid], childrenOf: [pg.postmasterPid] });
    const side = new AbortController();
    const load = runLabLoad(step, { url: `${server.url}/uuid/1`, pathTemplate: UUID_PATH, vus: phase.vus, durationMs: phase.durationMs, timeoutMs: 60_000 }, label);
    // Give the run a moment to fill the queue before asking alongside it.
    const sideTask =
      hooks.duringLoad === undefined
        ? Promise.resolve()
        : sleep(Math.min(1000, phase.durationMs / 3), undefined, { signal: side.signal }).then(() => hooks.duringLoad?.(server.url, side.signal));
    let result: LoadResult;
    try {
      result = await load;
    } finally {
      side.abort();
    }
    await sideTask.catch(() => {});
    const usage = await cpu.stop();
    const stats = (await fetchJson<{ db: DbStats }>(`${server.url}/stats`)).db;
    await hooks.whileWarm?.();
    const s = result.summary;
    const seconds = s.durationMs / 1000;
    const avgMs = s.latency.total.avgMs;
    return {
      pool: phase.pool,
      vus: phase.vus,
      poolTimeoutMs: phase.poolTimeoutMs,
      rps: s.rps,
      okRps: seconds > 0 ? s.ok / seconds : 0,
      responses: s.responses,
      status503: s.statuses['503'] ?? 0,
      p50Ms: ms(s.latency.total.p50Ms),
      p99Ms: ms(s.latency.total.p99Ms),
      maxMs: ms(s.latency.total.maxMs),
      avgMs: ms(avgMs),
      waitP99Ms: ms(stats.waitMs.p99Ms),
      waitMaxMs: ms(stats.waitMs.maxMs),
      waitAvgMs: ms(stats.waitMs.avgMs),
      queryP99Ms: ms(stats.queryMs.p99Ms),
      queryAvgMs: ms(stats.queryMs.avgMs),
      queryMaxMs: ms(stats.queryMs.maxMs),
      // Per request, total = wait + query + the rest, so the means add up exactly (up to the
      // few requests in flight at either end of the run).
      elsewhereAvgMs: ms(Math.max(0, avgMs - stats.waitMs.avgMs - stats.queryMs.avgMs)),
      peakWaiting: stats.peakWaiting,
      poolTimeouts: stats.timeouts,
      serverCpuPercent: usage.percentOf(server.pid),
      postgresCpuPercent: usage.percentOfOthers([server.pid, process.pid]),
      postgresProcesses: usage.countOthers([server.pid, process.pid]),
      generatorCpuPercent: usage.percentOf(process.pid),
      othersCpuPercent: usage.othersPercent,
      failures: Object.fromEntries(Object.entries(s.failures).filter(([, n]) => n > 0)),
    };
  } finally {
    await stopLabServer(lab, server);
  }
}

/** What the side requests saw while the pool was saturated. */
interface Probe {
  tries: number;
  /** Status → how many tries got it. */
  statuses: Record<string, number>;
  /** Retry-After of the first 503, and how long that 503 took; null when none came. */
  retryAfter: string | null;
  elapsedMs: number | null;
}

/** GET /uuid until one answer is a 503 (bounded: a dozen tries, or the signal). */
async function probeFor503(baseUrl: string, signal: AbortSignal): Promise<Probe> {
  const probe: Probe = { tries: 0, statuses: {}, retryAfter: null, elapsedMs: null };
  // One combined signal for every try: a fresh AbortSignal.any per try would leave a listener on `signal` each time.
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(LIMITS.PROBE_MS)]);
  while (probe.tries < LIMITS.PROBE_TRIES && !bounded.aborted) {
    const started = performance.now();
    try {
      const response = await fetch(`${baseUrl}/uuid/7`, { headers: { connection: 'close' }, signal: bounded });
      await response.arrayBuffer();
      probe.tries += 1;
      probe.statuses[String(response.status)] = (probe.statuses[String(response.status)] ?? 0) + 1;
      if (response.status === 503) {
        probe.retryAfter = response.headers.get('retry-after');
        probe.elapsedMs = Math.round(performance.now() - started);
        return probe;
      }
      await sleep(100, undefined, { signal: bounded });
    } catch {
      break; // the run ended (or the probe's time ran out) while a try was in flight
    }
  }
  return probe;
}

/**
 * A pool with room for more connections than Postgres allows, opened on demand by many
 * callers at once, in this process (the same pool serve uses).
 */
async function hammerLazyPool(
  cluster: EmbeddedCluster,
  signal: AbortSignal,
): Promise<{ opened: number; connectFailures: number; ok: number; failed: number; complaint: string | null }> {
  const pool = createPool({ url: cluster.url, size: LIMITS.OVERSIZED_POOL });
  let ok = 0;
  let failed = 0;
  let complaint: string | null = null;
  const until = performance.now() + LIMITS.OVERSIZED_MS;
  try {
    await Promise.all(
      Array.from({ length: LIMITS.OVERSIZED_CALLERS }, async (_, caller) => {
        while (performance.now() < until && !signal.aborted) {
          try {
            await pool.lookup(1 + ((caller * 7919 + ok) % 1000));
            ok += 1;
          } catch (error) {
            failed += 1;
            complaint ??= postgresComplaint(error instanceof Error ? error.message : String(error));
            // A failure comes back at once: yield so the other callers run.
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      }),
    );
    const stats = pool.stats();
    // No connection was discarded (no query failed), so every successful connect is still open.
    return { opened: stats.connects, connectFailures: stats.connectFailures, ok, failed, complaint };
  } finally {
    await pool.close();
  }
}

interface PhaseSide {
  pool: number;
  vus: number;
  poolTimeoutMs: number | null;
}

const sideKey = (side: PhaseSide): string => `pool ${side.pool}, ${side.vus} VUs${side.poolTimeoutMs === null ? '' : `, timeout ${side.poolTimeoutMs} ms`}`;

/** A spread as a cell or in a sentence: the value alone when every run agreed. */
function spreadText(spread: Spread, digits?: 0): string {
  const round = digits === 0 ? Math.round : (value: number): number => value;
  return spread.min === spread.max ? formatNumber(round(spread.median)) : formatSpread(spread, round);
}

// ── Readings: each a pure function of what was measured, so a test can feed it other numbers ──

const percentOf = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 100) : 0);

export function readPools(m: { small: PhaseRuns; large: PhaseRuns }): string {
  const { small, large } = m;
  const lines = [`Pool of ${small.pool}, ${formatNumber(small.vus)} users: p99 ${spreadText(small.p99Ms)} ms (max ${formatNumber(small.maxMs.max)} ms).`];
  const avg = small.avgMs.median;
  const where = compareSpreads(small.waitAvgMs, small.queryAvgMs);
  const verdict =
    where === VERDICT.HIGHER
      ? `in every run requests waited longer for one of the ${small.pool} connections than Postgres took to answer`
      : where === VERDICT.LOWER
        ? 'in every run Postgres answering took longer than the wait for a connection'
        : 'the wait and the query took about as long (their ranges overlap)';
  // The rest of the average request went by outside the pool; say so when it was the larger part.
  const outside =
    compareSpreads(small.elsewhereAvgMs, small.waitAvgMs) === VERDICT.HIGHER ? `; more still went by outside the pool (${percentOf(small.elsewhereAvgMs.median, avg)}%)` : '';
  lines.push(`Of the average request (${formatNumber(avg)} ms), ${percentOf(small.waitAvgMs.median, avg)}% was waiting for a connection (wait p99 ${spreadText(small.waitP99Ms)} ms)
and ${percentOf(small.queryAvgMs.median, avg)}% the query (p99 ${spreadText(small.queryP99Ms)} ms): ${verdict}${outside}.
Postgres's processes used ${spreadText(small.postgresCpuPercent)}% of one core meanwhile.`);
  const queries = compareSpreads(large.queryP99Ms, small.queryP99Ms);
  const queryText =
    queries === VERDICT.HIGHER
      ? ' (queries took longer: more of them in flight at once)'
      : queries === VERDICT.LOWER
        ? ' (queries took less long)'
        : ' (no measurable change in query time)';
  lines.push(`With ${large.pool} connections: wait p99 ${spreadText(large.waitP99Ms)} ms, query p99 ${spreadText(large.queryP99Ms)} ms${queryText}.`);
  lines.push(`Throughput: ${describeComparison({ label: `pool ${large.pool}`, spread: large.rps }, { label: `pool ${small.pool}`, spread: small.rps }, 'req/s')}`);
  lines.push('"Elsewhere" is time outside the pool: the server\'s event loop and the kernel\'s socket queues.');
  return lines.join('\n');
}

export interface TailReading {
  /** The post's slowest request and its set-up (null: the post gave no max). */
  postMaxMs: number | null;
  postVus: number;
  postPool: number;
  /** This lab's run with the slowest request at the user count nearest the post's. */
  vus: number;
  pool: number;
  maxMs: number;
  /** The longest any request of that run waited for a connection, and queried (the server's /stats). */
  waitMaxMs: number;
  queryMaxMs: number;
  elsewhereAvgMs: number;
}

/**
 * How much of the slowest request the pool can account for. No request of the run waited
 * longer than waitMax nor queried longer than queryMax, so the slowest request spent at most
 * their sum in the pool's hands and at least the rest outside it.
 */
export function tailShares(t: TailReading): { poolAtMostMs: number; outsideAtLeastMs: number; outsideShare: number } {
  const poolAtMostMs = Math.min(t.maxMs, t.waitMaxMs + t.queryMaxMs);
  const outsideAtLeastMs = Math.max(0, t.maxMs - poolAtMostMs);
  return { poolAtMostMs: ms(poolAtMostMs), outsideAtLeastMs: ms(outsideAtLeastMs), outsideShare: t.maxMs > 0 ? outsideAtLeastMs / t.maxMs : 0 };
}

export function readTail(t: TailReading): string {
  const post =
    t.postMaxMs === null
      ? `The post gives no slowest request for ${formatNumber(t.postVus)} users.`
      : `The post's claim: its slowest /uuid request at ${formatNumber(t.postVus)} users took ${formatNumber(t.postMaxMs / 1000)} s, put down to requests queueing for one of
its ${t.postPool} pooled connections (the post published no pool wait to check that against).`;
  const { poolAtMostMs, outsideAtLeastMs, outsideShare } = tailShares(t);
  const here = `Measured here at ${formatNumber(t.vus)} users, the slowest request took ${formatNumber(t.maxMs)} ms (pool of ${t.pool}).
In that run no request waited more than ${formatNumber(t.waitMaxMs)} ms for a connection nor queried more than ${formatNumber(t.queryMaxMs)} ms`;
  let verdict: string;
  if (outsideAtLeastMs === 0) {
    verdict = `: the pool's wait and the query can account for all of it. Here the long tail came from the pool.`;
  } else if (outsideShare >= 0.5) {
    verdict = `,
so at least ${formatNumber(outsideAtLeastMs)} ms of it (${Math.round(outsideShare * 100)}%) went by outside the pool: in the accept queue or a SYN retransmission
(1 s each, lab 3), the server's event loop, or the load generator. Here the long tail came from outside the pool.`;
  } else {
    verdict = `:
the pool accounts for at most ${formatNumber(poolAtMostMs)} ms of it, and at least ${formatNumber(outsideAtLeastMs)} ms (${Math.round(outsideShare * 100)}%) went by outside it.
Here the long tail came mostly from the pool.`;
  }
  return `${post}
${here}${verdict}`;
}

export function readPoolTimeout(m: { poolTimeoutMs: number; unbounded: PhaseRuns; bounded: PhaseRuns; probe: Probe | null }): string {
  const { unbounded: u, bounded: b } = m;
  const lines: string[] = [];
  lines.push(
    compareSpreads(b.waitP99Ms, u.waitP99Ms) === VERDICT.LOWER
      ? `With --pool-timeout ${m.poolTimeoutMs} the wait for a connection is capped: wait p99 ${spreadText(u.waitP99Ms)} → ${spreadText(b.waitP99Ms)} ms (longest ${formatNumber(b.waitMaxMs)} ms).`
      : `With --pool-timeout ${m.poolTimeoutMs}, wait p99 ${spreadText(u.waitP99Ms)} → ${spreadText(b.waitP99Ms)} ms: the ranges overlap, no measurable difference at this noise level.`,
  );
  const probeText =
    m.probe === null || m.probe.tries === 0
      ? ''
      : m.probe.elapsedMs !== null
        ? ` (a side request got 503 with Retry-After: ${m.probe.retryAfter ?? '(none)'} in ${m.probe.elapsedMs} ms)`
        : ` (${m.probe.tries} side requests got ${Object.entries(m.probe.statuses)
            .map(([status, n]) => `${n}× ${status}`)
            .join(', ')}, no 503)`;
  lines.push(
    b.status503 > 0
      ? `${percentOf(b.status503, b.responses)}% of requests were turned away with 503${probeText} instead of queueing;
p50 ${spreadText(u.p50Ms)} → ${spreadText(b.p50Ms)} ms.`
      : `No request was turned away (0 503s)${probeText}; p50 ${spreadText(u.p50Ms)} → ${spreadText(b.p50Ms)} ms.`,
  );
  const saidNo = b.okRps.max < u.okRps.min / 2;
  lines.push(`${spreadText(b.okRps, 0)} req/s still succeeded (${spreadText(u.okRps, 0)} unbounded)${saidNo ? ': the server spent its time saying no' : ''}.`);
  const p99 = compareSpreads(b.p99Ms, u.p99Ms);
  const cpu = (p: PhaseRuns): string => (p.serverCpuPercent === null ? '?' : spreadText(p.serverCpuPercent));
  if (p99 === VERDICT.LOWER) lines.push(`p99 fell from ${spreadText(u.p99Ms)} to ${spreadText(b.p99Ms)} ms.`);
  else if (p99 === VERDICT.HIGHER) {
    lines.push(`p99 rose (${spreadText(u.p99Ms)} → ${spreadText(b.p99Ms)} ms): these users retry at once, and a 503 costs this server
a response write like any answer (server CPU ${cpu(u)}% → ${cpu(b)}%). Real clients back off as Retry-After asks.`);
  } else lines.push(`p99 ${spreadText(u.p99Ms)} → ${spreadText(b.p99Ms)} ms: the ranges overlap, no measurable difference.`);
  return lines.join('\n');
}

export interface BackendMemoryReading {
  source: string;
  count: number;
  rssAvgMb: number | null;
  rssTotalMb: number | null;
  pssAvgMb: number | null;
  privateAvgMb: number | null;
  privateTotalMb: number | null;
  maxConnections: number;
}

export function readBackendMemory(m: BackendMemoryReading): string {
  if (m.count === 0) return 'No client backend was running when memory was read: nothing to measure.';
  if (m.pssAvgMb === null || m.rssAvgMb === null) {
    return `Each backend shows ${m.rssAvgMb ?? '?'} MB resident (RSS, ${m.source}); RSS counts shared pages in every process, so the sum
(${mb(m.rssTotalMb)} MB for ${m.count}) overstates what they occupy together.`;
  }
  const perConnection = m.privateAvgMb === null ? '' : ` At max_connections ${m.maxConnections}, ~${Math.round(m.privateAvgMb * m.maxConnections)} MB before any query sorts.`;
  if (m.pssAvgMb < m.rssAvgMb) {
    const factor = m.privateTotalMb !== null && m.privateTotalMb > 0 && m.rssTotalMb !== null ? Math.round((m.rssTotalMb / m.privateTotalMb) * 10) / 10 : null;
    return `Each backend shows ${m.rssAvgMb} MB resident, but RSS counts shared memory (shared_buffers, the binary) in every
process: its fair share (Pss) is ${m.pssAvgMb} MB and only ${m.privateAvgMb ?? '?'} MB is its own. ${m.count} connections cost ${mb(m.privateTotalMb)} MB of
private memory${factor === null ? '' : ` (the RSS sum, ${mb(m.rssTotalMb)} MB, is ${factor}x that)`}.${perConnection}`;
  }
  return `Each backend shows ${m.rssAvgMb} MB resident and a fair share (Pss) of ${m.pssAvgMb} MB: these backends share next to nothing. ${m.count} connections
cost ${mb(m.privateTotalMb)} MB of private memory.${perConnection}`;
}

const mb = (value: number | null): string => (value === null ? '?' : formatNumber(value));

export interface MaxConnectionsReading {
  wanted: number;
  opened: number;
  connectFailures: number;
  complaint: string | null;
  ok: number;
  failed: number;
  serveStarted: boolean;
}

export function readMaxConnections(m: MaxConnectionsReading): string {
  const lines: string[] = [];
  if (m.connectFailures === 0)
    lines.push(`Postgres accepted all ${m.opened} connections the pool opened (it wanted up to ${m.wanted}); ${m.ok} lookups were served, ${m.failed} failed.`);
  else {
    lines.push(`Postgres accepted ${m.opened} of the ${m.wanted} connections the pool wanted and refused ${m.connectFailures}${m.complaint === null ? '' : ` (${m.complaint})`}:
${m.failed} lookups failed while ${m.ok} were served by the connections that did open.`);
  }
  lines.push(m.serveStarted ? 'serve, which opens its pool up front, started anyway.' : 'serve, which opens its pool up front, refused to start.');
  if (m.connectFailures > 0 || !m.serveStarted) lines.push('Every pool of every server instance draws on one max_connections: size pools so their sum fits.');
  return lines.join('\n');
}

// ── Batch mode: the same users, the same pool, the ceiling lifted ─────────────────────────

/** --pool-batch (most ids per statement), and the users of the low-load side, where nothing queues. */
const BATCH = { SIZE: 256, LOW_VUS: 1 } as const;

interface BatchRun {
  batch: boolean;
  vus: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  avgMs: number;
  waitAvgMs: number;
  queryAvgMs: number;
  /** Ids per statement (batch mode only). */
  idsMean: number | null;
  idsP50: number | null;
  idsP90: number | null;
  idsMax: number | null;
  postgresCpuPercent: number;
  failed: number;
}

const batchKey = (batch: boolean, vus: number): string => `pool ${SMALL_POOL}, ${formatNumber(vus)} VUs, ${batch ? `--pool-batch ${BATCH.SIZE}` : 'one statement per lookup'}`;

/**
 * The pool of SMALL_POOL at the most users of the matrix, without and with batch mode, and the
 * same at one user, where nothing queues and batching can only cost: each side measured
 * `rounds` times, interleaved, on a fresh server.
 */
async function stepBatchMode(lab: LabContext, pg: EmbeddedCluster, settings: Settings, rounds: number): Promise<void> {
  const topVus = settings.vus[settings.vus.length - 1] as number;
  const sides = [
    { batch: false, vus: topVus },
    { batch: true, vus: topVus },
    { batch: false, vus: BATCH.LOW_VUS },
    { batch: true, vus: BATCH.LOW_VUS },
  ];
  const byKey = new Map(sides.map((side) => [batchKey(side.batch, side.vus), side]));
  await lab.step(
    `Batch mode: pool of ${SMALL_POOL}, ${formatNumber(topVus)} and ${BATCH.LOW_VUS} users, one statement per lookup against --pool-batch ${BATCH.SIZE}`,
    async (step) => {
      const runs = await measureInterleaved([...byKey.keys()], rounds, async (key, round) => {
        const side = byKey.get(key) as { batch: boolean; vus: number };
        const label = `${key} (round ${round + 1} of ${rounds})`;
        step.progress(`${label}: starting the server`);
        const server = await startLabServer(lab, [
          '--db',
          pg.url,
          '--pool',
          String(SMALL_POOL),
          '--backlog',
          String(LIMITS.BACKLOG),
          '--pool-timeout',
          'off',
          '--pool-queue',
          'off',
          '--pool-batch',
          side.batch ? String(BATCH.SIZE) : 'off',
        ]);
        try {
          const cpu = startCpuWindow({ pids: [server.pid, process.pid], childrenOf: [pg.postmasterPid] });
          const result = await runLabLoad(step, { url: `${server.url}/uuid/1`, pathTemplate: UUID_PATH, vus: side.vus, durationMs: settings.durationMs, timeoutMs: 60_000 }, label);
          const usage = await cpu.stop();
          const db = (await fetchJson<{ db: DbStats & { batch: { size: { mean: number; p50: number; p90: number; max: number } } | null } }>(`${server.url}/stats`)).db;
          const total = result.summary.latency.total;
          const run: BatchRun = {
            batch: side.batch,
            vus: side.vus,
            rps: result.summary.rps,
            p50Ms: ms(total.p50Ms),
            p99Ms: ms(total.p99Ms),
            avgMs: ms(total.avgMs),
            waitAvgMs: ms(db.waitMs.avgMs),
            queryAvgMs: ms(db.queryMs.avgMs),
            idsMean: db.batch?.size.mean ?? null,
            idsP50: db.batch?.size.p50 ?? null,
            idsP90: db.batch?.size.p90 ?? null,
            idsMax: db.batch?.size.max ?? null,
            postgresCpuPercent: usage.percentOfOthers([server.pid, process.pid]),
            failed: result.summary.failed,
          };
          return run;
        } finally {
          await stopLabServer(lab, server);
        }
      });
      const side = (batch: boolean, vus: number): BatchRun[] => runs[batchKey(batch, vus)] ?? [];
      const spread = (list: BatchRun[], read: (r: BatchRun) => number): Spread => spreadOf(list.map(read));
      const row = (batch: boolean, vus: number): (string | number | null)[] => {
        const list = side(batch, vus);
        const ids = list.map((r) => r.idsMean).filter((v): v is number => v !== null);
        return [
          formatNumber(vus),
          batch ? `--pool-batch ${BATCH.SIZE}` : 'off',
          spreadText(
            spread(list, (r) => r.rps),
            0,
          ),
          spreadText(spread(list, (r) => r.p50Ms)),
          spreadText(spread(list, (r) => r.p99Ms)),
          spreadText(spread(list, (r) => r.waitAvgMs)),
          spreadText(spread(list, (r) => r.queryAvgMs)),
          ids.length === 0 ? '-' : `${spreadText(spreadOf(ids))} (p90 ${Math.max(...list.map((r) => r.idsP90 ?? 0))}, max ${Math.max(...list.map((r) => r.idsMax ?? 0))})`,
          spreadText(spread(list, (r) => r.postgresCpuPercent)),
          list.reduce((n, r) => n + r.failed, 0),
        ];
      };
      const reading = readBatchMode({
        pool: SMALL_POOL,
        size: BATCH.SIZE,
        topVus,
        lowVus: BATCH.LOW_VUS,
        offRps: spread(side(false, topVus), (r) => r.rps),
        onRps: spread(side(true, topVus), (r) => r.rps),
        offWaitAvgMs: spread(side(false, topVus), (r) => r.waitAvgMs),
        onWaitAvgMs: spread(side(true, topVus), (r) => r.waitAvgMs),
        offPostgresCpu: spread(side(false, topVus), (r) => r.postgresCpuPercent),
        onPostgresCpu: spread(side(true, topVus), (r) => r.postgresCpuPercent),
        idsMean: spreadOf(side(true, topVus).map((r) => r.idsMean ?? 0)),
        offLowP50Ms: spread(side(false, BATCH.LOW_VUS), (r) => r.p50Ms),
        onLowP50Ms: spread(side(true, BATCH.LOW_VUS), (r) => r.p50Ms),
        onLowIdsMax: Math.max(...side(true, BATCH.LOW_VUS).map((r) => r.idsMax ?? 0)),
      });
      const median = (list: BatchRun[], read: (r: BatchRun) => number): number => spreadOf(list.map(read)).median;
      lab.findings.batchMode = {
        pool: SMALL_POOL,
        size: BATCH.SIZE,
        rounds,
        sides: sides.map(({ batch, vus }) => ({
          batch,
          vus,
          rps: Math.round(median(side(batch, vus), (r) => r.rps)),
          p50Ms: median(side(batch, vus), (r) => r.p50Ms),
          p99Ms: median(side(batch, vus), (r) => r.p99Ms),
          idsMean: batch ? median(side(batch, vus), (r) => r.idsMean ?? 0) : null,
        })),
      };
      return {
        table: {
          header: ['VUs', 'batch', 'req/s', 'p50 ms', 'p99 ms', 'wait avg ms', 'query avg ms', 'ids per statement (mean)', 'Postgres CPU %', 'failed'],
          rows: sides.map(({ batch, vus }) => row(batch, vus)),
        },
        reading,
        measurements: { size: BATCH.SIZE, pool: SMALL_POOL, rounds, durationMs: settings.durationMs, runs },
      };
    },
  );
}

export interface BatchReading {
  pool: number;
  size: number;
  topVus: number;
  lowVus: number;
  offRps: Spread;
  onRps: Spread;
  offWaitAvgMs: Spread;
  onWaitAvgMs: Spread;
  offPostgresCpu: Spread;
  onPostgresCpu: Spread;
  /** Mean ids per statement, per run, at topVus. */
  idsMean: Spread;
  offLowP50Ms: Spread;
  onLowP50Ms: Spread;
  /** The most ids any statement carried at lowVus. */
  onLowIdsMax: number;
}

export function readBatchMode(m: BatchReading): string {
  const lines: string[] = [];
  lines.push(
    `The same ${m.pool} connections and ${formatNumber(m.topVus)} users: ${describeComparison({ label: `--pool-batch ${m.size}`, spread: m.onRps }, { label: 'one statement per lookup', spread: m.offRps }, 'req/s')}`,
  );
  const coalesced =
    m.idsMean.min > 1
      ? `Batched, a statement carried ${spreadText(m.idsMean)} ids on average: the lookups that queue while every connection is busy go out together, so one
round trip answers several of them.`
      : `Batched, a statement carried ${spreadText(m.idsMean)} ids on average: in some run hardly anything queued to share a statement.`;
  lines.push(`${coalesced} The average wait for a connection went ${spreadText(m.offWaitAvgMs)} → ${spreadText(m.onWaitAvgMs)} ms, and Postgres used
${spreadText(m.offPostgresCpu)}% → ${spreadText(m.onPostgresCpu)}% of one core.`);
  const cost = compareSpreads(m.onLowP50Ms, m.offLowP50Ms);
  const low = `At ${formatNumber(m.lowVus)} user${m.lowVus === 1 ? '' : 's'} nothing queues${m.onLowIdsMax <= 1 ? ' (no statement carried more than one id)' : ''}: p50 ${spreadText(m.offLowP50Ms)} ms without batching, ${spreadText(m.onLowP50Ms)} ms with it`;
  lines.push(
    cost === VERDICT.HIGHER
      ? `${low}: batching cost ${formatNumber(ms(m.onLowP50Ms.median - m.offLowP50Ms.median))} ms at p50 in every run (the ANY form, and waiting for the end of the loop's turn).`
      : cost === VERDICT.LOWER
        ? `${low}: lower with batching in every run.`
        : `${low}: the ranges overlap, so batching cost nothing measurable here.`,
  );
  return lines.join('\n');
}
