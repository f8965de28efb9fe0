/**
 * Runs a baseline server as its own process, the way bench/ programs start them: prints
 * the same `listening on http://H:P pid=N` line as `socketlab serve` and exits 0 on
 * SIGTERM or SIGINT.
 */
import type net from 'node:net';
import { parseArgs } from 'node:util';
import { LISTENING_PREFIX } from '../../src/program.js';

export async function runBaselineFromCli(name: string, start: (port: number, host: string) => Promise<net.Server>): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' } } });
  const server = await start(Number(values.port ?? 0), values.host ?? '127.0.0.1');
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`${LISTENING_PREFIX}${address.address}:${address.port} pid=${process.pid} baseline=${name}\n`);
  const stop = (): void => {
    server.close(() => process.exit(0));
    // Keep-alive sockets hold close() open; a baseline has no requests worth draining.
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
