/**
 * Lab 8, a slow link: the same users, the same server, but the client is "remote", in a
 * network namespace behind a veth pair shaped like a slow link. The bottleneck moves from
 * the database pool to the link.
 */
import { findPgBinaries, installHint } from '../src/db/index.js';
import type { LoadResult } from '../src/load/index.js';
import type { LatencySummary } from '../src/metrics/histogram.js';
import { fetchJson, hasCommand, ms, pick, startLabServer } from '../src/labs/kit.js';
import { formatNumber } from '../src/report/table.js';
import { createNamespace, namespaceUnavailableReason } from '../src/labs/netns.js';
import { runLoadProcess } from '../src/labs/load-process.js';
import { startDelayRelay, type DelayRelay } from '../src/labs/delay-relay.js';
import {
  BOTTLENECK,
  LINK_LIMIT,
  createVeth,
  decideBottleneck,
  DELAY_METHOD,
  diffLinkCounters,
  diffTbfCounters,
  readLinkCounters,
  readTbfCounters,
  shapeLink,
  type Bottleneck,
  type LinkShape,
  type ShapedLink,
  type TbfCounters,
  type Verdict,
  type Veth,
} from '../src/labs/link-kit.js';
import type { LabContext, LabDefinition, StepContext } from '../src/labs/types.js';
import type { ServerProcess } from '../src/server/serve-process.js';

/**
 * The link: a slow home connection. 4 Mbit/s carries about 2,000 of these small responses a
 * second, more than enough for 32 users who each wait 40 ms per round trip (800 req/s at
 * most), and too little for 256 of them (6,400 req/s by their round trips alone).
 */
const LINK_SHAPE = { rateMbit: 4, rttMs: 40, burst: '8kb', queueLatency: '300ms' } as const satisfies LinkShape;

const SERVER = {
  /** A small pool, so that next to the server the queue for a connection is what limits. */
  POOL: 4,
  BACKLOG: 1024,
} as const;

interface Settings {
  /** Users in the local and the first remote run: the same load both ways. */
  vus: number;
  /** Users in the last run, enough to fill the link. */
  manyVus: number;
  localMs: number;
  remoteMs: number;
}

const SETTINGS: { readonly quick: Settings; readonly full: Settings } = {
  quick: { vus: 32, manyVus: 256, localMs: 4000, remoteMs: 5000 },
  full: { vus: 32, manyVus: 256, localMs: 15_000, remoteMs: 20_000 },
} as const;

const ROUTES = {
  UUID: { url: '/', template: '/uuid/{1..1000}', name: '/uuid/:id' },
  AGE: { url: '/age?birthdate=1993-05-01', template: null, name: '/age' },
} as const;

interface DbStats {
  waitMs: LatencySummary;
  queryMs: LatencySummary;
}

interface Phase {
  where: 'local' | 'remote';
  vus: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** The fastest request: on the link, the round trip plus the least the server takes. */
  minMs: number;
  avgMs: number;
  failed: number;
  /** Mean pool wait and query time of this run's requests (null without a database). */
  waitAvgMs: number | null;
  queryAvgMs: number | null;
  /** Bytes per second on the veth (L2 frames), server → client and client → server. */
  downBytesPerSec: number | null;
  upBytesPerSec: number | null;
  /** Share of the cap used by the server → client direction. */
  downlinkUtilisation: number | null;
  /** tbf held a packet back for lack of tokens / dropped one, server → client. */
  tbfDown: TbfCounters | null;
  tbfUp: TbfCounters | null;
}

