/**
 * Servers under benchmark run as processes of their own (src/labs/serve-process.ts), so
 * the load generator never shares their event loop or their core.
 */
import { fileURLToPath } from 'node:url';
import { startServeProcess, startServerProcess, type ServerProcess } from '../../src/labs/serve-process.js';

export const NAIVE_SERVER = fileURLToPath(new URL('../baselines/naive-server.js', import.meta.url));
export const NODE_HTTP_SERVER = fileURLToPath(new URL('../baselines/node-http-server.js', import.meta.url));

export { startServerProcess, type ServerProcess };

export function startSocketlab(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  return startServeProcess(args, { env });
}

export function startNaive(): Promise<ServerProcess> {
  return startServerProcess('naive node:net', NAIVE_SERVER, []);
}

export function startNodeHttp(): Promise<ServerProcess> {
  return startServerProcess('node:http', NODE_HTTP_SERVER, []);
}
