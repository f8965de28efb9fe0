/**
 * Proof: opening 100 sockets raises a process's FD count by about 100, and the FD kinds
 * say they are sockets. 50 loopback connections inside this process are 100 sockets:
 * each connection has a client end and the server's accepted end.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { startSampler, type Sampler } from '../../src/metrics/sampler.js';
import type { ProcessSample } from '../../src/metrics/types.js';
import { waitFor, waitForEvent } from '../support/wait.js';

const CONNECTIONS = 50;

let server: net.Server;
let sampler: Sampler;
const sockets: net.Socket[] = [];

before(async () => {
  server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await waitForEvent(server, 'listening');
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await sampler?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const self = (): ProcessSample => {
  const sample = sampler.latest()?.processes.find((p) => p.pid === process.pid);
  assert.ok(sample, 'the sampler has a reading of this process');
  return sample;
};

it('counts 100 new sockets as about 100 more FDs, of kind socket', async (t) => {
  // budget 1: FD kinds on (nearly) every sample instead of every few seconds.
  sampler = startSampler({ pids: [process.pid], intervalMs: 50, fdKinds: true, budget: 1, tcpCensus: false });
  await sampler.ready;
  // From the second sample on, the sampler's own kept-open /proc files are in the count.
  const baseline = await waitFor('a baseline sample with FD kinds', () => {
    const now = sampler.samples().length >= 2 ? self() : null;
    return now !== null && now.fds !== null && now.fdKinds !== null ? now : null;
  });
  const baseFds = baseline.fds as number;
  const baseSockets = (baseline.fdKinds as NonNullable<ProcessSample['fdKinds']>).socket;

  const clients: net.Socket[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.on('error', () => {});
    clients.push(client);
  }
  sockets.push(...clients);
  await Promise.all(clients.map((c) => waitForEvent(c, 'connect')));
  await waitFor('the server to accept every connection', () => sockets.length >= 2 * CONNECTIONS);

  const raised = await waitFor('the sampler to see 100 more socket FDs', () => {
    const now = self();
    return now.fdKinds !== null && now.fdKinds.socket >= baseSockets + 2 * CONNECTIONS ? now : null;
  });
  const fdDelta = (raised.fds as number) - baseFds;
  const socketDelta = (raised.fdKinds as NonNullable<ProcessSample['fdKinds']>).socket - baseSockets;
  t.diagnostic(`FDs ${baseFds} → ${raised.fds} (+${fdDelta}), socket FDs +${socketDelta}`);
  assert.ok(fdDelta >= 98 && fdDelta <= 105, `FD count rose by ${fdDelta}, expected about 100`);
  assert.ok(socketDelta >= 100 && socketDelta <= 102, `socket FDs rose by ${socketDelta}, expected 100`);

  for (const socket of sockets) socket.destroy();
  const fallen = await waitFor('the FD count to fall back', () => {
    const now = self();
    // (FD kinds follow the budget cadence: wait for a sample that has them.)
    return now.fds !== null && now.fds <= baseFds + 5 && now.fdKinds !== null ? now : null;
  });
  assert.ok((fallen.fdKinds?.socket ?? Infinity) <= baseSockets + 2, 'closed sockets are gone from the FD table');
});
