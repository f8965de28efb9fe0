/**
 * Lab 1, one request: what happens between socket() and the JSON.
 */
import net from 'node:net';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { countFds, isUnavailable, readListenQueues, readProcessSample, takeSnapshot } from '../src/metrics/index.js';
import type { FdKinds } from '../src/metrics/index.js';
import { hasCommand, ms, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { AXIS, barChart, axis } from '../src/labs/chart-kit.js';
import { countClientBackends } from '../src/labs/db-pool-kit.js';
import { findPgBinaries } from '../src/db/index.js';
import type { LabContext, LabDefinition, LabSettings } from '../src/labs/types.js';
import type { RequestTrace } from '../src/server/stage-timings.js';

interface ServerStats {
  requests: { total: number };
  stages: { last: RequestTrace | null };
}

/** The pool the server opens at start: small, so its sockets are easy to pick out. */
const POOL_SIZE = 4;
/** How long /work keeps the server's one loop busy while a second client connects. */
const BUSY_MS = 300;
/** The second client connects once the server has spent this much CPU on /work: it is in the handler. */
const BUSY_CPU_MS = 20;

interface Settings {
  /** Keep-alive requests strace counts system calls over (less a server that served none). */
  syscallRequests: number;
}

const SETTINGS: LabSettings<Settings> = {
  quick: { syscallRequests: 500 },
  full: { syscallRequests: 2000 },
};

const STAGE_NAMES = ['accepted → first byte read', 'read + parse head', 'body', 'handler', 'serialize + write', 'total (first byte → flushed)'];

export const lab: LabDefinition<Settings> = {
  id: 'request-cycle',
  number: 1,
  title: 'One request, from socket() to JSON',
  layer: '1 request',
  summary: "one request timed stage by stage; the server's descriptors; syscalls per request",
  intro: `Before any talk of a million users, follow one. A client opens a TCP connection; the
kernel completes the handshake and parks it in the listening socket's accept queue; the
server accept()s it and gets a file descriptor; it read()s bytes, parses a request line and
headers, runs a handler (here one that asks PostgreSQL for a row), serializes JSON and
write()s it back. Every one of those steps costs time, descriptors and system calls, and
every one of them is where some later lab breaks. Here you see each of them for one request.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const withDb = findPgBinaries() !== null;
    const route = withDb ? '/uuid/42' : '/age?birthdate=1993-05-01';
    if (!withDb) lab.say('PostgreSQL server binaries were not found, so this lab follows /age (compute only) instead of /uuid. Install postgresql to see the database stage.');
    // The lab's own PostgreSQL (rather than --db embedded) so that its backends can be
    // counted from the postmaster's children: the pool's connections, seen from Postgres.
    const cluster = withDb ? await startLabDatabase(lab) : null;
    const server = await startLabServer(lab, cluster === null ? [] : ['--db', cluster.url, '--pool', String(POOL_SIZE)]);

    const before = await lab.step('The server at rest: what its descriptors are', async () => {
      const snapshot = await takeSnapshot({ pids: [server.pid], fdKinds: true, tcpCensus: false });
      const kinds = snapshot.processes[0]?.fdKinds ?? null;
      const fds = snapshot.processes[0]?.fds ?? null;
      const pgBackends = cluster === null ? null : countClientBackends(cluster.postmasterPid);
      return {
        table: fdTable([['before any client', kinds, fds]]),
        reading: readAtRest({ fds, sockets: kinds?.socket ?? null, pipes: kinds?.pipe ?? null, anon: kinds?.anon ?? null, pgBackends }),
        measurements: { fds, fdKinds: kinds, pgBackends },
      };
    });
    const beforeFds = (before?.measurements?.fds as number | null | undefined) ?? null;

    let stages: Record<string, number> | null = null;
    await lab.step(`One request: GET ${route}, stage by stage`, async () => {
      const client = await timeOneRequest(server.port, route, async () => {
        const during = await takeSnapshot({ pids: [server.pid], fdKinds: true, tcpCensus: false });
        return during.processes[0] ?? null;
      });
      const trace = client.trace;
      if (trace === null) throw new Error('the server recorded no request');
      const stamps = trace.stampsMs;
      const durations = [1, 2, 3, 4, 5].map((i) => (stamps[i] as number) - (stamps[i - 1] as number));
      durations.push((stamps[5] as number) - (stamps[1] as number));
      stages = Object.fromEntries(STAGE_NAMES.map((name, i) => [name, ms(durations[i] as number)]));
      return {
        tables: [
          {
            header: ['server stage', 'ms'],
            rows: STAGE_NAMES.map((name, i) => [name, ms(durations[i] as number)]),
          },
          {
            header: ['client view', 'ms'],
            rows: [
              ['connect (SYN → established)', ms(client.connectMs)],
              ['request written → first response byte', ms(client.ttfbMs)],
              ['connect → last byte', ms(client.totalMs)],
            ],
          },
          fdTable([['while the client is connected', client.during?.fdKinds ?? null, client.during?.fds ?? null]]),
        ],
        reading: readOneRequest({
          totalMs: durations[5] as number,
          handlerMs: durations[3] as number,
          withDb,
          servedBefore: client.servedBefore,
          beforeFds,
          duringFds: client.during?.fds ?? null,
        }),
        charts: [
          barChart(
            {
              title: `Where one request's time went inside the server (GET ${route})`,
              caption: 'The server stamps each stage; the last bar is the whole request from its first byte read to its last byte flushed.',
            },
            { x: axis('stage'), y: AXIS.LATENCY },
            STAGE_NAMES,
            [{ name: 'ms', values: durations.map(ms) }],
            'horizontal',
          ),
        ],
        measurements: { route, stagesMs: stages, client },
      };
    });

    await lab.step(`connect() against a busy server (${BUSY_MS} ms of /work on another connection)`, async () => {
      const seen = await connectWhileBusy(server.port, server.pid);
      return {
        table: {
          header: ['second client, while the server runs /work', 'value'],
          rows: [
            ['connect() returned after (ms)', ms(seen.connectMs)],
            ['accept queue at that moment (kernel, /proc/net/tcp)', seen.queuedAtConnect],
            ['its answer arrived after connect (ms)', seen.answeredAfterMs === null ? null : ms(seen.answeredAfterMs)],
            ['/work answered after it was sent (ms)', seen.busyAnsweredAfterMs === null ? null : ms(seen.busyAnsweredAfterMs)],
          ],
        },
        reading: readAcceptOrder({ ...seen, busyMs: BUSY_MS }),
        measurements: { busyMs: BUSY_MS, ...seen },
      };
    });

    await lab.step('After the clients leave', async () => {
      // The connections just closed: give the server's loop a moment to see their FIN (it is
      // polled, with a deadline, not slept on).
      const afterFds = await settleFds(server.pid, beforeFds);
      const snapshot = await takeSnapshot({ pids: [server.pid], fdKinds: true, tcpCensus: false });
      const kinds = snapshot.processes[0]?.fdKinds ?? null;
      return {
        table: fdTable([
          ['before any client', (before?.measurements?.fdKinds as FdKinds | null) ?? null, beforeFds],
          ['after the clients closed', kinds, snapshot.processes[0]?.fds ?? afterFds],
        ]),
        reading: readAfterLeave({ beforeFds, afterFds: snapshot.processes[0]?.fds ?? afterFds }),
        measurements: { fds: snapshot.processes[0]?.fds ?? afterFds, fdKinds: kinds },
      };
    });
    await stopLabServer(lab, server);

    let syscallsPerRequest: number | null = null;
    if (!hasCommand('strace')) {
      lab.skip('System calls per request', 'strace is not installed (apt-get install strace)');
    } else {
      const requests = settings.syscallRequests;
      await lab.step(`System calls per request (strace -c -f, ${requests} keep-alive requests vs none)`, async (step) => {
        step.progress('counting a server that serves nothing');
        const idle = await countSyscalls(lab, 0);
        step.progress(`counting a server that serves ${requests} requests`);
        const busy = await countSyscalls(lab, requests);
        const perRequest = new Map<string, number>();
        for (const [name, calls] of busy) perRequest.set(name, (calls - (idle.get(name) ?? 0)) / requests);
        const rows = [...perRequest.entries()].filter(([, n]) => n >= 0.05).sort((a, b) => b[1] - a[1]);
        const total = rows.reduce((sum, [, n]) => sum + n, 0);
        syscallsPerRequest = Math.round(total * 100) / 100;
        return {
          table: { header: ['system call', 'calls per request'], rows: [...rows.map(([name, n]) => [name, Math.round(n * 100) / 100]), ['total', syscallsPerRequest]] },
          reading: readSyscalls(rows, syscallsPerRequest),
          charts:
            rows.length === 0
              ? []
              : [
                  barChart(
                    { title: 'System calls per request, by call', caption: `strace -c over ${requests} keep-alive requests, less a server that served none.` },
                    { x: axis('system call'), y: axis('calls per request') },
                    rows.map(([name]) => name),
                    [{ name: 'calls per request', values: rows.map(([, n]) => Math.round(n * 100) / 100) }],
                    'horizontal',
                  ),
                ],
          measurements: { requests, perRequest: Object.fromEntries(rows) },
        };
      });
    }

    lab.findings.stages = stages;
    lab.findings.syscallsPerRequest = syscallsPerRequest;
    if (syscallsPerRequest === null) lab.findings.syscallsPerRequestReason = 'strace is not installed';
  },
};

