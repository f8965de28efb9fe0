/**
 * Lab 8, a slow link: the same users, the same server, but the client is "remote", in a
 * network namespace behind a veth pair shaped like a slow link. The bottleneck moves from
 * the database pool to the link.
 */
import { findPgBinaries, installHint } from '../src/db/index.js';
import type { LoadResult } from '../src/load/index.js';
import { meanBetween, type LatencySummary } from '../src/metrics/histogram.js';
import { fetchJson, hasCommand, ms, startLabServer } from '../src/labs/kit.js';
import { AXIS, axis, barChart } from '../src/labs/chart-kit.js';
import { formatNumber, formatReading as num } from '../src/format/numbers.js';
import { postRun } from '../src/report/post-figures.js';
import { compareSpreads, COMPARISON_ROUNDS, describeComparison, formatSpread, measureInterleaved, spreadOf, VERDICT, type Spread } from '../src/metrics/comparison.js';
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
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext } from '../src/labs/types.js';
import type { ServerProcess } from '../src/labs/serve-process.js';

/**
 * The link: a slow home connection. 4 Mbit/s carries about 2,000 of these small responses a
 * second, more than enough for 32 users who each wait 40 ms per round trip (800 req/s at
 * most), and too little for 256 of them (6,400 req/s by their round trips alone).
 */
const LINK_SHAPE = { rateMbit: 4, rttMs: 40, burst: '8kb', queueLatency: '300ms' } as const satisfies LinkShape;

/** The post's /uuid runs at 1,000 users, next to its server and from a second laptop over Wi-Fi. */
const POST_LOCAL = postRun('uuid-1000-local');
const POST_REMOTE = postRun('uuid-1000-remote');

const SERVER = {
  /** A small pool, so that next to the server the queue for a connection is what limits. */
  POOL: 4,
  BACKLOG: 1024,
} as const;

interface Settings {
  /** Runs of each side, interleaved (comparison.ts COMPARISON_ROUNDS). */
  rounds: number;
  /** Users in the local and the first remote run: the same load both ways. */
  vus: number;
  /** Users in the last run, enough to fill the link. */
  manyVus: number;
  localMs: number;
  remoteMs: number;
  manyMs: number;
}

const SETTINGS: LabSettings<Settings> = {
  // Every side runs COMPARISON_ROUNDS times (interleaved), so each run is shorter than the one
  // run a side had before: quick, 2 × (1 + 2 + 2.5) s of load where 4 + 5 + 5 s were. The runs
  // with many users are the longest: the link's queue must fill before its use is measured.
  quick: { rounds: COMPARISON_ROUNDS.quick, vus: 32, manyVus: 256, localMs: 1000, remoteMs: 2000, manyMs: 2500 },
  full: { rounds: COMPARISON_ROUNDS.full, vus: 32, manyVus: 256, localMs: 8000, remoteMs: 10_000, manyMs: 10_000 },
};

const ROUTES = {
  UUID: { url: '/', template: '/uuid/{1..1000}', name: '/uuid/:id' },
  AGE: { url: '/age?birthdate=1993-05-01', template: null, name: '/age' },
} as const;

interface DbStats {
  waitMs: LatencySummary;
  queryMs: LatencySummary;
}

