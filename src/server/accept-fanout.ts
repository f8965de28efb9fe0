/**
 * Listening on N descriptors of one socket, so that a busy event loop accepts up to N
 * connections per turn instead of one.
 *
 * libuv 1.45 and later take one connection off a listening socket each time epoll reports it
 * readable (libuv/libuv#3696, "unix: don't accept() connections in a loop"; lab 2 measures it
 * on Node 20). Under load one turn of the loop serves thousands of ready sockets and takes
 * milliseconds, so accepts crawl exactly when many clients connect at once. Measured here
 * (2 cores, `socketlab load --vus 10000` against `/age`, one descriptor): 4,751 of the 10,000
 * connections were accepted in 15 s, the kernel counted 67,232 ListenOverflows, the clients
 * waited up to 7.8 s in SYN retries to connect, and 5,253 requests were still waiting in
 * unaccepted connections when the run ended.
 *
 * Each descriptor is its own epoll registration of the same socket, so each turn reports all
 * N and each accepts one. They share the socket's single accept queue and backlog, so the
 * kernel's view (/proc/net/tcp, ss, ListenOverflows, lab 3) is that of one listener, unlike
 * SO_REUSEPORT, which would split the queue into N (and is in Node only from 22.12).
 * The price: a readable socket wakes all N, so when one connection waits, N - 1 accept(2)
 * calls come back EAGAIN, about a microsecond each (bench/serve.ts measures `--no-keepalive`
 * both ways).
 */
import net from 'node:net';
import { bindServerHandle, closeServerHandle, startSocketKeeper, type ServerHandle } from './listen-descriptors.js';

export interface FannedListener {
  /** One net.Server per descriptor; all of them hand their sockets to the same callback. */
  readonly servers: readonly net.Server[];
  readonly address: { host: string; port: number };
}

export interface FanoutOptions {
  host: string;
  port: number;
  backlog: number;
  /** Descriptors to listen on (at least 2; one is an ordinary listen). */
  descriptors: number;
  /** net.createServer options every descriptor's server gets. */
  serverOptions: net.ServerOpts;
}

/**
 * Bind once, get `descriptors - 1` copies of the socket from a keeper process (which exits
 * once it has handed them over: the copies keep the socket), listen on every one.
 */
export async function listenFannedOut(options: FanoutOptions, onSocket: (socket: net.Socket) => void, onAcceptError: (error: Error) => void): Promise<FannedListener> {
  const handle = await bindServerHandle(options.host, options.port);
  const handles: ServerHandle[] = [handle];
  try {
    const keeper = await startSocketKeeper(handle);
    try {
      while (handles.length < options.descriptors) handles.push(await keeper.duplicate());
    } finally {
      await keeper.stop();
    }
  } catch (error) {
    for (const h of handles) closeServerHandle(h);
    throw error;
  }
  const servers = handles.map(() => net.createServer(options.serverOptions, onSocket));
  let listened = 0;
  try {
    for (let i = 0; i < servers.length; i++, listened++) {
      const server = servers[i] as net.Server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // listen(2) on a socket that already listens only sets its backlog again (Linux inet_listen).
        server.listen(handles[i] as net.ListenOptions, options.backlog, () => {
          server.off('error', reject);
          server.on('error', onAcceptError);
          resolve();
        });
      });
    }
  } catch (error) {
    for (const server of servers) if (server.listening) server.close();
    for (const h of handles.slice(listened + 1)) closeServerHandle(h);
    throw error;
  }
  const address = (servers[0] as net.Server).address() as net.AddressInfo;
  return { servers, address: { host: address.address, port: address.port } };
}
