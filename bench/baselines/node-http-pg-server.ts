/**
 * The database baseline: what most Node services look like. node:http serving /uuid/:id
 * from `pg.native` Pool(20) (pg's pool over the same libpq as socketlab), with the same
 * route validation and a named (prepared) statement, so the comparison measures the server
 * and the pool, not the query.
 *
 * Run: DATABASE_URL=postgresql://... node dist/bench/baselines/node-http-pg-server.js [--port P] [--host H]
 *      (BASELINE_POOL_SIZE overrides the pool size, 20 by default.)
 */
import http from 'node:http';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isRouteCall, matchRoute } from '../../src/app/routes.js';

const POOL_SIZE = Number(process.env.BASELINE_POOL_SIZE ?? 20);
const LOOKUP = { name: 'uuid', text: 'SELECT val FROM kv WHERE id = $1' } as const;

export function startNodeHttpPgServer(databaseUrl: string, port = 0, host = '127.0.0.1'): Promise<net.Server> {
  if (pg.native === null) throw new Error('pg.native is unavailable: pg-native could not load (apt-get install libpq-dev, then npm rebuild libpq)');
  const pool = new pg.native.Pool({ connectionString: databaseUrl, max: POOL_SIZE });
  // A pooled client whose server goes away emits 'error' on the pool; unhandled it would crash.
  pool.on('error', () => {});

  const send = (res: http.ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const call = matchRoute(req.method ?? 'GET', req.url ?? '/');
    if (!isRouteCall(call)) {
      send(res, call.status, typeof call.body === 'string' ? call.body : '');
      return;
    }
    if (call.route !== 'uuid') {
      send(res, 404, '{"error":"only /uuid/:id here"}');
      return;
    }
    pool.query<{ val: string }>({ ...LOOKUP, values: [call.id] }).then(
      (result) => {
        const row = result.rows[0];
        if (row === undefined) send(res, 404, `{"error":"no row with id ${call.id}"}`);
        else send(res, 200, `{"id":${call.id},"uuid":"${row.val}"}`);
      },
      (error: unknown) => send(res, 503, JSON.stringify({ error: 'database unavailable', reason: String((error as Error).message).split('\n')[0] })),
    );
  });
  server.keepAliveTimeout = 60_000;
  server.on('close', () => void pool.end());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '') {
    process.stderr.write('node-http-pg-server: set DATABASE_URL=postgresql://... (socketlab db start prints one)\n');
    process.exit(2);
  }
  const { runBaselineFromCli } = await import('./run-baseline.js');
  await runBaselineFromCli('node:http + pg.native', (port, host) => startNodeHttpPgServer(databaseUrl, port, host));
}
