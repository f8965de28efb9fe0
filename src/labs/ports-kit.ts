/**
 * What the ports-and-keepalive lab needs beyond the kit: the TCP states of one port as seen
 * from inside any network namespace, a load run inside a namespace, and the lab's readings
 * as functions of what it measured.
 *
 * /proc/net/tcp shows the namespace of the process that reads it. /proc/PID/net/tcp shows
 * the namespace of PID instead, so the lab reads the table through the server's PID: the
 * same code then counts TIME_WAIT on the host's loopback and inside a private namespace,
 * without entering it.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { censusTcpText, type PortCensus } from '../metrics/index.js';
import type { LoadResult } from '../load/index.js';
import { SOCKETLAB_CLI } from '../program.js';
import { LAB_ERR, LabError } from '../errors.js';
import type { Namespace } from './netns.js';
import { describeComparison, formatRatio, spreadOf } from '../metrics/comparison.js';
import { formatNumber } from '../format/numbers.js';

/** The connections on `port` in the network namespace of `pid`, split into server and client ends. */
export async function readPortCensus(pid: number, port: number): Promise<PortCensus | null> {
  const texts: { text: string; family: 4 | 6 }[] = [];
  for (const [file, family] of [
    ['tcp', 4],
    ['tcp6', 6],
  ] as const) {
    try {
      texts.push({ text: await readFile(`/proc/${pid}/net/${file}`, 'latin1'), family });
    } catch {
      // No IPv6 in this kernel, or the process is gone.
    }
  }
  if (texts.length === 0) return null;
  return censusTcpText(texts, [port]).ports[0] ?? null;
}

/**
 * Wait (polling, up to `deadlineMs`) until every connection on the port has finished closing:
 * nothing left but TIME_WAIT. A run that starts while the previous run's sockets still pass
 * through FIN_WAIT2 would see them land in TIME_WAIT during its own window and count them as
 * its own. Returns whether the port went quiet in time.
 */
