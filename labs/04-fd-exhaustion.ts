/**
 * Lab 4, 100 → 1,000 users: the server runs out of file descriptors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findPgBinaries } from '../src/db/index.js';
import { countFds } from '../src/metrics/index.js';
import { fetchJson, hasCommand, pick, runLabLoad, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
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
import { formatNumber } from '../src/report/table.js';
import type { ServerProcess } from '../src/server/serve-process.js';
import type { LabContext, LabDefinition, StepContext, StepTable } from '../src/labs/types.js';

/**
 * 64 descriptors: an idle server already uses a few dozen (stdio, the event loop's epoll and
 * eventfds, libuv's reserve, V8's), so a few dozen clients are enough to reach the limit.
 */
const FD_LIMIT = 64;

const HOLD: { quick: { clients: number; holdMs: number }; full: { clients: number; holdMs: number } } = {
  quick: { clients: 100, holdMs: 1_500 },
  full: { clients: 200, holdMs: 5_000 },
};

/** Requests tried while the server is full: each on a fresh connection. */
const PROBES = 3;
const PROBE_TIMEOUT_MS = 2_000;
const RECOVERY_DEADLINE_MS = 10_000;
const RECOVERY_POLL_MS = 50;
const FD_SAMPLE_MS = 50;

/** The held connections never send a request: the server must not time them out first. */
const PATIENT_SERVER = ['--keep-alive-timeout', '60000', '--headers-timeout', '60000'];

const ACCOUNTING = {
  vus: 200,
  pools: [20, 200],
  quickMs: 2_000,
  fullMs: 8_000,
  watchEveryMs: 100,
  drainDeadlineMs: 10_000,
} as const;

interface ServerStatsView {
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

export const lab: LabDefinition = {
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
accounting for the database: 200 concurrent /uuid requests through a pool of 20 connections, and
through a connection per request, counting the descriptors (and processes) on both sides.`,

  async run(lab: LabContext) {
    const hold = pick(lab, HOLD.quick, HOLD.full);
    const limiter = fdLimitPrefix(FD_LIMIT);
    const traced = hasCommand('strace');
    lab.findings.fdLimit = FD_LIMIT;
    if (!traced) {
      lab.say("strace is not installed, so accept()'s EMFILE failures cannot be counted from the kernel's side; the server's own count (/stats acceptErrors) is shown instead, and libuv hides most of them from it.");
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
        reading: `At rest the server held ${atRest ?? '?'} of its ${limit} descriptors, leaving ${atRest === null ? '?' : limit - atRest} for clients. All ${s.connected} of ${s.connects} handshakes completed
(the kernel does that alone), but only ${s.openAtEnd} connections stayed: the server reached ${peak} descriptors${full ? '' : ' (never its limit)'} and ${closedEarly} clients
were closed without a byte. Requests sent meanwhile: ${probesServed} of ${probes.length} answered (${describeOutcomes(probes)}).
The process ${aliveWhileFull ? 'stayed up' : 'DIED'}: out of descriptors, it turns clients away; it does not crash.`,
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
      lab.findings.emfileSource = kernelEmfile === null ? 'the server\'s /stats acceptErrors (strace unavailable)' : 'strace: accept4() calls that returned EMFILE';
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
        reading: `${recovery === null ? `No answer within ${RECOVERY_DEADLINE_MS} ms of the clients leaving: the server did NOT recover.` : `The server answered ${recoveryMs} ms after the clients left, with ${fdsAfter ?? '?'} descriptors open again: no restart, it simply had room.`}
${kernelEmfile === null ? `strace could not run, so the kernel's EMFILE answers were not counted; the server heard of ${nodeEmfile}.` : `accept4() failed with EMFILE ${kernelEmfile} times, yet the server heard of ${nodeEmfile}: on EMFILE libuv closes a spare descriptor it keeps for
this, accepts every waiting connection and closes it at once, and reports nothing when that works.`} So the turned-away
clients are visible only on their side (${run.load.summary.failed} failed), never in the server's own error counts.`,
        measurements: { recoveryMs, fdsAfter, stats, kernelEmfile, nodeEmfile },
      };
    });

    const accountingTitle = `${ACCOUNTING.vus} concurrent /uuid requests: a pool of ${ACCOUNTING.pools[0]} vs a connection per request`;
    if (findPgBinaries() === null) {
      const reason = 'PostgreSQL server binaries were not found (apt-get install postgresql)';
      lab.skip(accountingTitle, reason);
      lab.findings.fdsPooled = null;
      lab.findings.fdsUnpooled = null;
      lab.findings.fdAccountingSkipped = reason;
      return;
    }
    await lab.step(accountingTitle, (step) => accountDescriptors(lab, step));
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

