/**
 * /uuid end to end against the database's own ceiling, in one run on this machine:
 *
 *   1. pgbench, 100 clients, a custom script doing the same SELECT (`\set id random(1, 1000)`),
 *      simple and prepared protocol: what Postgres itself can serve here;
 *   2. the pool alone, in-process: socketlab's pool (one statement per lookup, and batch mode)
 *      vs pg.native's Pool, 100 lookups in flight, to see what the client side costs without HTTP;
 *   3. node:http + pg.native Pool(20) (bench/baselines/node-http-pg-server.ts), its own process;
 *   4. socketlab serve --db URL --pool 20, its own process, one statement per lookup;
 *   5. the same with --pool-batch (pool.ts, batch mode): lookups that queue share a statement.
 * 3 to 5 are driven by wrk (a C load generator, so its cost is not JavaScript's) with 100
 * keep-alive connections asking /uuid/<random 1..1000>; pgbench -M prepared runs in the same
 * rounds, interleaved with them, at the same client count, so every ratio is same-run.
 *
 * Targets (issue 16): socketlab >= 2x the node:http + pg.native baseline, and >= 0.8x
 * pgbench -M prepared at the same client count.
 * Every server and Postgres share this machine's cores: read the ratios, not the absolutes.
 *
 * Run: node dist/bench/db.js [--duration 5] [--connections 100] [--pool 20] [--batch 256] [--rounds 3] [--json FILE]
 * --json FILE writes every row, every interleaved round and the ratios (bench/support/json-output.ts).
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
import { cpuMsOf, loadAverage } from './support/cpu.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';
import { wrkVersion } from './support/wrk.js';

const run = promisify(execFile);
const BASELINE = fileURLToPath(new URL('./baselines/node-http-pg-server.js', import.meta.url));

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    pool: { type: 'string' },
    batch: { type: 'string' },
    rounds: { type: 'string' },
    ...JSON_OUTPUT_FLAGS,
  },
});
const benchRun = beginBenchRun('db', values);
const durationS = Number(values.duration ?? 5);
const connections = Number(values.connections ?? 100);
const poolSize = Number(values.pool ?? 20);
const batchSize = Number(values.batch ?? 256);
const rounds = Number(values.rounds ?? 3);
const TARGET = { VS_NODE_HTTP: 2, VS_PGBENCH: 0.8 } as const;

interface Row {
  name: string;
  perSec: number | null;
  unit: string;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number | null;
  note: string;
  /** Every round's per-second figure (the rounds-measured rows). */
  runs?: (number | null)[];
  /** CPU per lookup or request: this process's (in-process pools) or the server's; null where not measured. */
  cpuUs?: number | null;
  /** The server's pool, from its /stats: mean wait for a connection and mean query time. */
  pool?: { waitAvgMs: number; queryAvgMs: number } | null;
}

