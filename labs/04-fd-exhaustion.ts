/**
 * Lab 4, 100 → 1,000 users: the server runs out of file descriptors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findPgBinaries } from '../src/db/index.js';
import { countFds } from '../src/metrics/index.js';
import { fetchJson, hasCommand, runLabLoad, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { CLIENT_OUTCOME, runClient, type ClientTrace } from '../src/labs/backlog-kit.js';
import {
  acceptTracePrefix,
  countEmfileAccepts,
  fdLimitPrefix,
  peakDescriptors,
  readDescriptors,
  readFdSoftLimit,
  readTextOrNull,
  watchDescriptors,
  countFdSlots,
  type DescriptorPeak,
  type DescriptorPoint,
} from '../src/labs/fd-kit.js';
import { LAB_ERR, LabError } from '../src/errors.js';
import type { LoadResult } from '../src/load/index.js';
import { formatNumber } from '../src/format/numbers.js';
import type { ServerProcess } from '../src/labs/serve-process.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext, StepTable } from '../src/labs/types.js';
import { AXIS, axis, barChart, lineChart, timeSeries } from '../src/labs/chart-kit.js';

/**
 * 64 descriptors: an idle server already uses a few dozen (stdio, the event loop's epoll and
 * eventfds, libuv's reserve, V8's), so a few dozen clients are enough to reach the limit.
 */
const FD_LIMIT = 64;

/** Requests tried while the server is full: each on a fresh connection. */
const PROBES = 3;
const PROBE_TIMEOUT_MS = 2_000;
const RECOVERY_DEADLINE_MS = 10_000;
const RECOVERY_POLL_MS = 50;
const FD_SAMPLE_MS = 50;

/** The held connections never send a request: the server must not time them out first. */
// --max-connections off: serve's default cap stays a tenth under RLIMIT_NOFILE so that it never
// meets EMFILE; this lab is about what happens when a server does.
const PATIENT_SERVER = ['--keep-alive-timeout', '60000', '--headers-timeout', '60000', '--max-connections', 'off'];

/**
 * Many concurrent /uuid requests through a small pool, then through a pool as large as the
 * requests (a connection per request). The quick form halves the counts: 100 show the same
 * accounting in half the time.
 */
interface AccountingSize {
  vus: number;
  /** The small pool, then one connection per request. */
  pools: readonly [number, number];
  durationMs: number;
}

const ACCOUNTING = { watchEveryMs: 100, drainDeadlineMs: 10_000 } as const;

interface Settings {
  /** Clients that connect and stay, and for how long. */
  hold: { clients: number; holdMs: number };
  accounting: AccountingSize;
}

const SETTINGS: LabSettings<Settings> = {
  quick: { hold: { clients: 100, holdMs: 1_500 }, accounting: { vus: 100, pools: [10, 100], durationMs: 2_000 } },
  full: { hold: { clients: 200, holdMs: 5_000 }, accounting: { vus: 200, pools: [20, 200], durationMs: 8_000 } },
};

interface ServerStatsView {
  pid: number;
  connections: { total: number; open: number };
  acceptErrors: Record<string, number>;
  uptimeMs: number;
  db: { open?: number; size?: number } | null;
}

interface Exhaustion {
  server: ServerProcess;
  limit: number;
  traceFile: string | null;
  load: LoadResult;
  loadEndedAt: number;
}