export async function waitForPortQuiet(pid: number, port: number, deadlineMs = 10_000, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const census = await readPortCensus(pid, port);
    if (census === null) return false;
    const busy = [census.server, census.client].some((counts) => Object.entries(counts).some(([state, n]) => state !== 'TIME_WAIT' && state !== 'CLOSE' && n > 0));
    if (!busy) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface TimeWaitWatch {
  /** Stop polling; the most TIME_WAIT seen on each end, and the last reading. */
  stop(): Promise<TimeWaitPeak>;
}

export interface TimeWaitPeak {
  /** TIME_WAIT sockets held by clients of the port (the client closed first). */
  client: number;
  /** TIME_WAIT sockets held by the server's end (the server closed first). */
  server: number;
  /** Readings taken. */
  readings: number;
}

/**
 * Poll the port's census every `intervalMs` and keep the peaks. Each read walks the
 * namespace's whole socket table (tens of ms at 20,000 TIME_WAIT sockets), which is why
 * the interval is not shorter: the load generator runs on this same event loop.
 */
export function watchTimeWait(pid: number, port: number, intervalMs = 500): TimeWaitWatch {
  const peak: TimeWaitPeak = { client: 0, server: 0, readings: 0 };
  let stopped = false;
  let wake: (() => void) | null = null;
  const read = async (): Promise<void> => {
    const census = await readPortCensus(pid, port);
    if (census === null) return;
    peak.readings += 1;
    peak.client = Math.max(peak.client, census.client.TIME_WAIT);
    peak.server = Math.max(peak.server, census.server.TIME_WAIT);
  };
  // The next read starts an interval after the previous one ended, so slow reads never pile up.
  const loop = (async () => {
    while (!stopped) {
      await read();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
      // One last look: the last connections of the run closed just now.
      await read();
      return { ...peak };
    },
  };
}

/**
 * `socketlab load URL ...flags --json FILE` inside the namespace, to completion; the
 * LoadResult it wrote. Quitting the lab (signal) sends SIGINT, which ends the run early
 * with a result, as Ctrl-C does for a person.
 */
export async function runLoadInNamespace(ns: Namespace, url: string, flags: string[], signal: AbortSignal): Promise<LoadResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'socketlab-ports-'));
  const file = path.join(dir, 'load.json');
  try {
    // `ip netns exec` execs the command after entering the namespace: the child's PID is node's.
    const child = ns.spawn(process.execPath, [SOCKETLAB_CLI, 'load', url, ...flags, '--json', file]);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout?.resume();
    const onAbort = (): void => void child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    }).finally(() => signal.removeEventListener('abort', onAbort));
    if (code !== 0) throw new LabError(LAB_ERR.UNSUPPORTED, `socketlab load inside namespace ${ns.name} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(await readFile(file, 'utf8')) as LoadResult;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ── Readings: each sentence lab 7 prints about its runs, built from their numbers ─────────

/** What the TIME_WAIT watch saw for one way of closing: the most any run of it added, on each end. */
export interface TimeWaitSides {
  client: number;
  server: number;
}

export interface KeepAliveReading {
  /** Requests per second of every run, per mode. */
  keepAliveRps: number[];
  perRequestRps: number[];
  /** Connections the keep-alive runs opened (one per user) and the connect p50 of the per-request runs (median). */
  keepAliveConnections: number;
  connectP50Ms: number;
  /** TIME_WAIT added: keep-alive's first run (on a port nothing else had used), the most any run of each other mode added. */
  timeWait: { keepAlive: number; clientCloses: TimeWaitSides; serverCloses: TimeWaitSides };
  /** This machine's ip_local_port_range and tcp_tw_reuse, null where unread. */
  portRange: string | null;
  rangePorts: number | null;
  twReuse: string | null;
}

/** Keep-alive against a connection per request, and where TIME_WAIT landed. */
export function readKeepAlive(m: KeepAliveReading): string {
  const keep = spreadOf(m.keepAliveRps);
  const perRequest = spreadOf(m.perRequestRps);
  const comparison = describeComparison({ label: 'keep-alive', spread: keep }, { label: 'a connection per request', spread: perRequest }, 'req/s');
  const { clientCloses: cc, serverCloses: sc } = m.timeWait;
  const followsCloser = cc.client > cc.server && sc.server > sc.client;
  const landed = followsCloser
    ? `TIME_WAIT landed on the side that closed first: up to ${formatNumber(cc.client)} client sockets when the client
closed, ${formatNumber(sc.server)} server sockets when the server did`
    : `TIME_WAIT did not follow the closing side here: when the client closed, ${formatNumber(cc.client)} client and
${formatNumber(cc.server)} server sockets; when the server closed, ${formatNumber(sc.client)} client and ${formatNumber(sc.server)} server sockets`;
  const keepAlive =
    m.timeWait.keepAlive <= m.keepAliveConnections
      ? `with keep-alive ${formatNumber(m.timeWait.keepAlive)} in its first run (at most one for each of its ${formatNumber(m.keepAliveConnections)} connections, closed when the run ended)`
      : `with keep-alive ${formatNumber(m.timeWait.keepAlive)} in its first run, more than its ${formatNumber(m.keepAliveConnections)} connections (other sockets on the port closed meanwhile)`;
  const portsPerMinute = Math.round(perRequest.median * 60);
  const range =
    m.rangePorts === null
      ? ''
      : ` (this machine's range,
${m.portRange}, has ${formatNumber(m.rangePorts)}${portsPerMinute > m.rangePorts ? `: ${formatRatio(portsPerMinute / m.rangePorts)} what it holds` : ''})`;
  // Far fewer TIME_WAIT than the rate implies, with reuse on: the kernel took TIME_WAIT ports over for new connects.
  const reused =
    cc.client < portsPerMinute / 2 && (m.twReuse === '1' || m.twReuse === '2')
      ? `\nTIME_WAIT stopped at ${formatNumber(cc.client)}, far short of that: tcp_tw_reuse=${m.twReuse} lets connect() reuse a port whose
TIME_WAIT is about a second old${m.twReuse === '2' ? ', for loopback only: toward a real server nothing would have been reused' : ''}.`
      : '';
  return `${comparison}
Each new connection paid a handshake (connect p50 ${formatNumber(m.connectP50Ms)} ms) and a close. ${landed};
${keepAlive}.
At ${formatNumber(Math.round(perRequest.median))} new connections a second a client ties up ${formatNumber(portsPerMinute)} ports per 60 s${range}.${reused}`;
}

/** One load run inside a namespace with a narrow port range. */
export interface NarrowRangeRun {
  ok: number;
  eaddrnotavail: number;
  /** Failures of any other kind (refused, reset, timeouts). */
  otherFailures: number;
  timeWaitPeak: number;
}

/** The first run in the narrow range: how far a connection per request got. */
export function readExhaustion(run: NarrowRangeRun, ports: number, seconds: number): string {
  if (run.eaddrnotavail === 0) {
    return `${formatNumber(run.ok)} requests succeeded and no connect() failed with EADDRNOTAVAIL: the ${formatNumber(ports)} ports were enough for
this run${run.otherFailures === 0 ? '' : ` (${formatNumber(run.otherFailures)} requests failed otherwise)`}.`;
  }
  const perPort = run.ok <= ports ? `, at most one per port in the range (${formatNumber(ports)})` : `, more than the range's ${formatNumber(ports)} ports (some were reused)`;
  const failed =
    run.otherFailures === 0
      ? `then every further connect() failed with EADDRNOTAVAIL:\n${formatNumber(run.eaddrnotavail)} times in ${formatNumber(seconds)} s`
      : `then ${formatNumber(run.eaddrnotavail)} connects failed with EADDRNOTAVAIL\nand ${formatNumber(run.otherFailures)} requests otherwise, in ${formatNumber(seconds)} s`;
  const used = Math.min(run.ok, ports);
  const timeWait =
    run.timeWaitPeak >= 0.9 * used
      ? `Each used port was in TIME_WAIT (${formatNumber(run.timeWaitPeak)} at the peak) and stays there for 60 s: until then this
client cannot open another connection to this server.`
      : `Only ${formatNumber(run.timeWaitPeak)} of the ${formatNumber(used)} used ports were seen in TIME_WAIT at the peak.`;
  const server = run.otherFailures === 0 ? '\nNothing was wrong with the server: every failure was the client finding no free port.' : '';
  return `${formatNumber(run.ok)} requests succeeded${perPort}, ${failed}.
${timeWait}${server}`;
}