const rows: Row[] = [];
/** Every measured run of the interleaved sides, in the order they ran. */
const roundRows: (Row & { round: number })[] = [];
let postgresVersion: string | null = null;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  say(`socketlab bench db: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, load average ${loadAverage()}`);
  const cluster = await startEmbeddedCluster({ rows: 1000, maxConnections: 300 });
  postgresVersion = cluster.version;
  say(`PostgreSQL ${cluster.version} at ${cluster.url} (started in ${cluster.timings.copyMs + cluster.timings.startMs + cluster.timings.seedMs} ms)`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-bench-db-'));
  try {
    const truth = await readTruth(cluster.url);
    const pgbenchScript = path.join(workDir, 'uuid.sql');
    fs.writeFileSync(pgbenchScript, '\\set id random(1, 1000)\nSELECT val FROM kv WHERE id = :id;\n');
    const simple = await runPgbench(cluster, pgbenchScript, 'simple');
    if (simple !== null) rows.push(simple);
    await runPoolsInProcess(cluster.url, cluster.passfile, truth);
    const script = writeWrkScript(workDir);
    const wrk = await hasWrk();
    if (!wrk) say('wrk is not installed: install it with `apt-get install -y wrk` to measure the HTTP servers');
    // pgbench -M prepared and the three servers, in the same interleaved rounds.
    const sides: { name: string; measure: () => Promise<Row | null> }[] = [
      { name: 'pgbench -M prepared', measure: () => runPgbench(cluster, pgbenchScript, 'prepared') },
      {
        name: 'node:http + pg.native Pool',
        measure: () =>
          measureServer(
            'node:http + pg.native Pool',
            () =>
              startServerProcess('node:http + pg.native', BASELINE, [], { env: { DATABASE_URL: cluster.url, BASELINE_POOL_SIZE: String(poolSize), PGPASSFILE: cluster.passfile } }),
            truth,
            script,
            wrk,
          ),
      },
      {
        name: `socketlab serve --pool ${poolSize} --pool-batch off`,
        measure: () =>
          measureServer(
            `socketlab serve --pool ${poolSize} --pool-batch off`,
            () => startServeProcess(['--db', cluster.url, '--pool', String(poolSize), '--pool-batch', 'off']),
            truth,
            script,
            wrk,
          ),
      },
      {
        name: `socketlab serve --pool ${poolSize} --pool-batch ${batchSize}`,
        measure: () =>
          measureServer(
            `socketlab serve --pool ${poolSize} --pool-batch ${batchSize}`,
            () => startServeProcess(['--db', cluster.url, '--pool', String(poolSize), '--pool-batch', String(batchSize)]),
            truth,
            script,
            wrk,
          ),
      },
    ];
    const measured = new Map<string, Row[]>();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      say(`round ${round + 1} of ${rounds} (load average ${loadAverage()})`);
      for (const side of order) {
        const row = await side.measure();
        if (row !== null) {
          measured.set(side.name, [...(measured.get(side.name) ?? []), row]);
          roundRows.push({ ...row, round: round + 1 });
        }
      }
    }
    for (const side of sides) {
      const list = measured.get(side.name) ?? [];
      if (list.length === 0) continue;
      const byRate = [...list].sort((a, b) => (a.perSec ?? 0) - (b.perSec ?? 0));
      const mid = byRate[Math.floor(byRate.length / 2)] as Row;
      rows.push({ ...mid, runs: list.map((r) => (r.perSec === null ? null : Math.round(r.perSec))), note: `${mid.note}; median of ${list.length} interleaved rounds` });
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
    await cluster.stop();
  }
  const ratios = report();
  writeBenchJson(
    values.json,
    benchRun,
    { quick: durationS < 5 || rounds < 3, versions: { postgres: postgresVersion, pgbench: postgresVersion, wrk: await wrkVersion() } },
    { durationS, connections, poolSize, batchSize, rounds, rows, roundRows, ratios, targets: TARGET },
  );
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

async function runPgbench(cluster: EmbeddedCluster, script: string, mode: 'simple' | 'prepared'): Promise<Row | null> {
  const pgbench = cluster.binaries.pgbench;
  if (pgbench === null) {
    if (mode === 'simple') say('pgbench not found (Debian: postgresql-contrib or postgresql-client): its rows are skipped');
    return null;
  }
  const args = [
    '-n',
    '-c',
    String(connections),
    '-j',
    '2',
    '-T',
    String(durationS),
    '-M',
    mode,
    '-f',
    script,
    '-h',
    '127.0.0.1',
    '-p',
    String(cluster.port),
    '-U',
    'postgres',
    'postgres',
  ];
  const { stdout } = await run(pgbench, args, { timeout: (durationS + 60) * 1000, env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGPASSFILE: cluster.passfile } });
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latency = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
  if (!Number.isFinite(tps)) {
    // pgbench prints no tps when no transaction finished: on a busy machine its clients'
    // SCRAM connects can take the whole of a short -T (seen with --duration 1).
    const processed = /number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? '?';
    say(`  pgbench -M ${mode}: no tps (${processed} transactions in ${durationS} s): use a longer --duration`);
    return {
      name: `pgbench -M ${mode}`,
      perSec: null,
      unit: 'tx/s',
      p50Ms: null,
      p99Ms: null,
      errors: failed,
      note: `no tps: ${processed} transactions in ${durationS} s, ${connections} clients, -j 2`,
    };
  }
  say(`  pgbench -M ${mode}: ${Math.round(tps)} tx/s`);
  return { name: `pgbench -M ${mode}`, perSec: tps, unit: 'tx/s', p50Ms: null, p99Ms: null, errors: failed, note: `avg latency ${latency} ms, ${connections} clients, -j 2` };
}

