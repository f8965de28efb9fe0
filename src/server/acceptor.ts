/**
 * A paced listener for `--accept-rate N/s`: takes at most N connections per second off
 * the kernel's accept queue, so the queue fills behind it exactly as it does behind a
 * server too busy to call accept(2).
 *
 * Node has no way to pause a listening socket: libuv accepts the moment the socket is
 * readable, on every turn of the loop (one connection a turn since libuv 1.45, as lab 2
 * measures; a loop until EAGAIN before that). What it can do is close its descriptor. So
 * the server listens on a descriptor, closes it inside the 'connection' callback (libuv
 * sees fd -1 and accepts nothing more from it), and listens again when the next
 * accept is due on a fresh descriptor of the same socket. The fresh descriptors come from
 * a keeper process (listen-socket-keeper.ts) that holds one more reference, which is also
 * what keeps the socket and its queue alive in between: calling listen(2) on a socket that
 * is already listening only updates its backlog (Linux inet_listen), it does not reset it.
 *
 * The same trick is how Node's cluster shares a listening socket: `net._createServerHandle`
 * (a bound, not yet listening socket) is what cluster's primary uses; it is internal but
 * has been stable since Node 0.x.
 */
import net from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { getSystemErrorName } from 'node:util';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LAB_ERR, LabError } from '../errors.js';

const KEEPER_PATH = fileURLToPath(new URL('./listen-socket-keeper.js', import.meta.url));

export interface AcceptorOptions {
  host: string;
  port: number;
  backlog: number;
  /** Accepts per second. */
  rate: number;
}

export interface Acceptor {
  /** The keeper process (it holds the socket; accepts happen in this process). */
  pid: number;
  port: number;
  accepted(): number;
  stop(): Promise<void>;
}

type ServerHandle = object;
const createServerHandle = (net as unknown as { _createServerHandle(address: string, port: number, addressType: 4 | 6): ServerHandle | number })
  ._createServerHandle;

export async function startAcceptor(options: AcceptorOptions, onSocket: (socket: net.Socket) => void): Promise<Acceptor> {
  const address = net.isIP(options.host) ? options.host : (await lookup(options.host)).address;
  const handle = createServerHandle(address, options.port, net.isIPv6(address) ? 6 : 4);
  if (typeof handle === 'number') {
    throw Object.assign(new Error(`listen ${getSystemErrorName(handle)} ${address}:${options.port}`), { code: getSystemErrorName(handle) });
  }
  const keeper = fork(KEEPER_PATH, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const intervalMs = 1000 / options.rate;
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  let stopped = false;
  let accepted = 0;
  let nextDueAt = 0;
  let armTimer: NodeJS.Timeout | null = null;
  let dupWaiter: ((handle: ServerHandle) => void) | null = null;

  keeper.on('message', (message: { type?: string }, dup: unknown) => {
    if (message.type === 'dup' && dupWaiter !== null) {
      const waiter = dupWaiter;
      dupWaiter = null;
      waiter(dup as ServerHandle);
    }
  });
  const requestDup = (): Promise<ServerHandle> =>
    new Promise((resolve) => {
      dupWaiter = resolve;
      keeper.send({ type: 'dup' });
    });

  const arm = (listenOn: ServerHandle): void => {
    if (stopped) {
      (listenOn as { close?: () => void }).close?.();
      return;
    }
    server.listen(listenOn as net.ListenOptions, options.backlog);
  };

  server.on('connection', (socket) => {
    // Close our descriptor before returning to libuv: whatever its version, it takes no more.
    server.close();
    accepted += 1;
    onSocket(socket);
    nextDueAt = Math.max(performance.now(), nextDueAt) + intervalMs;
    const dupReady = requestDup();
    armTimer = setTimeout(() => {
      armTimer = null;
      void dupReady.then(arm);
    }, Math.max(0, nextDueAt - performance.now()));
  });
  server.on('error', () => {
    // An accept(2) failure (EMFILE): this cycle's descriptor is gone, the next one comes on time.
  });

  await new Promise<void>((resolve, reject) => {
    keeper.once('error', reject);
    keeper.once('exit', (code) => reject(new LabError(LAB_ERR.LISTEN, `the listen-socket keeper exited early (code ${code})`)));
    keeper.once('message', () => resolve());
    keeper.send({ type: 'hold' }, handle as never);
  });
  keeper.removeAllListeners('exit');
  keeper.on('exit', () => {
    if (!stopped) process.emitWarning('socketlab: the listen-socket keeper exited; no more connections will be accepted');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    arm(handle);
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    pid: keeper.pid as number,
    port,
    accepted: () => accepted,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (armTimer !== null) clearTimeout(armTimer);
      if (server.listening) server.close();
      await stopKeeper(keeper);
    },
  };
}

async function stopKeeper(keeper: ChildProcess): Promise<void> {
  if (keeper.exitCode !== null || keeper.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  // Closing the channel makes it exit (and drop the last descriptor of the socket).
  if (keeper.connected) keeper.disconnect();
  const timer = setTimeout(() => keeper.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
