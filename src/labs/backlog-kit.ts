/**
 * The backlog lab's client: a burst of raw TCP connects, each one timed on its own, while
 * the listening socket's accept queue is sampled and the kernel's TCP counters are read
 * before and after.
 *
 * It runs as a process of its own (this file is also a script) so that it can run inside
 * the lab's private network namespace, next to the server: /proc/net/* and the TCP sysctls
 * belong to a namespace, so there the counters count this burst and nothing else on the
 * machine, and `ss` sees the listener. Without namespaces it runs the same way in the root
 * namespace, where other programs' drops may add to the counters.
 *
 * The load generator (src/load) reports connect latency as a histogram; this lab needs
 * each client's own story instead (when it connected, whether a SYN was retransmitted,
 * whether it was then served), so the burst is a few dozen plain node:net sockets.
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createCapacityLookup, diffCounters, isUnavailable, readKernelCounters, readListenQueues, readSysctls } from '../metrics/index.js';
import type { CounterValues } from '../metrics/index.js';
import { errnoCode, LAB_ERR, LabError } from '../errors.js';
import type { LatencySummary } from '../metrics/histogram.js';
import { createNamespace, type Namespace } from './netns.js';
import { hasCommand } from './kit.js';
import type { LabContext, StepContext } from './types.js';

const SCRIPT_PATH = fileURLToPath(import.meta.url);

/** The counters read around a burst (their change over it). */
export const BURST_COUNTERS = [
  'TcpExt.ListenOverflows',
  'TcpExt.ListenDrops',
  'TcpExt.TCPSynRetrans',
  'TcpExt.SyncookiesSent',
  'TcpExt.SyncookiesRecv',
  'TcpExt.TCPReqQFullDoCookies',
  'TcpExt.TCPReqQFullDrop',
  'Tcp.PassiveOpens',
  'Tcp.AttemptFails',
  'Tcp.EstabResets',
  'Tcp.RetransSegs',
] as const;

/**
 * How a client's connect time is read. A SYN that the kernel dropped (full accept queue) is
 * retransmitted after the initial RTO of 1 s (TCP_TIMEOUT_INIT; RFC 6298 §2.1 allows it),
 * then after 2 s more, 4 s more...: connects complete at about 1 s, 3 s, 7 s. A connect under
 * 200 ms cannot have waited for a retransmission; one at 900 ms or more almost surely did.
 * Anything between is a slow connect without a retry (a busy machine), counted apart.
 */
export const CONNECT_CLASS = {
  AT_ONCE_BELOW_MS: 200,
  AFTER_RETRY_FROM_MS: 900,
} as const;

/** What became of one client. */
export const CLIENT_OUTCOME = {
  /** A complete response arrived. */
  SERVED: 'served',
  /** No handshake within the connect timeout (its SYNs were dropped). */
  CONNECT_TIMEOUT: 'connect_timeout',
  /** ECONNRESET: the server's kernel answered with a reset (tcp_abort_on_overflow). */
  RESET: 'reset',
  REFUSED: 'refused',
  /** Connected, but no complete response within the response timeout. */
  RESPONSE_TIMEOUT: 'response_timeout',
  /** The server closed before a complete response. */
  CLOSED_EARLY: 'closed_early',
  OTHER: 'other',
} as const;
export type ClientOutcome = (typeof CLIENT_OUTCOME)[keyof typeof CLIENT_OUTCOME];

export interface BurstOptions {
  host: string;
  port: number;
  clients: number;
  /** A client whose handshake has not completed by then gives up. */
  connectTimeoutMs: number;
  /** From the handshake to the last byte of the response. */
  responseTimeoutMs: number;
  /** What each client asks for once connected (with Connection: close). */
  path: string;
  /** How often the accept queue is read (~0.1-4 ms a read). */
  sampleEveryMs: number;
}

