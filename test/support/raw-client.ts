/**
 * A raw TCP client for server tests: write exact bytes (whole, or split as TCP may split
 * them) and read back everything the server sends until it closes or a condition holds.
 */
import net from 'node:net';
import { WAIT_DEFAULT_MS, waitForEvent } from './wait.js';

export interface RawConnection {
  socket: net.Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves when the server closes its side (or the socket errors), with all bytes received. */
  closed: Promise<string>;
  /** Resolves once the received text satisfies `predicate`, rejects at the deadline. */
  until(predicate: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  write(bytes: string | Buffer): Promise<void>;
  end(): void;
}

export async function connectRaw(port: number, host = '127.0.0.1'): Promise<RawConnection> {
  const socket = net.connect({ port, host });
  await waitForEvent(socket, 'connect');
  let text = '';
  const waiters: { predicate: (t: string) => boolean; resolve: (t: string) => void }[] = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as (typeof waiters)[number];
      if (waiter.predicate(text)) {
        waiters.splice(i, 1);
        waiter.resolve(text);
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    check();
  });
  const closed = new Promise<string>((resolve) => {
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
  });
  return {
    socket,
    received: () => text,
    closed,
    until(predicate, timeoutMs = WAIT_DEFAULT_MS) {
      if (predicate(text)) return Promise.resolve(text);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; received so far: ${JSON.stringify(text.slice(0, 500))}`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
        });
        void closed.then(() => {
          clearTimeout(timer);
          if (predicate(text)) return;
          reject(new Error(`connection closed before condition held; received: ${JSON.stringify(text.slice(0, 500))}`));
        });
      });
    },
    write(bytes) {
      return new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
    },
    end: () => socket.end(),
  };
}

/** Count complete `HTTP/1.x NNN` status lines in a response stream. */
export function countResponses(text: string): number {
  return (text.match(/HTTP\/1\.[01] \d{3} /g) ?? []).length;
}

/** Send bytes on a fresh connection and return everything until the server closes. */
export async function exchange(port: number, bytes: string | Buffer, host = '127.0.0.1'): Promise<string> {
  const connection = await connectRaw(port, host);
  await connection.write(bytes);
  return connection.closed;
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/** The response that starts at `start` in `text`, once its whole body (Content-Length) is there. */
function frameResponse(text: string, start: number, bodyless: boolean): RawResponse | null {
  const headEnd = text.indexOf('\r\n\r\n', start);
  if (headEnd < 0) return null;
  const head = text.slice(start, headEnd);
  // RFC 9110 §9.3.2: the answer to HEAD has the headers of a GET, Content-Length included, and no body.
  const length = bodyless ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  if (text.length < headEnd + 4 + length) return null;
  return { status: Number(head.slice(9, 12)), head, body: text.slice(headEnd + 4, headEnd + 4 + length) };
}

/**
 * Send one request on an open keep-alive connection and resolve with its response, framed by
 * its Content-Length. Responses must be read in order: whatever was received before the
 * request is taken as already read.
 */
export async function askOn(connection: RawConnection, request: string, timeoutMs?: number): Promise<RawResponse> {
  const start = connection.received().length;
  const bodyless = request.startsWith('HEAD ');
  await connection.write(request);
  const text = await connection.until((received) => frameResponse(received, start, bodyless) !== null, timeoutMs);
  return frameResponse(text, start, bodyless) as RawResponse;
}
