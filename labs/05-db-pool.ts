/**
 * Lab 5, the database pool: where a request waits when every pooled connection is busy,
 * and what a connection costs Postgres.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, findPgBinaries, installHint, type EmbeddedCluster } from '../src/db/index.js';
import type { LoadResult } from '../src/load/index.js';
import type { LatencySummary } from '../src/metrics/histogram.js';
import { fetchJson, ms, pick, runLabLoad, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { startCpuWindow } from '../src/labs/cpu-window.js';
import { postgresComplaint, readPostgresMemory, summarizeMemory, type PostgresMemory } from '../src/labs/db-pool-kit.js';
import type { LabContext, LabDefinition, StepContext } from '../src/labs/types.js';

const POOL_SIZES = [5, 20, 100] as const;

interface Settings {
  /** Virtual users per phase, rising. */
  vus: readonly number[];
  durationMs: number;
}

const SETTINGS: { readonly quick: Settings; readonly full: Settings } = {
  quick: { vus: [50, 1000], durationMs: 2000 },
  full: { vus: [100, 1000, 10_000], durationMs: 10_000 },
} as const;

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

interface DbStats {
  size: number;
  acquired: number;
  timeouts: number;
  peakWaiting: number;
  waitMs: LatencySummary;
  queryMs: LatencySummary;
}

