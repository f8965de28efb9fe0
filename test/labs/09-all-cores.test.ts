import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runLabQuick } from './run-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function namespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.startsWith('socketlab-c100k-'));
  } catch {
    return [];
  }
}

interface CompareRow {
  route: string;
  processes: number;
  rps: number;
  failed: number;
  workerCpuPercent: number[];
}

test('all-cores: a cluster spreads the work, C10K passes the seed rule, C100K (quick: 5,000) is held and weighed', { timeout: 90_000 }, async () => {
  const before = namespaces();
  const { result, cli } = await runLabQuick('all-cores', { timeoutMs: 85_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;

  // One process against the cluster: both served, nothing failed, and every worker of the
  // cluster did part of the CPU-bound work (whether that made it faster depends on what else
  // the machine runs; the lab's reading says which).
  assert.ok((f.singleRps as number) > 0 && (f.clusterRps as number) > 0, `single ${String(f.singleRps)}, cluster ${String(f.clusterRps)}`);
  const rows = result.steps[0]?.measurements?.rows as CompareRow[];
  assert.equal(rows.length, 4);
  for (const row of rows) assert.equal(row.failed, 0, `${row.route} with ${row.processes} process(es)`);
  const clusterWork = rows.find((r) => r.route === f.clusterRoute && r.processes > 1) as CompareRow;
  assert.equal(clusterWork.workerCpuPercent.length, f.clusterWorkers);
  for (const cpu of clusterWork.workerCpuPercent) assert.ok(cpu >= 1, `each worker computed: ${clusterWork.workerCpuPercent.join(', ')}% of a core`);

  // SO_REUSEPORT is skipped on this Node, with the reason.
  const reusePort = f.reusePort as { available: boolean; skipped: string };
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const hasReusePort = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  assert.equal(reusePort.available, hasReusePort);
  assert.match(reusePort.skipped, hasReusePort ? /--reuse-port/ : /22\.12/);
  assert.ok(result.steps.some((s) => s.status === 'skipped' && s.reason === reusePort.skipped));

  // C10K (quick: 1,000 users): the seed's rule, and every user on a connection of its own.
  const c10k = f.c10k as { vus: number; failures: number; p90Ms: number; passed: boolean; workerConnections: number[] };
  assert.equal(c10k.vus, 1000);
  assert.equal(c10k.failures, 0);
  assert.ok(c10k.p90Ms < 500, `p90 ${c10k.p90Ms} ms`);
  assert.equal(c10k.passed, true);
  const perWorker = c10k.workerConnections;
  assert.ok(perWorker.every((n) => n > 0), `connections per worker: ${perWorker.join(', ')}`);
  assert.ok(perWorker.reduce((a, b) => a + b, 0) >= 1000 * 0.99, `connections across the workers: ${perWorker.join(' + ')}`);

  // C100K (quick: 5,000 over 2 workers from 2 client processes).
  const c = f.c100k as {
    target: number;
    held: number;
    bytesPerConn: number;
    workers: number;
    heldPerWorker: number[];
    maxWorkerFds: number;
    maxClientFds: number | null;
    fdLimit: number;
    loadProcesses: number;
    sourceAddresses: number;
    censusEstablished: number | null;
    clientFailed: number;
    kernelBytesPerConn: number | null;
  };
  assert.equal(c.target, 5000);
  assert.ok(c.held >= c.target * 0.99, `held ${c.held} of ${c.target}`);
  assert.equal(c.heldPerWorker.length, c.workers);
  assert.ok(c.heldPerWorker.every((n) => n > 0), `per worker: ${c.heldPerWorker.join(', ')}`);
  assert.ok(c.censusEstablished === null || c.censusEstablished >= c.held * 0.99, `census ${String(c.censusEstablished)} vs held ${c.held}`);
  assert.equal(c.clientFailed, 0);
  assert.ok(c.loadProcesses >= 2 && c.sourceAddresses >= 2);
  assert.ok(c.maxWorkerFds < c.fdLimit, `busiest worker ${c.maxWorkerFds} of ${c.fdLimit}`);
  if (c.maxClientFds !== null) assert.ok(c.maxClientFds < c.fdLimit);
  // A held idle connection costs the server some KiB: more than nothing, far less than a thread's stack.
  assert.ok(c.bytesPerConn > 500 && c.bytesPerConn < 200_000, `bytes per connection: ${c.bytesPerConn}`);
  if (isRoot) assert.ok((c.kernelBytesPerConn ?? 0) > 1000, `kernel bytes per connection: ${String(c.kernelBytesPerConn)}`);

  assert.deepEqual(namespaces(), before, 'the C100K namespace is gone');
});