export interface Phase {
  /** Which run: "behind the link, 32 users, run 1 of 2". */
  label: string;
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

export const lab: LabDefinition<Settings> = {
  id: 'slow-link',
  number: 8,
  title: 'A slow link hides the database',
  layer: '1,000 → 10,000',
  summary: 'a remote client behind a shaped veth (tbf + netem or a delaying relay): where the bottleneck is next to the server and behind the link',
  intro: `A load test run next to the server measures the server. Run it from a laptop on Wi-Fi and it
measures the Wi-Fi: the post this lab follows saw ${formatNumber(POST_LOCAL.rps)} req/s for ${formatNumber(POST_LOCAL.vus)} users next to its server and
${formatNumber(POST_REMOTE.rps)} from a second laptop, and named the bottleneck "${POST_REMOTE.bottleneck ?? ''}". Here the client first runs
beside the server, where /uuid queues for a small database pool. Then the same client runs
"remote": in its own network namespace, joined to this one by a veth pair whose bandwidth is
capped by tc's token bucket (tbf) and whose round trip is lengthened by netem, or, on kernels
without netem, by a relay that holds every chunk for half the round trip. Same users, same
server: you will see what happens to throughput and to the database queue, and which limit
the numbers name.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const withDb = findPgBinaries() !== null;
    const route = withDb ? ROUTES.UUID : ROUTES.AGE;
    if (!withDb)
      lab.say(
        `PostgreSQL server binaries were not found (${installHint()}), so this lab drives /age (compute only): the local limit is then the server itself, not a database pool.`,
      );
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
    const server = await startLabServer(lab, [
      '--host',
      host,
      '--backlog',
      String(SERVER.BACKLOG),
      ...(withDb ? ['--db', 'embedded', '--pool', String(SERVER.POOL), '--pool-batch', 'off'] : []),
    ]);
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

    if (linkSkipped !== null || veth === null || link === null) {
      const reason = linkSkipped ?? 'the shaped link could not be built';
      // No link to compare with: one run next to the server, which is still worth its reading.
      await lab.step(`Next to the server: ${settings.vus} users on ${route.name}`, async (step) => {
        const phase = await measurePhase(lab, step, server, null, {
          where: 'local',
          vus: settings.vus,
          args: loadArgs(server.port, settings.vus, settings.localMs),
          plannedMs: settings.localMs,
        });
        lab.findings.localRps = Math.round(phase.rps);
        lab.findings.local = phase;
        return { table: phaseTable([[phase]]), reading: readLocal([phase], { vus: settings.vus, pool: SERVER.POOL, withDb }), measurements: { phase } };
      });
      lab.skip(`Behind a ${LINK_SHAPE.rateMbit} Mbit/s link with +${LINK_SHAPE.rttMs} ms round trip`, reason);
      lab.skip(`More users on the same link`, reason);
      lab.findings.remoteRps = null;
      lab.findings.bottleneck = null;
      lab.findings.linkSkipped = reason;
      return;
    }
    const shaped = link;
    const pair = veth;
    lab.findings.namespace = pair.namespace.name;
    lab.findings.vethDevice = pair.hostDevice;
    const remotePort = relay?.port ?? server.port;
    const methodText = shaped.delayMethod === DELAY_METHOD.NETEM ? 'netem' : 'delaying relay';
    const rounds = settings.rounds;
    const sides = {
      local: { vus: settings.vus, durationMs: settings.localMs, port: server.port, remote: false },
      remote: { vus: settings.vus, durationMs: settings.remoteMs, port: remotePort, remote: true },
      many: { vus: settings.manyVus, durationMs: settings.manyMs, port: remotePort, remote: true },
    } as const;
    type Side = keyof typeof sides;

    // 1. The same users next to the server and behind the link, and more users behind it: every
    // side run `rounds` times, interleaved, so that the machine's drift weighs on all alike.
    let measuredRuns: Record<Side, Phase[]> | null = null;
    await lab.step(
      `Next to the server, then behind the link (${LINK_SHAPE.rateMbit} Mbit/s, +${LINK_SHAPE.rttMs} ms round trip, ${methodText}) with ${settings.vus} and ${settings.manyVus} users: ${rounds} interleaved runs of each`,
      async (step) => {
        const runs = await measureInterleaved(Object.keys(sides) as Side[], rounds, (side, round) => {
          const run = sides[side];
          return measurePhase(lab, step, server, run.remote ? pair : null, {
            where: run.remote ? 'remote' : 'local',
            vus: run.vus,
            args: loadArgs(run.port, run.vus, run.durationMs),
            plannedMs: run.durationMs,
            label: `${side === 'local' ? 'next to the server' : 'behind the link'}, ${run.vus} users, run ${round + 1} of ${rounds}`,
            ...(run.remote ? { namespace: pair.namespace.name, rateMbit: LINK_SHAPE.rateMbit } : {}),
          });
        });
        measuredRuns = runs;
        const local = summarizePhases(runs.local);
        const remote = summarizePhases(runs.remote);
        const verdict = verdictOf(runs.local, runs.remote, withDb);
        lab.findings.localRps = Math.round(local.rps);
        lab.findings.local = local;
        lab.findings.remoteRps = Math.round(remote.rps);
        lab.findings.remote = remote;
        lab.findings.rps = { local: spreadOf(runs.local.map((p) => p.rps)), remote: spreadOf(runs.remote.map((p) => p.rps)), many: spreadOf(runs.many.map((p) => p.rps)) };
        lab.findings.bottleneck = verdict.bottleneck;
        lab.findings.linkLimit = verdict.linkLimit;
        return {
          tables: [
            phaseTable([runs.local, runs.remote]),
            linkTable([{ label: `remote, ${settings.vus} users`, phases: runs.remote }]),
            verdictTable([{ label: `remote, ${settings.vus} users (medians)`, verdict }]),
          ],
          reading: `${readLocal(runs.local, { vus: settings.vus, pool: SERVER.POOL, withDb })}
${readVerdict(verdict, settings.vus)}
${readRemote(runs.local, runs.remote, { vus: settings.vus, rttMs: LINK_SHAPE.rttMs })}${poolWaitLine(runs.local, runs.remote)}`,
          charts: caseCharts(
            [
              [`next to the server, ${settings.vus} users`, runs.local],
              [`behind the link, ${settings.vus} users`, runs.remote],
              [`behind the link, ${settings.manyVus} users`, runs.many],
            ],
            rounds,
            withDb,
          ),
          measurements: { rounds, runs: [...runs.local, ...runs.remote, ...runs.many], local, remote, verdict },
        };
      },
    );
    const runs = measuredRuns as Record<Side, Phase[]> | null;
    if (runs === null) return;

    // 2. The link's other limit, its bandwidth: the runs with more users, taken in step 1.
    await lab.step(`More users on the same link: ${settings.manyVus} instead of ${settings.vus} (the runs of step 1)`, async () => {
      const many = summarizePhases(runs.many);
      const verdict = verdictOf(runs.local, runs.many, withDb);
      const capRps =
        many.rps > 0 && many.downBytesPerSec !== null && many.downBytesPerSec > 0 ? Math.round(((LINK_SHAPE.rateMbit * 1e6) / 8 / many.downBytesPerSec) * many.rps) : null;
      lab.findings.manyUsers = {
        vus: settings.manyVus,
        rps: Math.round(many.rps),
        p50Ms: many.p50Ms,
        failed: many.failed,
        downlinkUtilisation: many.downlinkUtilisation,
        bottleneck: verdict.bottleneck,
        linkLimit: verdict.linkLimit,
        capRps,
      };
      return {
        tables: [
          phaseTable([runs.remote, runs.many]),
          linkTable([
            { label: `remote, ${settings.vus} users`, phases: runs.remote },
            { label: `remote, ${settings.manyVus} users`, phases: runs.many },
          ]),
          verdictTable([
            { label: `remote, ${settings.vus} users (medians)`, verdict: verdictOf(runs.local, runs.remote, withDb) },
            { label: `remote, ${settings.manyVus} users (medians)`, verdict },
          ]),
        ],
        reading: readMoreUsers(runs.remote, runs.many, { vus: settings.vus, manyVus: settings.manyVus, rateMbit: LINK_SHAPE.rateMbit, rttMs: LINK_SHAPE.rttMs, verdict, capRps }),
        measurements: { many, verdict, capRps },
      };
    });
  },
};

/**
 * The cases side by side: throughput, latency and (with a database) the pool wait, as medians
 * of each side's runs with their min–max.
 */
function caseCharts(cases: readonly (readonly [string, readonly Phase[]])[], rounds: number, withDb: boolean): ChartDeclaration[] {
  const names = cases.map(([name]) => name);
  const spread = (phases: readonly Phase[], read: (p: Phase) => number | null): Spread | null => {
    const values = phases.map(read).filter((v): v is number => v !== null && Number.isFinite(v));
    return values.length === 0 ? null : spreadOf(values);
  };
  const caption = `Medians of ${rounds} interleaved runs, whiskers their min–max.`;
  const x = axis('where the client runs');
  const charts: ChartDeclaration[] = [
    barChart(
      { title: 'Throughput by case', caption: `${caption} Behind the link, the same users wait a round trip per request.` },
      { x, y: AXIS.RPS },
      names,
      [{ name: 'req/s', values: cases.map(([, p]) => spread(p, (r) => r.rps)) }],
      'horizontal',
    ),
    barChart(
      { title: 'Latency by case', caption },
      { x, y: AXIS.LATENCY },
      names,
      [
        { name: 'p50', values: cases.map(([, p]) => spread(p, (r) => r.p50Ms)) },
        { name: 'p99', values: cases.map(([, p]) => spread(p, (r) => r.p99Ms)) },
      ],
      'horizontal',
    ),
  ];
  if (withDb) {
    charts.push(
      barChart(
        {
          title: 'Mean wait for a pooled connection, by case',
          caption: `${caption} Next to the server the requests queue for the pool; behind the link they arrive too slowly to.`,
        },
        { x, y: { label: 'pool wait', unit: 'ms' } },
        names,
        [{ name: 'pool wait avg', values: cases.map(([, p]) => spread(p, (r) => r.waitAvgMs)) }],
        'horizontal',
      ),
    );
  }
  return charts;
}

/** One load run (in a process of its own, inside the namespace for the remote ones) and what the server and the link saw. */
async function measurePhase(
  lab: LabContext,
  step: StepContext,
  server: ServerProcess,
  veth: Veth | null,
  run: { where: 'local' | 'remote'; vus: number; args: string[]; plannedMs: number; label?: string; namespace?: string; rateMbit?: number },
): Promise<Phase> {
  const statsBefore = await readDbStats(server);
  const linkBefore = veth === null ? null : readLinkCounters(veth.hostDevice);
  const tbfBefore = veth === null ? null : { down: await readTbfCounters(veth, 'host'), up: await readTbfCounters(veth, 'peer') };
  const result: LoadResult = await runLoadProcess(lab, step, run.args, {
    ...(run.namespace === undefined ? {} : { namespace: run.namespace }),
    deadlineMs: run.plannedMs + 60_000,
    label: run.label ?? `${run.where}, ${run.vus} users`,
    plannedMs: run.plannedMs,
  });
  const statsAfter = await readDbStats(server);
  const linkDelta = veth === null || linkBefore === null ? null : diffLinkCounters(linkBefore, readLinkCounters(veth.hostDevice));
  const tbfAfter = veth === null ? null : { down: await readTbfCounters(veth, 'host'), up: await readTbfCounters(veth, 'peer') };
  const s = result.summary;
  const seconds = s.durationMs / 1000;
  const wait = statsAfter === null ? null : meanOfRun(statsBefore?.waitMs, statsAfter.waitMs);
  const query = statsAfter === null ? null : meanOfRun(statsBefore?.queryMs, statsAfter.queryMs);
  const downBytesPerSec = linkDelta === null || seconds <= 0 ? null : Math.round(linkDelta.txBytes / seconds);
  return {
    label: run.label ?? `${run.where}, ${run.vus} users`,
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
 * The runs of one side as one row: each number the median of its runs (a failure count, the
 * sum), so that a table or a reading of several runs shows the middle, not a lucky one.
 */
export function summarizePhases(phases: readonly Phase[]): Phase {
  const first = phases[0];
  if (first === undefined) throw new RangeError('no runs to summarize');
  const median = (values: (number | null)[]): number | null => (values.some((v) => v === null) ? null : spreadOf(values as number[]).median);
  const field = (pickValue: (p: Phase) => number | null): number | null => median(phases.map(pickValue));
  const tbf = (pickCounters: (p: Phase) => TbfCounters | null): TbfCounters | null =>
    phases.some((p) => pickCounters(p) === null)
      ? null
      : {
          sentBytes: field((p) => (pickCounters(p) as TbfCounters).sentBytes) as number,
          sentPackets: field((p) => (pickCounters(p) as TbfCounters).sentPackets) as number,
          dropped: field((p) => (pickCounters(p) as TbfCounters).dropped) as number,
          overlimits: field((p) => (pickCounters(p) as TbfCounters).overlimits) as number,
        };
  return {
    label: `${first.where === 'local' ? 'next to the server' : 'behind the link'}, ${first.vus} users, median of ${phases.length} run${phases.length === 1 ? '' : 's'}`,
    where: first.where,
    vus: first.vus,
    rps: field((p) => p.rps) as number,
    p50Ms: field((p) => p.p50Ms) as number,
    p99Ms: field((p) => p.p99Ms) as number,
    // The fastest request of all runs: the floor the link sets shows in the least of them.
    minMs: Math.min(...phases.map((p) => p.minMs)),
    avgMs: field((p) => p.avgMs) as number,
    failed: phases.reduce((sum, p) => sum + p.failed, 0),
    waitAvgMs: field((p) => p.waitAvgMs),
    queryAvgMs: field((p) => p.queryAvgMs),
    downBytesPerSec: field((p) => p.downBytesPerSec),
    upBytesPerSec: field((p) => p.upBytesPerSec),
    downlinkUtilisation: field((p) => p.downlinkUtilisation),
    tbfDown: tbf((p) => p.tbfDown),
    tbfUp: tbf((p) => p.tbfUp),
  };
}

/**
 * Next to the server, /uuid is database-bound when its requests wait longer for a connection
 * than they spend in the query, in every run (the two spreads apart).
 */
export function localLimitOf(phases: readonly Phase[], withDb: boolean): Bottleneck {
  const waits = phases.map((p) => p.waitAvgMs);
  const queries = phases.map((p) => p.queryAvgMs);
  if (!withDb || waits.some((v) => v === null) || queries.some((v) => v === null)) return BOTTLENECK.SERVER;
  return compareSpreads(spreadOf(waits as number[]), spreadOf(queries as number[])) === VERDICT.HIGHER ? BOTTLENECK.DATABASE : BOTTLENECK.SERVER;
}

/** Which limit bound the remote runs, decided on the medians of the runs of each side. */
function verdictOf(local: readonly Phase[], remote: readonly Phase[], withDb: boolean): Verdict {
  const l = summarizePhases(local);
  const r = summarizePhases(remote);
  return decideBottleneck({
    localRps: l.rps,
    remoteRps: r.rps,
    vus: r.vus,
    rttMs: LINK_SHAPE.rttMs,
    downlinkUtilisation: r.downlinkUtilisation ?? 0,
    localLimit: localLimitOf(local, withDb),
  });
}

/** What limited the runs next to the server. */
export function readLocal(phases: readonly Phase[], setup: { vus: number; pool: number; withDb: boolean }): string {
  const p = summarizePhases(phases);
  const runs = phases.length > 1 ? ` (medians of ${phases.length} runs)` : '';
  const made = `Next to the server, ${setup.vus} users made ${num(p.rps)} req/s${runs}.`;
  if (!setup.withDb || p.waitAvgMs === null || p.queryAvgMs === null) return `${made} The server itself is the limit there (no database here).`;
  const waits = spreadOf(phases.map((x) => x.waitAvgMs as number));
  const queries = spreadOf(phases.map((x) => x.queryAvgMs as number));
  const verdict = compareSpreads(waits, queries);
  const share = p.avgMs > 0 ? Math.round((p.waitAvgMs / p.avgMs) * 100) : null;
  if (verdict === VERDICT.HIGHER) {
    return `${made} The average request took ${num(p.avgMs)} ms, of which ${num(p.waitAvgMs)} ms (${share}%) was spent
queued for one of the ${setup.pool} pooled connections and ${num(p.queryAvgMs)} ms in the query, longer in every run: the queue
is in front of the database. This is the number a load test run on the server's own machine reports.`;
  }
  if (verdict === VERDICT.LOWER) {
    return `${made} The pool wait (${num(p.waitAvgMs)} ms) was shorter than the query (${num(p.queryAvgMs)} ms) in every run,
so the server, not the pool, was the limit here.`;
  }
  return `${made} The pool wait (${num(p.waitAvgMs)} ms) and the query (${num(p.queryAvgMs)} ms) overlap across the runs:
neither is clearly where requests wait.`;
}