export interface ClientTrace {
  /** When it called connect(), ms after the burst started. */
  startMs: number;
  /** When it was done (answered, failed or gave up), ms after the burst started. */
  endMs: number;
  /** connect() → handshake complete, as the client saw it; null if it never connected. */
  connectMs: number | null;
  /** Handshake → last response byte: includes the wait in the accept queue. */
  responseMs: number | null;
  status: number | null;
  outcome: ClientOutcome;
  /** The errno behind a failure, if there was one. */
  error: string | null;
  /** Whether the failure came before or after the handshake. */
  failedAfterConnect: boolean;
}

export interface QueuePoint {
  tMs: number;
  /** Connections waiting for accept() (sk_ack_backlog), null if the read failed. */
  queued: number | null;
  /** The queue's capacity (sk_max_ack_backlog) from ss, null without ss. */
  max: number | null;
}

/** The parts of the server's /stats the lab reads. */
export interface BurstServerStats {
  backlog: { requested: number; somaxconn: number | null; effective: number };
  acceptRate: number | null;
  connections: { total: number };
  requests: { total: number; byStatus: Record<string, number> };
  stages: { intervals: { total: LatencySummary; acceptToFirstByte: LatencySummary } };
}

export interface BurstReport {
  options: BurstOptions;
  clients: ClientTrace[];
  queue: QueuePoint[];
  /** Change of each BURST_COUNTERS name over the burst (in the namespace it ran in). */
  counters: Record<string, number>;
  countersUnavailable: string | null;
  sysctls: Record<string, string | null>;
  serverStats: BurstServerStats | null;
  durationMs: number;
}

/** One burst, in this process. The script entry at the bottom calls it inside the namespace. */
export async function runBurst(options: BurstOptions): Promise<BurstReport> {
  const read = readSysctls();
  const sysctls: Record<string, string | null> = isUnavailable(read) ? {} : read;
  const before = readKernelCounters();
  const capacities = createCapacityLookup();
  const started = performance.now();
  const queue: QueuePoint[] = [];
  const sampleQueue = (): void => {
    const listeners = readListenQueues([options.port], capacities, [4]);
    const tMs = Math.round(performance.now() - started);
    if (isUnavailable(listeners) || listeners.length === 0) queue.push({ tMs, queued: null, max: null });
    else queue.push({ tMs, queued: listeners.reduce((sum, l) => sum + l.queued, 0), max: listeners[0]?.max ?? null });
  };
  sampleQueue();
  const sampler = setInterval(sampleQueue, options.sampleEveryMs);
  // All connect() calls in one go: on loopback each handshake completes inside its call.
  const clients = await Promise.all(Array.from({ length: options.clients }, () => runClient(options, started)));
  sampleQueue();
  clearInterval(sampler);
  const durationMs = performance.now() - started;
  const after = readKernelCounters();
  const countersUnavailable = isUnavailable(before) ? before.unavailable : isUnavailable(after) ? after.unavailable : null;
  const counters = countersUnavailable === null ? diffCounters(before as CounterValues, after as CounterValues, BURST_COUNTERS) : {};
  return {
    options,
    clients,
    queue,
    counters: counters as Record<string, number>,
    countersUnavailable,
    sysctls,
    serverStats: await readServerStats(options),
    durationMs: Math.round(durationMs),
  };
}

/** What one client needs to know (a burst's options are one). */
export type ClientOptions = Pick<BurstOptions, 'host' | 'port' | 'path' | 'connectTimeoutMs' | 'responseTimeoutMs'>;

/**
 * One client: connect, ask (Connection: close), read the answer to the end; every step
 * timed, every failure named. `burstStarted` is the performance.now() its startMs counts from.
 */
