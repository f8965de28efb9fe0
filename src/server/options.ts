/**
 * Everything `socketlab serve` can tune about the socket layer, with the defaults a
 * reader can check against node:http's (keep-alive 5 s, like Node; headers 10 s, tighter
 * than Node's 60 s because the lab shows slowloris).
 */
import { DEFAULT_LIMITS, type ParserLimits } from '../http/request-parser.js';

export interface ServerOptions {
  host: string;
  port: number;
  /** The listen(2) backlog asked for; the kernel caps it at net.core.somaxconn. */
  backlog: number;
  /** Connections beyond this many open ones get a 503 and are closed; 0 = no limit. */
  maxConnections: number;
  /** A request head must arrive whole within this long of its first byte (slowloris). */
  headersTimeoutMs: number;
  /** The whole message (body included) must arrive within this long of its first byte. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Take at most this many connections per second off the accept queue; null = as fast as they come. */
  acceptRate: number | null;
  /** Requests parsed ahead of their responses on one connection before reading pauses. */
  maxPipelineDepth: number;
  /** Graceful shutdown gives in-flight requests this long before closing what is left. */
  shutdownTimeoutMs: number;
  limits: ParserLimits;
}

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  host: '127.0.0.1',
  port: 3000,
  backlog: 511,
  maxConnections: 0,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  acceptRate: null,
  maxPipelineDepth: 16,
  shutdownTimeoutMs: 10_000,
  limits: DEFAULT_LIMITS,
};
