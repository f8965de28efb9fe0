import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectRaw, countResponses } from '../support/raw-client.js';
import { portOf, startLabServer } from '../support/lab-server.js';
import { startServe, type ServerProcess } from '../support/cli.js';
import { waitFor, waitForEvent } from '../support/wait.js';

test('slowloris: slow senders are cut off with 408 and do not stop others being served', async (t) => {
  const server = await startLabServer({ headersTimeoutMs: 1500 });
  t.after(() => server.close());
  const slow = await Promise.all(Array.from({ length: 50 }, () => connectRaw(portOf(server))));
  // Each sends half a request head and then stalls, as slowloris does.
  await Promise.all(slow.map((c) => c.write('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ')));
  // Meanwhile a normal client is answered while every slow one is still waiting: had it
  // queued behind them, the slow ones would have had their 408 first.
  const fast = await connectRaw(portOf(server));
  await fast.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  await fast.until((text) => text.endsWith('ok'));
  assert.equal(slow.filter((c) => c.received() !== '').length, 0, 'a normal client waited behind the slow ones');
  const texts = await Promise.all(slow.map((c) => c.closed));
  for (const text of texts) assert.match(text, /^HTTP\/1\.1 408 /);
  assert.equal(server.stats().connections.requestTimeouts, 50);
  fast.end();
});

test('graceful shutdown under load: every accepted request is answered, then the process exits 0', async () => {
  // The pool model with one worker: /work runs off the main thread, so SIGTERM is handled
  // while the requests are still queued for the worker, and each is answered during shutdown.
  const serve = await startServe(['--model', 'pool', '--workers', '1']);
  // The one worker goes through the 40 requests one by one (40 x 40 ms), so most are still in
  // flight, read but unanswered or not yet read, when shutdown begins. All must be answered.
  const { texts, exit } = await stopUnderSlowRequests(serve);
  for (const text of texts) assert.match(text, /"tookMs"/);
  // Answers given after shutdown began say so.
  assert.ok(
    texts.some((text) => /Connection: close/i.test(text)),
    'no answer was given during shutdown',
  );
  const { code } = await exit;
  assert.equal(code, 0);
  // Nothing listens any more.
  const refused = net.connect(serve.port, '127.0.0.1');
  const [error] = (await waitForEvent(refused, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ECONNREFUSED');
});

test('graceful shutdown of a busy event loop: requests still in kernel buffers or the accept queue are answered too', async () => {
  // The loop model does /work on the one thread: SIGTERM is handled between requests, while
  // others wait unread in receive buffers or unaccepted in the queue (libuv takes one
  // connection per loop iteration when busy). None may be dropped.
  const serve = await startServe();
  const { exit } = await stopUnderSlowRequests(serve);
  assert.equal((await exit).code, 0);
});

/**
 * 40 clients each send one slow request (/work?ms=40) and SIGTERM follows at once; every
 * client must get exactly one 200 before the server closes its connection.
 */
async function stopUnderSlowRequests(serve: ServerProcess): Promise<{ texts: string[]; exit: ReturnType<ServerProcess['stop']> }> {
  const connections = await Promise.all(Array.from({ length: 40 }, () => connectRaw(serve.port)));
  await Promise.all(connections.map((c) => c.write('GET /work?ms=40 HTTP/1.1\r\nHost: t\r\n\r\n')));
  const exit = serve.stop('SIGTERM');
  const texts = await Promise.all(connections.map((c) => c.closed));
  for (const text of texts) {
    assert.equal(countResponses(text), 1, text.slice(0, 200));
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  }
  return { texts, exit };
}

test('stage timings: one request yields ordered stamps and per-stage percentiles in /stats', async (t) => {
  const server = await startLabServer();
  t.after(() => server.close());
  const c = await connectRaw(portOf(server));
  await c.write('GET /age?birthdate=2000-02-29 HTTP/1.1\r\nHost: t\r\n\r\n');
  await c.until((text) => countResponses(text) === 1 && text.endsWith('}'));
  const stats = server.stats();
  const last = stats.stages.last;
  assert.ok(last !== null);
  // The method and status, never the target: that is a client's, not /stats' to show (issue 14).
  assert.equal(last.method, 'GET');
  assert.equal(last.status, 200);
  assert.ok(!('target' in last), JSON.stringify(last));
  assert.equal(last.firstOnConnection, true);
  for (let i = 1; i < last.stampsMs.length; i++) {
    assert.ok((last.stampsMs[i] as number) >= (last.stampsMs[i - 1] as number), `stamp ${i} before stamp ${i - 1}`);
  }
  assert.equal(stats.stages.window, 1);
  assert.equal(stats.stages.intervals.total.count, 1);
  c.end();
});

test('stage timings are sampled, request counts are not: 1 + 32 requests on one connection', async (t) => {
  const server = await startLabServer({ stageSampleEvery: 16 });
  t.after(() => server.close());
  const c = await connectRaw(portOf(server));
  // One at a time (no pipelining), as a keep-alive client sends them.
  for (let i = 1; i <= 33; i++) {
    await c.write('GET /age?birthdate=2000-02-29 HTTP/1.1\r\nHost: t\r\n\r\n');
    await c.until((text) => countResponses(text) === i && text.endsWith('}'));
  }
  const stats = server.stats();
  assert.equal(stats.requests.total, 33, 'every request counted');
  assert.equal(stats.requests.byStatus['200'], 33);
  assert.equal(stats.stages.sampleEvery, 16);
  // The first request, then the 16th and 32nd of the other 32.
  assert.equal(stats.stages.window, 3);
  // Each sampled one stands for 16: the estimate is exact when the rest is a multiple of 16.
  assert.equal(stats.stages.intervals.total.count, 33);
  assert.equal(stats.stages.intervals.acceptToFirstByte.count, 1);
  c.end();
});

test('close() resolves with how many connections the shutdown deadline cut', async () => {
  // A handler that never answers holds its connection past the deadline; an idle one closes at once.
  const server = await startLabServer({ shutdownTimeoutMs: 300, responseTimeoutMs: 0 }, (request) =>
    request.path === '/hang' ? new Promise(() => {}) : { status: 200, contentType: 'text/plain', body: 'ok' },
  );
  const hung = await Promise.all([connectRaw(portOf(server)), connectRaw(portOf(server))]);
  await Promise.all(hung.map((c) => c.write('GET /hang HTTP/1.1\r\nHost: t\r\n\r\n')));
  const idle = await connectRaw(portOf(server));
  await idle.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  await idle.until((text) => text.endsWith('ok'));
  // Both hanging requests have reached the handler before the shutdown begins.
  await waitFor('both hanging requests to be read', () => server.stats().requests.total === 3);
  assert.equal(await server.close(), 2, 'the two connections whose handler never answered');
  assert.equal(await server.close(), 2, 'a second close() gets the same answer');
  assert.match(await idle.closed, /^HTTP\/1\.1 200 /);
  for (const c of hung) assert.equal(await c.closed, '', 'a cut connection gets no answer');

  const quiet = await startLabServer();
  assert.equal(await quiet.close(), 0, 'nothing open, nothing cut');
});
