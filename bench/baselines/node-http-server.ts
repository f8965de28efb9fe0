/**
 * The framework baseline: node:http (llhttp underneath) serving /age with the same route
 * code as socketlab, so the comparison measures the server, not the handler.
 *
 * Run: node dist/bench/baselines/node-http-server.js [--port P] [--host H]
 */
import http from 'node:http';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { answerCall, dispatch } from '../../src/app/dispatch.js';
import { isRouteCall } from '../../src/app/routes.js';

/** This baseline keeps no counters: /stats answers an empty object. */
const NO_STATS = (): Record<string, never> => ({});

export function startNodeHttpServer(port = 0, host = '127.0.0.1'): Promise<net.Server> {
  const server = http.createServer((req, res) => {
    const call = dispatch(req.method ?? 'GET', req.url ?? '/', NO_STATS);
    // No database here: /uuid answers 503, as socketlab serve does without --db.
    const response = isRouteCall(call) ? answerCall(call, null) : call;
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