async function accountDescriptors(lab: LabContext, step: StepContext): Promise<{ tables: StepTable[]; reading: string; measurements: Record<string, unknown> }> {
  step.progress('starting PostgreSQL');
  const cluster = await startLabDatabase(lab);
  const durationMs = pick(lab, ACCOUNTING.quickMs, ACCOUNTING.fullMs);
  const runs: AccountingRun[] = [];
  for (const pool of ACCOUNTING.pools) {
    step.progress(`pool of ${pool}: starting the server`);
    const baseline = readDescriptors(null, cluster.postmasterPid);
    const server = await startLabServer(lab, ['--db', cluster.url, '--pool', String(pool)]);
    const atRest = readDescriptors(server.pid, cluster.postmasterPid);
    const watch = watchDescriptors(server.pid, cluster.postmasterPid, ACCOUNTING.watchEveryMs);
    let load: LoadResult;
    let series: DescriptorPoint[];
    try {
      load = await runLabLoad(step, { url: `${server.url}/uuid/1`, pathTemplate: '/uuid/{1..1000}', vus: ACCOUNTING.vus, durationMs, keepAlive: true }, `pool of ${pool}`);
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
  const perBackend = (run: AccountingRun): number | null =>
    run.peak.backends === 0 ? null : Math.round(((run.peak.postgresFds - run.baseline.postgresFds) / run.peak.backends) * 10) / 10;
  const ratio = (a: number, b: number): string => (b === 0 ? '?' : `${Math.round((a / b) * 10) / 10}x`);
  const column = (run: AccountingRun): (number | null)[] => [
    run.peak.backends,
    run.peak.fds,
    run.peak.postgresProcesses,
    run.peak.postgresFds,
    perBackend(run),
    run.peak.fds + run.peak.postgresFds,
    Math.round(run.load.summary.rps),
    run.load.summary.latency.total.p99Ms,
    run.load.summary.failed,
  ];
  const labels = [
    'PostgreSQL backends (connections) at the peak',
    'server descriptors at the peak (clients + pool + its own)',
    'PostgreSQL processes at the peak',
    'PostgreSQL descriptors at the peak (all processes)',
    'descriptors per backend',
    'descriptors, both sides',
    'req/s',
    'p99 ms',
    'failed requests',
  ];
  const p = summary(pooled);
  const u = summary(unpooled);
  return {
    tables: [
      {
        header: ['', `pool of ${pooled.pool}`, `pool of ${unpooled.pool} (one per request)`],
        rows: labels.map((label, i) => [label, column(pooled)[i] ?? null, column(unpooled)[i] ?? null]),
      },
    ],
    reading: `${ACCOUNTING.vus} requests at once through a pool of ${pooled.pool}: ${p.backends} backends, ${n(p.total)} descriptors on both sides. A connection per request: ${u.backends} backends
(of max_connections ${cluster.maxConnections}), ${u.postgresProcesses} PostgreSQL processes and ${n(u.total)} descriptors, ${ratio(u.total ?? 0, p.total ?? 0)} as many: each connection is one
descriptor in the server plus a process with about ${perBackend(unpooled) ?? '?'} of its own in PostgreSQL, for ${n(Math.round(unpooled.load.summary.rps))} req/s against ${n(Math.round(pooled.load.summary.rps))}.`,
    measurements: {
      durationMs,
      runs: runs.map((run) => ({ pool: run.pool, baseline: run.baseline, atRest: run.atRest, peak: run.peak, poolOpen: run.poolOpen, load: run.load.summary, series: run.series })),
    },
  };
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
      lab.say(`The server could not run under strace (${error instanceof Error ? error.message.split('\n')[0] : String(error)}), so it runs untraced and accept()'s EMFILE failures are not counted from the kernel's side.`);
    }
  }
  return { server: await startLabServer(lab, PATIENT_SERVER, { prefix: limitPrefix }), traceFile: null };
}

function probeTable(probes: readonly ClientTrace[]): StepTable {
  return {
    header: ['request while full', 'connected after ms', 'outcome', 'errno'],
    rows: probes.map((probe, i) => [`GET /healthz #${i + 1}`, probe.connectMs, probe.outcome === CLIENT_OUTCOME.SERVED ? `served (${probe.status})` : `${probe.outcome}${probe.failedAfterConnect ? ' after connect' : ''}`, probe.error]),
  };
}

function probeOutcomes(probes: readonly ClientTrace[]): Record<string, number> {
  const outcomes: Record<string, number> = {};
  for (const probe of probes) outcomes[probe.outcome] = (outcomes[probe.outcome] ?? 0) + 1;
  return outcomes;
}

function describeOutcomes(probes: readonly ClientTrace[]): string {
  return Object.entries(probeOutcomes(probes))
    .map(([outcome, n]) => `${outcome === CLIENT_OUTCOME.RESET ? 'reset after the handshake' : outcome === CLIENT_OUTCOME.CLOSED_EARLY ? 'closed without an answer' : outcome}: ${n}`)
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

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