/** The same users behind the link against next to the server: throughput, and the floor the round trip sets. */
export function readRemote(local: readonly Phase[], remote: readonly Phase[], link: { vus: number; rttMs: number }): string {
  const comparison = describeComparison(
    { label: 'next to the server', spread: spreadOf(local.map((p) => p.rps)) },
    { label: 'behind the link', spread: spreadOf(remote.map((p) => p.rps)) },
    'req/s',
  );
  const fastest = Math.min(...remote.map((p) => p.minMs));
  const bound = link.vus / (link.rttMs / 1000);
  const floor =
    fastest >= 0.9 * link.rttMs
      ? `The fastest request behind the link took ${num(fastest)} ms: every request paid the ${link.rttMs} ms round trip, and ${link.vus} users who each
wait that long can make at most ${link.vus} ÷ ${link.rttMs / 1000} s = ${num(bound)} req/s (Little's law).`
      : `The fastest request behind the link took ${num(fastest)} ms, less than the ${link.rttMs} ms round trip: some requests did not pay
all of it, so ${link.vus} ÷ ${link.rttMs / 1000} s = ${num(bound)} req/s (Little's law) is not a hard bound here.`;
  return `${comparison}\n${floor}`;
}

/** The share of a request's time spent waiting for a pooled connection. */
function waitShare(phase: Phase): number | null {
  return phase.waitAvgMs === null || phase.avgMs <= 0 ? null : phase.waitAvgMs / phase.avgMs;
}

