/**
 * Small node:net servers for the load generator's tests, each misbehaving in one known way:
 * a counting server (the ground truth for request counts), one that resets, one that never
 * answers, one that sends garbage, one that closes mid-response, one whose responses can be
 * held back for a known time (coordinated omission). They parse just enough (CRLFCRLF ends
 * a request head; GET requests have no body) and record what they saw.
 */
import net from 'node:net';
import { waitForEvent } from '../support/wait.js';

export type Behaviour =
  | { kind: 'ok'; status?: number; body?: string }
  | { kind: 'reset' }
  | { kind: 'silent' }
  | { kind: 'malformed' }
  | { kind: 'close-early' }
  /** Answer with a body delimited by closing the connection (no Content-Length, not chunked). */
  | { kind: 'until-close' };

export interface TestServer {
  port: number;
  url: string;
  /** Request heads received. */
  requests: number;
  /** Connections accepted. */
  connections: number;
  /** Connections open right now, and the most at once. */
  open: number;
  openMax: number;
  /** Request targets seen (the first 10,000: use a fresh server to look at them). */
  paths: string[];
  /** Remote addresses of accepted connections. */
  remoteAddresses: Set<string>;
  /**
   * Hold every response back for `ms`, then send them all. Resolves once they are sent, with
   * how many requests were held.
   */
  pauseFor(ms: number): Promise<number>;
  close(): Promise<void>;
}

function response(status: number, body: string): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'latin1');
}

export async function startTestServer(behaviour: Behaviour = { kind: 'ok' }): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const held: { socket: net.Socket; bytes: Buffer }[] = [];
  let pausedUntil = 0;
  let heldRequests = 0;
  const okBytes = behaviour.kind === 'ok' ? response(behaviour.status ?? 200, behaviour.body ?? 'hello') : Buffer.alloc(0);

  const server = net.createServer({ noDelay: true }, (socket) => {
    state.connections += 1;
    state.open += 1;
    if (state.open > state.openMax) state.openMax = state.open;
    state.remoteAddresses.add(socket.remoteAddress ?? '');
    sockets.add(socket);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let heads = 0;
      let close = false;
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        heads += 1;
        if (state.paths.length < 10_000) state.paths.push(head.split(' ')[1] ?? '');
        if (/\r\nconnection: *close/i.test(head)) close = true;
      }
      if (heads === 0) return;
      state.requests += heads;
      switch (behaviour.kind) {
        case 'ok': {
          const bytes = heads === 1 ? okBytes : Buffer.concat(Array.from({ length: heads }, () => okBytes));
          if (Date.now() < pausedUntil) {
            held.push({ socket, bytes });
            heldRequests += heads;
          }
          // RFC 9112 §9.6: after a request with Connection: close, answer and close.
          else if (close) socket.end(bytes);
          else socket.write(bytes);
          break;
        }
        case 'reset':
          // RST instead of FIN: SO_LINGER 0 under the hood.
          socket.resetAndDestroy();
          break;
        case 'silent':
          break;
        case 'malformed':
          socket.write('HTTP/1.1 2x0 Nope\r\n\r\n');
          break;
        case 'close-early':
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it');
          break;
        case 'until-close':
          socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body runs until the close');
          break;
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      state.open -= 1;
      sockets.delete(socket);
    });
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await waitForEvent(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const state: TestServer = {
    port,
    url: `http://127.0.0.1:${port}/`,
    requests: 0,
    connections: 0,
    open: 0,
    openMax: 0,
    paths: [],
    remoteAddresses: new Set(),
    pauseFor(ms: number) {
      pausedUntil = Date.now() + ms;
      heldRequests = 0;
      return new Promise<number>((resolve) =>
        setTimeout(() => {
          pausedUntil = 0;
          for (const { socket, bytes } of held.splice(0)) if (!socket.destroyed) socket.write(bytes);
          resolve(heldRequests);
        }, ms),
      );
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}

/** A port that was just free: bound, then closed, so nothing listens on it (ECONNREFUSED). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen({ port: 0, host: '127.0.0.1' });
  await waitForEvent(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