export const lab: LabDefinition<Settings> = {
  id: 'fd-exhaustion',
  number: 4,
  title: 'Out of file descriptors',
  layer: '100 → 1,000',
  summary: 'a server with a low RLIMIT_NOFILE meets more clients than descriptors: EMFILE at accept, what clients see, recovery; pooled vs unpooled DB descriptors',
  intro: `Every connection a server holds is a file descriptor, and a process may hold only
RLIMIT_NOFILE of them (ulimit -n). Here the server starts with a limit of ${FD_LIMIT} and more
clients than that connect and stay. The kernel still completes every handshake; it is the
server's accept() that fails, with EMFILE. You will see how many clients got in, what the others
saw, whether the process survived, and how soon it served again once clients left. Then the same
accounting for the database: many concurrent /uuid requests through a small pool of connections,
and through a connection per request, counting the descriptors (and processes) on both sides.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const hold = settings.hold;
    const limiter = fdLimitPrefix(FD_LIMIT);
    const traced = hasCommand('strace');
    lab.findings.fdLimit = FD_LIMIT;
    if (!traced) {
      lab.say(
        "strace is not installed, so accept()'s EMFILE failures cannot be counted from the kernel's side; the server's own count (/stats acceptErrors) is shown instead, and libuv hides most of them from it.",
      );
    }

    let exhaustion: Exhaustion | null = null;
    await lab.step(`${hold.clients} clients connect and stay; the server may hold ${FD_LIMIT} descriptors`, async (step) => {
      const dir = traced ? mkdtempSync(path.join(os.tmpdir(), 'socketlab-fd-')) : null;
      let traceFile = dir === null ? null : path.join(dir, 'accept.strace');
      if (dir !== null) lab.track({ name: `strace output ${dir}`, stop: async () => rmSync(dir, { recursive: true, force: true }) });
      const started = await startLimitedServer(lab, limiter.prefix, traceFile);
      const { server } = started;
      traceFile = started.traceFile;
      const limit = readFdSoftLimit(server.pid) ?? FD_LIMIT;
      const slots = (): number | null => countFdSlots(server.pid, limit);
      const atRest = slots();
      const inheritedAbove = (countFds(server.pid) ?? 0) - (atRest ?? 0);
      const sampledFrom = performance.now();
      const fdPoints: { tMs: number; fds: number | null; fdLimit: number }[] = [];
      const sampleFds = (): void => void fdPoints.push({ tMs: Math.round(performance.now() - sampledFrom), fds: slots(), fdLimit: limit });
      sampleFds();
      // unref: should the step fail midway, this must not keep the lab's process alive.
      const sampler = setInterval(sampleFds, FD_SAMPLE_MS).unref();

      const loading = runLabLoad(
        step,
        { url: `${server.url}/healthz`, connections: hold.clients, connectConcurrency: hold.clients, durationMs: hold.holdMs, connectTimeoutMs: 3_000 },
        'holding connections',
      );
      // Once the server's table is full, try real requests on fresh connections.
      const full = await waitUntil(() => (slots() ?? 0) >= limit - 1, 5_000);
      const probes: ClientTrace[] = [];
      for (let i = 0; i < PROBES; i++) {
        probes.push(await runClient({ host: server.host, port: server.port, path: '/healthz', connectTimeoutMs: PROBE_TIMEOUT_MS, responseTimeoutMs: PROBE_TIMEOUT_MS }));
      }
      const aliveWhileFull = isAlive(server.pid);
      const load = await loading;
      const loadEndedAt = performance.now();
      clearInterval(sampler);
      sampleFds();
      exhaustion = { server, limit, traceFile, load, loadEndedAt };

      const peak = Math.max(0, ...fdPoints.map((p) => p.fds ?? 0));
      const s = load.summary;
      const closedEarly = s.failures.closed_early;
      const otherFailures = s.failed - closedEarly;
      const probesServed = probes.filter((p) => p.outcome === CLIENT_OUTCOME.SERVED).length;
      lab.findings.fdLimit = limit;
      lab.findings.clientsFailed = s.failed;
      lab.findings.clientsHeld = s.openAtEnd;
      lab.findings.serverFdsAtRest = atRest;
      lab.findings.serverFdsPeak = peak;
      lab.findings.requestsWhileFull = { tried: probes.length, served: probesServed, outcomes: probeOutcomes(probes) };
      lab.findings.serverAliveWhileFull = aliveWhileFull;
      return {
        tables: [
          {
            header: ['the server', 'descriptors'],
            rows: [
              [`RLIMIT_NOFILE (soft, set with ${limiter.how})`, limit],
              ['open at rest (stdio, epoll, eventfds, libuv, V8)', atRest],
              ['free for connections', atRest === null ? null : limit - atRest],
              ['open at the peak', peak],
              ...(inheritedAbove > 0 ? [[`inherited, numbered ≥ ${limit} (take no slot)`, inheritedAbove]] : []),
            ],
          },
          {
            header: ['the clients (hold model)', 'count'],
            rows: [
              ['connect() calls', s.connects],
              ['handshakes completed (by the kernel)', s.connected],
              ['still open at the end (accepted)', s.openAtEnd],
              ['closed by the server without a byte', closedEarly],
              ['other failures', otherFailures],
            ],
          },
          probeTable(probes),
        ],
        reading: readExhaustion({
          limit,
          atRest,
          connects: s.connects,
          connected: s.connected,
          stayed: s.openAtEnd,
          peak,
          reachedLimit: full,
          closedEarly,
          otherFailures,
          probesTried: probes.length,
          probesServed,
          probeOutcomes: describeOutcomes(probes),
          alive: aliveWhileFull,
        }),
        charts: [
          lineChart(
            {
              title: `The server's descriptors while ${hold.clients} clients connect and stay`,
              caption: 'Every accepted connection is a descriptor; at RLIMIT_NOFILE accept() fails with EMFILE and the rest wait in the kernel.',
            },
            { x: AXIS.SECONDS, y: AXIS.FDS },
            [
              timeSeries(
                'open (numbered below the limit)',
                fdPoints.map((p) => [p.tMs / 1000, p.fds]),
              ),
              timeSeries(
                'RLIMIT_NOFILE',
                fdPoints.map((p) => [p.tMs / 1000, p.fdLimit]),
              ),
            ],
          ),
        ],
        measurements: { limit, atRest, peak, inheritedAbove, fdSeries: fdPoints, load: load.summary, probes, reachedLimit: full },
      };
    });

    await lab.step('The clients leave', async () => {
      const run = exhaustion as Exhaustion | null;
      if (run === null) throw new LabError(LAB_ERR.UNSUPPORTED, 'the exhaustion step did not run, so there is nothing to recover from');
      const { server } = run;
      // The hold's connections are closed as its run ends; the next successful request is
      // the server serving again. Nothing is restarted.
      const recovery = await pollUntilServed(server.host, server.port);
      const recoveryMs = recovery === null ? null : Math.round(recovery.at - run.loadEndedAt);
      const fdsAfter = countFdSlots(server.pid, run.limit);
      const stats = await fetchJson<ServerStatsView>(`${server.url}/stats`);
      const nodeEmfile = stats.acceptErrors.EMFILE ?? 0;
      await stopLabServer(lab, server);
      const straceText = run.traceFile === null ? null : readTextOrNull(run.traceFile);
      const kernelEmfile = straceText === null ? null : countEmfileAccepts(straceText);
      const emfileEvents = kernelEmfile ?? nodeEmfile;
      lab.findings.recovered = recovery !== null;
      lab.findings.recoveryMs = recoveryMs;
      lab.findings.emfileEvents = emfileEvents;
      lab.findings.emfileSource = kernelEmfile === null ? "the server's /stats acceptErrors (strace unavailable)" : 'strace: accept4() calls that returned EMFILE';
      lab.findings.emfileReportedByServer = nodeEmfile;
      lab.findings.connectionsAccepted = stats.connections.total;
      return {
        table: {
          header: ['after the clients left', 'value'],
          rows: [
            ['first /healthz answered (ms after the clients left)', recoveryMs],
            ['server descriptors now', fdsAfter],
            ['connections the server accepted in all (/stats)', stats.connections.total],
            ['accept() failures the server heard of (/stats acceptErrors.EMFILE)', nodeEmfile],
            ['accept4() calls that failed with EMFILE (strace)', kernelEmfile],
            ['server uptime (ms): the same process throughout', stats.uptimeMs],
          ],
        },
        reading: readRecovery({
          recoveryMs,
          deadlineMs: RECOVERY_DEADLINE_MS,
          fdsAfter,
          sameProcess: stats.pid === server.pid,
          kernelEmfile,
          nodeEmfile,
          clientsFailed: run.load.summary.failed,
        }),
        measurements: { recoveryMs, fdsAfter, stats, kernelEmfile, nodeEmfile },
      };
    });

    const accounting = settings.accounting;
    const accountingTitle = `${accounting.vus} concurrent /uuid requests: a pool of ${accounting.pools[0]} vs a connection per request`;
    if (findPgBinaries() === null) {
      const reason = 'PostgreSQL server binaries were not found (apt-get install postgresql)';
      lab.skip(accountingTitle, reason);
      lab.findings.fdsPooled = null;
      lab.findings.fdsUnpooled = null;
      lab.findings.fdAccountingSkipped = reason;
      return;
    }
    await lab.step(accountingTitle, (step) => accountDescriptors(lab, step, accounting));
  },
};

