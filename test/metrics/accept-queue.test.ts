/**
 * Proof: a server that listens with a small backlog and stops accepting (its event loop
 * blocked) has its accept queue fill to the maximum, and once more clients connect the
 * kernel drops them and ListenOverflows rises.
 *
 * The child listens with backlog 4, says its port, and on request blocks its event loop in
 * Atomics.wait (bounded to 15 s, no CPU burnt). Connections still complete: the kernel does
 * the handshake and queues them for an accept() that never comes. The queue holds one more
 * than the backlog, because the kernel drops only when sk_ack_backlog > sk_max_ack_backlog.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, it } from 'node:test';
import { diffSnapshots, takeSnapshot } from '../../src/metrics/snapshot.js';
import { startSampler, type Sampler } from '../../src/metrics/sampler.js';
import { readListenQueues } from '../../src/metrics/tcp-sockets.js';
import { isUnavailable } from '../../src/metrics/procfs.js';
import { waitFor } from '../support/wait.js';
import { spawnNodeScript, type Child } from './child.js';

const BACKLOG = 4;
const CLIENTS = 12;

const CHILD_SCRIPT = `
const fs = require('node:fs');
const net = require('node:net');
const server = net.createServer((socket) => socket.destroy());
server.listen({ port: 0, host: '127.0.0.1', backlog: ${BACKLOG} }, () => {
  fs.writeSync(1, 'port ' + server.address().port + '\\n');
});
process.stdin.once('data', () => {
  fs.writeSync(1, 'blocked\\n');
  // Block the event loop: accept() is never called while this waits.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15000);
  process.exit(0);
});
`;

let child: Child | undefined;
let sampler: Sampler | undefined;
const clients: net.Socket[] = [];

after(async () => {
  for (const client of clients) client.destroy();
  await sampler?.stop();
  await child?.kill();
});

it('fills the accept queue to its maximum and raises ListenOverflows', async (t) => {
  child = spawnNodeScript(CHILD_SCRIPT);
  const port = Number(await child.line('port '));
  // budget 1: read the accept queue on every sample; the census is not needed here.
  sampler = startSampler({ pids: [child.pid], ports: [port], intervalMs: 50, budget: 1, tcpCensus: false });
  await sampler.ready;

  const before = await takeSnapshot({ tcpCensus: false });
  child.send('block\n');
  await child.line('blocked');

  for (let i = 0; i < CLIENTS; i++) {
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    clients.push(client);
  }

  const full = await waitFor('the accept queue to reach its maximum', () => {
    const listener = sampler?.latest()?.ports?.[0]?.listeners[0];
    return listener !== undefined && listener.queued >= BACKLOG ? listener : null;
  });
  t.diagnostic(`accept queue ${full.queued} / max ${full.max ?? 'unknown (no ss)'}`);
  if (full.max !== null) {
    assert.equal(full.max, BACKLOG, 'the maximum is the backlog passed to listen() (below somaxconn)');
    assert.ok(full.queued >= full.max && full.queued <= full.max + 1, `queue ${full.queued} is at the maximum (max or max + 1)`);
  }

  // System-wide counter: other processes can only add to it. Every client beyond the queue
  // has at least one SYN dropped while the queue is full.
  const minimumDrops = CLIENTS - (BACKLOG + 1);
  const overflowed = await waitFor(`ListenOverflows to rise by ${minimumDrops}`, async () => {
    const diff = diffSnapshots(before, await takeSnapshot({ tcpCensus: false }));
    const rise = diff.counters['TcpExt.ListenOverflows'] ?? 0;
    return rise >= minimumDrops ? diff : null;
  });
  t.diagnostic(`ListenOverflows +${overflowed.counters['TcpExt.ListenOverflows']}, ListenDrops +${overflowed.counters['TcpExt.ListenDrops']}`);
  assert.ok((overflowed.counters['TcpExt.ListenDrops'] ?? 0) >= minimumDrops, 'every overflow is also a listen drop');

  // The series recorded the queue filling while the child's loop was blocked.
  const series = await sampler.stop();
  const lengths = series.samples.map((s) => s.ports?.[0]?.listeners[0]?.queued ?? -1);
  assert.equal(lengths[0], 0, 'the queue was empty before the clients came');
  assert.ok(Math.max(...lengths) >= BACKLOG);

  for (const client of clients) client.destroy();
  await child.kill();
  const afterKill = readListenQueues([port]);
  assert.ok(!isUnavailable(afterKill) && afterKill.length === 0, 'the listener went away with the process');
});
