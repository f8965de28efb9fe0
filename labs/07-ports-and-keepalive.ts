/**
 * Lab 7, ports and keep-alive: what a new connection per request costs, where TIME_WAIT
 * lands, and how a client runs out of ephemeral ports.
 */
import { FAILURE, type LoadOptions, type LoadResult } from '../src/load/index.js';
import { countPortRange, isUnavailable, readSysctls } from '../src/metrics/index.js';
import { ms, runLabLoad, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { AXIS, axis, barChart } from '../src/labs/chart-kit.js';
import { createNamespace, namespaceUnavailableReason, type Namespace } from '../src/labs/netns.js';
import { readExhaustion, readKeepAlive, readPortCensus, readWaysOut, runLoadInNamespace, waitForPortQuiet, watchTimeWait, type TimeWaitPeak } from '../src/labs/ports-kit.js';
import { COMPARISON_ROUNDS, formatSpread, measureInterleaved, spreadOf } from '../src/metrics/comparison.js';
import type { LabContext, LabDefinition, LabSettings, StepContext } from '../src/labs/types.js';

interface Settings {
  /** Runs of each mode in step 1, interleaved (comparison.ts COMPARISON_ROUNDS). */
  rounds: number;
  /** Step 1 (the host's loopback): users and run length per mode. */
  vus: number;
  durationMs: number;
  /** Steps 2 and 3 (a private namespace): users and run length per phase. */
  nsVus: number;
  nsDurationMs: number;
}

const SETTINGS: LabSettings<Settings> = {
  // Step 1 runs each of its three modes COMPARISON_ROUNDS times: the quick runs are 0.8 s, so
  // the step costs about what one 1.5 s run of each did before.
  quick: { rounds: COMPARISON_ROUNDS.quick, vus: 20, durationMs: 800, nsVus: 10, nsDurationMs: 2000 },
  full: { rounds: COMPARISON_ROUNDS.full, vus: 50, durationMs: 6000, nsVus: 10, nsDurationMs: 5000 },
};

const NARROW = {
  /** 100 ephemeral ports instead of ~28,000: exhaustion in a fraction of a second instead of minutes. */
  PORT_RANGE: '40000 40099',
  PORTS: 100,
  /** The server's port inside the namespace: outside the range, so it takes none of the 100. */
  SERVER_PORT: 8080,
  /**
   * Source addresses for the "more addresses" way out: 127.0.0.1 .. 127.0.0.N. Four make the
   * point (four times the ceiling, then EADDRNOTAVAIL again) and their 400 ports run out
   * within the 2 s quick run even on a busy machine, where 800 did not (measured: 733
   * connects in 2 s at a load average of 14 on 2 cores).
   */
  SOURCE_ADDRESSES: 4,
} as const;

const AGE_PATH = '/age?birthdate=1993-05-01';

/** The three ways a client can talk to the server in step 1, and the load options of each. */
const MODES = {
  'keep-alive': {},
  'new connection, client closes': { keepAlive: false, closeBy: 'client' },
  'new connection, server closes': { keepAlive: false, closeBy: 'server' },
} as const satisfies Record<string, Partial<LoadOptions>>;
type ModeName = keyof typeof MODES;
const MODE_NAMES = Object.keys(MODES) as ModeName[];

interface ModeRow {
  /** Which mode, and which of its runs: "keep-alive, run 1 of 2". */
  label: string;
  mode: ModeName;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  connects: number;
  connectP50Ms: number;
  connectP99Ms: number;
  /** TIME_WAIT added on each end during the run (peak minus what was there before). */
  timeWaitClient: number;
  timeWaitServer: number;
  failed: number;
}

interface NsPhase {
  way: string;
  ok: number;
  okRps: number;
  requests: number;
  eaddrnotavail: number;
  /** Failed requests of any other kind (refused, reset, timeouts). */
  otherFailures: number;
  timeWaitPeak: number;
  portRange: string;
  twReuse: string;
  sourceAddresses: number;
}

export const lab: LabDefinition<Settings> = {
  id: 'ports-and-keepalive',
  number: 7,
  title: 'Keep-alive, TIME_WAIT and running out of ports',
  layer: '1,000 → 10,000',
  summary: 'a connection per request vs keep-alive: requests/s, connect time, TIME_WAIT; ephemeral port exhaustion (EADDRNOTAVAIL) and the ways out',
  intro: `A TCP connection is named by four numbers: source address and port, destination address and
port. A client talking to one server varies only its source port, picked from the ephemeral
range (net.ipv4.ip_local_port_range: ~28,000 ports by default). Whoever closes a connection
first keeps its name in TIME_WAIT for 60 seconds, so that a late packet of the old connection
cannot land in a new one with the same name. Open a new connection for every request and a
client burns through ports at its request rate: at 500 requests a second, 28,000 ports last
under a minute. Here you measure what a connection per request costs against keep-alive, see
TIME_WAIT pile up on whichever side closes, then run out of ports for real inside a private
network namespace with only ${NARROW.PORTS} of them, and try the ways out.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const rounds = settings.rounds;
    await lab.step(
      `Keep-alive vs a connection per request (${settings.vus} users, ${settings.durationMs / 1000} s a run, ${rounds} interleaved runs of each, loopback)`,
      async (step) => {
        const server = await startLabServer(lab, []);
        const url = `${server.url}${AGE_PATH}`;
        let runs: Record<ModeName, ModeRow[]>;
        try {
          runs = await measureInterleaved(MODE_NAMES, rounds, (mode, round) =>
            runMode(
              step,
              server.pid,
              server.port,
              url,
              { mode, label: `${mode}, run ${round + 1} of ${rounds}` },
              { vus: settings.vus, durationMs: settings.durationMs, ...MODES[mode] },
            ),
          );
        } finally {
          await stopLabServer(lab, server);
        }
        const keep = runs['keep-alive'];
        const clientCloses = runs['new connection, client closes'];
        const serverCloses = runs['new connection, server closes'];
        // TIME_WAIT lingers 60 s, so a later run starts among the earlier runs' sockets (and, with
        // tcp_tw_reuse, reuses some): for a mode that piles TIME_WAIT up, the most any of its runs
        // added is the clearest count. Keep-alive adds at most one per connection, a number that
        // an earlier run's stragglers landing in TIME_WAIT meanwhile would swamp (measured: 39
        // for 20 connections in a run that followed a connection-per-request run, at a load
        // average of 11): its count is its first run's, the lab's first, on a port nothing else
        // has used yet.
        const most = (rows: ModeRow[], end: 'timeWaitClient' | 'timeWaitServer'): number => Math.max(...rows.map((r) => r[end]));
        const firstKeepAlive = keep[0] as ModeRow;
        const timeWait = {
          keepAlive: firstKeepAlive.timeWaitClient + firstKeepAlive.timeWaitServer,
          clientCloses: { client: most(clientCloses, 'timeWaitClient'), server: most(clientCloses, 'timeWaitServer') },
          serverCloses: { client: most(serverCloses, 'timeWaitClient'), server: most(serverCloses, 'timeWaitServer') },
        };
        const keepRps = spreadOf(keep.map((r) => r.rps));
        const perRequestRps = spreadOf(clientCloses.map((r) => r.rps));
        const connectP50Ms = ms(spreadOf(clientCloses.map((r) => r.connectP50Ms)).median);
        lab.findings.keepaliveRps = Math.round(keepRps.median);
        lab.findings.perRequestRps = Math.round(perRequestRps.median);
        lab.findings.rps = { keepAlive: keepRps, perRequest: perRequestRps, serverCloses: spreadOf(serverCloses.map((r) => r.rps)) };
        lab.findings.timeWaitPeak = timeWait.clientCloses.client;
        lab.findings.keepaliveTimeWait = timeWait.keepAlive;
        lab.findings.serverClosesTimeWait = timeWait.serverCloses;
        lab.findings.connectP50Ms = connectP50Ms;
        const sysctls = readSysctls();
        const portRange = isUnavailable(sysctls) ? null : (sysctls['net.ipv4.ip_local_port_range'] ?? null);
        // One row per mode (medians; req/s with its range) for the table and the report's chart;
        // every run, flat and named, for the results file.
        const medianRows = MODE_NAMES.map((mode) => {
          const rows = runs[mode];
          const median = (pickValue: (r: ModeRow) => number): number => ms(spreadOf(rows.map(pickValue)).median);
          return {
            mode,
            rps: Math.round(spreadOf(rows.map((r) => r.rps)).median),
            rpsRange: formatSpread(spreadOf(rows.map((r) => r.rps))),
            p50Ms: median((r) => r.p50Ms),
            p99Ms: median((r) => r.p99Ms),
            connects: median((r) => r.connects),
            connectP50Ms: median((r) => r.connectP50Ms),
            connectP99Ms: median((r) => r.connectP99Ms),
            timeWaitClient: rows.map((r) => r.timeWaitClient).join(' / '),
            timeWaitServer: rows.map((r) => r.timeWaitServer).join(' / '),
            failed: rows.reduce((sum, r) => sum + r.failed, 0),
          };
        });
        return {
          table: {
            header: ['mode', 'req/s', 'p50 ms', 'p99 ms', 'connects', 'connect p50 ms', 'connect p99 ms', 'TIME_WAIT client, per run', 'TIME_WAIT server, per run', 'failed'],
            rows: medianRows.map((r) => [r.mode, r.rpsRange, r.p50Ms, r.p99Ms, r.connects, r.connectP50Ms, r.connectP99Ms, r.timeWaitClient, r.timeWaitServer, r.failed]),
          },
          reading: readKeepAlive({
            keepAliveRps: keepRps.runs,
            perRequestRps: perRequestRps.runs,
            keepAliveConnections: firstKeepAlive.connects,
            connectP50Ms,
            timeWait,
            portRange,
            rangePorts: countPortRange(portRange),
            twReuse: isUnavailable(sysctls) ? null : (sysctls['net.ipv4.tcp_tw_reuse'] ?? null),
          }),
          charts: [
            barChart(
              {
                title: 'Throughput by mode',
                caption: `Medians of ${rounds} interleaved runs, whiskers their min–max: a connection per request pays a handshake and a close for every request.`,
              },
              { x: axis('mode'), y: AXIS.RPS },
              MODE_NAMES,
              [{ name: 'req/s', values: MODE_NAMES.map((mode) => spreadOf(runs[mode].map((r) => r.rps))) }],
            ),
            barChart({ title: 'Latency by mode', caption: `Medians of ${rounds} interleaved runs, whiskers their min–max.` }, { x: axis('mode'), y: AXIS.LATENCY }, MODE_NAMES, [
              { name: 'p50', values: MODE_NAMES.map((mode) => spreadOf(runs[mode].map((r) => r.p50Ms))) },
              { name: 'p99', values: MODE_NAMES.map((mode) => spreadOf(runs[mode].map((r) => r.p99Ms))) },
            ]),
            barChart(
              {
                title: 'Sockets left in TIME_WAIT, by the side that closed',
                caption: "Whoever closes first keeps the connection's name for 60 s. Keep-alive: its first run; the others: the most any of their runs added.",
              },
              { x: axis('mode'), y: axis('sockets in TIME_WAIT') },
              MODE_NAMES,
              [
                { name: 'client', values: [firstKeepAlive.timeWaitClient, timeWait.clientCloses.client, timeWait.serverCloses.client] },
                { name: 'server', values: [firstKeepAlive.timeWaitServer, timeWait.clientCloses.server, timeWait.serverCloses.server] },
              ],
            ),
          ],
          measurements: { rounds, rows: medianRows, runs: MODE_NAMES.flatMap((mode) => runs[mode]), timeWait },
        };
      },
    );

    const unavailable = await namespaceUnavailableReason();
    if (unavailable !== null) {
      lab.skip(`Running out of ephemeral ports (a private namespace with ${NARROW.PORTS} ports)`, unavailable);
      lab.skip('The ways out: keep-alive, more source addresses, tcp_tw_reuse', unavailable);
      lab.findings.eaddrnotavail = null;
      lab.findings.eaddrnotavailReason = unavailable;
      return;
    }

    const exhaustion = await lab.step(
      `Running out of ephemeral ports (a private namespace with ${NARROW.PORTS} ports, ${settings.nsVus} users, a connection per request)`,
      async (step) => {
        const phase = await runInNamespace(lab, step, settings, { way: 'a connection per request', keepAlive: false, twReuse: '0', sourceAddresses: 1 });
        lab.findings.eaddrnotavail = phase.eaddrnotavail;
        lab.findings.exhaustion = phase;
        return {
          table: nsTable([phase]),
          reading: readExhaustion(phase, NARROW.PORTS, settings.nsDurationMs / 1000),
          measurements: { phase },
        };
      },
    );

    await lab.step('The ways out: keep-alive, more source addresses, tcp_tw_reuse', async (step) => {
      const base = (exhaustion?.measurements?.phase as NsPhase | undefined) ?? null;
      const phases: NsPhase[] = [];
      phases.push(await runInNamespace(lab, step, settings, { way: 'keep-alive', keepAlive: true, twReuse: '0', sourceAddresses: 1 }));
      phases.push(
        await runInNamespace(lab, step, settings, {
          way: `a connection per request, ${NARROW.SOURCE_ADDRESSES} source addresses`,
          keepAlive: false,
          twReuse: '0',
          sourceAddresses: NARROW.SOURCE_ADDRESSES,
        }),
      );
      phases.push(await runInNamespace(lab, step, settings, { way: 'a connection per request, tcp_tw_reuse=1', keepAlive: false, twReuse: '1', sourceAddresses: 1 }));
      const [keep, addresses, reuse] = phases as [NsPhase, NsPhase, NsPhase];
      lab.findings.waysOut = { keepAlive: keep, sourceAddresses: addresses, twReuse: reuse };
      return {
        table: nsTable([...(base === null ? [] : [base]), ...phases]),
        reading: readWaysOut({ keepAlive: keep, addresses: { ...addresses, count: addresses.sourceAddresses }, twReuse: reuse }, NARROW.PORTS),
        charts: [
          barChart(
            {
              title: `Requests served and refused EADDRNOTAVAIL with ${NARROW.PORTS} ports, by way out`,
              caption: `One ${settings.nsDurationMs / 1000} s run each, ${settings.nsVus} users, in a private namespace.`,
            },
            { x: axis('way'), y: axis('requests') },
            [...(base === null ? [] : [base]), ...phases].map((p) => p.way),
            [
              { name: 'served', values: [...(base === null ? [] : [base]), ...phases].map((p) => p.ok) },
              { name: 'EADDRNOTAVAIL', values: [...(base === null ? [] : [base]), ...phases].map((p) => p.eaddrnotavail) },
            ],
            'horizontal',
          ),
        ],
        measurements: { phases },
      };
    });
  },
};

/** One load run on the host's loopback, with the port's TIME_WAIT watched on both ends. */
async function runMode(
  step: StepContext,
  serverPid: number,
  port: number,
  url: string,
  run: { mode: ModeName; label: string },
  options: Omit<LoadOptions, 'url'>,
): Promise<ModeRow> {
  // TIME_WAIT from an earlier run lingers for 60 s: count what this run adds, once the earlier
  // run's last connections have finished closing.
  await waitForPortQuiet(serverPid, port);
  const before = await readPortCensus(serverPid, port);
  const watch = watchTimeWait(serverPid, port);
  let result: LoadResult;
  let peak: TimeWaitPeak;
  try {
    result = await runLabLoad(step, { url, ...options }, run.label);
  } finally {
    peak = await watch.stop();
  }
  const s = result.summary;
  return {
    label: run.label,
    mode: run.mode,
    rps: s.rps,
    p50Ms: ms(s.latency.total.p50Ms),
    p99Ms: ms(s.latency.total.p99Ms),
    connects: s.connects,
    connectP50Ms: ms(s.latency.connect.p50Ms),
    connectP99Ms: ms(s.latency.connect.p99Ms),
    timeWaitClient: Math.max(0, peak.client - (before?.client.TIME_WAIT ?? 0)),
    timeWaitServer: Math.max(0, peak.server - (before?.server.TIME_WAIT ?? 0)),
    failed: s.failed,
  };
}

/**
 * One phase in a fresh namespace: the narrow port range, a server on NARROW.SERVER_PORT,
 * and `socketlab load` inside it. A fresh namespace per phase, because the ports a phase
 * leaves in TIME_WAIT would otherwise starve the next one for a minute.
 */
async function runInNamespace(
  lab: LabContext,
  step: StepContext,
  settings: Settings,
  phase: { way: string; keepAlive: boolean; twReuse: string; sourceAddresses: number },
): Promise<NsPhase> {
  step.progress(`${phase.way}: preparing a namespace`);
  const ns: Namespace = await createNamespace(lab, 'ports');
  try {
    await ns.sysctl('net.ipv4.ip_local_port_range', NARROW.PORT_RANGE);
    // Linux's default (2) reuses TIME_WAIT ports for loopback connections, which would hide
    // the exhaustion here: a client of a real server gets no such help.
    await ns.sysctl('net.ipv4.tcp_tw_reuse', phase.twReuse);
    const addresses = Array.from({ length: phase.sourceAddresses }, (_, i) => `127.0.0.${i + 1}`);
    // 127.0.0.0/8 is local on Linux already; adding the addresses makes them explicit (ip addr lists them).
    for (const address of addresses.slice(1)) await ns.exec('ip', ['addr', 'add', `${address}/8`, 'dev', 'lo']);
    const server = await startLabServer(lab, ['--port', String(NARROW.SERVER_PORT)], { prefix: ['ip', 'netns', 'exec', ns.name] });
    try {
      const watch = watchTimeWait(server.pid, NARROW.SERVER_PORT);
      step.progress(`${phase.way}: ${settings.nsVus} users for ${settings.nsDurationMs / 1000} s inside ${ns.name}`);
      const flags = ['--vus', String(settings.nsVus), '--duration', `${settings.nsDurationMs}ms`, '--timeout', '5000'];
      if (!phase.keepAlive) flags.push('--no-keepalive');
      if (phase.sourceAddresses > 1) flags.push('--local-address', addresses.join(','));
      let result: LoadResult;
      let peak: TimeWaitPeak;
      try {
        result = await runLoadInNamespace(ns, `http://127.0.0.1:${NARROW.SERVER_PORT}${AGE_PATH}`, flags, step.signal);
      } finally {
        peak = await watch.stop();
      }
      const s = result.summary;
      return {
        way: phase.way,
        ok: s.ok,
        okRps: s.durationMs > 0 ? Math.round((s.ok / s.durationMs) * 1000) : 0,
        requests: s.requests,
        eaddrnotavail: s.failures[FAILURE.EADDRNOTAVAIL],
        otherFailures: s.failed - s.failures[FAILURE.EADDRNOTAVAIL],
        timeWaitPeak: peak.client,
        portRange: NARROW.PORT_RANGE,
        twReuse: phase.twReuse,
        sourceAddresses: phase.sourceAddresses,
      };
    } finally {
      await stopLabServer(lab, server);
    }
  } finally {
    // Deleted now so phases do not accumulate; the runner's later delete is a no-op.
    await ns.delete();
  }
}

function nsTable(phases: NsPhase[]): { header: string[]; rows: (string | number)[][] } {
  return {
    header: ['client', 'ok requests', 'ok/s', 'EADDRNOTAVAIL', 'TIME_WAIT peak', 'source addresses', 'tcp_tw_reuse'],
    rows: phases.map((p) => [p.way, p.ok, p.okRps, p.eaddrnotavail, p.timeWaitPeak, p.sourceAddresses, p.twReuse]),
  };
}
