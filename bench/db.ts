/**
 * /uuid end to end against the database's own ceiling, in one run on this machine:
 *
 *   1. pgbench, 100 clients, a custom script doing the same SELECT (`\set id random(1, 1000)`),
 *      simple and prepared protocol: what Postgres itself can serve here;
 *   2. the pool alone, in-process: socketlab's pool vs pg.native's Pool, 100 lookups in flight,
 *      to see what the client side costs without HTTP;
 *   3. node:http + pg.native Pool(20) (bench/baselines/node-http-pg-server.ts), its own process;
 *   4. socketlab serve --db URL --pool 20, its own process.
 * 3 and 4 are driven by wrk (a C load generator, so its cost is not JavaScript's) with 100
 * keep-alive connections asking /uuid/<random 1..1000>.
 *
 * Target (issue 5): socketlab >= 2x the node:http + pg.native baseline.
 * Every server and Postgres share this machine's cores: read the ratios, not the absolutes.
 *
 * Run: node dist/bench/db.js [--duration 5] [--connections 100] [--pool 20]
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPool, pgClientConfig, startEmbeddedCluster, type EmbeddedCluster } from '../src/db/index.js';
import { renderTable } from '../src/format/table.js';
import { startServeProcess, startServerProcess, type ServerProcess } from '../src/labs/serve-process.js';

const run = promisify(execFile);
const BASELINE = fileURLToPath(new URL('./baselines/node-http-pg-server.js', import.meta.url));

const { values } = parseArgs({ options: { duration: { type: 'string' }, connections: { type: 'string' }, pool: { type: 'string' } } });
const durationS = Number(values.duration ?? 5);
const connections = Number(values.connections ?? 100);
const poolSize = Number(values.pool ?? 20);

interface Row {
  name: string;
  perSec: number | null;
  unit: string;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number | null;
  note: string;
}

const rows: Row[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  say(`socketlab bench db: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const cluster = await startEmbeddedCluster({ rows: 1000, maxConnections: 300 });
  say(`PostgreSQL ${cluster.version} at ${cluster.url} (started in ${cluster.timings.copyMs + cluster.timings.startMs + cluster.timings.seedMs} ms)`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-bench-db-'));
  try {
    const truth = await readTruth(cluster.url);
    await runPgbench(cluster, workDir);
    await runPoolsInProcess(cluster.url, truth);
    const script = writeWrkScript(workDir);
    const wrk = await hasWrk();
    if (!wrk) say('wrk is not installed: install it with `apt-get install -y wrk` to measure the HTTP servers');
    await measureServer('node:http + pg.native Pool', () => startServerProcess('node:http + pg.native', BASELINE, [], { env: { DATABASE_URL: cluster.url, BASELINE_POOL_SIZE: String(poolSize), PGPASSFILE: cluster.passfile } }), truth, script, wrk);
    await measureServer(`socketlab serve --pool ${poolSize}`, () => startServeProcess(['--db', cluster.url, '--pool', String(poolSize)]), truth, script, wrk);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
    await cluster.stop();
  }
  report();
}

async function readTruth(url: string): Promise<Map<number, string>> {
  const client = new pg.Client(pgClientConfig(url));
  await client.connect();
  try {
    const result = await client.query<{ id: number; val: string }>('SELECT id, val::text AS val FROM kv');
    return new Map(result.rows.map((r) => [r.id, r.val]));
  } finally {
    await client.end();
  }
}

async function runPgbench(cluster: EmbeddedCluster, workDir: string): Promise<void> {
  const pgbench = cluster.binaries.pgbench;
  if (pgbench === null) {
    rows.push({ name: 'pgbench', perSec: null, unit: 'tx/s', p50Ms: null, p99Ms: null, errors: null, note: 'skipped: pgbench not found (Debian: postgresql-contrib or postgresql-client)' });
    return;
  }
  const script = path.join(workDir, 'uuid.sql');
  fs.writeFileSync(script, '\\set id random(1, 1000)\nSELECT val FROM kv WHERE id = :id;\n');
  for (const mode of ['simple', 'prepared'] as const) {
    const args = ['-n', '-c', String(connections), '-j', '2', '-T', String(durationS), '-M', mode, '-f', script, '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres'];
    const { stdout } = await run(pgbench, args, { timeout: (durationS + 60) * 1000, env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGPASSFILE: cluster.passfile } });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1]);
    const latency = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    rows.push({ name: `pgbench -M ${mode}`, perSec: tps, unit: 'tx/s', p50Ms: null, p99Ms: null, errors: failed, note: `avg latency ${latency} ms, ${connections} clients, -j 2` });
    say(`  pgbench -M ${mode}: ${Math.round(tps)} tx/s`);
  }
}

/** 100 lookups always in flight for `durationS`/2 seconds; the pools share the process with nothing else. */
async function runPoolsInProcess(url: string, truth: Map<number, string>): Promise<void> {
  const seconds = Math.max(2, durationS / 2);
  // CPU per lookup is this process's own cost (the client side), steadier than throughput
  // on a machine whose cores Postgres and other jobs share.
  const drive = async (lookup: (id: number) => Promise<string | null>): Promise<{ perSec: number; wrong: number; cpuUs: number }> => {
    let count = 0;
    let wrong = 0;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const id = 1 + Math.floor(Math.random() * 1000);
          if ((await lookup(id)) !== truth.get(id)) wrong += 1;
          count += 1;
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    return { perSec: count / ((performance.now() - started) / 1000), wrong, cpuUs: (used.user + used.system) / count };
  };

  const ours = createPool({ url, size: poolSize });
  await ours.prewarm();
  await drive((id) => ours.lookup(id)); // warm-up: JIT and the plans of every connection
  ours.resetStats();
  const oursResult = await drive((id) => ours.lookup(id));
  const stats = ours.stats();
  await ours.close();
  rows.push({
    name: `socketlab pool (${poolSize}), in-process`,
    perSec: oursResult.perSec,
    unit: 'lookups/s',
    p50Ms: stats.queryMs.p50Ms,
    p99Ms: stats.queryMs.p99Ms,
    errors: oursResult.wrong + stats.errors,
    note: `${oursResult.cpuUs.toFixed(1)} µs CPU/lookup; p50/p99 are query time; wait p50 ${stats.waitMs.p50Ms} ms, p99 ${stats.waitMs.p99Ms} ms`,
  });
  say(`  socketlab pool in-process: ${Math.round(oursResult.perSec)} lookups/s, ${oursResult.cpuUs.toFixed(1)} µs CPU per lookup`);

  if (pg.native === null) return;
  const theirs = new pg.native.Pool({ connectionString: url, max: poolSize });
  const lookup = async (id: number): Promise<string | null> => (await theirs.query<{ val: string }>({ name: 'uuid', text: 'SELECT val FROM kv WHERE id = $1', values: [id] })).rows[0]?.val ?? null;
  await drive(lookup);
  const theirsResult = await drive(lookup);
  await theirs.end();
  rows.push({
    name: `pg.native Pool (${poolSize}), in-process`,
    perSec: theirsResult.perSec,
    unit: 'lookups/s',
    p50Ms: null,
    p99Ms: null,
    errors: theirsResult.wrong,
    note: `${theirsResult.cpuUs.toFixed(1)} µs CPU/lookup; pg.Pool cannot tell wait from query time`,
  });
  say(`  pg.native Pool in-process: ${Math.round(theirsResult.perSec)} lookups/s, ${theirsResult.cpuUs.toFixed(1)} µs CPU per lookup`);
}

