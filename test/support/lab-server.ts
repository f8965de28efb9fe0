/**
 * An in-process LabServer on a free port, for tests that need a custom handler (slow,
 * out-of-order, large answers) or direct access to the server's counters.
 */
import { LabServer } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import type { RequestHandler } from '../../src/server/connection.js';
import { createLoopModel } from '../../src/models/loop.js';

export async function startLabServer(options: Partial<ServerOptions> = {}, handler?: RequestHandler): Promise<LabServer> {
  let server: LabServer | null = null;
  const model = createLoopModel({ uuidStore: null, stats: () => server?.stats() });
  server = new LabServer({ port: 0, ...options }, handler ?? model.handler);
  await server.listen();
  return server;
}

export function portOf(server: LabServer): number {
  return (server.address as { port: number }).port;
}