export const lab: LabDefinition = {
  id: 'slow-link',
  number: 8,
  title: 'A slow link hides the database',
  layer: '1,000 → 10,000',
  summary: 'a remote client behind a shaped veth (tbf + netem or a delaying relay): the bottleneck moves from the database to the link',
  intro: `A load test run next to the server measures the server. Run it from a laptop on Wi-Fi and it
measures the Wi-Fi. Here the client first runs beside the server, where /uuid is limited by the
small database pool (requests queue for one of its connections). Then the same client runs
"remote": in its own network namespace, joined to this one by a veth pair whose bandwidth is
capped by tc's token bucket (tbf) and whose round trip is lengthened by netem, or, on kernels
without netem, by a relay that holds every chunk for half the round trip. Same users, same
server: throughput falls, the database queue empties, and the numbers say the link is the limit.`,

  async run(lab: LabContext) {
    const settings = pick(lab, SETTINGS.quick, SETTINGS.full);
    const withDb = findPgBinaries() !== null;
    const route = withDb ? ROUTES.UUID : ROUTES.AGE;
    if (!withDb) lab.say(`PostgreSQL server binaries were not found (${installHint()}), so this lab drives /age (compute only): the local limit is then the server itself, not a database pool.`);
    lab.findings.addedRttMs = LINK_SHAPE.rttMs;
    lab.findings.link = { rateMbit: LINK_SHAPE.rateMbit, rttMs: LINK_SHAPE.rttMs, burst: LINK_SHAPE.burst, queueLatency: LINK_SHAPE.queueLatency };
    lab.findings.route = route.name;

    // The link is built before the server starts: the server listens on the veth's host address.
    let linkSkipped = await namespaceUnavailableReason();
    if (linkSkipped === null && !hasCommand('tc')) linkSkipped = 'the tc command (iproute2) is not installed';
    let veth: Veth | null = null;
    let link: ShapedLink | null = null;
    if (linkSkipped === null) {
      try {
        const namespace = await createNamespace(lab, 'link');
        veth = await createVeth(lab, namespace);
        link = await shapeLink(veth, LINK_SHAPE);
      } catch (error) {
        linkSkipped = `could not build the shaped veth link: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
        veth = null;
      }
    }
    lab.findings.delayMethod = link?.delayMethod ?? null;
    if (link?.netemUnavailable != null) lab.findings.netemUnavailable = link.netemUnavailable;
    if (link !== null) {
      lab.say(
        link.delayMethod === DELAY_METHOD.NETEM
          ? `Link: tbf ${LINK_SHAPE.rateMbit} Mbit/s on both ends of the veth, netem adding ${LINK_SHAPE.rttMs / 2} ms each way.`
          : `Link: tbf ${LINK_SHAPE.rateMbit} Mbit/s on both ends of the veth. netem is not available here
(tc said: "${link.netemUnavailable}"), so a relay beside the server holds every chunk
${LINK_SHAPE.rttMs / 2} ms each way instead. It delays data, not the TCP handshake: with keep-alive,
that is one round trip less per user, once.`,
      );
    }

    const host = veth?.hostAddress ?? '127.0.0.1';
    const server = await startLabServer(lab, ['--host', host, '--backlog', String(SERVER.BACKLOG), ...(withDb ? ['--db', 'embedded', '--pool', String(SERVER.POOL)] : [])]);
    let relay: DelayRelay | null = null;
    if (link?.delayMethod === DELAY_METHOD.RELAY) {
      relay = await startDelayRelay({ listenHost: host, target: { host, port: server.port }, oneWayDelayMs: LINK_SHAPE.rttMs / 2 });
      const running = relay;
      lab.track({ name: `delay relay on ${host}:${running.port}`, stop: () => running.close() });
    }
    const loadArgs = (port: number, vus: number, durationMs: number): string[] => [
      `http://${host}:${port}${route.url}`,
      '--vus',
      String(vus),
      '--duration',
      `${durationMs}ms`,
      ...(route.template === null ? [] : ['--path-template', route.template]),
    ];

    // 1. Next to the server.
    const localStep = await lab.step(`Next to the server: ${settings.vus} users on ${route.name}`, async (step) => {
      const phase = await measurePhase(lab, step, server, null, { where: 'local', vus: settings.vus, args: loadArgs(server.port, settings.vus, settings.localMs), plannedMs: settings.localMs });
      const limit = localLimitOf(phase, withDb);
      const waitShare = phase.waitAvgMs !== null && phase.avgMs > 0 ? Math.round((phase.waitAvgMs / phase.avgMs) * 100) : null;
      return {
        table: phaseTable([phase]),
        reading:
          limit === BOTTLENECK.DATABASE
            ? `Next to the server, ${settings.vus} users made ${num(phase.rps)} req/s. The average request took ${num(phase.avgMs)} ms, of
which ${num(phase.waitAvgMs)} ms (${waitShare}%) was spent queued for one of the ${SERVER.POOL} pooled connections and
${num(phase.queryAvgMs)} ms in the query: the queue is in front of the database. This is the number a load
test run on the server's own machine reports.`
            : `Next to the server, ${settings.vus} users made ${num(phase.rps)} req/s at p50 ${num(phase.p50Ms)} ms${
                withDb
                  ? `; the pool wait (${num(phase.waitAvgMs)} ms) was not
longer than the query (${num(phase.queryAvgMs)} ms), so the server, not the pool, was the limit here.`
                  : ': the server itself is the limit\n(no database here).'
              }`,
        measurements: { phase, localLimit: limit },
      };
    });
    const local = (localStep?.measurements?.phase as Phase | undefined) ?? null;
    const localLimit = (localStep?.measurements?.localLimit as Bottleneck | undefined) ?? BOTTLENECK.SERVER;
    lab.findings.localRps = local === null ? null : Math.round(local.rps);
    lab.findings.local = local;

    if (linkSkipped !== null || veth === null || link === null || local === null) {
      const reason = linkSkipped ?? 'the local run measured nothing to compare with';
      lab.skip(`Through a ${LINK_SHAPE.rateMbit} Mbit/s link with +${LINK_SHAPE.rttMs} ms round trip`, reason);
      lab.skip(`More users on the same link`, reason);
      lab.findings.remoteRps = null;
      lab.findings.bottleneck = null;
      lab.findings.linkSkipped = reason;
      return;
    }
    const shaped = link;
    const pair = veth;
    const remotePort = relay?.port ?? server.port;
    const methodText = shaped.delayMethod === DELAY_METHOD.NETEM ? 'netem' : 'delaying relay';
    /** `vus` users through the link, and what limited them. */
    const measureRemote = async (step: StepContext, vus: number): Promise<{ phase: Phase; verdict: Verdict }> => {
      const phase = await measurePhase(lab, step, server, pair, {
        where: 'remote',
        vus,
        args: loadArgs(remotePort, vus, settings.remoteMs),
        plannedMs: settings.remoteMs,
        namespace: pair.namespace.name,
        rateMbit: LINK_SHAPE.rateMbit,
      });
      const verdict = decideBottleneck({
        localRps: local.rps,
        remoteRps: phase.rps,
        vus,
        rttMs: LINK_SHAPE.rttMs,
        downlinkUtilisation: phase.downlinkUtilisation ?? 0,
        localLimit,
      });
      return { phase, verdict };
    };

    // 2. The same users through the link.
    const remoteStep = await lab.step(
      `Through the link: the same ${settings.vus} users, ${LINK_SHAPE.rateMbit} Mbit/s, +${LINK_SHAPE.rttMs} ms round trip (${methodText})`,
      async (step) => {
        const { phase, verdict } = await measureRemote(step, settings.vus);
        const factor = phase.rps > 0 ? Math.round((local.rps / phase.rps) * 10) / 10 : null;
        return {
          tables: [phaseTable([local, phase]), linkTable([{ label: `remote, ${settings.vus} users`, phase }]), verdictTable([{ label: `remote, ${settings.vus} users`, verdict }])],
          reading: `${readVerdict(verdict, settings.vus)}
The same ${settings.vus} users made ${num(phase.rps)} req/s, ${factor}x fewer than next to the server. The fastest request
took ${num(phase.minMs)} ms: every request now pays the ${LINK_SHAPE.rttMs} ms round trip, and ${settings.vus} users who each wait that
long can make at most ${settings.vus} ÷ ${LINK_SHAPE.rttMs / 1000} s = ${num(verdict.latencyBoundRps)} req/s (Little's law).
${waitSentence(local, phase)}`,
          measurements: { phase, verdict },
        };
      },
    );
    const remote = (remoteStep?.measurements?.phase as Phase | undefined) ?? null;
    const verdict = (remoteStep?.measurements?.verdict as Verdict | undefined) ?? null;
    lab.findings.remoteRps = remote === null ? null : Math.round(remote.rps);
    lab.findings.bottleneck = verdict?.bottleneck ?? null;
    lab.findings.linkLimit = verdict?.linkLimit ?? null;
    lab.findings.remote = remote;
    if (remote === null) return;

    // 3. More users: the link's other limit, its bandwidth.
    await lab.step(`More users on the same link: ${settings.manyVus} instead of ${settings.vus}`, async (step) => {
      const { phase, verdict: many } = await measureRemote(step, settings.manyVus);
      const usersFactor = settings.manyVus / settings.vus;
      const rpsFactor = remote.rps > 0 ? Math.round((phase.rps / remote.rps) * 10) / 10 : null;
      const used = percent(phase.downlinkUtilisation);
      const capRps = phase.rps > 0 && phase.downBytesPerSec !== null && phase.downBytesPerSec > 0 ? Math.round(((LINK_SHAPE.rateMbit * 1e6) / 8 / phase.downBytesPerSec) * phase.rps) : null;
      lab.findings.manyUsers = { vus: settings.manyVus, rps: Math.round(phase.rps), p50Ms: phase.p50Ms, downlinkUtilisation: phase.downlinkUtilisation, bottleneck: many.bottleneck, linkLimit: many.linkLimit, capRps };
      return {
        tables: [
          phaseTable([remote, phase]),
          linkTable([
            { label: `remote, ${settings.vus} users`, phase: remote },
            { label: `remote, ${settings.manyVus} users`, phase },
          ]),
          verdictTable([
            ...(verdict === null ? [] : [{ label: `remote, ${settings.vus} users`, verdict }]),
            { label: `remote, ${settings.manyVus} users`, verdict: many },
          ]),
        ],
        reading: `${usersFactor}x the users bought ${rpsFactor}x the throughput: ${num(phase.rps)} req/s, where their round trips alone
would allow ${num(many.latencyBoundRps)}. Server → client, the link ran at ${used}% of its ${LINK_SHAPE.rateMbit} Mbit/s (tbf held
packets back ${num(phase.tbfDown?.overlimits ?? null)} times, dropped ${num(phase.tbfDown?.dropped ?? null)}): at these response sizes that is about ${num(capRps)}
req/s. p50 grew from ${num(remote.p50Ms)} to ${num(phase.p50Ms)} ms. ${readManyVerdict(many, phase)}`,
        measurements: { phase, verdict: many },
      };
    });
  },
};

/** One load run (in a process of its own, inside the namespace for the remote ones) and what the server and the link saw. */
async function measurePhase(
  lab: LabContext,
  step: StepContext,
  server: ServerProcess,
  veth: Veth | null,
  run: { where: 'local' | 'remote'; vus: number; args: string[]; plannedMs: number; namespace?: string; rateMbit?: number },
): Promise<Phase> {
  const statsBefore = await readDbStats(server);
  const linkBefore = veth === null ? null : readLinkCounters(veth.hostDevice);
  const tbfBefore = veth === null ? null : { down: await readTbfCounters(veth, 'host'), up: await readTbfCounters(veth, 'peer') };
  const result: LoadResult = await runLoadProcess(lab, step, run.args, {
    ...(run.namespace === undefined ? {} : { namespace: run.namespace }),
    deadlineMs: run.plannedMs + 60_000,
    label: `${run.where}, ${run.vus} users`,
    plannedMs: run.plannedMs,
  });
  const statsAfter = await readDbStats(server);
  const linkDelta = veth === null || linkBefore === null ? null : diffLinkCounters(linkBefore, readLinkCounters(veth.hostDevice));
  const tbfAfter = veth === null ? null : { down: await readTbfCounters(veth, 'host'), up: await readTbfCounters(veth, 'peer') };
  const s = result.summary;
  const seconds = s.durationMs / 1000;
  const wait = statsAfter === null ? null : phaseMean(statsBefore?.waitMs, statsAfter.waitMs);
  const query = statsAfter === null ? null : phaseMean(statsBefore?.queryMs, statsAfter.queryMs);
  const downBytesPerSec = linkDelta === null || seconds <= 0 ? null : Math.round(linkDelta.txBytes / seconds);
  return {
    where: run.where,
    vus: run.vus,
    rps: Math.round(s.rps * 10) / 10,
    p50Ms: s.latency.total.p50Ms,
    p99Ms: s.latency.total.p99Ms,
    minMs: s.latency.total.minMs,
    avgMs: s.latency.total.avgMs,
    failed: s.failed,
    waitAvgMs: wait,
    queryAvgMs: query,
    downBytesPerSec,
    upBytesPerSec: linkDelta === null || seconds <= 0 ? null : Math.round(linkDelta.rxBytes / seconds),
    downlinkUtilisation: downBytesPerSec === null || run.rateMbit === undefined ? null : Math.round((downBytesPerSec / ((run.rateMbit * 1e6) / 8)) * 1000) / 1000,
    tbfDown: diffTbfCounters(tbfBefore?.down ?? null, tbfAfter?.down ?? null),
    tbfUp: diffTbfCounters(tbfBefore?.up ?? null, tbfAfter?.up ?? null),
  };
}

async function readDbStats(server: ServerProcess): Promise<DbStats | null> {
  const stats = await fetchJson<{ db: DbStats | null }>(`${server.url}/stats`);
  return stats.db !== null && stats.db.waitMs !== undefined ? stats.db : null;
}

/**
 * The mean of the samples recorded between two readings of a cumulative summary: /stats
 * keeps the pool's histograms for the server's whole life, so a run's own mean is the
 * difference of the totals over the difference of the counts.
 */
function phaseMean(before: LatencySummary | undefined, after: LatencySummary): number | null {
  const count = after.count - (before?.count ?? 0);
  if (count <= 0) return null;
  const total = after.avgMs * after.count - (before === undefined ? 0 : before.avgMs * before.count);
  return ms(Math.max(0, total / count));
}

/** Next to the server, /uuid is database-bound when its requests wait longer for a connection than they spend in the query. */
function localLimitOf(phase: Phase, withDb: boolean): Bottleneck {
  if (!withDb || phase.waitAvgMs === null || phase.queryAvgMs === null) return BOTTLENECK.SERVER;
  return phase.waitAvgMs > phase.queryAvgMs ? BOTTLENECK.DATABASE : BOTTLENECK.SERVER;
}

function phaseTable(phases: Phase[]): { header: string[]; rows: (string | number | null)[][] } {
  return {
    header: ['client', 'VUs', 'req/s', 'p50 ms', 'p99 ms', 'fastest ms', 'failed', 'pool wait avg ms', 'query avg ms'],
    rows: phases.map((p) => [p.where === 'local' ? 'next to the server' : 'behind the link', p.vus, Math.round(p.rps), p.p50Ms, p.p99Ms, p.minMs, p.failed, p.waitAvgMs, p.queryAvgMs]),
  };
}

function linkTable(runs: { label: string; phase: Phase }[]): { header: string[]; rows: (string | number | null)[][] } {
  const capKBps = (LINK_SHAPE.rateMbit * 1e6) / 8 / 1000;
  const kb = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / 100) / 10);
  return {
    header: ['run', 'direction', 'KB/s on the wire', 'cap KB/s', 'used %', 'tbf held back', 'tbf dropped'],
    rows: runs.flatMap(({ label, phase }) => [
      [label, 'server → client', kb(phase.downBytesPerSec), capKBps, percent(phase.downlinkUtilisation), phase.tbfDown?.overlimits ?? null, phase.tbfDown?.dropped ?? null],
      [label, 'client → server', kb(phase.upBytesPerSec), capKBps, phase.upBytesPerSec === null ? null : Math.round((phase.upBytesPerSec / (capKBps * 1000)) * 100), phase.tbfUp?.overlimits ?? null, phase.tbfUp?.dropped ?? null],
    ]),
  };
}