function writeWrkScript(workDir: string): string {
  const file = path.join(workDir, 'uuid.lua');
  fs.writeFileSync(file, 'math.randomseed(os.time())\nrequest = function()\n  return wrk.format("GET", "/uuid/" .. math.random(1, 1000))\nend\n');
  return file;
}

async function hasWrk(): Promise<boolean> {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (error) {
    // wrk --version prints its version and exits 1.
    return String((error as { stdout?: string }).stdout ?? '').includes('wrk');
  }
}

interface WrkNumbers {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function runWrkScript(url: string, script: string, seconds: number): Promise<WrkNumbers> {
  const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', '-s', script, url], { timeout: (seconds + 30) * 1000 });
  const toMs = (text: string | undefined): number => {
    const match = /([\d.]+)(us|ms|s)/.exec(text ?? '');
    if (match === null) return Number.NaN;
    return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'] ?? 1);
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return {
    perSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
    p50Ms: toMs(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1]),
    p99Ms: toMs(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1]),
    errors: non2xx + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)),
  };
}

async function measureServer(name: string, start: () => Promise<ServerProcess>, truth: Map<number, string>, script: string, wrk: boolean): Promise<void> {
  if (!wrk) {
    rows.push({ name, perSec: null, unit: 'req/s', p50Ms: null, p99Ms: null, errors: null, note: 'skipped: wrk not installed' });
    return;
  }
  let server: ServerProcess;
  try {
    server = await start();
  } catch (error) {
    const text = String((error as Error).message);
    const stderr = text.split('stderr:')[1]?.trim().split('\n')[0] ?? text.split('\n')[0];
    const flagMissing = /--db|--pool|Unknown option/.test(stderr ?? '');
    rows.push({ name, perSec: null, unit: 'req/s', p50Ms: null, p99Ms: null, errors: null, note: `skipped: ${flagMissing ? 'serve does not take --db/--pool yet' : 'did not start'} (${stderr})` });
    say(`  ${name}: skipped, ${stderr}`);
    return;
  }
  try {
    // Correct answers first: a fast wrong server is no baseline.
    for (const id of [1, 42, 1000]) {
      const response = await fetch(`${server.url}/uuid/${id}`);
      const body = (await response.json()) as { id?: number; uuid?: string };
      if (response.status !== 200 || body.uuid !== truth.get(id) || body.id !== id) throw new Error(`${name} answered /uuid/${id} with ${response.status} ${JSON.stringify(body)}`);
    }
    await runWrkScript(server.url, script, 1); // warm-up: JIT, pool connections, plans
    const result = await runWrkScript(server.url, script, durationS);
    rows.push({ name, perSec: result.perSec, unit: 'req/s', p50Ms: result.p50Ms, p99Ms: result.p99Ms, errors: result.errors, note: `wrk -t1 -c${connections}, keep-alive` });
    say(`  ${name}: ${Math.round(result.perSec)} req/s`);
    const stats = await fetch(`${server.url}/stats`).then((r) => (r.ok ? r.json() : null)).catch(() => null) as { db?: unknown } | null;
    if (stats !== null && typeof stats === 'object' && 'db' in stats) say(`    /stats db: ${JSON.stringify(stats.db)}`);
  } finally {
    await server.stop();
  }
}

