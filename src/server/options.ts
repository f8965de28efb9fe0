/**
 * Everything `socketlab serve` can tune about the socket layer, and the defaults it ships.
 *
 * Every limit on what a peer controls is on by default, at a value a production server
 * would ship, and can be turned off (0) only explicitly: a lab that needs the unbounded
 * behaviour (lab 4 running out of descriptors on purpose) asks for it. Each default names
 * the equivalent it was checked against: node:http (Node 18+: headersTimeout 60 s,
 * requestTimeout 300 s, keepAliveTimeout 5 s, server.timeout and maxConnections off), nginx
 * (client_header_timeout 60 s, send_timeout 60 s, lingering_timeout 5 s,
 * worker_connections 512) and undici.
 */
import { DEFAULT_LIMITS, type ParserLimits } from '../http/request-parser.js';
import { readFdLimit } from '../metrics/process-stats.js';
import { DEFAULT_STAGE_SAMPLE_EVERY } from './stage-timings.js';

export interface ServerOptions {
  host: string;
  port: number;
  /** The listen(2) backlog asked for; the kernel caps it at net.core.somaxconn. */
  backlog: number;
  /** Connections beyond this many open ones get a 503 and are closed; 0 = no limit. */
  maxConnections: number;
  /** A request head must arrive whole within this long of its first byte (slowloris); 0 = no limit. */
  headersTimeoutMs: number;
  /** The whole message (body included) must arrive within this long of its first byte; 0 = no limit. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long; 0 = never. */
  keepAliveTimeoutMs: number;
  /** A handler that has not answered within this long gets the client a 503 and the connection closed; 0 = wait forever. */
  responseTimeoutMs: number;
  /** A peer that takes none of our response bytes for this long is cut off (destroyed); 0 = wait forever. */
  writeTimeoutMs: number;
  /** After we close our side, the peer has this long to close its side before the socket is destroyed; 0 = forever. */
  lingerTimeoutMs: number;
  /** Take at most this many connections per second off the accept queue; null = as fast as they come. */
  acceptRate: number | null;
  /**
   * Descriptors of the listening socket to accept on once a burst of connections comes: up to
   * this many accepts per turn of a busy event loop (accept-fanout.ts); 1 never widens. Not
   * used under acceptRate or in a cluster worker (its listener is the primary's).
   */
  acceptDescriptors: number;
  /** Requests parsed ahead of their responses on one connection before reading pauses. */
  maxPipelineDepth: number;
  /**
   * Stage timings: one request in this many is timed, besides every connection's first
   * (stage-timings.ts); 1 times every request. Counts of requests are exact either way.
   */
  stageSampleEvery: number;
  /** Graceful shutdown gives in-flight requests this long before closing what is left. */
  shutdownTimeoutMs: number;
  /** Bind with SO_REUSEPORT (Node 22.12+): one listening socket per process of a --reuse-port cluster. */
  reusePort: boolean;
  limits: ParserLimits;
}

/** When RLIMIT_NOFILE cannot be read (no /proc, or "unlimited"): nginx's 512 per worker, times eight. */
const FALLBACK_MAX_CONNECTIONS = 4096;

/**
 * The default connection cap, from this process's soft RLIMIT_NOFILE: every connection is one
 * descriptor, and a server that runs out of them fails at accept(2) with EMFILE and cannot
 * open a file, a database connection or a worker either (lab 4 shows it). So the cap keeps
 * a tenth of the descriptors (at least 32, at most half) for everything else: the listening
 * socket, stdio, the database pool, worker threads' event loops. Here (RLIMIT_NOFILE 20,000)
 * that is 18,000, above the 10,000 connections the knee lab drives, and lab 9 fills 70% of
 * the limit per process. Over the cap a client gets a 503 with Retry-After, not a reset.
 */
export function defaultMaxConnections(softLimit: number | 'unlimited' | null = readFdLimit(process.pid)?.soft ?? null): number {
  if (softLimit === null || softLimit === 'unlimited' || !Number.isFinite(softLimit)) return FALLBACK_MAX_CONNECTIONS;
  const headroom = Math.min(Math.max(32, Math.ceil(softLimit / 10)), Math.floor(softLimit / 2));
  return Math.max(1, softLimit - headroom);
}

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  host: '127.0.0.1',
  port: 3000,
  // The kernel caps it at net.core.somaxconn, 4096 by default since Linux 5.4 ("net:
  // increase SOMAXCONN to 4096": 128 was too small for bursts); Go's net.Listen passes
  // somaxconn itself, Node and nginx 511. Measured here with 10,000 closed-model users
  // connecting at once to /age: at 511 the SYN queue overflowed into syncookies, 254 requests
  // were reset and 4,179 were still waiting unaccepted when the run ended; at 4096 none
  // failed and every connection was accepted. A queued connection costs the kernel one
  // socket, which --max-connections (18,000 here) is sized to hold anyway; a dropped SYN costs
  // its client a 1 s retransmit, then 3 s. Lab 3 asks for a small backlog to show overflow.
  backlog: 4096,
  maxConnections: defaultMaxConnections(),
  // Tighter than node:http's 60 s because the lab shows slowloris; nginx's
  // client_header_timeout is 60 s too.
  headersTimeoutMs: 10_000,
  // node:http: 300 s. A 1 MiB body at a modest 35 KB/s still fits in 30 s.
  requestTimeoutMs: 30_000,
  // node:http's keepAliveTimeout.
  keepAliveTimeoutMs: 5_000,
  // nginx's proxy_read_timeout (60 s) for an upstream that does not answer. /work is at most
  // 1 s; only a handler stuck on something (a database that never answers) gets here.
  responseTimeoutMs: 60_000,
  // nginx's send_timeout: 60 s without the peer taking a byte. node:http has none by default
  // (server.timeout 0), which is how a client that never reads pins a connection forever.
  writeTimeoutMs: 60_000,
  // nginx's lingering_timeout: after our FIN, read and discard for 5 s so the peer sees our
  // last answer rather than a reset (RFC 9112 §9.6), then destroy. Without it a peer that
  // never closes keeps the socket in FIN-WAIT-2 and its descriptor open for ever (issue 14).
  lingerTimeoutMs: 5_000,
  acceptRate: null,
  // Eight accepts per turn of a busy loop instead of one, from the first burst on
  // (accept-fanout.ts); each extra descriptor costs an accept(2) that finds nothing when a
  // lone connection wakes them all.
  acceptDescriptors: 8,
  // Sixteen requests ahead: more than any pipelining client sends (undici's pipelining is 1
  // by default), and 16 x /work?ms=1000 already lets one connection queue 16 s of CPU.
  maxPipelineDepth: 16,
  stageSampleEvery: DEFAULT_STAGE_SAMPLE_EVERY,
  shutdownTimeoutMs: 10_000,
  reusePort: false,
  limits: DEFAULT_LIMITS,
};