export function runClient(options: ClientOptions, burstStarted: number = performance.now()): Promise<ClientTrace> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    let connectedAt = 0;
    let text = '';
    let settled = false;
    const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
    const finish = (outcome: ClientOutcome, error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const now = performance.now();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        startMs: Math.round(startedAt - burstStarted),
        endMs: Math.round(now - burstStarted),
        connectMs: connectedAt === 0 ? null : round(connectedAt - startedAt),
        responseMs: outcome === CLIENT_OUTCOME.SERVED ? round(now - connectedAt) : null,
        status: status === null ? null : Number(status[1]),
        outcome,
        error,
        failedAfterConnect: outcome !== CLIENT_OUTCOME.SERVED && connectedAt !== 0,
      });
    };
    let timer = setTimeout(() => finish(CLIENT_OUTCOME.CONNECT_TIMEOUT, null), options.connectTimeoutMs);
    socket.once('connect', () => {
      connectedAt = performance.now();
      clearTimeout(timer);
      timer = setTimeout(() => finish(CLIENT_OUTCOME.RESPONSE_TIMEOUT, null), options.responseTimeoutMs);
      socket.write(`GET ${options.path} HTTP/1.1\r\nHost: socketlab\r\nConnection: close\r\n\r\n`);
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    // Connection: close, so the server's FIN marks the end of a complete response.
    socket.once('end', () => finish(/^HTTP\/1\.[01] \d{3}/.test(text) && text.includes('\r\n\r\n') ? CLIENT_OUTCOME.SERVED : CLIENT_OUTCOME.CLOSED_EARLY, null));
    socket.once('error', (error) => {
      const code = errnoCode(error) ?? 'UNKNOWN';
      finish(code === 'ECONNRESET' || code === 'EPIPE' ? CLIENT_OUTCOME.RESET : code === 'ECONNREFUSED' ? CLIENT_OUTCOME.REFUSED : CLIENT_OUTCOME.OTHER, code);
    });
  });
}

