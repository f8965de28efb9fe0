/**
 * The framework baseline: node:http (llhttp underneath) serving /age with the same route
 * code as socketlab, so the comparison measures the server, not the handler.
 *
 * Run: node dist/bench/baselines/node-http-server.js [--port P] [--host H]
 */
import http from 'node:http';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { isRouteCall, matchRoute } from '../../src/app/routes.js';
import { respondCompute } from '../../src/app/handlers.js';

export function startNodeHttpServer(port = 0, host = '127.0.0.1'): Promise<net.Server> {
  const server = http.createServer((req, res) => {
    const call = matchRoute(req.method ?? 'GET', req.url ?? '/');
    const response = isRouteCall(call) ? respondCompute(call) : call;
    if (response === null) {
      res.writeHead(404).end();
      return;
    }
    const body = typeof response.body === 'string' ? response.body : (response.body ?? '');
    res.writeHead(response.status, {
      'Content-Type': response.contentType ?? 'text/plain',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { runBaselineFromCli } = await import('./run-baseline.js');
  await runBaselineFromCli('node:http', startNodeHttpServer);
}