interface Phase {
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

export const lab: LabDefinition = {
  id: 'db-pool',
  number: 5,
  title: 'The database pool: waiting is not querying',
  layer: '1,000 → 10,000',
  summary: 'pool sizes against rising load: pool wait vs query time, fast 503s, memory per Postgres backend, max_connections',
  intro: `The seed project saw /uuid requests take 15.7 s. Postgres answers that lookup in well under a
millisecond: the requests were waiting for one of the pool's connections, in a queue with no
bound, while the database sat almost idle. Here the same server runs with pools of 5, 20 and
100 connections under a rising number of virtual users, and the pool itself reports two
clocks per request: the wait (queued for a connection) and the query (Postgres answering).
Then a pool timeout turns long waits into quick 503s, you see what one Postgres backend costs
in memory, and what happens when a pool asks Postgres for more connections than it allows.`,

  async run(lab: LabContext) {
    if (findPgBinaries() === null) {
      const reason = `PostgreSQL server binaries were not found: ${installHint()}`;
      for (const title of ['Pool sizes against rising load', 'A pool timeout', 'Memory per Postgres backend', 'A pool larger than max_connections']) lab.skip(title, reason);
      lab.findings.skipped = reason;
      lab.findings.pools = null;
      lab.findings.backendRssMb = null;
      return;
    }
    const settings = pick(lab, SETTINGS.quick, SETTINGS.full);
    const topVus = settings.vus[settings.vus.length - 1] as number;
    const pg = await startLabDatabase(lab);
    let memory: PostgresMemory | null = null;

    const matrix = await lab.step(`Pools of ${POOL_SIZES.join(', ')} against ${settings.vus.join(', ')} virtual users on /uuid`, async (step) => {
      const phases: Phase[] = [];
      for (const pool of POOL_SIZES) {
        for (const vus of settings.vus) {
          // A fresh server per phase: its pool histograms start empty, so each row's wait and
          // query percentiles are that phase's alone.
          phases.push(
            await runPhase(lab, step, pg, { pool, vus, poolTimeoutMs: null, durationMs: settings.durationMs }, {
              whileWarm: async () => {
                // While the largest pool is open and warm, read what its backends hold.
                if (pool === POOL_SIZES[POOL_SIZES.length - 1] && vus === topVus) memory = readPostgresMemory(pg.postmasterPid);
              },
            }),
          );
        }
      }
      const small = phases.find((p) => p.pool === POOL_SIZES[0] && p.vus === topVus) as Phase;
      const large = phases.find((p) => p.pool === POOL_SIZES[POOL_SIZES.length - 1] && p.vus === topVus) as Phase;
      const share = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 100) : 0);
      const slowest = phases.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
      return {
        tables: [
          {
            header: ['pool', 'VUs', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'Postgres CPU %', 'generator CPU %', 'others CPU %'],
            rows: phases.map((p) => [p.pool, p.vus, Math.round(p.rps), p.p50Ms, p.p99Ms, p.maxMs, p.serverCpuPercent, p.postgresCpuPercent, p.generatorCpuPercent, p.othersCpuPercent]),
          },
          {
            header: ['pool', 'VUs', 'avg ms', '= wait avg', '+ query avg', '+ elsewhere', 'wait p99', 'wait max', 'query p99', 'most queued'],
            rows: phases.map((p) => [p.pool, p.vus, p.avgMs, p.waitAvgMs, p.queryAvgMs, p.elsewhereAvgMs, p.waitP99Ms, p.waitMaxMs, p.queryP99Ms, p.peakWaiting]),
          },
        ],
        reading: `Pool of ${small.pool}, ${small.vus} users: p99 ${small.p99Ms} ms (max ${small.maxMs} ms). Of the average request, ${share(small.waitAvgMs, small.avgMs)}% was waiting for a
connection (wait p99 ${small.waitP99Ms} ms) and ${share(small.queryAvgMs, small.avgMs)}% the query (p99 ${small.queryP99Ms} ms), while Postgres's ${small.postgresProcesses} processes used
${small.postgresCpuPercent}% of one core${small.postgresCpuPercent < 100 ? `: the database was not busy, the queue in front of ${small.pool} connections was` : `: busy too, yet the queue in front of ${small.pool} connections was the longer wait`}. With ${large.pool}
connections: wait p99 ${large.waitP99Ms} ms, query p99 ${large.queryP99Ms} ms (more queries in flight at once), ${Math.round(large.rps)} req/s vs ${Math.round(small.rps)}.
The slowest request of all took ${slowest.maxMs} ms (pool ${slowest.pool}, ${slowest.vus} users); no query took over ${slowest.queryMaxMs} ms in that run.
"Elsewhere" is time outside the pool: the server's event loop and the kernel's socket queues.`,
        measurements: { durationMs: settings.durationMs, phases },
      };
    });
    const phases = (matrix?.measurements?.phases as Phase[] | undefined) ?? [];
    lab.findings.pools = Object.fromEntries(
      POOL_SIZES.map((pool) => {
        const p = phases.find((x) => x.pool === pool && x.vus === topVus);
        return [String(pool), p === undefined ? null : { vus: p.vus, rps: Math.round(p.rps), p99Ms: p.p99Ms, maxMs: p.maxMs, waitP99Ms: p.waitP99Ms, waitMaxMs: p.waitMaxMs, queryP99Ms: p.queryP99Ms, waitAvgMs: p.waitAvgMs, queryAvgMs: p.queryAvgMs, avgMs: p.avgMs, serverCpuPercent: p.serverCpuPercent, postgresCpuPercent: p.postgresCpuPercent }];
      }),
    );
    lab.findings.matrix = phases.map((p) => ({ pool: p.pool, vus: p.vus, rps: Math.round(p.rps), p99Ms: p.p99Ms, maxMs: p.maxMs, waitP99Ms: p.waitP99Ms, queryP99Ms: p.queryP99Ms, postgresCpuPercent: p.postgresCpuPercent }));

