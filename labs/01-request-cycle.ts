/**
 * Lab 1, one request: what happens between socket() and the JSON.
 */
import net from 'node:net';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { takeSnapshot } from '../src/metrics/index.js';
import type { FdKinds } from '../src/metrics/index.js';
import { hasCommand, ms, pick, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { findPgBinaries } from '../src/db/index.js';
import type { LabContext, LabDefinition } from '../src/labs/types.js';
import type { RequestTrace } from '../src/server/stage-timings.js';

interface ServerStats {
  stages: { last: RequestTrace | null };
}

const STAGE_NAMES = ['accepted → first byte read', 'read + parse head', 'body', 'handler', 'serialize + write', 'total (first byte → flushed)'];

export const lab: LabDefinition = {
  id: 'request-cycle',
  number: 1,
  title: 'One request, from socket() to JSON',
  layer: '1 request',
  summary: 'one request timed stage by stage; the server\'s descriptors; syscalls per request',
  intro: `Before any talk of a million users, follow one. A client opens a TCP connection; the
kernel completes the handshake and parks it in the listening socket's accept queue; the
server accept()s it and gets a file descriptor; it read()s bytes, parses a request line and
headers, runs a handler (here one that asks PostgreSQL for a row), serializes JSON and
write()s it back. Every one of those steps costs time, descriptors and system calls, and
every one of them is where some later lab breaks. Here you see each of them for one request.`,

  async run(lab: LabContext) {
    const withDb = findPgBinaries() !== null;
    const route = withDb ? '/uuid/42' : '/age?birthdate=1993-05-01';
    if (!withDb) lab.say('PostgreSQL server binaries were not found, so this lab follows /age (compute only) instead of /uuid. Install postgresql to see the database stage.');
    const server = await startLabServer(lab, withDb ? ['--db', 'embedded', '--pool', '4'] : []);

    const before = await lab.step('The server at rest: what its descriptors are', async () => {
      const snapshot = await takeSnapshot({ pids: [server.pid], fdKinds: true, tcpCensus: false });
      const kinds = snapshot.processes[0]?.fdKinds ?? null;
      return {
        table: fdTable([['before any client', kinds, snapshot.processes[0]?.fds ?? null]]),
        reading: `Even idle, the server holds ${snapshot.processes[0]?.fds ?? '?'} descriptors: the listening socket, the
event loop's own machinery (epoll, eventfds: the "anon" ones), stdio pipes${withDb ? ', and one socket per\npooled PostgreSQL connection (the pool opened 4 up front)' : ''}. Every client will add one more.`,
        measurements: { fds: snapshot.processes[0]?.fds ?? null, fdKinds: kinds },
      };
    });

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
      const handlerMs = durations[3] as number;
      const totalMs = durations[5] as number;
      const ownMs = totalMs - handlerMs;
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
        reading: `Of ${ms(totalMs)} ms inside the server, the handler${withDb ? ' (a round trip to PostgreSQL)' : ''} took ${ms(handlerMs)} ms and the server's own
work (read, parse, serialize, write) ${ms(ownMs)} ms. This is a cold first request; later labs
measure thousands. connect() finished before the server accepted: the kernel completes the
handshake alone, which is why a full accept queue (lab 3) leaves clients "connected" but unserved.`,
        measurements: { route, stagesMs: stages, client },
      };
    });

    await lab.step('After the client leaves', async () => {
      const snapshot = await takeSnapshot({ pids: [server.pid], fdKinds: true, tcpCensus: false });
      const kinds = snapshot.processes[0]?.fdKinds ?? null;
      const beforeFds = (before?.measurements?.fds as number | null) ?? null;
      return {
        table: fdTable([
          ['before any client', (before?.measurements?.fdKinds as FdKinds | null) ?? null, beforeFds],
          ['after the client closed', kinds, snapshot.processes[0]?.fds ?? null],
        ]),
        reading: `The connection's descriptor is gone again: one connection, one descriptor, for as long as it
is open. That is the whole of lab 4: a process may hold only RLIMIT_NOFILE of them.`,
        measurements: { fds: snapshot.processes[0]?.fds ?? null, fdKinds: kinds },
      };
    });
    await stopLabServer(lab, server);

    let syscallsPerRequest: number | null = null;
    if (!hasCommand('strace')) {
      lab.skip('System calls per request', 'strace is not installed (apt-get install strace)');
    } else {
      const requests = pick(lab, 500, 2000);
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
          reading: `${syscallsPerRequest} system calls per request on a kept-alive connection, mostly ${rows
            .slice(0, 3)
            .map(([name, n]) => `${name} (${Math.round(n * 100) / 100})`)
            .join(', ')}.
Each is a trip into the kernel: at 50,000 requests a second that is ${Math.round((syscallsPerRequest ?? 0) * 50)}K system calls a
second, on one core. (A server started and stopped with no requests was subtracted.)`,
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
  let text = '';
  socket.write(`GET ${route} HTTP/1.1\r\nHost: socketlab\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (firstByte === 0) firstByte = performance.now();
      text += chunk.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (split !== -1 && length >= 0 && text.length >= split + 4 + length) resolve();
    });
    socket.once('error', reject);
  });
  const done = performance.now();
  // The descriptors while the connection is open: after the answer, because connect()
  // returns as soon as the kernel has queued the connection, before the server accepts it.
  const during = await whileOpen();
  // The request's stamps, read before /stats records a request of its own.
  const statsSocket = net.connect({ port, host: '127.0.0.1' });
  let statsText = '';
  statsSocket.write('GET /stats HTTP/1.1\r\nHost: socketlab\r\nConnection: close\r\n\r\n');
  statsSocket.on('data', (chunk: Buffer) => (statsText += chunk.toString('utf8')));
  await new Promise<void>((resolve) => statsSocket.once('close', () => resolve()));
  socket.end();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const stats = JSON.parse(statsText.slice(statsText.indexOf('\r\n\r\n') + 4)) as ServerStats;
  return { connectMs: connected - started, ttfbMs: firstByte - sent, totalMs: done - started, during, trace: stats.stages.last };
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