interface AccountingRun {
  pool: number;
  atRest: DescriptorPoint;
  peak: DescriptorPeak;
  /** PostgreSQL alone, before this run's server started (its pool opens at start). */
  baseline: DescriptorPoint;
  series: DescriptorPoint[];
  load: LoadResult;
  poolOpen: number | null;
}

async function accountDescriptors(
  lab: LabContext,
  step: StepContext,
  size: AccountingSize,
): Promise<{ tables: StepTable[]; reading: string; charts: ChartDeclaration[]; measurements: Record<string, unknown> }> {
  step.progress('starting PostgreSQL');
  const cluster = await startLabDatabase(lab);
  const { vus, pools, durationMs } = size;
  // One run a side, not interleaved rounds: what this step compares are counts (backends,
  // processes, descriptors at the peak), which the pool size sets exactly and the machine's
  // speed does not move. Throughput is not compared here: one run of it would be noise (lab 2
  // and lab 5 compare it, with rounds).
  const runs: AccountingRun[] = [];
  for (const pool of pools) {
    step.progress(`pool of ${pool}: starting the server`);
    const baseline = readDescriptors(null, cluster.postmasterPid);
    const server = await startLabServer(lab, ['--db', cluster.url, '--pool', String(pool), '--pool-batch', 'off']);
    const atRest = readDescriptors(server.pid, cluster.postmasterPid);
    const watch = watchDescriptors(server.pid, cluster.postmasterPid, ACCOUNTING.watchEveryMs);
    let load: LoadResult;
    let series: DescriptorPoint[];
    try {
      load = await runLabLoad(step, { url: `${server.url}/uuid/1`, pathTemplate: '/uuid/{1..1000}', vus, durationMs, keepAlive: true }, `pool of ${pool}`);
    } finally {
      series = watch.stop();
    }
    const stats = await fetchJson<ServerStatsView>(`${server.url}/stats`);
    await stopLabServer(lab, server);
    // The pool's connections close with the server; wait for their backends to exit so
    // the next run starts from the same Postgres.
    await waitUntil(() => readDescriptors(null, cluster.postmasterPid).backends === 0, ACCOUNTING.drainDeadlineMs);
    runs.push({ pool, baseline, atRest, peak: peakDescriptors(series), series, load, poolOpen: stats.db?.open ?? null });
  }
  const [pooled, unpooled] = runs as [AccountingRun, AccountingRun];
  const summary = (run: AccountingRun): Record<string, number> => ({
    server: run.peak.fds,
    postgres: run.peak.postgresFds,
    total: run.peak.fds + run.peak.postgresFds,
    backends: run.peak.backends,
    postgresProcesses: run.peak.postgresProcesses,
  });
  lab.findings.fdsPooled = summary(pooled);
  lab.findings.fdsUnpooled = summary(unpooled);
  lab.findings.postgresMaxConnections = cluster.maxConnections;
  lab.findings.accounting = { vus, pools };
  const perBackend = (run: AccountingRun): number | null =>
    run.peak.backends === 0 ? null : Math.round(((run.peak.postgresFds - run.baseline.postgresFds) / run.peak.backends) * 10) / 10;
  const column = (run: AccountingRun): (number | null)[] => [
    run.peak.backends,
    run.peak.fds,
    run.peak.postgresProcesses,
    run.peak.postgresFds,
    perBackend(run),
    run.peak.fds + run.peak.postgresFds,
    run.load.summary.failed,
  ];
  const labels = [
    'PostgreSQL backends (connections) at the peak',
    'server descriptors at the peak (clients + pool + its own)',
    'PostgreSQL processes at the peak',
    'PostgreSQL descriptors at the peak (all processes)',
    'descriptors per backend',
    'descriptors, both sides',
    'failed requests',
  ];
  const side = (run: AccountingRun): AccountingSide => ({
    pool: run.pool,
    backends: run.peak.backends,
    serverFds: run.peak.fds,
    postgresFds: run.peak.postgresFds,
    postgresBaselineFds: run.baseline.postgresFds,
    postgresProcesses: run.peak.postgresProcesses,
    failed: run.load.summary.failed,
  });
  return {
    tables: [
      {
        header: ['', `pool of ${pooled.pool}`, `pool of ${unpooled.pool} (one per request)`],
        rows: labels.map((label, i) => [label, column(pooled)[i] ?? null, column(unpooled)[i] ?? null]),
      },
    ],
    reading: readAccounting({ vus, maxConnections: cluster.maxConnections, pooled: side(pooled), unpooled: side(unpooled) }),
    charts: accountingCharts(vus, runs),
    measurements: {
      durationMs,
      runs: runs.map((run) => ({ pool: run.pool, baseline: run.baseline, atRest: run.atRest, peak: run.peak, poolOpen: run.poolOpen, load: run.load.summary, series: run.series })),
    },
  };
}