function fdTable(rows: [string, FdKinds | null, number | null][]): { header: string[]; rows: (string | number | null)[][] } {
  return {
    header: ['server descriptors', 'total', 'sockets', 'pipes', 'anon (epoll, eventfd)', 'files'],
    rows: rows.map(([label, kinds, total]) => [label, total, kinds?.socket ?? null, kinds?.pipe ?? null, kinds?.anon ?? null, kinds?.file ?? null]),
  };
}

interface ClientTiming {
  connectMs: number;
  ttfbMs: number;
  totalMs: number;
  during: { fds: number | null; fdKinds: FdKinds | null } | null;
  trace: RequestTrace | null;
  /** Requests the server had served before this one (from /stats, less this one and /stats itself). */
  servedBefore: number | null;
}

/** One request on a fresh connection, timed from the client's side; `whileOpen` runs with the connection up. */
async function timeOneRequest(port: number, route: string, whileOpen: () => Promise<{ fds: number | null; fdKinds: FdKinds | null } | null>): Promise<ClientTiming> {
  const started = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connected = performance.now();
  const sent = performance.now();
  let firstByte = 0;
  socket.write(`GET ${route} HTTP/1.1\r\nHost: socketlab\r\n\r\n`);
  await readOneResponse(socket, () => {
    if (firstByte === 0) firstByte = performance.now();
  });
  const done = performance.now();
  // The descriptors while the connection is open: after the answer, because connect()
  // returns as soon as the kernel has queued the connection, before the server accepts it.
  const during = await whileOpen();
  // The request's stamps, read before /stats records a request of its own.
  const stats = await readStats(port);
  socket.end();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // /stats counts a request as it dispatches it, so the total includes /stats itself.
  const servedBefore = Math.max(0, stats.requests.total - 2);
  return { connectMs: connected - started, ttfbMs: firstByte - sent, totalMs: done - started, during, trace: stats.stages.last, servedBefore };
}

