/**
 * The accept fan-out (src/server/accept-fanout.ts): connections that queue while the event
 * loop is busy are all accepted and answered, several per turn of the loop, over one
 * listening socket (one accept queue in the kernel's view).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import test from 'node:test';
import { isUnavailable, readListenQueues } from '../../src/metrics/index.js';
import { startLabServer, portOf } from '../support/lab-server.js';
import { waitFor } from '../support/wait.js';

const WAITING = 48;
const DESCRIPTORS = 8;

/** A client process: WAITING connections, one GET each, prints how many 200s came back. */
function startClients(port: number): { answered: Promise<number>; kill: () => void } {
  const script = `
    const net = require('node:net');
    let ok = 0, done = 0;
    for (let i = 0; i < ${WAITING}; i++) {
      const socket = net.connect(${port}, '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('connect', () => socket.write('GET /age?birthdate=1993-05-01 HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'));
      const finish = () => { if (++done === ${WAITING}) { process.stdout.write(String(ok)); process.exit(0); } };
      socket.on('data', (chunk) => { text += chunk; if (/\\r\\n\\r\\n[^]*\\}$/.test(text)) { if (text.startsWith('HTTP/1.1 200')) ok++; socket.destroy(); finish(); } });
      socket.on('error', finish);
    }
    setTimeout(() => process.exit(1), 60000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const answered = new Promise<number>((resolve) => child.once('exit', () => resolve(Number(out || -1))));
  return { answered, kill: () => child.kill() };
}

test('connections queued behind a busy loop are all accepted and answered, several per turn', async (t) => {
  if (isUnavailable(readListenQueues([], undefined, [4]))) {
    t.skip('no /proc/net/tcp here: cannot see the accept queue fill');
    return;
  }
  const server = await startLabServer({ acceptDescriptors: DESCRIPTORS, backlog: 256 });
  t.after(() => server.close());
  assert.equal(server.stats().acceptDescriptors, 1, 'one descriptor until a burst');
  await server.widenAccept();
  assert.equal(server.stats().acceptDescriptors, DESCRIPTORS);
  const port = portOf(server);
  // Every descriptor is the same socket: the kernel lists one listener, with one queue.
  const listeners = readListenQueues([port], undefined, [4]);
  assert.ok(!isUnavailable(listeners) && listeners.length === 1, 'one listening socket in the kernel');

  const clients = startClients(port);
  t.after(() => clients.kill());
  // Hold this loop, as a busy server's is held, until the kernel has queued every connection.
  const deadline = Date.now() + 30_000;
  let queued = 0;
  while (queued < WAITING && Date.now() < deadline) {
    const listeners = readListenQueues([port], undefined, [4]);
    queued = isUnavailable(listeners) ? 0 : listeners.reduce((sum, l) => sum + l.queued, 0);
  }
  assert.equal(queued, WAITING, 'the kernel never queued every connection');
  const before = server.stats().connections.total;
  const perTurn: number[] = [];
  let seen = before;
  const tick = (): void => {
    const total = server.stats().connections.total;
    perTurn.push(total - seen);
    seen = total;
    if (total - before < WAITING && perTurn.length < 100_000) setImmediate(tick);
  };
  setImmediate(tick);
  assert.equal(await clients.answered, WAITING, 'every queued connection gets its answer');
  await waitFor('every connection counted', () => server.stats().connections.total - before >= WAITING);
  const most = Math.max(...perTurn);
  assert.ok(most > 1 && most <= DESCRIPTORS, `accepts per turn: ${perTurn.filter((n) => n > 0).join(', ')} (descriptors ${DESCRIPTORS})`);
});

test('a burst of connections widens the accept by itself; --accept-descriptors 1 never does', async (t) => {
  const widening = await startLabServer({ acceptDescriptors: DESCRIPTORS });
  const plain = await startLabServer({ acceptDescriptors: 1 });
  t.after(() => Promise.all([widening.close(), plain.close()]));
  // Waves of 300 connections at once: a burst is 128 accepted within one 250 ms tick of the
  // server's clock, which a machine busy enough to spread a wave over many ticks may need
  // more than one wave to show.
  const burst = async (server: typeof widening): Promise<void> => {
    const before = server.stats().connections.total;
    const sockets = Array.from({ length: 300 }, () => net.connect(portOf(server), '127.0.0.1').on('error', () => {}));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
    });
    await waitFor('300 connections accepted', () => server.stats().connections.total - before >= 300);
  };
  for (let wave = 0; wave < 5 && widening.stats().acceptDescriptors === 1; wave++) {
    await burst(widening);
    await burst(plain);
  }
  await waitFor(`${DESCRIPTORS} descriptors after the burst`, () => widening.stats().acceptDescriptors === DESCRIPTORS);
  assert.equal(plain.stats().acceptDescriptors, 1);
  const response = await fetch(`http://127.0.0.1:${portOf(widening)}/healthz`);
  assert.equal(await response.text(), 'ok');
});
