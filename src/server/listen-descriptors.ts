/**
 * More than one descriptor for one listening socket, for the two places that need one:
 * the paced listener of `--accept-rate` (acceptor.ts) and the accept fan-out
 * (accept-fanout.ts).
 *
 * Node has no dup(2). What it has is SCM_RIGHTS over a child process's IPC channel: a
 * handle sent to a child arrives there as a new descriptor of the same socket, and sent back
 * it arrives here as another one. So a keeper process (listen-socket-keeper.ts) is given the
 * socket once and asked for copies. Every copy shares the one kernel socket: one accept
 * queue, one backlog, one line in /proc/net/tcp, the same ListenOverflows. The same trick is
 * how Node's cluster shares a listening socket: `net._createServerHandle` (a bound, not yet
 * listening socket) is what cluster's primary uses; it is internal but has been stable since
 * Node 0.x.
 */
import net from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { getSystemErrorName } from 'node:util';
import { fileURLToPath } from 'node:url';
import { LAB_ERR, LabError } from '../errors.js';

const KEEPER_PATH = fileURLToPath(new URL('./listen-socket-keeper.js', import.meta.url));

/** libuv's TCP handle for a bound socket, as net.Server.listen(handle) takes it. */
export type ServerHandle = object;

const createServerHandle = (net as unknown as { _createServerHandle(address: string, port: number, addressType: 4 | 6): ServerHandle | number })._createServerHandle;

/** A socket bound to host:port, not yet listening. Throws an errno-coded Error (EADDRINUSE...). */
export async function bindServerHandle(host: string, port: number): Promise<ServerHandle> {
  const address = net.isIP(host) ? host : (await lookup(host)).address;
  const handle = createServerHandle(address, port, net.isIPv6(address) ? 6 : 4);
  if (typeof handle === 'number') {
    throw Object.assign(new Error(`listen ${getSystemErrorName(handle)} ${address}:${port}`), { code: getSystemErrorName(handle) });
  }
  return handle;
}

/** Close a handle that no server took over. */
export function closeServerHandle(handle: ServerHandle): void {
  (handle as { close?: () => void }).close?.();
}

/** A keeper process holding one more descriptor of a socket and handing out copies. */
export interface SocketKeeper {
  readonly pid: number;
  /** A fresh descriptor of the kept socket, in this process. */
  duplicate(): Promise<ServerHandle>;
  /** Let the keeper go; its descriptor closes with it (copies handed out stay valid). */
  stop(): Promise<void>;
  /** Called if the keeper exits on its own before stop(). */
  onUnexpectedExit: (() => void) | null;
}

export async function startSocketKeeper(handle: ServerHandle): Promise<SocketKeeper> {
  // execArgv []: a server run under --cpu-prof or --inspect must not pass that to its keeper.
  const keeper = fork(KEEPER_PATH, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const waiters: ((handle: ServerHandle) => void)[] = [];
  let stopped = false;
  keeper.on('message', (message: { type?: string }, dup: unknown) => {
    if (message.type === 'dup') waiters.shift()?.(dup as ServerHandle);
  });
  await new Promise<void>((resolve, reject) => {
    keeper.once('error', reject);
    keeper.once('exit', (code) => reject(new LabError(LAB_ERR.LISTEN, `the listen-socket keeper exited early (code ${code})`)));
    keeper.once('message', () => resolve());
    keeper.send({ type: 'hold' }, handle as never);
  });
  keeper.removeAllListeners('exit');
  keeper.removeAllListeners('error');
  keeper.on('error', () => {});
  const kept: SocketKeeper = {
    pid: keeper.pid as number,
    onUnexpectedExit: null,
    duplicate: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        keeper.send({ type: 'dup' });
      }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopKeeper(keeper);
    },
  };
  keeper.on('exit', () => {
    if (!stopped) kept.onUnexpectedExit?.();
  });
  return kept;
}

async function stopKeeper(keeper: ChildProcess): Promise<void> {
  if (keeper.exitCode !== null || keeper.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  // Closing the channel makes it exit (and drop its descriptor of the socket).
  if (keeper.connected) keeper.disconnect();
  const timer = setTimeout(() => keeper.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