/**
 * Where requests waited, next to the server and behind the link: the database stops being
 * that place only when the remote runs' share of time in the pool queue is below the local
 * runs' in every run, and small.
 */
export function readPoolWait(local: readonly Phase[], remote: readonly Phase[]): string {
  const localShares = local.map(waitShare);
  const remoteShares = remote.map(waitShare);
  if (localShares.some((v) => v === null) || remoteShares.some((v) => v === null)) return '';
  const l = spreadOf(localShares as number[]);
  const r = spreadOf(remoteShares as number[]);
  const lp = summarizePhases(local);
  const rp = summarizePhases(remote);
  const pct = (phase: Phase): string => `${Math.round((waitShare(phase) ?? 0) * 100)}%`;
  const values = `Waiting for a pool connection was ${num(lp.waitAvgMs)} ms of a ${num(lp.avgMs)} ms request next to the server (${pct(lp)})
and ${num(rp.waitAvgMs)} ms of ${num(rp.avgMs)} ms behind the link (${pct(rp)})`;
  const verdict = compareSpreads(r, l);
  if (verdict === VERDICT.LOWER && r.max < SMALL_WAIT_SHARE) return `${values}: the database is no longer where requests wait.`;
  if (verdict === VERDICT.LOWER) return `${values}: less of each request behind the link, but the pool queue is still there.`;
  if (verdict === VERDICT.OVERLAP) return `${values}: the shares overlap across the runs, so the link made no measurable difference to the pool queue.`;
  return `${values}: a larger share behind the link, so the pool queue grew.`;
}