    await lab.step(`A pool timeout: pool of ${POOL_SIZES[0]}, ${topVus} users, --pool-timeout ${LIMITS.POOL_TIMEOUT_MS}`, async (step) => {
      // The unbounded reference is step 1's row with the same pool and users.
      const unbounded = phases.find((p) => p.pool === POOL_SIZES[0] && p.vus === topVus) as Phase;
      let probe: Probe | null = null;
      const bounded = await runPhase(lab, step, pg, { pool: POOL_SIZES[0], vus: topVus, durationMs: settings.durationMs, poolTimeoutMs: LIMITS.POOL_TIMEOUT_MS }, {
        duringLoad: async (url, signal) => {
          // The load generator counts statuses but keeps no headers: ask ourselves while the
          // pool is saturated, and keep the first 503 to show its Retry-After.
          probe = await probeFor503(url, signal);
        },
      });
      const seen = probe as Probe | null;
      const turnedAway = bounded.responses > 0 ? Math.round((bounded.status503 / bounded.responses) * 100) : 0;
      const row = (name: string, p: Phase): (string | number | null)[] => [name, Math.round(p.okRps), p.status503, p.p50Ms, p.p99Ms, p.maxMs, p.waitP99Ms, p.waitMaxMs, p.poolTimeouts, p.serverCpuPercent];
      const probeText =
        seen === null || seen.tries === 0
          ? ''
          : seen.elapsedMs !== null
            ? ` (a side request got 503 with Retry-After: ${seen.retryAfter ?? '(none)'} in ${seen.elapsedMs} ms)`
            : ` (${seen.tries} side requests got ${Object.entries(seen.statuses).map(([status, n]) => `${n}× ${status}`).join(', ')}, no 503)`;
      // Which way p99 went depends on the machine and on what the clients do after a 503: say which.
      const p99Text =
        bounded.p99Ms < unbounded.p99Ms
          ? `p99 fell from ${unbounded.p99Ms} to ${bounded.p99Ms} ms.`
          : `p99 did not fall (${unbounded.p99Ms} → ${bounded.p99Ms} ms): these users retry at once, and a 503 costs this server
a response write like any answer (server CPU ${unbounded.serverCpuPercent ?? '?'}% → ${bounded.serverCpuPercent ?? '?'}%). Real clients back off as Retry-After asks.`;
      lab.findings.poolTimeout = {
        poolTimeoutMs: LIMITS.POOL_TIMEOUT_MS,
        vus: topVus,
        unbounded: { okRps: Math.round(unbounded.okRps), p50Ms: unbounded.p50Ms, p99Ms: unbounded.p99Ms, maxMs: unbounded.maxMs, waitP99Ms: unbounded.waitP99Ms, waitMaxMs: unbounded.waitMaxMs, status503: unbounded.status503 },
        bounded: { okRps: Math.round(bounded.okRps), p50Ms: bounded.p50Ms, p99Ms: bounded.p99Ms, maxMs: bounded.maxMs, waitP99Ms: bounded.waitP99Ms, waitMaxMs: bounded.waitMaxMs, status503: bounded.status503, poolTimeouts: bounded.poolTimeouts, turnedAwayPercent: turnedAway },
        probe: seen,
      };
      return {
        table: {
          header: [`pool of ${POOL_SIZES[0]}, ${topVus} VUs`, 'ok req/s', '503s', 'p50 ms', 'p99 ms', 'max ms', 'wait p99 ms', 'wait max ms', 'pool timeouts', 'server CPU %'],
          rows: [row('unbounded wait (step 1)', unbounded), row(`--pool-timeout ${LIMITS.POOL_TIMEOUT_MS}`, bounded)],
        },
        reading: `With --pool-timeout ${LIMITS.POOL_TIMEOUT_MS} the wait for a connection is capped: wait p99 ${unbounded.waitP99Ms} → ${bounded.waitP99Ms} ms. ${turnedAway}% of requests
were turned away with 503${probeText} instead of queueing; p50 went ${unbounded.p50Ms} → ${bounded.p50Ms} ms and ${Math.round(bounded.okRps)} req/s
still succeeded (${Math.round(unbounded.okRps)} unbounded)${bounded.okRps < unbounded.okRps / 2 ? ': the server spent its time saying no' : ''}. ${p99Text}`,
        measurements: { unbounded, bounded, probe: seen },
      };
    });