/** The ways out, each against the ceiling its ports set (not against another single run). */
export function readWaysOut(ways: { keepAlive: NarrowRangeRun; addresses: NarrowRangeRun & { count: number }; twReuse: NarrowRangeRun }, ports: number): string {
  const { keepAlive: keep, addresses, twReuse: reuse } = ways;
  const keepText =
    keep.eaddrnotavail === 0
      ? `Keep-alive needed no new ports: ${formatNumber(keep.ok)} requests, 0 EADDRNOTAVAIL, ${formatNumber(keep.timeWaitPeak)} TIME_WAIT.`
      : `Even keep-alive met EADDRNOTAVAIL ${formatNumber(keep.eaddrnotavail)} times (its connections were reopened): ${formatNumber(keep.ok)} requests.`;
  // Each phase is one run: the sentences set its count against the ceiling its ports allow, a
  // limit the kernel enforces exactly, not against another run's count.
  const ceiling = addresses.count * ports;
  const addressText =
    addresses.eaddrnotavail > 0
      ? `${addresses.count} source addresses give each address its own ${formatNumber(ports)} ports: ${formatNumber(addresses.ok)} requests (the ceiling is ${formatNumber(addresses.count)} × ${formatNumber(ports)}
= ${formatNumber(ceiling)}) before EADDRNOTAVAIL returned, a higher ceiling, not a cure.`
      : `${addresses.count} source addresses give each address its own ${formatNumber(ports)} ports: ${formatNumber(addresses.ok)} requests, and no EADDRNOTAVAIL in
this run (the ceiling, ${formatNumber(ceiling)}, was not reached).`;
  const reuseText =
    reuse.ok > ports
      ? `tcp_tw_reuse=1 lets connect() take over a TIME_WAIT port once it is about a second old (TCP timestamps keep it safe):
${formatNumber(reuse.ok)} requests from ${formatNumber(ports)} ports, ${formatNumber(reuse.eaddrnotavail)} EADDRNOTAVAIL.`
      : `tcp_tw_reuse=1 did not get past the range here: ${formatNumber(reuse.ok)} requests from ${formatNumber(ports)} ports, ${formatNumber(reuse.eaddrnotavail)} EADDRNOTAVAIL
(a port becomes reusable only once its TIME_WAIT is about a second old).`;
  return `${keepText}
${addressText}
${reuseText} The default (2) does this for loopback only, never toward a real server.`;
}