/** A request that spends less than this share of its time queued for the pool is not waiting on the database. */
const SMALL_WAIT_SHARE = 0.1;

function poolWaitLine(local: readonly Phase[], remote: readonly Phase[]): string {
  const text = readPoolWait(local, remote);
  return text === '' ? '' : `\n${text}`;
}

/** More users on the same link: what they bought, and which limit binds now. */
export function readMoreUsers(
  remote: readonly Phase[],
  many: readonly Phase[],
  link: { vus: number; manyVus: number; rateMbit: number; rttMs: number; verdict: Verdict; capRps: number | null },
): string {
  const m = summarizePhases(many);
  const r = summarizePhases(remote);
  const comparison = describeComparison(
    { label: `${link.manyVus} users`, spread: spreadOf(many.map((p) => p.rps)) },
    { label: `${link.vus} users`, spread: spreadOf(remote.map((p) => p.rps)) },
    'req/s',
  );
  const p50 = compareSpreads(spreadOf(many.map((p) => p.p50Ms)), spreadOf(remote.map((p) => p.p50Ms)));
  const p50Text =
    p50 === VERDICT.HIGHER
      ? `p50 grew from ${num(r.p50Ms)} to ${num(m.p50Ms)} ms (every run).`
      : p50 === VERDICT.LOWER
        ? `p50 fell from ${num(r.p50Ms)} to ${num(m.p50Ms)} ms (every run).`
        : `p50 (${num(r.p50Ms)} against ${num(m.p50Ms)} ms) did not change measurably.`;
  return `${formatNumber(link.manyVus / link.vus)}x the users behind the same link: ${comparison}
Their round trips alone would allow ${num(link.verdict.latencyBoundRps)} req/s. Server → client, the link ran at ${percent(m.downlinkUtilisation)}% of its ${link.rateMbit} Mbit/s
(tbf held packets back ${num(m.tbfDown?.overlimits ?? null)} times, dropped ${num(m.tbfDown?.dropped ?? null)}): at these response sizes the cap is about ${num(link.capRps)} req/s.
${p50Text} ${readManyVerdict(link.verdict, m)}`;
}

