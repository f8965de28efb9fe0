/**
 * Every error status the server gives, over a real socket, and whether the connection
 * survives it: framing errors close it (the byte stream can no longer be trusted, RFC 9112
 * §9.6 / §11.2), errors about a well-framed request do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectRaw, countResponses, exchange } from '../support/raw-client.js';
import { portOf, startLabServer } from '../support/lab-server.js';

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);

const FRAMING_ERRORS: { name: string; bytes: string; status: number }[] = [
  { name: 'bad request line', bytes: 'GET/ HTTP/1.1\r\nHost: t\r\n\r\n', status: 400 },
  { name: 'no Host in HTTP/1.1', bytes: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
  { name: 'two Host headers', bytes: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', status: 400 },
  { name: 'space before the colon', bytes: 'GET / HTTP/1.1\r\nHost : t\r\n\r\n', status: 400 },
  { name: 'obs-fold', bytes: 'GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  2\r\n\r\n', status: 400 },
  { name: 'bare LF', bytes: 'GET / HTTP/1.1\nHost: t\n\n', status: 400 },
  { name: 'signed Content-Length', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\nx', status: 400 },
  { name: 'conflicting Content-Length', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx', status: 400 },
  { name: 'Content-Length with Transfer-Encoding', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'chunked not last', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', status: 400 },
  { name: 'unknown transfer coding', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: zstd-magic, chunked\r\n\r\n', status: 501 },
  { name: 'bad chunk size', bytes: 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', status: 400 },
  { name: 'body over the limit', bytes: `POST / HTTP/1.1\r\nHost: t\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, status: 413 },
  { name: 'target over the limit', bytes: `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: t\r\n\r\n`, status: 414 },
  { name: 'headers over the byte limit', bytes: `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, status: 431 },
  { name: 'more than 100 headers', bytes: `GET / HTTP/1.1\r\nHost: t\r\n${Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`, status: 431 },
  { name: 'HTTP/2.0 on this port', bytes: 'GET / HTTP/2.0\r\nHost: t\r\n\r\n', status: 505 },
  { name: 'HTTP/1.2', bytes: 'GET / HTTP/1.2\r\nHost: t\r\n\r\n', status: 505 },
];

for (const { name, bytes, status } of FRAMING_ERRORS) {
  test(`framing error closes the connection: ${name} → ${status}`, async (t) => {
    const server = await startLabServer();
    t.after(() => server.close());
    // A valid request first: it must still be answered, before the error and in order.
    const text = await exchange(portOf(server), `GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n${bytes}`);
    assert.equal(countResponses(text), 2, text.slice(0, 300));
    const second = text.slice(text.indexOf('HTTP/1.1', 5));
    assert.equal(statusOf(second), status, second.slice(0, 300));
    assert.match(second, /Connection: close/i);
    assert.match(second, /"error":"HPE_[A-Z_]+"/);
  });
}

const APP_ERRORS: { target: string; method?: string; status: number; allow?: boolean }[] = [
  { target: '/nope', status: 404 },
  { target: '/age', status: 400 },
  { target: '/age?birthdate=1993-02-30', status: 400 },
  { target: '/age?birthdate=2999-01-01', status: 400 },
  { target: '/age?birthdate=93-5-1', status: 400 },
  { target: '/work?ms=abc', status: 400 },
  { target: '/work?ms=5000', status: 400 },
  { target: '/uuid/abc', status: 400 },
  { target: '/uuid/0', status: 404 },
  { target: '/age?birthdate=1993-05-01', method: 'POST', status: 405, allow: true },
  { target: '/healthz', method: 'DELETE', status: 405, allow: true },
];

test('errors in well-framed requests keep the connection open', async (t) => {
  const server = await startLabServer();
  t.after(() => server.close());
  const c = await connectRaw(portOf(server));
  let expected = 0;
  for (const { target, method = 'GET', status, allow } of APP_ERRORS) {
    const before = c.received().length;
    const body = method === 'POST' ? 'Content-Length: 0\r\n' : '';
    await c.write(`${method} ${target} HTTP/1.1\r\nHost: t\r\n${body}\r\n`);
    expected += 1;
    const text = (await c.until((all) => countResponses(all) === expected && /\r\n\r\n\{[^}]*\}$/.test(all))).slice(before);
    assert.equal(statusOf(text), status, `${method} ${target}: ${text.slice(0, 200)}`);
    assert.doesNotMatch(text, /Connection: close/i);
    if (allow) assert.match(text, /\r\nAllow: GET, HEAD\r\n/);
  }
  c.end();
});

test('the routes answer what ARCHITECTURE.md promises', async (t) => {
  const server = await startLabServer();
  t.after(() => server.close());
  const c = await connectRaw(portOf(server));
  await c.write('GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: t\r\n\r\n');
  const age = await c.until((text) => text.endsWith('}'));
  const years = new Date().getUTCFullYear() - 1993 - (new Date() < new Date(Date.UTC(new Date().getUTCFullYear(), 4, 1)) ? 1 : 0);
  assert.ok(age.endsWith(`{"birthdate":"1993-05-01","age":${years}}`), age);
  assert.match(age, /Content-Type: application\/json/);
  await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.ok((await c.until((text) => text.endsWith('ok'))).endsWith('\r\n\r\nok'));
  await c.write('GET /work?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n');
  const work = await c.until((text) => /"tookMs":[\d.]+/.test(text));
  assert.ok(Number(/"tookMs":([\d.]+)/.exec(work)?.[1]) >= 20);
  await c.write('GET /stats HTTP/1.1\r\nHost: t\r\n\r\n');
  const statsText = await c.until((text) => countResponses(text) === 4 && text.endsWith('}'));
  const stats = JSON.parse(statsText.slice(statsText.lastIndexOf('\r\n\r\n') + 4)) as { requests: { total: number }; connections: { open: number } };
  assert.equal(stats.requests.total, 4);
  assert.equal(stats.connections.open, 1);
  await c.write('GET /uuid/42 HTTP/1.1\r\nHost: t\r\n\r\n');
  const uuid = await c.until((text) => countResponses(text) === 5 && text.endsWith('}'));
  assert.match(uuid.slice(uuid.lastIndexOf('HTTP/1.1')), /^HTTP\/1\.1 503 .*--db/s);
  c.end();
});

test('--max-connections: the connection over the limit gets 503 and is closed; the others are served', async (t) => {
  const server = await startLabServer({ maxConnections: 2 });
  t.after(() => server.close());
  const a = await connectRaw(portOf(server));
  const b = await connectRaw(portOf(server));
  const { waitFor } = await import('../support/wait.js');
  await waitFor('two connections', () => server.openConnections === 2);
  const over = await exchange(portOf(server), 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal(statusOf(over), 503);
  assert.match(over, /Retry-After: 1/);
  await a.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  await a.until((text) => text.endsWith('ok'));
  assert.equal(server.stats().connections.rejected, 1);
  a.end();
  b.end();
});
