/**
 * Proof: 50 connections closed by the client side leave 50 TIME_WAIT entries in the census,
 * on the client's end. TCP puts TIME_WAIT on whichever end sends the first FIN (RFC 9293
 * §3.6): here the clients end() first, the server answers with its own FIN (Node's default
 * allowHalfOpen: false) and goes LAST_ACK → CLOSED, while each client port stays in
 * TIME_WAIT for 60 s (TCP_TIMEWAIT_LEN, not configurable). These entries outlive the test;
 * 50 of the ~28,000 ephemeral ports is harmless.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { diffSnapshots, takeSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor, waitForEvent } from '../support/wait.js';

const CONNECTIONS = 50;

let server: net.Server;
const accepted: net.Socket[] = [];
const clients: net.Socket[] = [];

before(async () => {
  server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await waitForEvent(server, 'listening');
});

after(async () => {
  for (const socket of [...clients, ...accepted]) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('leaves TIME_WAIT on the end that closed first', async (t) => {
  const port = (server.address() as net.AddressInfo).port;
  // The census matches by port, and earlier tests may have left TIME_WAIT entries whose
  // remote port happens to be the one the kernel just gave this listener: count from here.
  const start = await takeSnapshot({ ports: [port] });
  const before = { client: start.ports[0]?.census?.client.TIME_WAIT ?? 0, server: start.ports[0]?.census?.server.TIME_WAIT ?? 0 };

  for (let i = 0; i < CONNECTIONS; i++) {
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    clients.push(client);
  }
  await Promise.all(clients.map((client) => waitForEvent(client, 'connect')));
  await waitFor('the server to accept every connection', () => accepted.length >= CONNECTIONS);

  const open = await takeSnapshot({ ports: [port] });
  assert.equal(open.ports[0]?.census?.server.ESTABLISHED, CONNECTIONS);
  assert.equal(open.ports[0]?.census?.client.ESTABLISHED, CONNECTIONS);

  // The clients close first.
  const closed = clients.map((client) => waitForEvent(client, 'close'));
  for (const client of clients) client.end();
  await Promise.all(closed);

  const end = await waitFor('the clients to reach TIME_WAIT', async () => {
    const snapshot = await takeSnapshot({ ports: [port] });
    return (snapshot.ports[0]?.census?.client.TIME_WAIT ?? 0) >= before.client + CONNECTIONS ? snapshot : null;
  });
  const census = end.ports[0]?.census;
  assert.ok(census);
  t.diagnostic(`client side: TIME_WAIT ${census.client.TIME_WAIT}; server side: TIME_WAIT ${census.server.TIME_WAIT}, ESTABLISHED ${census.server.ESTABLISHED}`);
  assert.equal(census.client.TIME_WAIT - before.client, CONNECTIONS);
  assert.equal(census.server.TIME_WAIT - before.server, 0, 'the server closed second: no TIME_WAIT on its end');
  assert.equal(census.client.ESTABLISHED, 0);
  const diff = diffSnapshots(start, end);
  assert.ok(diff.tcp !== null && diff.tcp.after.TIME_WAIT >= CONNECTIONS, 'the namespace-wide census counts them too');
});