/** Descriptors at the peak on both sides, per pool; and PostgreSQL's over each run. */
function accountingCharts(vus: number, runs: readonly AccountingRun[]): ChartDeclaration[] {
  const name = (run: AccountingRun, i: number): string => (i === runs.length - 1 ? `pool of ${run.pool} (one per request)` : `pool of ${run.pool}`);
  return [
    barChart(
      {
        title: `Descriptors at the peak of ${vus} concurrent /uuid requests, by pool`,
        caption: 'Each pooled connection is a socket in the server and a backend process in PostgreSQL, with descriptors of its own.',
      },
      { x: axis('pool'), y: AXIS.FDS },
      runs.map(name),
      [
        { name: 'server', values: runs.map((r) => r.peak.fds) },
        { name: 'PostgreSQL (all processes)', values: runs.map((r) => r.peak.postgresFds) },
      ],
    ),
    lineChart(
      { title: "PostgreSQL's descriptors during each run", caption: 'The postmaster and every backend together, sampled while the load ran.' },
      { x: AXIS.SECONDS, y: AXIS.FDS },
      runs.map((run, i) =>
        timeSeries(
          name(run, i),
          run.series.map((p) => [p.tMs / 1000, p.postgresFds]),
        ),
      ),
    ),
  ];
}

/**
 * The server under its descriptor limit, and under strace when it can be traced. strace
 * may be installed yet not allowed to trace (a container without CAP_SYS_PTRACE): then
 * the server runs untraced and the lab says what it cannot count.
 */