/** Resolve once one complete response (head + Content-Length body) has arrived on `socket`. */
function readOneResponse(socket: net.Socket, onData: () => void = () => undefined): Promise<string> {
  let text = '';
  return new Promise<string>((resolve, reject) => {
    const onChunk = (chunk: Buffer): void => {
      onData();
      text += chunk.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (split !== -1 && length >= 0 && text.length >= split + 4 + length) {
        socket.off('data', onChunk);
        resolve(text);
      }
    };
    socket.on('data', onChunk);
    socket.once('error', reject);
  });
}

async function readStats(port: number): Promise<ServerStats> {
  const statsSocket = net.connect({ port, host: '127.0.0.1' });
  let statsText = '';
  statsSocket.write('GET /stats HTTP/1.1\r\nHost: socketlab\r\nConnection: close\r\n\r\n');
  statsSocket.on('data', (chunk: Buffer) => (statsText += chunk.toString('utf8')));
  await new Promise<void>((resolve) => statsSocket.once('close', () => resolve()));
  return JSON.parse(statsText.slice(statsText.indexOf('\r\n\r\n') + 4)) as ServerStats;
}

export interface BusyConnect {
  /** Did the server start spinning on /work before the second client connected (its CPU time rose)? */
  serverBusy: boolean;
  connectMs: number;
  /** The listening socket's accept queue the moment connect() returned; null where /proc/net/tcp is unreadable. */
  queuedAtConnect: number | null;
  /** From connect() returning to the second client's answer. */
  answeredAfterMs: number | null;
  /** From sending /work to its answer. */
  busyAnsweredAfterMs: number | null;
  /** Did the second client's answer arrive after /work's (the server got to it only then)? */
  answeredAfterBusy: boolean;
}

/**
 * Keep the server's one loop busy with /work on one connection, then connect a second
 * client and read the listening socket's accept queue the moment its connect() returns:
 * a connection the server has not accepted yet, yet connected for its client.
 */