function report(): void {
  say('');
  say(
    renderTable(
      ['what', 'per second', 'unit', 'p50 ms', 'p99 ms', 'errors', 'note'],
      rows.map((r) => [r.name, r.perSec === null ? null : Math.round(r.perSec), r.unit, r.p50Ms, r.p99Ms, r.errors, r.note]),
    ),
  );
  const find = (prefix: string): number | null => rows.find((r) => r.name.startsWith(prefix))?.perSec ?? null;
  const ours = find('socketlab serve');
  const baseline = find('node:http + pg.native');
  const simple = find('pgbench -M simple');
  const prepared = find('pgbench -M prepared');
  const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
  say('');
  say(`node:http + pg.native / pgbench simple   = ${ratio(baseline, simple)}`);
  say(`node:http + pg.native / pgbench prepared = ${ratio(baseline, prepared)}`);
  say(`socketlab pool / pg.native Pool (in-process) = ${ratio(find('socketlab pool'), find('pg.native Pool'))}`);
  if (ours === null) {
    say('socketlab serve / node:http + pg.native  = n/a (socketlab serve was skipped, see above)');
  } else {
    const value = baseline === null ? 0 : ours / baseline;
    say(`socketlab serve / node:http + pg.native  = ${ratio(ours, baseline)} (target >= 2x): ${value >= 2 ? 'met' : 'NOT met'}`);
    say(`socketlab serve / pgbench simple         = ${ratio(ours, simple)}`);
  }
}

await main();
