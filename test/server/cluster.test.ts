import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServe } from '../support/cli.js';
import { connectRaw } from '../support/raw-client.js';

async function statsPid(port: number): Promise<number> {
  const c = await connectRaw(port);
  await c.write('GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const text = await c.closed;
  return (JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { pid: number }).pid;
}

test('--cluster 3: one listening line, connections spread over the workers, SIGTERM stops them all', async () => {
  const serve = await startServe(['--cluster', '3']);
  const workers = (/workers=([\d,]+)/.exec(serve.banner)?.[1] ?? '').split(',').map(Number);
  assert.equal(workers.length, 3, serve.banner);
  const seen = new Set<number>();
  for (let i = 0; i < 9; i++) seen.add(await statsPid(serve.port));
  // Round-robin: nine connections reach all three workers, and only them.
  assert.deepEqual([...seen].sort(), [...workers].sort());
  assert.equal((await serve.stop()).code, 0);
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still running`);
});

test('--cluster cannot be combined with --accept-rate', async () => {
  const { runCli } = await import('../support/cli.js');
  const result = await runCli(['serve', '--cluster', '2', '--accept-rate', '10/s']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /cannot be combined with --cluster/);
});