async function connectWhileBusy(port: number, serverPid: number): Promise<BusyConnect> {
  const busy = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => {
    busy.once('connect', resolve);
    busy.once('error', reject);
  });
  const cpuBefore = readProcessSample(serverPid, { limits: false }).cpuTimeMs;
  const sentAt = performance.now();
  let busyAnsweredAt: number | null = null;
  const busyAnswer = readOneResponse(busy).then(() => {
    busyAnsweredAt = performance.now();
  });
  busy.write(`GET /work?ms=${BUSY_MS} HTTP/1.1\r\nHost: socketlab\r\n\r\n`);
  // Wait (polled, with a deadline) until the server has spent CPU on /work: then it is in the handler.
  let serverBusy = false;
  const deadline = sentAt + BUSY_MS / 2;
  while (performance.now() < deadline && cpuBefore !== null) {
    const now = readProcessSample(serverPid, { limits: false }).cpuTimeMs;
    if (now !== null && now - cpuBefore >= BUSY_CPU_MS) {
      serverBusy = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const started = performance.now();
  const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const connectedAt = performance.now();
  const listeners = readListenQueues([port], undefined, [4]);
  const queuedAtConnect = isUnavailable(listeners) ? null : (listeners[0]?.queued ?? null);
  client.write('GET /healthz HTTP/1.1\r\nHost: socketlab\r\n\r\n');
  await readOneResponse(client);
  const answeredAt = performance.now();
  await busyAnswer;
  const busyAt = busyAnsweredAt as number | null;
  client.destroy();
  busy.destroy();
  return {
    serverBusy,
    connectMs: connectedAt - started,
    queuedAtConnect,
    answeredAfterMs: answeredAt - connectedAt,
    busyAnsweredAfterMs: busyAt === null ? null : busyAt - sentAt,
    answeredAfterBusy: busyAt !== null && answeredAt >= busyAt,
  };
}

/**
 * strace's -c table for a server that serves `requests` requests on one kept-alive
 * connection, by syscall name. Counting a server that serves none as well lets the lab
 * subtract start-up and shutdown, which would otherwise swamp a few hundred requests.
 */
async function countSyscalls(lab: LabContext, requests: number): Promise<Map<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-strace-'));
  const file = path.join(dir, 'summary.txt');
  try {
    const server = await startLabServer(lab, [], { prefix: ['strace', '-c', '-f', '-o', file] });
    if (requests > 0) {
      const socket = net.connect({ port: server.port, host: '127.0.0.1', noDelay: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const request = 'GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: socketlab\r\n\r\n';
      await new Promise<void>((resolve, reject) => {
        let answered = 0;
        socket.on('data', (chunk: Buffer) => {
          // One response per request: count status lines, then send the next (no pipelining).
          for (let at = chunk.indexOf('HTTP/1.1 '); at !== -1; at = chunk.indexOf('HTTP/1.1 ', at + 1)) answered += 1;
          if (answered >= requests) resolve();
          else socket.write(request);
        });
        socket.once('error', reject);
        socket.write(request);
      });
      socket.destroy();
    }
    await stopLabServer(lab, server);
    return parseStraceSummary(readFileSync(file, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `% time  seconds  usecs/call  calls  errors  syscall` rows → calls by syscall. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^\d+\.\d+$/.test(fields[0] as string)) continue;
    const name = fields[fields.length - 1] as string;
    if (name === 'total') continue;
    // The errors column is empty for most rows, so `calls` is the 4th field either way.
    calls.set(name, Number(fields[3]));
  }
  return calls;
}

/** Poll the server's descriptor count (deadline 2 s) until it is back to `target`; the last count. */
async function settleFds(pid: number, target: number | null): Promise<number | null> {
  const deadline = performance.now() + 2000;
  let count = countFds(pid);
  while (target !== null && count !== target && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    count = countFds(pid);
  }
  return count;
}

// ── Readings: each a pure function of what was measured, so a test can feed it other numbers ──

const count = (n: number | null | undefined): string => (n === null || n === undefined ? '?' : String(n));
/** Whole milliseconds from 100 ms up, three decimals below: the precision each deserves. */
const roundMs = (value: number): number => (value >= 100 ? Math.round(value) : ms(value));

export interface AtRest {
  fds: number | null;
  sockets: number | null;
  pipes: number | null;
  anon: number | null;
  /** PostgreSQL backends serving this server (null: no database). */
  pgBackends: number | null;
}

export function readAtRest(m: AtRest): string {
  const db =
    m.pgBackends === null
      ? ''
      : m.pgBackends === 0
        ? ' PostgreSQL ran no backend for it yet: its pool had opened no connection.'
        : `\nPostgreSQL ran ${m.pgBackends} backend${m.pgBackends === 1 ? '' : 's'} for it: the pool's connections, opened at start, one socket each${m.sockets !== null && m.sockets >= m.pgBackends + 1 ? `\n(with the listening socket, ${m.pgBackends + 1} of its ${m.sockets} sockets)` : ''}.`;
  return `Even idle, the server holds ${count(m.fds)} descriptors: ${count(m.sockets)} sockets, ${count(m.pipes)} pipes (its stdio among them)
and ${count(m.anon)} "anon" ones (the event loop's epoll and eventfds), before any client.${db}`;
}

export interface OneRequest {
  totalMs: number;
  handlerMs: number;
  withDb: boolean;
  /** Requests the server had served before this one. */
  servedBefore: number | null;
  beforeFds: number | null;
  duringFds: number | null;
}

export function readOneRequest(m: OneRequest): string {
  const ownMs = m.totalMs - m.handlerMs;
  const lines = [
    `Of ${ms(m.totalMs)} ms inside the server, the handler${m.withDb ? ' (a round trip to PostgreSQL)' : ''} took ${ms(m.handlerMs)} ms
and the server's own work (read, parse, serialize, write) ${ms(ownMs)} ms.`,
  ];
  if (m.servedBefore === 0) lines.push('It was the first request this server served: its code ran cold, which is why later labs measure thousands.');
  else if (m.servedBefore !== null) lines.push(`The server had served ${m.servedBefore} request${m.servedBefore === 1 ? '' : 's'} before it.`);
  if (m.beforeFds !== null && m.duringFds !== null) {
    const added = m.duringFds - m.beforeFds;
    lines.push(
      added === 1
        ? `While the client was connected the server held ${m.duringFds} descriptors, one more than at rest:
the accepted connection.`
        : `While the client was connected the server held ${m.duringFds} descriptors, ${Math.abs(added)} ${added >= 0 ? 'more' : 'fewer'} than at rest (${m.beforeFds}).`,
    );
  }
  return lines.join('\n');
}

export interface AcceptOrder extends BusyConnect {
  busyMs: number;
}

export function readAcceptOrder(m: AcceptOrder): string {
  const connect = `A second client's connect() returned in ${roundMs(m.connectMs)} ms`;
  const busy = m.serverBusy ? `while the server's one loop ran ${m.busyMs} ms of /work` : 'while /work was on its way to the server (its CPU time had not yet risen)';
  if (m.queuedAtConnect === null) return `${connect} ${busy}; the accept queue could not be read here (no /proc/net/tcp), so whether it had been accepted yet is unknown.`;
  if (m.queuedAtConnect === 0) {
    return `${connect} ${busy}, and the accept queue was empty at that moment: the server had already accept()ed it, so this run could not catch a connection
waiting for accept().`;
  }
  const answered = m.answeredAfterMs === null ? '' : `\nIts answer came ${roundMs(m.answeredAfterMs)} ms after connect()${m.answeredAfterBusy ? ", only after /work's" : ''}.`;
  return `${connect} ${busy},
and at that moment the kernel held ${m.queuedAtConnect} connection${m.queuedAtConnect === 1 ? '' : 's'} in the listening socket's accept queue:
connected for the client, not yet accept()ed by the server.${answered} The kernel completes the handshake on its own,
which is why a full accept queue (lab 3) leaves clients "connected" but unserved.`;
}

export function readAfterLeave(m: { beforeFds: number | null; afterFds: number | null }): string {
  if (m.beforeFds === null || m.afterFds === null) return `The server's descriptors could not be counted (${count(m.beforeFds)} before, ${count(m.afterFds)} after).`;
  if (m.afterFds === m.beforeFds) {
    return `The connections' descriptors are gone again: back to the ${m.afterFds} at rest. A connection holds one for as long as it
is open, and a process may hold only RLIMIT_NOFILE of them: that is lab 4.`;
  }
  const extra = m.afterFds - m.beforeFds;
  return `The server holds ${m.afterFds} descriptors, ${Math.abs(extra)} ${extra > 0 ? 'more' : 'fewer'} than the ${m.beforeFds} at rest${extra > 0 ? ': a closed connection is not released until the server sees its end' : ''}.`;
}

export function readSyscalls(rows: readonly (readonly [string, number])[], perRequest: number): string {
  if (rows.length === 0) return 'strace counted no more system calls with requests than without: nothing to attribute to a request.';
  const top = rows
    .slice(0, 3)
    .map(([name, n]) => `${name} (${Math.round(n * 100) / 100})`)
    .join(', ');
  return `${perRequest} system calls per request on a kept-alive connection, mostly ${top}.
Each is a trip into the kernel: at 50,000 requests a second that would be ${Math.round(perRequest * 50)}K system calls a
second, on one core. (A server started and stopped with no requests was subtracted.)`;
}
