/**
 * More descriptors for a listening socket, so that a busy event loop accepts up to N
 * connections per turn instead of one.
 *
 * libuv 1.45 and later take one connection off a listening socket each time epoll reports it
 * readable (libuv/libuv#3696, "unix: don't accept() connections in a loop"; lab 2 measures it
 * on Node 20). Under load one turn of the loop serves thousands of ready sockets and takes
 * milliseconds, so accepts crawl exactly when many clients connect at once. Measured here
 * (2 cores, `socketlab load --vus 10000` against `/age`, one descriptor, backlog 511): 4,751
 * of the 10,000 connections were accepted in 15 s, the kernel counted 67,232 ListenOverflows,
 * clients waited up to 7.8 s in SYN retries to connect, and 5,253 requests were still waiting
 * in unaccepted connections when the run ended.
 *
 * Each descriptor is its own epoll registration of the same socket, so each turn reports all
 * N and each accepts one. They share the socket's single accept queue and backlog, so the
 * kernel's view (/proc/net/tcp, ss, ListenOverflows, lab 3) is that of one listener, unlike
 * SO_REUSEPORT, which would split the queue into N (and is in Node only from 22.12).
 *
 * The copies come from a keeper process (listen-descriptors.ts), which costs a Node start
 * (~0.1 s of CPU here, over a second on a loaded machine), and a readable socket wakes all N
 * descriptors, so when one connection waits, N - 1 accept(2) calls find nothing. So a server
 * listens on one descriptor and widens only when a burst shows up (server.ts: ACCEPT_BURST
 * connections accepted within one tick of its clock); the backlog holds the burst meanwhile.
 */
import type net from 'node:net';
import { closeServerHandle, startSocketKeeper, type ServerHandle } from './listen-descriptors.js';

/**
 * `count` more descriptors of the socket `listener` listens on, each listening in a net.Server
 * of its own, made by `createServer`. The keeper exits once it has handed them over (the copies
 * keep the socket). Rejects when the listener has no handle to copy (a cluster worker's
 * listener is its primary's).
 */
export async function addListenDescriptors(listener: net.Server, count: number, backlog: number, createServer: () => net.Server): Promise<net.Server[]> {
  const handle = (listener as unknown as { _handle?: ServerHandle | null })._handle;
  if (handle === null || handle === undefined || typeof (handle as { fd?: unknown }).fd !== 'number') throw new Error('this listener has no descriptor of its own to copy');
  const handles: ServerHandle[] = [];
  const keeper = await startSocketKeeper(handle);
  try {
    while (handles.length < count) handles.push(await keeper.duplicate());
  } catch (error) {
    for (const h of handles) closeServerHandle(h);
    throw error;
  } finally {
    await keeper.stop();
  }
  const servers: net.Server[] = [];
  try {
    for (const h of handles) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // listen(2) on a socket that already listens only sets its backlog again (Linux inet_listen).
        server.listen(h as net.ListenOptions, backlog, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (error) {
    for (const server of servers) server.close();
    for (const h of handles.slice(servers.length + 1)) closeServerHandle(h);
    throw error;
  }
  return servers;
}
