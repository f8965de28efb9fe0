/**
 * Lab 3, 100 → 1,000 users: the accept queue overflows.
 */
import { startLabServer, stopLabServer } from '../src/labs/kit.js';
import { createNamespace, namespaceUnavailableReason, type Namespace } from '../src/labs/netns.js';
import {
  burstTimeline,
  classifyClients,
  CLIENT_OUTCOME,
  CONNECT_CLASS,
  failureKinds,
  runBurstProcess,
  shapeLoopback,
  shapedLinkUnavailableReason,
  sparkline,
  LOOPBACK_LINK,
  type BurstClasses,
  type BurstOptions,
  type BurstReport,
  type ClientTrace,
} from '../src/labs/backlog-kit.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext, StepTable } from '../src/labs/types.js';
import { AXIS, axis, barChart, lineChart, timeSeries } from '../src/labs/chart-kit.js';

/** A small backlog and a server that accepts slowly: the two things that fill the queue. */
const SERVER = {
  SMALL_BACKLOG: 8,
  /** Far above net.core.somaxconn, to show the kernel's silent cap. */
  LARGE_BACKLOG: 65_535,
  ACCEPTS_PER_SECOND: 20,
} as const;

/**
 * Quick: 40 clients, and a 2.5 s connect timeout, so a client whose SYN needs a second
 * retransmission (at ~3 s) counts as failed: the run stays a few seconds long. Full: 100
 * clients and 8 s, which lets the retransmissions at ~1 s, ~3 s and ~7 s all be seen.
 */