function readVerdict(verdict: Verdict, vus: number): string {
  const u = verdict.utilisation;
  if (verdict.bottleneck !== BOTTLENECK.LINK) {
    return `The link did not bind these ${vus} users: the server side made ${percent(u.serverSide)}% of its local throughput,
more than the link's round trip (${percent(u.latency)}%) or bandwidth (${percent(u.bandwidth)}%) allowed for. Bottleneck: the ${verdict.bottleneck}.`;
  }
  return verdict.linkLimit === LINK_LIMIT.LATENCY
    ? `Bottleneck: the link's round trip (${percent(u.latency)}% of users ÷ RTT), not its bandwidth (${percent(u.bandwidth)}% used).`
    : `Bottleneck: the link's bandwidth (${percent(u.bandwidth)}% used).`;
}

function readManyVerdict(verdict: Verdict, phase: Phase): string {
  if (verdict.linkLimit === LINK_LIMIT.BANDWIDTH) return 'The pipe is full: more users only queue in it.';
  if (verdict.linkLimit === LINK_LIMIT.LATENCY) return `The round trip still binds first (${percent(verdict.utilisation.latency)}% of users ÷ RTT).`;
  return `The server side binds again: ${percent(verdict.utilisation.serverSide)}% of the local throughput${
    phase.waitAvgMs === null ? '' : `, with the pool wait back up to ${num(phase.waitAvgMs)} ms (query ${num(phase.queryAvgMs)} ms)`
  }.`;
}

