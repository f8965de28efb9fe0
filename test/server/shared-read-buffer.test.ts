/**
 * Accepted sockets read through `onread` into one buffer every socket shares (Connection.onread).
 * The next read overwrites it, so nothing a request keeps may point into it: a handler that
 * reads a header or the body long after other connections' bytes came in must still see its
 * own request's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { connectRaw, countResponses } from '../support/raw-client.js';
import { portOf, startLabServer } from '../support/lab-server.js';

const CLIENTS = 20;

test('a request read from the shared buffer keeps its own headers and body after later reads', async (t) => {
  // The handler waits several turns of the loop before it reads the lazily decoded header and
  // the body: by then the other clients' requests have been read into the same buffer.
  const server = await startLabServer({}, async (request) => {
    for (let i = 0; i < 5; i++) await nextTurn();
    const body = request.body === null ? '' : request.body.toString('latin1');
    return { status: 200, contentType: 'text/plain', body: `${request.header('x-client') ?? '-'}|${request.host ?? '-'}|${body}` };
  });
  t.after(() => server.close());
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectRaw(portOf(server))));
  // Bodies past 512 bytes take the other copy path; every client's bytes differ.
  const bodyOf = (i: number): string => String.fromCharCode(97 + (i % 26)).repeat(i % 2 === 0 ? 40 : 900);
  await Promise.all(clients.map((c, i) => c.write(`POST /echo HTTP/1.1\r\nHost: host-${i}\r\nX-Client: client-${i}\r\nContent-Length: ${bodyOf(i).length}\r\n\r\n${bodyOf(i)}`)));
  const texts = await Promise.all(clients.map((c) => c.until((text) => countResponses(text) === 1 && /\r\n\r\n[\s\S]*\|[\s\S]*\|/.test(text) && !text.endsWith('\r\n\r\n'))));
  texts.forEach((text, i) => {
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.equal(body, `client-${i}|host-${i}|${bodyOf(i)}`, `client ${i} got another's bytes: ${body.slice(0, 80)}`);
  });
  for (const c of clients) c.end();
});

test('pipelined requests in one read and a head split over many reads are each answered', async (t) => {
  const server = await startLabServer();
  t.after(() => server.close());
  const c = await connectRaw(portOf(server));
  const get = 'GET /age?birthdate=1993-05-01 HTTP/1.1\r\nHost: t\r\n\r\n';
  await c.write(get.repeat(5));
  await c.until((text) => countResponses(text) === 5 && text.endsWith('}'));
  for (const byte of get) {
    await c.write(byte);
    await nextTurn();
  }
  const all = await c.until((text) => countResponses(text) === 6 && text.endsWith('}'));
  assert.equal((all.match(/"age":\d+/g) ?? []).length, 6, all);
  c.end();
});
