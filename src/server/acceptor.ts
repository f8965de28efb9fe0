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
 * a keeper process (listen-descriptors.ts) that holds one more reference, which is also
 * what keeps the socket and its queue alive in between: calling listen(2) on a socket that
 * is already listening only updates its backlog (Linux inet_listen), it does not reset it.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { bindServerHandle, closeServerHandle, startSocketKeeper, type ServerHandle, type SocketKeeper } from './listen-descriptors.js';

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

export async function startAcceptor(options: AcceptorOptions, onSocket: (socket: net.Socket) => void): Promise<Acceptor> {
  const handle = await bindServerHandle(options.host, options.port);
  let keeper: SocketKeeper;
  try {
    keeper = await startSocketKeeper(handle);
  } catch (error) {
    closeServerHandle(handle);
    throw error;
  }
  keeper.onUnexpectedExit = () => process.emitWarning('socketlab: the listen-socket keeper exited; no more connections will be accepted');
  const intervalMs = 1000 / options.rate;
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  let stopped = false;
  let accepted = 0;
  let nextDueAt = 0;
  let armTimer: NodeJS.Timeout | null = null;

  const arm = (listenOn: ServerHandle): void => {
    if (stopped) {
      closeServerHandle(listenOn);
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
    const dupReady = keeper.duplicate();
    armTimer = setTimeout(
      () => {
        armTimer = null;
        void dupReady.then(arm);
      },
      Math.max(0, nextDueAt - performance.now()),
    );
  });
  server.on('error', () => {
    // An accept(2) failure (EMFILE): this cycle's descriptor is gone, the next one comes on time.
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
    pid: keeper.pid,
    port,
    accepted: () => accepted,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (armTimer !== null) clearTimeout(armTimer);
      if (server.listening) server.close();
      await keeper.stop();
    },
  };
}
