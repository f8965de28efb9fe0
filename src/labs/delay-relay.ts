/**
 * A delaying TCP relay: the slow-link lab's stand-in for netem on kernels built without
 * sch_netem. It listens where the "remote" client can reach it (the server's end of a veth
 * pair), opens one connection to the real server per client connection, and holds every
 * chunk it reads for `oneWayDelayMs` before forwarding it, in each direction. A request and
 * its response each cross it once, so the client sees the round trip grow by twice the
 * one-way delay, as it would on a real link.
 *
 * What it does not emulate, and why that is acceptable here: the TCP handshake is not
 * delayed (the client connects to the relay at once; with keep-alive that happens once per
 * virtual user), and each side's TCP sees a short round trip, so congestion-window growth
 * over a long-delay path is not reproduced (responses here are a few hundred bytes, far
 * below one window). Bandwidth is capped separately, by tbf on the veth, so bytes still
 * queue in the kernel exactly where a slow link would queue them.
 *
 * Order is kept without a queue of our own: Node fires timers of equal duration in the
 * order they were set, so chunks leave in the order they arrived. Back-pressure is kept
 * too: when the far side's socket buffer is full, reading from the near side pauses until
 * it drains, so at most one delay's worth of data (the bandwidth-delay product) is held.
 */
import net from 'node:net';
import { LAB_ERR, LabError } from '../errors.js';

export interface DelayRelayOptions {
  /** Address to listen on (the host end of the veth). */
  listenHost: string;
  /** The server the relay forwards to. */
  target: { host: string; port: number };
  /** Added in each direction; the round trip grows by twice this. */
  oneWayDelayMs: number;
}

export interface DelayRelay {
  host: string;
  port: number;
  oneWayDelayMs: number;
  /** What crossed the relay so far. */
  stats(): RelayStats;
  /** Stop listening and destroy every relayed connection. */
  close(): Promise<void>;
}

export interface RelayStats {
  connections: number;
  /** Client → server bytes and chunks. */
  upstreamBytes: number;
  upstreamChunks: number;
  /** Server → client bytes and chunks. */
  downstreamBytes: number;
  downstreamChunks: number;
  /** Times a direction paused because the far side's buffer was full. */
  pauses: number;
}

export async function startDelayRelay(options: DelayRelayOptions): Promise<DelayRelay> {
  const delayMs = Math.max(0, Math.round(options.oneWayDelayMs));
  const sockets = new Set<net.Socket>();
  const stats: RelayStats = { connections: 0, upstreamBytes: 0, upstreamChunks: 0, downstreamBytes: 0, downstreamChunks: 0, pauses: 0 };

  const forward = (from: net.Socket, to: net.Socket, direction: 'up' | 'down'): void => {
    from.on('data', (chunk: Buffer) => {
      if (direction === 'up') {
        stats.upstreamBytes += chunk.length;
        stats.upstreamChunks += 1;
      } else {
        stats.downstreamBytes += chunk.length;
        stats.downstreamChunks += 1;
      }
      setTimeout(() => {
        if (to.destroyed || to.writableEnded) return;
        if (!to.write(chunk) && !from.isPaused()) {
          stats.pauses += 1;
          from.pause();
          to.once('drain', () => from.resume());
        }
      }, delayMs);
    });
    // A FIN travels like data: it arrives after every byte sent before it.
    from.on('end', () => {
      setTimeout(() => {
        if (!to.destroyed) to.end();
      }, delayMs);
    });
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    stats.connections += 1;
    const upstream = net.connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    // A reset on either side resets the other: there is nothing left to deliver to.
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', () => {
      sockets.delete(client);
      if (upstream.writableEnded || upstream.destroyed) return;
      setTimeout(() => upstream.destroy(), delayMs);
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (client.writableEnded || client.destroyed) return;
      setTimeout(() => client.destroy(), delayMs);
    });
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new LabError(LAB_ERR.LISTEN, `the delay relay could not listen on ${options.listenHost}: ${error.message}`, { cause: error })));
    server.listen({ host: options.listenHost, port: 0, backlog: 4096 }, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: options.listenHost,
    port: address.port,
    oneWayDelayMs: delayMs,
    stats: () => ({ ...stats }),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
  };
}