/** What each candidate limit reached, for the table beside the verdict. */
function verdictTable(runs: { label: string; verdict: Verdict }[]): { header: string[]; rows: (string | number | null)[][] } {
  return {
    header: ['run', 'bandwidth used %', 'of users ÷ RTT %', 'of local req/s %', 'bottleneck'],
    rows: runs.map(({ label, verdict }) => [
      label,
      percent(verdict.utilisation.bandwidth),
      percent(verdict.utilisation.latency),
      percent(verdict.utilisation.serverSide),
      verdict.linkLimit === null ? verdict.bottleneck : `link (${verdict.linkLimit})`,
    ]),
  };
}

function waitSentence(local: Phase, remote: Phase): string {
  if (local.waitAvgMs === null || remote.waitAvgMs === null) return '';
  return `Waiting for a pool connection was ${num(local.waitAvgMs)} ms of a ${num(local.avgMs)} ms request next to the server (${share(local)}%)
and ${num(remote.waitAvgMs)} ms of ${num(remote.avgMs)} ms behind the link (${share(remote)}%): the database is no longer where requests wait.`;
}

/** The share of a request's time spent waiting for a pooled connection, in %. */
function share(phase: Phase): number | null {
  return phase.waitAvgMs === null || phase.avgMs <= 0 ? null : Math.round((phase.waitAvgMs / phase.avgMs) * 100);
}

/** A number for a reading: thousands separated, at most 3 significant decimals, '?' when not measured. */
function num(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '?';
  return formatNumber(Math.abs(value) >= 100 ? Math.round(value) : value);
}

function percent(share: number | null): number | null {
  return share === null ? null : Math.round(share * 100);
}
