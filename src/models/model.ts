/**
 * What a concurrency model is to the server: a RequestHandler, its own numbers for
 * /stats, and a way to stop. The server owns sockets and parsing in every model; a model
 * decides only where the handler runs (ARCHITECTURE.md, models/).
 */
import type { RequestHandler } from '../server/connection.js';
import type { HttpResponse } from '../http/response-writer.js';

export const MODEL = {
  /** Model B: everything on the one event loop. */
  LOOP: 'loop',
  /** Model C: handlers in a piscina pool of worker threads. */
  POOL: 'pool',
  /** Model A: a thread of its own for every connection, blocking. */
  THREAD: 'thread',
} as const;

export type ModelName = (typeof MODEL)[keyof typeof MODEL];

export interface ConcurrencyModel {
  readonly name: ModelName;
  readonly handler: RequestHandler;
  /** The thread model starts a thread per connection here; a response refuses the connection. */
  onConnectionOpened?(connectionId: number): HttpResponse | null;
  onConnectionClosed?(connectionId: number): void;
  /** Model-specific figures for /stats (queue, threads, utilisation). */
  stats(): Record<string, unknown>;
  /** Stop every thread the model started. */
  close(): Promise<void>;
}