/** 100 lookups always in flight for `durationS`/2 seconds; the pools share the process with nothing else. */
async function runPoolsInProcess(url: string, passfile: string, truth: Map<number, string>): Promise<void> {
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

  for (const batch of [null, batchSize]) {
    const ours = createPool({ url, size: poolSize, batch });
    await ours.prewarm();
    await drive((id) => ours.lookup(id)); // warm-up: JIT and the plans of every connection
    ours.resetStats();
    const oursResult = await drive((id) => ours.lookup(id));
    const stats = ours.stats();
    await ours.close();
    const name = `socketlab pool (${poolSize}${batch === null ? '' : `, batch ${batch}`}), in-process`;
    const ids =
      stats.batch === null ? '' : `; ids per statement mean ${stats.batch.size.mean}, p50 ${stats.batch.size.p50}, p90 ${stats.batch.size.p90}, max ${stats.batch.size.max}`;
    rows.push({
      name,
      perSec: oursResult.perSec,
      unit: 'lookups/s',
      p50Ms: stats.queryMs.p50Ms,
      p99Ms: stats.queryMs.p99Ms,
      errors: oursResult.wrong + stats.errors,
      cpuUs: Number(oursResult.cpuUs.toFixed(1)),
      note: `${oursResult.cpuUs.toFixed(1)} µs CPU/lookup; p50/p99 are query time; wait p50 ${stats.waitMs.p50Ms} ms, p99 ${stats.waitMs.p99Ms} ms${ids}`,
    });
    say(`  ${name}: ${Math.round(oursResult.perSec)} lookups/s, ${oursResult.cpuUs.toFixed(1)} µs CPU per lookup`);
  }

  if (pg.native === null) return;
  // pg parses the connection string itself and drops libpq's passfile= parameter; libpq still
  // reads PGPASSFILE (the embedded cluster has a password of its own).
  process.env.PGPASSFILE = passfile;
  const theirs = new pg.native.Pool({ connectionString: url, max: poolSize });
  const lookup = async (id: number): Promise<string | null> =>
    (await theirs.query<{ val: string }>({ name: 'uuid', text: 'SELECT val FROM kv WHERE id = $1', values: [id] })).rows[0]?.val ?? null;
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
    cpuUs: Number(theirsResult.cpuUs.toFixed(1)),
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

/** One run of one HTTP server under wrk: its row, or null (after saying why) when it cannot run. */
async function measureServer(name: string, start: () => Promise<ServerProcess>, truth: Map<number, string>, script: string, wrk: boolean): Promise<Row | null> {
  if (!wrk) return { name, perSec: null, unit: 'req/s', p50Ms: null, p99Ms: null, errors: null, note: 'skipped: wrk not installed' };
  let server: ServerProcess;
  try {
    server = await start();
  } catch (error) {
    const text = String((error as Error).message);
    const stderr = text.split('stderr:')[1]?.trim().split('\n')[0] ?? text.split('\n')[0];
    const flagMissing = /--db|--pool|Unknown option/.test(stderr ?? '');
    say(`  ${name}: skipped, ${stderr}`);
    return {
      name,
      perSec: null,
      unit: 'req/s',
      p50Ms: null,
      p99Ms: null,
      errors: null,
      note: `skipped: ${flagMissing ? 'serve does not take --db/--pool yet' : 'did not start'} (${stderr})`,
    };
  }
  try {
    // Correct answers first: a fast wrong server is no baseline.
    for (const id of [1, 42, 1000]) {
      const response = await fetch(`${server.url}/uuid/${id}`);
      const body = (await response.json()) as { id?: number; uuid?: string };
      if (response.status !== 200 || body.uuid !== truth.get(id) || body.id !== id) throw new Error(`${name} answered /uuid/${id} with ${response.status} ${JSON.stringify(body)}`);
    }
    await runWrkScript(server.url, script, 1); // warm-up: JIT, pool connections, plans
    const before = cpuMsOf(server.pid);
    const result = await runWrkScript(server.url, script, durationS);
    const after = cpuMsOf(server.pid);
    const cpuUs = before === null || after === null || result.perSec === 0 ? null : ((after - before) * 1000) / (result.perSec * durationS);
    const stats = (await fetch(`${server.url}/stats`)
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null)) as { db?: DbFigures | null } | null;
    const db = stats?.db ?? null;
    const batch = db?.batch === null || db?.batch === undefined ? '' : `; ids per statement mean ${db.batch.size.mean}, p90 ${db.batch.size.p90}, max ${db.batch.size.max}`;
    const pool = db === null ? '' : `; pool wait avg ${db.waitMs.avgMs} ms, query avg ${db.queryMs.avgMs} ms${batch}`;
    say(`  ${name}: ${Math.round(result.perSec)} req/s${cpuUs === null ? '' : `, ${cpuUs.toFixed(1)} µs server CPU/req`}${pool}`);
    return {
      name,
      perSec: result.perSec,
      unit: 'req/s',
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      errors: result.errors,
      cpuUs: cpuUs === null ? null : Number(cpuUs.toFixed(1)),
      pool: db === null ? null : { waitAvgMs: db.waitMs.avgMs, queryAvgMs: db.queryMs.avgMs },
      note: `wrk -t1 -c${connections}, keep-alive${cpuUs === null ? '' : `; ${cpuUs.toFixed(1)} µs server CPU/req`}${pool}`,
    };
  } finally {
    await server.stop();
  }
}