async function startLimitedServer(lab: LabContext, limitPrefix: string[], traceFile: string | null): Promise<{ server: ServerProcess; traceFile: string | null }> {
  if (traceFile !== null) {
    try {
      return { server: await startLabServer(lab, PATIENT_SERVER, { prefix: [...limitPrefix, ...acceptTracePrefix(traceFile)] }), traceFile };
    } catch (error) {
      lab.say(
        `The server could not run under strace (${error instanceof Error ? error.message.split('\n')[0] : String(error)}), so it runs untraced and accept()'s EMFILE failures are not counted from the kernel's side.`,
      );
    }
  }
  return { server: await startLabServer(lab, PATIENT_SERVER, { prefix: limitPrefix }), traceFile: null };
}

function probeTable(probes: readonly ClientTrace[]): StepTable {
  return {
    header: ['request while full', 'connected after ms', 'outcome', 'errno'],
    rows: probes.map((probe, i) => [
      `GET /healthz #${i + 1}`,
      probe.connectMs,
      probe.outcome === CLIENT_OUTCOME.SERVED ? `served (${probe.status})` : `${probe.outcome}${probe.failedAfterConnect ? ' after connect' : ''}`,
      probe.error,
    ]),
  };
}

function probeOutcomes(probes: readonly ClientTrace[]): Record<string, number> {
  const outcomes: Record<string, number> = {};
  for (const probe of probes) outcomes[probe.outcome] = (outcomes[probe.outcome] ?? 0) + 1;
  return outcomes;
}