interface BurstSize {
  clients: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

const BURST: LabSettings<BurstSize> = {
  quick: { clients: 40, connectTimeoutMs: 2_500, responseTimeoutMs: 4_000 },
  full: { clients: 100, connectTimeoutMs: 8_000, responseTimeoutMs: 10_000 },
};

const ROUTE = '/age?birthdate=1993-05-01';
const QUEUE_SAMPLE_MS = 50;
const TIMELINE_ROWS = 12;
const SPARKLINE_WIDTH = 80;

/** Where a burst runs: its own namespace (clean counters, its own sysctls) or the machine's. */
interface Setting {
  backlog: number;
  abortOnOverflow: boolean;
  /** Shape the namespace's loopback so SYNs and final ACKs are apart in time, as on a network. */
  shapedLink: boolean;
}

interface BurstRun {
  report: BurstReport;
  classes: BurstClasses;
}

export const lab: LabDefinition<BurstSize> = {
  id: 'backlog-overflow',
  number: 3,
  title: 'The accept queue overflows',
  layer: '100 → 1,000',
  summary: 'a burst meets a small backlog and slow accepts: the queue fills, the kernel drops handshakes, clients retry after 1 s, 3 s...',
  intro: `A client's connect() finishes in the kernel: the handshake completes and the connection
waits in the listening socket's accept queue until the server calls accept(). The queue holds
at most the listen() backlog, capped by net.core.somaxconn. Here the server accepts only
${SERVER.ACCEPTS_PER_SECOND} connections a second (a server too busy to call accept()) behind a backlog of ${SERVER.SMALL_BACKLOG}, and a burst of
clients arrives at once. You will see the queue fill, the kernel count what it drops
(ListenOverflows, ListenDrops), and what each client lives through: connected at once, connected
only after its SYN was sent again (1 s later, then 3 s, 7 s...), or not at all, while the
server's own timings say everything is fine. Then the same burst with a large backlog, and
with tcp_abort_on_overflow=1, which answers an overflow with a reset instead of silence.`,
  settings: BURST,

  async run(lab: LabContext, burst: BurstSize) {
    const unavailable = await namespaceUnavailableReason();
    if (unavailable === null) {
      lab.say('Every burst runs in a private network namespace made for it (server and clients inside), so the kernel counters count that burst and nothing else on this machine.');
    } else {
      lab.say(
        `No private network namespace here (${unavailable}): the bursts run in this machine's own namespace, where other programs' connections may add to the kernel counters.`,
      );
    }
    lab.findings.namespace = unavailable === null;
    if (unavailable !== null) lab.findings.namespaceReason = unavailable;
    lab.findings.connectClassification = `at once: connected in under ${CONNECT_CLASS.AT_ONCE_BELOW_MS} ms; after retry: ${CONNECT_CLASS.AFTER_RETRY_FROM_MS} ms or more (the first SYN retransmission is at 1 s); failed: never served (connect timeout ${burst.connectTimeoutMs} ms, reset, or no answer within ${burst.responseTimeoutMs} ms)`;

    const runOne = (step: StepContext, setting: Setting, label: string): Promise<BurstRun> => runSetting(lab, step, setting, { ...burst, label }, unavailable === null);

    await lab.step(`${burst.clients} clients at once; backlog ${SERVER.SMALL_BACKLOG}, ${SERVER.ACCEPTS_PER_SECOND} accepts/s`, async (step) => {
      const { report, classes } = await runOne(step, { backlog: SERVER.SMALL_BACKLOG, abortOnOverflow: false, shapedLink: false }, 'small backlog');
      const c = report.counters;
      const stats = report.serverStats;
      const peak = queuePeak(report);
      const capacity = queueCapacity(report);
      const served = classes.atOnce.length + classes.afterRetry.length + classes.slow.length;
      const waitMax = maxOf(report.clients.map(waitedMs));
      const serverTotal = stats?.stages.intervals.total ?? null;
      lab.findings.effectiveBacklog = stats?.backlog.effective ?? capacity;
      lab.findings.listenOverflows = c['TcpExt.ListenOverflows'] ?? null;
      lab.findings.listenDrops = c['TcpExt.ListenDrops'] ?? null;
      lab.findings.clientsConnectedAtOnce = classes.atOnce.length;
      lab.findings.clientsConnectedAfterRetry = classes.afterRetry.length;
      lab.findings.clientsConnectedSlowly = classes.slow.length;
      lab.findings.clientsFailed = classes.failed.length;
      lab.findings.failureKinds = failureKinds(classes.failed);
      lab.findings.queuePeak = peak;
      return {
        tables: [timelineTable(report), queueSparkline(report), clientTable(classes), counterTable(report), serverTable(report)],
        reading: readSmallBacklog({
          peak,
          capacity,
          sampleMs: QUEUE_SAMPLE_MS,
          atOnce: classes.atOnce.length,
          afterRetry: classes.afterRetry.length,
          failed: classes.failed.length,
          afterRetryConnectP50Ms: percentile(
            classes.afterRetry.map((t) => t.connectMs),
            50,
          ),
          afterRetryAnswerP50Ms: percentile(
            classes.afterRetry.map((t) => t.responseMs),
            50,
          ),
          overflows: c['TcpExt.ListenOverflows'] ?? null,
          drops: c['TcpExt.ListenDrops'] ?? null,
          served: serverTotal?.count ?? served,
          serverP50Ms: serverTotal?.p50Ms ?? null,
          serverP99Ms: serverTotal?.p99Ms ?? null,
          waitMaxMs: waitMax,
          cookiesSent: c['TcpExt.SyncookiesSent'] ?? 0,
          cookiesRecv: c['TcpExt.SyncookiesRecv'] ?? 0,
          reqQFullDrops: c['TcpExt.TCPReqQFullDrop'] ?? 0,
          syncookies: report.sysctls['net.ipv4.tcp_syncookies'] ?? null,
        }),
        charts: [queueChart(report, `backlog ${SERVER.SMALL_BACKLOG}`), clientsChart([[`backlog ${SERVER.SMALL_BACKLOG}`, classes]])],
        measurements: { ...runMeasurements(report, classes) },
      };
    });

    const smallOverflows = (lab.findings.listenOverflows as number | null | undefined) ?? null;
    await lab.step(`The same burst with backlog ${SERVER.LARGE_BACKLOG} (the kernel caps it at somaxconn)`, async (step) => {
      const { report, classes } = await runOne(step, { backlog: SERVER.LARGE_BACKLOG, abortOnOverflow: false, shapedLink: false }, 'large backlog');
      const c = report.counters;
      const backlog = report.serverStats?.backlog ?? null;
      const peak = queuePeak(report);
      const connectMax = maxOf(report.clients.map((t) => t.connectMs));
      const waitMax = maxOf(report.clients.map(waitedMs));
      lab.findings.largeBacklog = {
        requested: backlog?.requested ?? SERVER.LARGE_BACKLOG,
        somaxconn: backlog?.somaxconn ?? null,
        effectiveBacklog: backlog?.effective ?? queueCapacity(report),
        queuePeak: peak,
        listenOverflows: c['TcpExt.ListenOverflows'] ?? null,
        listenDrops: c['TcpExt.ListenDrops'] ?? null,
        clientsConnectedAtOnce: classes.atOnce.length,
        clientsConnectedAfterRetry: classes.afterRetry.length,
        clientsConnectedSlowly: classes.slow.length,
        clientsFailed: classes.failed.length,
        longestWaitMs: waitMax,
      };
      return {
        tables: [timelineTable(report), queueSparkline(report), clientTable(classes), counterTable(report)],
        reading: readLargeBacklog({
          requested: backlog?.requested ?? SERVER.LARGE_BACKLOG,
          effective: backlog?.effective ?? null,
          somaxconn: backlog?.somaxconn ?? null,
          peak,
          overflows: c['TcpExt.ListenOverflows'] ?? null,
          smallOverflows: smallOverflows,
          clients: report.clients.length,
          atOnce: classes.atOnce.length,
          afterRetry: classes.afterRetry.length,
          failed: classes.failed.length,
          connectMaxMs: connectMax,
          waitMaxMs: waitMax,
          acceptsPerSecond: SERVER.ACCEPTS_PER_SECOND,
        }),
        charts: [queueChart(report, `backlog ${SERVER.LARGE_BACKLOG} asked`), clientsChart([[`backlog ${SERVER.LARGE_BACKLOG} asked`, classes]])],
        measurements: runMeasurements(report, classes),
      };
    });

    const abortTitle = 'tcp_abort_on_overflow=1: a reset instead of silence';
    // The link probe makes a namespace of its own, so it runs only where one can be made.
    const linkUnavailable = unavailable !== null ? null : await shapedLinkUnavailableReason(lab);
    if (unavailable !== null) {
      lab.skip(
        abortTitle,
        `tcp_abort_on_overflow is set per network namespace and a private one cannot be made here (${unavailable}); changing the machine's own would affect every server on it`,
      );
      lab.findings.abortOnOverflow = { skipped: unavailable };
    } else if (linkUnavailable !== null) {
      lab.skip(abortTitle, `${linkUnavailable}: it is needed to give the namespace's loopback a link with queueing, where final ACKs trail their SYNs`);
      lab.findings.abortOnOverflow = { skipped: linkUnavailable };
    } else {
      await lab.step(abortTitle, async (step) => {
        const small = { backlog: SERVER.SMALL_BACKLOG } as const;
        const plain = await runOne(step, { ...small, abortOnOverflow: true, shapedLink: false }, 'loopback, abort=1');
        const linkOff = await runOne(step, { ...small, abortOnOverflow: false, shapedLink: true }, 'link, abort=0');
        const linkOn = await runOne(step, { ...small, abortOnOverflow: true, shapedLink: true }, 'link, abort=1');
        const resets = (run: BurstRun): number => run.report.clients.filter((t) => t.outcome === CLIENT_OUTCOME.RESET).length;
        const rows: [string, BurstRun][] = [
          ['bare loopback, abort_on_overflow=1', plain],
          [`loopback shaped to ${LOOPBACK_LINK.RATE}, abort_on_overflow=0`, linkOff],
          [`loopback shaped to ${LOOPBACK_LINK.RATE}, abort_on_overflow=1`, linkOn],
        ];
        const synRetrans = (run: BurstRun): number => run.report.counters['TcpExt.TCPSynRetrans'] ?? 0;
        const summary = (run: BurstRun): AbortRun => ({
          atOnce: run.classes.atOnce.length,
          afterRetry: run.classes.afterRetry.length,
          resets: resets(run),
          overflows: run.report.counters['TcpExt.ListenOverflows'] ?? null,
          synRetrans: synRetrans(run),
          cookiesRecv: run.report.counters['TcpExt.SyncookiesRecv'] ?? 0,
          waitMaxMs: maxOf(run.report.clients.map(waitedMs)),
          lastResetMs: maxOf(run.report.clients.filter((t) => t.outcome === CLIENT_OUTCOME.RESET).map((t) => t.endMs)),
        });
        lab.findings.abortOnOverflow = {
          loopbackResets: resets(plain),
          loopbackAfterRetry: plain.classes.afterRetry.length,
          linkResetsWithAbortOff: resets(linkOff),
          linkResetsWithAbortOn: resets(linkOn),
          linkAfterRetryWithAbortOff: linkOff.classes.afterRetry.length,
          linkLongestWaitWithAbortOffMs: maxOf(linkOff.report.clients.map(waitedMs)),
          linkSynRetransWithAbortOff: synRetrans(linkOff),
          linkSynRetransWithAbortOn: synRetrans(linkOn),
        };
        return {
          table: {
            header: ['run', 'at once', 'after retry', 'reset', 'other failures', 'ListenOverflows', 'SYN retransmits', 'syncookies sent', 'longest wait ms'],
            rows: rows.map(([label, run]) => [
              label,
              run.classes.atOnce.length,
              run.classes.afterRetry.length,
              resets(run),
              run.classes.failed.length - resets(run),
              run.report.counters['TcpExt.ListenOverflows'] ?? null,
              run.report.counters['TcpExt.TCPSynRetrans'] ?? null,
              run.report.counters['TcpExt.SyncookiesSent'] ?? null,
              maxOf(run.report.clients.map(waitedMs)),
            ]),
          },
          reading: readAbortOnOverflow({ link: LOOPBACK_LINK.RATE, plain: summary(plain), linkOff: summary(linkOff), linkOn: summary(linkOn) }),
          charts: [
            barChart(
              {
                title: 'What the clients lived through, with and without tcp_abort_on_overflow',
                caption: 'One burst per run: clients connected at once, only after a SYN retransmission, or reset by the kernel.',
              },
              { x: axis('run'), y: axis('clients') },
              // Short names: the table's long ones are cut to the same prefix beside the bars.
              ['bare loopback, abort=1', `${LOOPBACK_LINK.RATE} link, abort=0`, `${LOOPBACK_LINK.RATE} link, abort=1`],
              [
                { name: 'at once', values: rows.map(([, run]) => run.classes.atOnce.length) },
                { name: 'after a SYN retransmission', values: rows.map(([, run]) => run.classes.afterRetry.length) },
                { name: 'reset', values: rows.map(([, run]) => resets(run)) },
              ],
              'horizontal',
            ),
          ],
          measurements: { runs: Object.fromEntries(rows.map(([label, run]) => [label, runMeasurements(run.report, run.classes)])) },
        };
      });
    }
  },
};

/**
 * One burst against a fresh server: in a namespace made for it when `isolated` (its sysctls
 * and its loopback shaped as `setting` says), else on this machine's loopback.
 */
async function runSetting(lab: LabContext, step: StepContext, setting: Setting, burst: BurstSize & { label: string }, isolated: boolean): Promise<BurstRun> {
  let namespace: Namespace | null = null;
  try {
    if (isolated) {
      namespace = await createNamespace(lab, 'backlog');
      if (setting.abortOnOverflow) await namespace.sysctl('net.ipv4.tcp_abort_on_overflow', '1');
      if (setting.shapedLink) await shapeLoopback(namespace);
    }
    step.progress(`${burst.label}: starting the server`);
    const server = await startLabServer(
      lab,
      ['--backlog', String(setting.backlog), '--accept-rate', `${SERVER.ACCEPTS_PER_SECOND}/s`],
      namespace === null ? {} : { prefix: ['ip', 'netns', 'exec', namespace.name] },
    );
    try {
      step.progress(`${burst.label}: ${burst.clients} clients connecting`);
      const options: BurstOptions = {
        host: server.host,
        port: server.port,
        clients: burst.clients,
        connectTimeoutMs: burst.connectTimeoutMs,
        responseTimeoutMs: burst.responseTimeoutMs,
        path: ROUTE,
        sampleEveryMs: QUEUE_SAMPLE_MS,
      };
      const report = await runBurstProcess(lab, step, options, namespace);
      return { report, classes: classifyClients(report.clients) };
    } finally {
      await stopLabServer(lab, server);
    }
  } finally {
    await namespace?.delete();
  }
}

// ── Charts ───────────────────────────────────────────────────────────────────────────────

/** The accept queue as sampled every QUEUE_SAMPLE_MS, with the backlog the kernel read for it. */
function queueChart(report: BurstReport, setting: string): ChartDeclaration {
  const seconds = (tMs: number): number => tMs / 1000;
  return lineChart(
    {
      title: `Accept queue length over time (${setting})`,
      caption: 'Connections the kernel has completed but the server has not yet accept()ed; it holds one more than the backlog, and a handshake that finds it full is dropped.',
    },
    { x: AXIS.SECONDS, y: axis('connections waiting for accept()') },
    [
      timeSeries(
        'queued',
        report.queue.map((p) => [seconds(p.tMs), p.queued]),
      ),
      timeSeries(
        'backlog',
        report.queue.map((p) => [seconds(p.tMs), p.max]),
      ),
    ],
  );
}

/** How many clients connected at once, after a retransmission, slowly, or never, per run. */
function clientsChart(runs: readonly (readonly [string, BurstClasses])[]): ChartDeclaration {
  const kinds = [
    ['at once', (c: BurstClasses) => c.atOnce.length],
    ['after a SYN retransmission', (c: BurstClasses) => c.afterRetry.length],
    ['slow, no retransmission', (c: BurstClasses) => c.slow.length],
    ['failed', (c: BurstClasses) => c.failed.length],
  ] as const;
  return barChart(
    {
      title: `What the clients lived through (${runs.map(([label]) => label).join(', ')})`,
      caption: `At once: connected in under ${CONNECT_CLASS.AT_ONCE_BELOW_MS} ms; after a retransmission: ${CONNECT_CLASS.AFTER_RETRY_FROM_MS} ms or more (the first SYN is sent again after 1 s).`,
    },
    { x: axis('client'), y: axis('clients') },
    kinds.map(([name]) => name),
    runs.map(([label, classes]) => ({ name: label, values: kinds.map(([, read]) => read(classes)) })),
  );
}

// ── Tables ───────────────────────────────────────────────────────────────────────────────

function timelineTable(report: BurstReport): StepTable {
  return {
    header: ['t (ms)', 'accept queue (peak)', 'connected', 'served', 'failed'],
    rows: burstTimeline(report, TIMELINE_ROWS).map((row) => [`${row.fromMs}–${row.toMs}`, row.queuePeak, row.connected, row.served, row.failed]),
  };
}

function queueSparkline(report: BurstReport): StepTable {
  const points = report.queue.map((p) => p.queued);
  const group = Math.max(1, Math.ceil(points.length / SPARKLINE_WIDTH));
  const grouped: (number | null)[] = [];
  for (let i = 0; i < points.length; i += group) {
    const slice = points.slice(i, i + group).filter((v): v is number => v !== null);
    grouped.push(slice.length === 0 ? null : Math.max(...slice));
  }
  // Scaled to the peak, so a queue far below its limit still shows its shape; the header
  // says whether the peak was the limit (backlog + 1).
  const capacity = queueCapacity(report);
  const top = Math.max(1, maxOf(points) ?? 1);
  const full = capacity !== null && top > capacity;
  return {
    header: [`accept queue, one mark per ${group * QUEUE_SAMPLE_MS} ms (█ = ${top}${full ? ', full' : `; it holds up to ${capacity === null ? '?' : capacity + 1}`})`],
    rows: [[sparkline(grouped, top)]],
  };
}

function clientTable(classes: BurstClasses): StepTable {
  const row = (label: string, clients: ClientTrace[]): (string | number | null)[] => [
    label,
    clients.length,
    percentile(
      clients.map((t) => t.connectMs),
      50,
    ),
    maxOf(clients.map((t) => t.connectMs)),
    percentile(
      clients.map((t) => t.responseMs),
      50,
    ),
    maxOf(clients.map((t) => t.responseMs)),
  ];
  const failed = failureKinds(classes.failed);
  return {
    header: ['clients', 'count', 'connect ms p50', 'connect ms max', 'connected → answer ms p50', 'max'],
    rows: [
      row(`connected at once (< ${CONNECT_CLASS.AT_ONCE_BELOW_MS} ms)`, classes.atOnce),
      row(`after a SYN retransmission (≥ ${CONNECT_CLASS.AFTER_RETRY_FROM_MS} ms)`, classes.afterRetry),
      ...(classes.slow.length > 0 ? [row('slow, no retransmission', classes.slow)] : []),
      row(
        `failed${
          Object.keys(failed).length > 0
            ? ` (${Object.entries(failed)
                .map(([k, n]) => `${k}: ${n}`)
                .join(', ')})`
            : ''
        }`,
        classes.failed,
      ),
    ],
  };
}

const COUNTER_MEANING: Record<string, string> = {
  'TcpExt.ListenOverflows': 'a SYN or final ACK met a full accept queue: dropped',
  'TcpExt.ListenDrops': 'every drop at the listener (includes the above)',
  'TcpExt.TCPSynRetrans': 'SYNs the clients sent again after hearing nothing',
  'TcpExt.SyncookiesSent': 'SYN queue full: answered with a cookie, nothing queued',
  'TcpExt.SyncookiesRecv': 'final ACKs that carried a valid cookie',
  'TcpExt.TCPReqQFullDrop': 'SYN queue full and no cookies: SYN dropped',
  'Tcp.EstabResets': 'connections reset (tcp_abort_on_overflow)',
  'Tcp.PassiveOpens': 'connections the listener created',
};

function counterTable(report: BurstReport): StepTable {
  if (report.countersUnavailable !== null) return { header: ['kernel counters'], rows: [[`unavailable: ${report.countersUnavailable}`]] };
  return {
    header: ['kernel counter', 'change', 'meaning'],
    rows: Object.entries(COUNTER_MEANING).map(([name, meaning]) => [name, report.counters[name] ?? null, meaning]),
  };
}

function serverTable(report: BurstReport): StepTable {
  const stats = report.serverStats;
  const total = stats?.stages.intervals.total ?? null;
  return {
    header: ['inside the server (its own /stats)', 'requests', 'p50 ms', 'p99 ms', 'max ms'],
    rows: [['first byte read → response written', total?.count ?? null, total?.p50Ms ?? null, total?.p99Ms ?? null, total?.maxMs ?? null]],
  };
}

// ── Numbers for readings ──────────────────────────────────────────────────────────────────

function runMeasurements(report: BurstReport, classes: BurstClasses): Record<string, unknown> {
  return {
    options: report.options,
    sysctls: report.sysctls,
    counters: report.counters,
    countersUnavailable: report.countersUnavailable,
    backlog: report.serverStats?.backlog ?? null,
    queuePeak: queuePeak(report),
    queueSeries: report.queue.map((p) => ({ tMs: p.tMs, queued: p.queued, max: p.max })),
    classes: { atOnce: classes.atOnce.length, afterRetry: classes.afterRetry.length, slow: classes.slow.length, failed: classes.failed.length },
    failureKinds: failureKinds(classes.failed),
    serverStages: report.serverStats?.stages.intervals ?? null,
    clients: report.clients,
    durationMs: report.durationMs,
  };
}

// ── Readings: each a pure function of what was measured, so a test can feed it other numbers ──
//
// The small and the large backlog (and the three abort_on_overflow runs) are one burst
// each, not interleaved rounds: what their readings compare are kernel counts
// (ListenOverflows, SYN retransmissions, resets) and client outcomes whose difference the
// queue's capacity sets against the burst's size (9 places for 40 clients, or 4,097), and
// waits that the server's pacing (20 accepts a second) sets. None is a speed of this
// machine that a second run would move; no sentence calls one setting faster.

/** The queue's peak against its limit: a full queue holds backlog + 1 (sk_acceptq_is_full uses >). */
export function peakSentence(peak: number | null, capacity: number | null, sampleMs: number): string {
  if (peak === null || capacity === null) return `The accept queue peaked at ${peak ?? '?'} (its limit could not be read).`;
  if (peak === capacity + 1) return `The queue peaked at ${peak} = backlog ${capacity} + 1 (the kernel drops only once it holds more than the backlog).`;
  return `The queue peaked at ${peak} in the ${sampleMs} ms samples (backlog ${capacity}; full is ${capacity + 1}, held between two samples).`;
}

export interface SmallBacklogReading {
  peak: number | null;
  capacity: number | null;
  sampleMs: number;
  atOnce: number;
  afterRetry: number;
  failed: number;
  afterRetryConnectP50Ms: number | null;
  /** From connected to the answer, for the clients that connected after a retry. */
  afterRetryAnswerP50Ms: number | null;
  overflows: number | null;
  drops: number | null;
  /** Requests the server itself timed. */
  served: number;
  serverP50Ms: number | null;
  serverP99Ms: number | null;
  /** The longest connect-to-answer a client waited. */
  waitMaxMs: number | null;
  cookiesSent: number;
  cookiesRecv: number;
  reqQFullDrops: number;
  syncookies: string | null;
}

/** Inside the server looks healthy when its p99 is under a tenth of what the clients waited. */
const HEALTHY_SHARE = 0.1;

export function readSmallBacklog(m: SmallBacklogReading): string {
  const lines = [peakSentence(m.peak, m.capacity, m.sampleMs)];
  const retried =
    m.afterRetry === 0 ? '0 only after a SYN retransmission' : `${m.afterRetry} only after a SYN retransmission (p50 ${fmtMs(m.afterRetryConnectP50Ms)}: the first leaves at 1 s)`;
  lines.push(`${m.atOnce} clients connected at once, ${retried}, ${m.failed} never got an answer.`);
  lines.push(
    m.overflows === null
      ? 'The kernel counters could not be read here, so its drops are not counted.'
      : m.overflows === 0
        ? `The kernel dropped nothing at the listener (ListenOverflows 0; ListenDrops ${m.drops ?? '?'}).`
        : `The kernel dropped a SYN or final ACK ${m.overflows} times (ListenOverflows; ListenDrops ${m.drops ?? '?'}).`,
  );
  const inside = `Inside the server the ${m.served} requests took p50 ${fmtMs(m.serverP50Ms)}, p99 ${fmtMs(m.serverP99Ms)}`;
  if (m.serverP99Ms !== null && m.waitMaxMs !== null && m.serverP99Ms < m.waitMaxMs * HEALTHY_SHARE) {
    lines.push(`${inside}: healthy by its own clock, while clients waited up to ${fmtMs(m.waitMaxMs)}.`);
  } else {
    lines.push(`${inside}; the clients waited up to ${fmtMs(m.waitMaxMs)}.`);
  }
  if (m.cookiesSent > 0 || m.reqQFullDrops > 0) {
    lines.push(`SyncookiesSent ${m.cookiesSent}, TCPReqQFullDrop ${m.reqQFullDrops} (tcp_syncookies=${m.syncookies ?? '?'}): retransmitted SYNs arrive together and fill the SYN queue
(same limit as the backlog), so the kernel answered with cookies.`);
    // A cookie's final ACK creates the connection; an ACK that carries a valid cookie arriving
    // more often than cookies were sent means ACKs were dropped and sent again.
    if (m.cookiesRecv > m.cookiesSent) {
      const answer = m.afterRetryAnswerP50Ms === null ? '' : `\n(those that connected after a retry then waited p50 ${fmtMs(m.afterRetryAnswerP50Ms)} for an answer)`;
      lines.push(`Their final ACKs met the full accept queue and were dropped too (SyncookiesRecv ${m.cookiesRecv}): those clients "connected", yet waited on${answer}.`);
    }
  }
  return lines.join('\n');
}

export interface LargeBacklogReading {
  requested: number;
  effective: number | null;
  somaxconn: number | null;
  peak: number | null;
  overflows: number | null;
  /** ListenOverflows of the small backlog's burst, for the comparison. */
  smallOverflows: number | null;
  clients: number;
  atOnce: number;
  afterRetry: number;
  failed: number;
  connectMaxMs: number | null;
  waitMaxMs: number | null;
  acceptsPerSecond: number;
}

export function readLargeBacklog(m: LargeBacklogReading): string {
  const lines: string[] = [];
  if (m.effective !== null && m.effective < m.requested) {
    lines.push(`Asked for ${m.requested}, listen() got ${m.effective}: the kernel silently caps the backlog at net.core.somaxconn (${m.somaxconn ?? '?'}).`);
  } else {
    lines.push(`Asked for ${m.requested}, listen() got ${m.effective ?? '?'} (net.core.somaxconn ${m.somaxconn ?? '?'}).`);
  }
  const overflowed = m.overflows !== null && m.overflows > 0;
  lines.push(
    `The queue peaked at ${m.peak ?? '?'} and ${overflowed ? `still overflowed ${m.overflows} times` : m.overflows === 0 ? 'never overflowed (ListenOverflows 0)' : 'its overflows could not be counted'}: ${m.atOnce} of ${m.clients} clients connected at once (slowest ${fmtMs(m.connectMaxMs)}), ${m.afterRetry} after a retry, ${m.failed} failed.`,
  );
  const drainMs = (m.clients / m.acceptsPerSecond) * 1000;
  const dropped =
    m.overflows === null
      ? null
      : m.overflows === 0
        ? 'Nobody was dropped'
        : m.smallOverflows !== null && m.overflows < m.smallOverflows
          ? `Fewer were dropped (${m.overflows} against ${m.smallOverflows} with the small backlog)`
          : `As many were dropped (${m.overflows}; ${m.smallOverflows ?? '?'} with the small backlog)`;
  // The pace is the accept rate's only if the last client waited about as long as the rate takes to serve the burst.
  if (dropped !== null && m.waitMaxMs !== null && m.waitMaxMs >= drainMs / 2) {
    lines.push(`${dropped}, yet the last client waited ${fmtMs(m.waitMaxMs)} for its answer: a large backlog turns drops into
waiting in the kernel; it adds no capacity (${m.acceptsPerSecond} accepts/s serve ${m.clients} clients in ${fmtMs(drainMs)}).`);
  } else if (dropped !== null) {
    lines.push(`${dropped}; the last client waited ${fmtMs(m.waitMaxMs)} for its answer.`);
  }
  return lines.join('\n');
}

export interface AbortRun {
  atOnce: number;
  afterRetry: number;
  resets: number;
  overflows: number | null;
  synRetrans: number;
  cookiesRecv: number;
  waitMaxMs: number | null;
  /** When the last reset came, from the burst's start. */
  lastResetMs: number | null;
}

export function readAbortOnOverflow(m: { link: string; plain: AbortRun; linkOff: AbortRun; linkOn: AbortRun }): string {
  const { plain, linkOff, linkOn } = m;
  const lines: string[] = [];
  const dropsAtSyn = plain.synRetrans > 0 && plain.afterRetry > 0;
  if (plain.resets === 0) {
    lines.push(
      dropsAtSyn
        ? `On bare loopback the setting made no reset and ${plain.afterRetry} clients still waited for a SYN retransmission: there a
handshake completes inside connect(), so the kernel meets the full queue at the SYN and drops it unanswered.`
        : `On bare loopback the setting made no reset (${plain.afterRetry} clients connected after a retry, ${plain.synRetrans} SYNs retransmitted).`,
    );
  } else {
    lines.push(
      dropsAtSyn
        ? `On bare loopback it reset only ${plain.resets} clients and ${plain.afterRetry} still waited for a SYN retransmission: a handshake completes
inside connect(), so the full queue is met at the SYN, dropped unanswered; only SYNs retransmitted in one timer tick pass together.`
        : `On bare loopback it reset ${plain.resets} clients (${plain.afterRetry} connected after a retry).`,
    );
  }
  // The shaped link moves the overflow to the final ACK only for the part of the burst that
  // queued on it; SYNs that got through before it queued still meet the full queue.
  const separated = linkOff.synRetrans === 0 && linkOn.synRetrans === 0;
  const queued = separated
    ? "the burst's SYNs all arrived before their final ACKs (no SYN was retransmitted), as on any network,"
    : `${linkOff.synRetrans} + ${linkOn.synRetrans} SYNs were still retransmitted (they met the full queue before the link held them back),`;
  // Most clients "connected" at once while the kernel still counted overflows: those drops
  // were final ACKs. More at once than after a SYN retransmission, and more than on bare loopback.
  const movedToAck = linkOff.overflows !== null && linkOff.overflows > 0 && linkOff.atOnce > linkOff.afterRetry && linkOff.atOnce > plain.atOnce;
  if (movedToAck) {
    lines.push(`Shaped to ${m.link}, ${queued}
and the overflow moved to the ACK: with the setting off ${linkOff.atOnce} clients "connected" at once yet waited up to ${fmtMs(linkOff.waitMaxMs)} (${linkOff.resets} resets);`);
  } else {
    lines.push(`Shaped to ${m.link}, ${queued} but with the setting off ${linkOff.atOnce} clients connected at once (${plain.atOnce} on bare loopback)
and ListenOverflows was ${linkOff.overflows ?? '?'}: this run did not show the overflow moving to the final ACK.`);
  }
  lines.push(
    linkOn.resets > 0
      ? `${movedToAck ? 'with it on' : 'With it on'}, ${linkOn.resets} got ECONNRESET${linkOn.lastResetMs === null ? '' : ` within ${fmtMs(linkOn.lastResetMs)}`} instead.`
      : `${movedToAck ? 'with it on' : 'With it on'}, no client got a reset (${linkOn.afterRetry} connected after a retry).`,
  );
  if (linkOff.cookiesRecv > 0) {
    lines.push(`Only connections that waited in the SYN queue are reset: an ACK carrying a syncookie (${linkOff.cookiesRecv} arrived in the abort=0 run) is dropped either way.`);
  }
  return lines.join('\n');
}

function queuePeak(report: BurstReport): number | null {
  return maxOf(report.queue.map((p) => p.queued));
}

function queueCapacity(report: BurstReport): number | null {
  return report.queue.find((p) => p.max !== null)?.max ?? report.serverStats?.backlog.effective ?? null;
}

/** From connect() to the answer (or to giving up): what the person behind the client waited. */
function waitedMs(client: ClientTrace): number | null {
  if (client.connectMs === null || client.responseMs === null) return null;
  return Math.round(client.connectMs + client.responseMs);
}

function maxOf(values: readonly (number | null)[]): number | null {
  const numbers = values.filter((v): v is number => v !== null);
  return numbers.length === 0 ? null : Math.max(...numbers);
}

function percentile(values: readonly (number | null)[], p: number): number | null {
  const numbers = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (numbers.length === 0) return null;
  return numbers[Math.min(numbers.length - 1, Math.ceil((p / 100) * numbers.length) - 1)] ?? null;
}

function fmtMs(value: number | null): string {
  if (value === null) return '? ms';
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return value >= 10 ? `${Math.round(value)} ms` : `${value.toFixed(2)} ms`;
}