/** What a server's /stats says about its pool (socketlab serve only). */
interface DbFigures {
  waitMs: { avgMs: number };
  queryMs: { avgMs: number };
  batch: { size: { mean: number; p90: number; max: number } } | null;
}

/** The ratios printed under the table, by name; null where a side did not run. */
type DbRatios = Record<string, number | null>;

function report(): DbRatios {
  say('');
  say(
    renderTable(
      ['what', 'per second', 'unit', 'p50 ms', 'p99 ms', 'errors', 'note'],
      rows.map((r) => [
        r.name,
        r.perSec === null ? null : Math.round(r.perSec),
        r.unit,
        r.p50Ms,
        r.p99Ms,
        r.errors,
        r.runs === undefined ? r.note : `${r.note} (${r.runs.map((v) => v ?? '-').join(', ')})`,
      ]),
    ),
  );
  const find = (name: string): number | null => rows.find((r) => r.name === name)?.perSec ?? null;
  const single = find(`socketlab serve --pool ${poolSize} --pool-batch off`);
  const batched = find(`socketlab serve --pool ${poolSize} --pool-batch ${batchSize}`);
  const baseline = find('node:http + pg.native Pool');
  const simple = find('pgbench -M simple');
  const prepared = find('pgbench -M prepared');
  const ratios: DbRatios = {};
  const value = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : Number((a / b).toFixed(2)));
  const ratio = (a: number | null, b: number | null): string => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
  ratios.nodeHttpOverPgbenchPrepared = value(baseline, prepared);
  ratios.poolOverPgNativeInProcess = value(find(`socketlab pool (${poolSize}), in-process`), find(`pg.native Pool (${poolSize}), in-process`));
  ratios.batchOverSingleInProcess = value(find(`socketlab pool (${poolSize}, batch ${batchSize}), in-process`), find(`socketlab pool (${poolSize}), in-process`));
  ratios.serveOverNodeHttp = value(single, baseline);
  ratios.serveOverPgbenchPrepared = value(single, prepared);
  ratios.serveOverPgbenchSimple = value(single, simple);
  ratios.serveBatchOverNodeHttp = value(batched, baseline);
  ratios.serveBatchOverPgbenchPrepared = value(batched, prepared);
  ratios.serveBatchOverPgbenchSimple = value(batched, simple);
  const verdict = (a: number | null, b: number | null, target: number): string => (a === null || b === null || b === 0 ? '' : a / b >= target ? ': met' : ': NOT met');
  say('');
  say(`load average at the end: ${loadAverage()}`);
  say(`node:http + pg.native / pgbench prepared = ${ratio(baseline, prepared)}`);
  say(`socketlab pool / pg.native Pool (in-process) = ${ratio(find(`socketlab pool (${poolSize}), in-process`), find(`pg.native Pool (${poolSize}), in-process`))}`);
  say(
    `socketlab pool batch ${batchSize} / one statement per lookup (in-process) = ${ratio(find(`socketlab pool (${poolSize}, batch ${batchSize}), in-process`), find(`socketlab pool (${poolSize}), in-process`))}`,
  );
  for (const [label, ours] of [
    [`socketlab serve --pool ${poolSize} --pool-batch off`, single],
    [`socketlab serve --pool ${poolSize} --pool-batch ${batchSize}`, batched],
  ] as const) {
    if (ours === null) {
      say(`${label}: n/a (skipped, see above)`);
      continue;
    }
    say(`${label}`);
    say(`  / node:http + pg.native = ${ratio(ours, baseline)} (target >= ${TARGET.VS_NODE_HTTP}x)${verdict(ours, baseline, TARGET.VS_NODE_HTTP)}`);
    say(`  / pgbench -M prepared   = ${ratio(ours, prepared)} at ${connections} clients (target >= ${TARGET.VS_PGBENCH}x)${verdict(ours, prepared, TARGET.VS_PGBENCH)}`);
    say(`  / pgbench -M simple     = ${ratio(ours, simple)}`);
  }
  return ratios;
}

await main();