    await lab.step(`Memory per Postgres backend (${POOL_SIZES[POOL_SIZES.length - 1]} connections, after load)`, async () => {
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
      const sharedFactor = rss.avgMb !== null && pss.avgMb !== null && pss.avgMb > 0 ? Math.round((rss.avgMb / pss.avgMb) * 10) / 10 : null;
      return {
        table: {
          header: ['processes', 'count', 'RSS avg MB', 'RSS sum MB', 'Pss avg MB', 'Pss sum MB', 'private avg MB', 'private sum MB'],
          rows: [
            ['client backends (one per connection)', rss.count, rss.avgMb, rss.totalMb, pss.avgMb, pss.totalMb, priv.avgMb, priv.totalMb],
            ['background processes', auxRss.count, auxRss.avgMb, auxRss.totalMb, auxPss.avgMb, auxPss.totalMb, null, null],
          ],
        },
        reading:
          pss.avgMb === null
            ? `Each backend shows ${rss.avgMb} MB resident (RSS, ${read.source}); RSS counts shared pages in every process, so the sum
(${rss.totalMb} MB for ${rss.count}) overstates what they occupy together.`
            : `Each backend shows ${rss.avgMb} MB resident, but RSS counts shared memory (shared_buffers, the binary) in every
process: its fair share (Pss) is ${pss.avgMb} MB and only ${priv.avgMb} MB is its own. ${rss.count} connections cost ${priv.totalMb} MB of
private memory (the RSS sum, ${rss.totalMb} MB, is ${sharedFactor}x too much); at max_connections ${pg.maxConnections}, ~${Math.round((priv.avgMb ?? 0) * pg.maxConnections)} MB before any query sorts.`,
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
      lab.findings.maxConnections = { limit: LIMITS.SMALL_MAX_CONNECTIONS, pool: LIMITS.OVERSIZED_POOL, serveStarted: serveOutcome.started, serveComplaint: serveOutcome.complaint, ...lazy };
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
        reading: `Postgres accepted ${lazy.opened} of the ${LIMITS.OVERSIZED_POOL} connections the pool wanted and refused ${lazy.connectFailures}${lazy.complaint === null ? '' : ` (${lazy.complaint})`}:
${lazy.failed} lookups failed while ${lazy.ok} were served by the connections that did open${serveOutcome.started ? '' : `; serve, which opens its pool up front, refused to start`}.
Every pool of every server instance draws on one max_connections: size pools so their sum fits.`,
        measurements: { serve: serveOutcome, lazy },
      };
    });
  },
};

/** One server, one load run, the pool's own histograms and the CPU of both sides. */
async function runPhase(
  lab: LabContext,
  step: StepContext,
  pg: EmbeddedCluster,
  phase: { pool: number; vus: number; poolTimeoutMs: number | null; durationMs: number },
  hooks: { whileWarm?: () => Promise<void>; duringLoad?: (url: string, signal: AbortSignal) => Promise<void> } = {},
): Promise<Phase> {
  const label = `pool ${phase.pool}, ${phase.vus} VUs${phase.poolTimeoutMs === null ? '' : `, timeout ${phase.poolTimeoutMs} ms`}`;
  step.progress(`${label}: starting the server`);
  const args = ['--db', pg.url, '--pool', String(phase.pool), '--backlog', String(LIMITS.BACKLOG)];
  if (phase.poolTimeoutMs !== null) args.push('--pool-timeout', String(phase.poolTimeoutMs));
  const server = await startLabServer(lab, args);
  try {
    const cpu = startCpuWindow({ pids: [server.pid, process.pid], childrenOf: [pg.postmasterPid] });
    const side = new AbortController();
    const load = runLabLoad(step, { url: `${server.url}/uuid/1`, pathTemplate: UUID_PATH, vus: phase.vus, durationMs: phase.durationMs, timeoutMs: 60_000 }, label);
    // Give the run a moment to fill the queue before asking alongside it.
    const sideTask = hooks.duringLoad === undefined ? Promise.resolve() : sleep(Math.min(1000, phase.durationMs / 3), undefined, { signal: side.signal }).then(() => hooks.duringLoad?.(server.url, side.signal));
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
async function hammerLazyPool(cluster: EmbeddedCluster, signal: AbortSignal): Promise<{ opened: number; connectFailures: number; ok: number; failed: number; complaint: string | null }> {
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