/** One row per side: throughput as median (min–max) of its runs, the rest medians (failures summed). */
function phaseTable(sides: Phase[][]): { header: string[]; rows: (string | number | null)[][] } {
  return {
    header: ['client', 'VUs', 'runs', 'req/s', 'p50 ms', 'p99 ms', 'fastest ms', 'failed', 'pool wait avg ms', 'query avg ms'],
    rows: sides.map((phases) => {
      const p = summarizePhases(phases);
      const rps = spreadOf(phases.map((x) => x.rps));
      return [
        p.where === 'local' ? 'next to the server' : 'behind the link',
        p.vus,
        phases.length,
        formatSpread(rps),
        ms(p.p50Ms),
        ms(p.p99Ms),
        ms(p.minMs),
        p.failed,
        nullableMs(p.waitAvgMs),
        nullableMs(p.queryAvgMs),
      ];
    }),
  };
}

function nullableMs(value: number | null): number | null {
  return value === null ? null : ms(value);
}

/** The link's counters per side, medians of its runs. */
function linkTable(runs: { label: string; phases: Phase[] }[]): { header: string[]; rows: (string | number | null)[][] } {
  const capKBps = (LINK_SHAPE.rateMbit * 1e6) / 8 / 1000;
  const kb = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / 100) / 10);
  return {
    header: ['runs (medians)', 'direction', 'KB/s on the wire', 'cap KB/s', 'used %', 'tbf held back', 'tbf dropped'],
    rows: runs.flatMap(({ label, phases }) => {
      const phase = summarizePhases(phases);
      return [
        [label, 'server → client', kb(phase.downBytesPerSec), capKBps, percent(phase.downlinkUtilisation), phase.tbfDown?.overlimits ?? null, phase.tbfDown?.dropped ?? null],
        [
          label,
          'client → server',
          kb(phase.upBytesPerSec),
          capKBps,
          phase.upBytesPerSec === null ? null : Math.round((phase.upBytesPerSec / (capKBps * 1000)) * 100),
          phase.tbfUp?.overlimits ?? null,
          phase.tbfUp?.dropped ?? null,
        ],
      ];
    }),
  };
}