function describeOutcomes(probes: readonly ClientTrace[]): string {
  return Object.entries(probeOutcomes(probes))
    .map(
      ([outcome, n]) => `${outcome === CLIENT_OUTCOME.RESET ? 'reset after the handshake' : outcome === CLIENT_OUTCOME.CLOSED_EARLY ? 'closed without an answer' : outcome}: ${n}`,
    )
    .join(', ');
}

/** Poll a fresh request until one is served; null past the deadline. */
async function pollUntilServed(host: string, port: number): Promise<{ at: number; trace: ClientTrace } | null> {
  const deadline = performance.now() + RECOVERY_DEADLINE_MS;
  while (performance.now() < deadline) {
    const trace = await runClient({ host, port, path: '/healthz', connectTimeoutMs: PROBE_TIMEOUT_MS, responseTimeoutMs: PROBE_TIMEOUT_MS });
    if (trace.outcome === CLIENT_OUTCOME.SERVED) return { at: performance.now(), trace };
    await delay(RECOVERY_POLL_MS);
  }
  return null;
}

/** Poll `condition` every 20 ms until it holds (true) or the deadline passes (false). */
async function waitUntil(condition: () => boolean, deadlineMs: number): Promise<boolean> {
  const deadline = performance.now() + deadlineMs;
  while (performance.now() < deadline) {
    if (condition()) return true;
    await delay(20);
  }
  return condition();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const n = (value: number | null | undefined): string => (value === null || value === undefined ? '?' : formatNumber(value));

// ── Readings: each a pure function of what was measured, so a test can feed it other numbers ──

export interface ExhaustionReading {
  limit: number;
  atRest: number | null;
  connects: number;
  /** Handshakes the kernel completed (the client's connect() succeeded). */
  connected: number;
  /** Connections still open at the end: the ones the server accepted and kept. */
  stayed: number;
  peak: number;
  /** Did the server's descriptors reach the limit (less one) while the clients held on? */
  reachedLimit: boolean;
  closedEarly: number;
  otherFailures: number;
  probesTried: number;
  probesServed: number;
  probeOutcomes: string;
  alive: boolean;
}

export function readExhaustion(m: ExhaustionReading): string {
  const free = m.atRest === null ? '?' : String(m.limit - m.atRest);
  const handshakes =
    m.connected === m.connects
      ? `All ${n(m.connected)} of ${n(m.connects)} handshakes completed (the kernel does that alone)`
      : `${n(m.connected)} of ${n(m.connects)} handshakes completed`;
  const stayed =
    m.stayed < m.connected
      ? `,\nbut only ${n(m.stayed)} connections stayed: the server reached ${n(m.peak)} descriptors${m.reachedLimit ? ' (its limit)' : ' (never its limit)'}`
      : `,\nand all ${n(m.stayed)} stayed: the server reached ${n(m.peak)} descriptors${m.reachedLimit ? ' (its limit)' : ' (never its limit)'}`;
  const closed = m.closedEarly > 0 ? ` and ${n(m.closedEarly)} clients were closed without a byte` : '';
  const other = m.otherFailures > 0 ? ` (${n(m.otherFailures)} other failures)` : '';
  const probes = `Requests sent meanwhile: ${m.probesServed} of ${m.probesTried} answered${m.probeOutcomes === '' ? '' : ` (${m.probeOutcomes})`}.`;
  const process = m.alive ? 'The process stayed up: out of descriptors, it turned clients away and did not crash.' : 'The process DIED while it was out of descriptors.';
  return `At rest the server held ${m.atRest ?? '?'} of its ${m.limit} descriptors, leaving ${free} for clients.
${handshakes}${stayed}${closed}${other}.
${probes}
${process}`;
}

export interface RecoveryReading {
  /** From the clients leaving to the first answer; null: none within the deadline. */
  recoveryMs: number | null;
  deadlineMs: number;
  fdsAfter: number | null;
  /** Was /stats answered by the process that ran out of descriptors (same pid)? */
  sameProcess: boolean;
  /** accept4() calls that failed with EMFILE (strace); null: not traced. */
  kernelEmfile: number | null;
  /** EMFILE accept errors the server's own /stats counted. */
  nodeEmfile: number;
  clientsFailed: number;
}

export function readRecovery(m: RecoveryReading): string {
  const lines: string[] = [];
  if (m.recoveryMs === null) lines.push(`No answer within ${m.deadlineMs} ms of the clients leaving: the server did NOT recover.`);
  else {
    lines.push(
      `The server answered ${m.recoveryMs} ms after the clients left, with ${m.fdsAfter ?? '?'} descriptors open again${m.sameProcess ? ': the same process, no restart; it simply had room' : ', but /stats came from another process'}.`,
    );
  }
  if (m.kernelEmfile === null) lines.push(`strace could not run, so the kernel's EMFILE answers were not counted; the server heard of ${m.nodeEmfile}.`);
  else if (m.kernelEmfile === 0) lines.push(`accept4() never failed with EMFILE (strace counted none); the server heard of ${m.nodeEmfile}.`);
  else if (m.nodeEmfile < m.kernelEmfile) {
    lines.push(`accept4() failed with EMFILE ${m.kernelEmfile} times, yet the server heard of ${m.nodeEmfile}: on EMFILE libuv closes a spare descriptor it keeps for
this, accepts every waiting connection and closes it at once, and reports nothing when that works.`);
  } else lines.push(`accept4() failed with EMFILE ${m.kernelEmfile} times and the server heard of ${m.nodeEmfile}.`);
  if (m.clientsFailed > 0 && m.nodeEmfile === 0)
    lines.push(`So the turned-away clients are visible only on their side (${n(m.clientsFailed)} failed), never in the server's own error counts.`);
  else if (m.clientsFailed > 0) lines.push(`The clients saw ${n(m.clientsFailed)} failures; the server counted ${n(m.nodeEmfile)} accept errors.`);
  return lines.join('\n');
}

export interface AccountingSide {
  pool: number;
  /** The peaks over the run. */
  backends: number;
  serverFds: number;
  postgresFds: number;
  /** PostgreSQL's descriptors before this run's server started. */
  postgresBaselineFds: number;
  postgresProcesses: number;
  failed: number;
}

export function readAccounting(m: { vus: number; maxConnections: number; pooled: AccountingSide; unpooled: AccountingSide }): string {
  const { pooled: p, unpooled: u } = m;
  const total = (side: AccountingSide): number => side.serverFds + side.postgresFds;
  const lines = [
    `${m.vus} requests at once through a pool of ${p.pool}: ${p.backends} backends, ${n(total(p))} descriptors on both sides. A connection per request: ${u.backends} backends
(of max_connections ${m.maxConnections}), ${u.postgresProcesses} PostgreSQL processes and ${n(total(u))} descriptors${total(p) > 0 ? `, ${Math.round((total(u) / total(p)) * 10) / 10}x as many` : ''}.`,
  ];
  const extraBackends = u.backends - p.backends;
  if (extraBackends > 0) {
    const serverEach = Math.round(((u.serverFds - p.serverFds) / extraBackends) * 10) / 10;
    const postgresEach = Math.round(((u.postgresFds - u.postgresBaselineFds - (p.postgresFds - p.postgresBaselineFds)) / extraBackends) * 10) / 10;
    lines.push(
      `Each extra connection cost about ${n(serverEach)} descriptor${serverEach === 1 ? '' : 's'} in the server and a process with about ${n(postgresEach)} of its own in PostgreSQL.`,
    );
  } else {
    lines.push(`The larger pool held no more backends at its peak (${u.backends} against ${p.backends}): these requests never needed more connections at once.`);
  }
  if (p.failed > 0 || u.failed > 0) lines.push(`Failed requests: ${n(p.failed)} through the pool of ${p.pool}, ${n(u.failed)} with a connection per request.`);
  return lines.join('\n');
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