async function readServerStats(options: BurstOptions): Promise<BurstServerStats | null> {
  try {
    const response = await fetch(`http://${options.host}:${options.port}/stats`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
    return response.ok ? ((await response.json()) as BurstServerStats) : null;
  } catch {
    return null;
  }
}

const round = (value: number): number => Math.round(value * 10) / 10;

// ── The lab's side: run a burst in a process of its own, in a namespace or not ──────────────

/**
 * Run one burst in a child process (inside `namespace` when given) and return its report.
 * The child is tracked, so quitting the lab kills it; it ends on its own once every client
 * has settled, which the timeouts bound.
 */
export async function runBurstProcess(lab: LabContext, step: StepContext, options: BurstOptions, namespace: Namespace | null): Promise<BurstReport> {
  const args = [SCRIPT_PATH, JSON.stringify(options)];
  const child: ChildProcess = namespace === null ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : namespace.spawn(process.execPath, args);
  const resource = {
    name: `backlog burst pid ${child.pid ?? '?'}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    },
  };
  lab.track(resource);
  const onAbort = (): void => void resource.stop();
  step.signal.addEventListener('abort', onAbort, { once: true });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  step.signal.removeEventListener('abort', onAbort);
  await lab.release(resource);
  if (code !== 0) throw new LabError(LAB_ERR.UNSUPPORTED, `the burst client failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(stdout) as BurstReport;
}

/** The clients in the lab's three classes (see CONNECT_CLASS), and the rest. */
export interface BurstClasses {
  /** Served, connected in under 200 ms: no SYN of theirs was dropped. */
  atOnce: ClientTrace[];
  /** Served, connected after 900 ms or more: after at least one SYN retransmission. */
  afterRetry: ClientTrace[];
  /** Served, connected in 200-900 ms: slow, but with no retransmission. */
  slow: ClientTrace[];
  /** Never served: connect timeout, reset, or no answer. */
  failed: ClientTrace[];
}

export function classifyClients(clients: readonly ClientTrace[]): BurstClasses {
  const classes: BurstClasses = { atOnce: [], afterRetry: [], slow: [], failed: [] };
  for (const client of clients) {
    if (client.outcome !== CLIENT_OUTCOME.SERVED || client.connectMs === null) classes.failed.push(client);
    else if (client.connectMs < CONNECT_CLASS.AT_ONCE_BELOW_MS) classes.atOnce.push(client);
    else if (client.connectMs >= CONNECT_CLASS.AFTER_RETRY_FROM_MS) classes.afterRetry.push(client);
    else classes.slow.push(client);
  }
  return classes;
}

/** Failures by kind, "connect_timeout: 12, reset after connect: 3". */
export function failureKinds(failed: readonly ClientTrace[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const client of failed) {
    const key = client.failedAfterConnect ? `${client.outcome} after connect` : client.outcome;
    kinds[key] = (kinds[key] ?? 0) + 1;
  }
  return kinds;
}

/** The burst as a timeline: per slice of time, the accept queue's peak and what clients got. */
export function burstTimeline(
  report: BurstReport,
  slices: number,
): { fromMs: number; toMs: number; queuePeak: number | null; connected: number; served: number; failed: number }[] {
  const end = Math.max(report.durationMs, 1);
  const width = Math.max(50, Math.ceil(end / slices / 50) * 50);
  const rows: { fromMs: number; toMs: number; queuePeak: number | null; connected: number; served: number; failed: number }[] = [];
  for (let from = 0; from < end; from += width) {
    const to = from + width;
    const inSlice = (t: number | null): boolean => t !== null && t >= from && t < to;
    const points = report.queue.filter((p) => p.tMs >= from && p.tMs < to && p.queued !== null).map((p) => p.queued as number);
    rows.push({
      fromMs: from,
      toMs: to,
      queuePeak: points.length === 0 ? null : Math.max(...points),
      connected: report.clients.filter((c) => inSlice(c.connectMs === null ? null : c.startMs + c.connectMs)).length,
      served: report.clients.filter((c) => c.outcome === CLIENT_OUTCOME.SERVED && inSlice(c.endMs)).length,
      failed: report.clients.filter((c) => c.outcome !== CLIENT_OUTCOME.SERVED && inSlice(c.endMs)).length,
    });
  }
  return rows;
}

/** ▁▂▃▄▅▆▇█ for a row of numbers, scaled to `top`: the accept queue at a glance. */
export function sparkline(values: readonly (number | null)[], top: number): string {
  const bars = '▁▂▃▄▅▆▇█';
  return values.map((v) => (v === null ? ' ' : bars[Math.min(bars.length - 1, Math.round((v / Math.max(top, 1)) * (bars.length - 1)))])).join('');
}

/**
 * A loopback with queueing, for the tcp_abort_on_overflow run. On a bare loopback a
 * handshake completes inside connect() (SYN, SYN-ACK and ACK are all processed before the
 * call returns), so a burst reaches the listener one full handshake at a time and the
 * kernel meets a full queue at the SYN. On a real network a burst's SYNs all arrive before
 * their final ACKs, so the overflow happens at the ACK, which is the only place the setting
 * acts. A token bucket (tbf; netem, the usual delay qdisc, is not built into every kernel)
 * at 1 Mbit/s lets 1,600 bytes through at once and then one small packet every ~0.5 ms, so
 * the burst's packets queue and its final ACKs reach the listener after its SYNs. tbf needs
 * its bucket to hold the largest packet, hence the Ethernet-sized MTU.
 */
export const LOOPBACK_LINK = { RATE: '1mbit', BURST_BYTES: '1600', LATENCY: '2s', MTU: '1500' } as const;

export async function shapeLoopback(namespace: Namespace): Promise<void> {
  await namespace.exec('ip', ['link', 'set', 'lo', 'mtu', LOOPBACK_LINK.MTU]);
  await namespace.exec('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', LOOPBACK_LINK.RATE, 'burst', LOOPBACK_LINK.BURST_BYTES, 'latency', LOOPBACK_LINK.LATENCY]);
}

/** Why the shaped loopback cannot be made here (no tc, no tbf in the kernel), or null. */
export async function shapedLinkUnavailableReason(lab: LabContext): Promise<string | null> {
  if (!hasCommand('tc')) return 'tc (iproute2) is not installed';
  const probe = await createNamespace(lab, 'tbf-probe');
  try {
    await shapeLoopback(probe);
    return null;
  } catch (error) {
    const text = error instanceof Error ? (error as { stderr?: string }).stderr || error.message : String(error);
    return `tc could not add a tbf qdisc: ${text.trim().split('\n')[0] ?? text}`;
  } finally {
    await probe.delete();
  }
}

// ── Script entry: `node backlog-kit.js '<BurstOptions as JSON>'` prints a BurstReport ────────

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === SCRIPT_PATH) {
  runBurst(JSON.parse(process.argv[2] ?? '{}') as BurstOptions).then(
    (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