/** A limit used to this share of what it allows binds: the runs were at it, not near it. */
const SATURATED = 0.9;

/** The highest of the three utilisations decideBottleneck weighed. */
function topUtilisation(verdict: Verdict): number {
  const u = verdict.utilisation;
  return Math.max(u.bandwidth, u.latency, u.serverSide);
}

/** Which limit the remote runs met: named a bottleneck only when it was used to SATURATED. */
export function readVerdict(verdict: Verdict, vus: number): string {
  const u = verdict.utilisation;
  const saturated = topUtilisation(verdict) >= SATURATED;
  const none = `no limit was reached (the highest is at ${percent(topUtilisation(verdict))}%), so part of each request's time went elsewhere`;
  if (verdict.bottleneck !== BOTTLENECK.LINK) {
    return `The link did not bind these ${vus} users: the server side made ${percent(u.serverSide)}% of its local throughput,
more than the link's round trip (${percent(u.latency)}%) or bandwidth (${percent(u.bandwidth)}%) allowed for. ${saturated ? `Bottleneck: the ${verdict.bottleneck}.` : `Still, ${none}.`}`;
  }
  if (verdict.linkLimit === LINK_LIMIT.LATENCY) {
    return saturated
      ? `Bottleneck: the link's round trip (${percent(u.latency)}% of users ÷ RTT), not its bandwidth (${percent(u.bandwidth)}% used).`
      : `Closest limit: the link's round trip (${percent(u.latency)}% of users ÷ RTT), ahead of its bandwidth (${percent(u.bandwidth)}% used), but
${none}.`;
  }
  return saturated ? `Bottleneck: the link's bandwidth (${percent(u.bandwidth)}% used).` : `Closest limit: the link's bandwidth (${percent(u.bandwidth)}% used), but ${none}.`;
}

export function readManyVerdict(verdict: Verdict, phase: Phase): string {
  const saturated = topUtilisation(verdict) >= SATURATED;
  if (verdict.linkLimit === LINK_LIMIT.BANDWIDTH) {
    return saturated
      ? 'The pipe is full: more users only queue in it.'
      : `The bandwidth is the closest limit, yet only ${percent(verdict.utilisation.bandwidth)}% used: the pipe is not full.`;
  }
  if (verdict.linkLimit === LINK_LIMIT.LATENCY) {
    return `The round trip ${saturated ? 'still binds first' : 'is still the closest limit, though not reached'} (${percent(verdict.utilisation.latency)}% of users ÷ RTT).`;
  }
  return `The server side ${saturated ? 'binds again' : 'is the closest limit again'}: ${percent(verdict.utilisation.serverSide)}% of the local throughput${
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

function percent(share: number | null): number | null {
  return share === null ? null : Math.round(share * 100);
}

/** A pool histogram's mean over one run, from /stats before and after it. */
function meanOfRun(before: LatencySummary | undefined, after: LatencySummary): number | null {
  return meanBetween(before === undefined ? null : { mean: before.avgMs, count: before.count }, { mean: after.avgMs, count: after.count });
}
