/**
 * The three concurrency models side by side (issue 6): Model A (a thread per connection),
 * B (the event loop) and C (a piscina pool) at 10, 100 and 1000 keep-alive connections on
 * /age (microseconds of compute), /work?ms=2 (CPU-bound) and /uuid/:id (one PostgreSQL
 * query), printed as one table: requests/s, p50, p99, threads, RSS, voluntary and
 * involuntary context switches (kernel counts over the measured window), then the ratios
 * between the models in the same run. This table is what lab 2 (concurrency-models) shows.
 *
 * Each cell is a fresh server process, loaded by one client thread (src/labs/models-cell.ts
 * says why) until every connection has had its first answer, then measured for --seconds.
 * A cell whose connections are not all answered within --deadline is measured anyway and
 * marked: that is where the model gave way, and its larger counts are skipped with the reason.
 *
 * Run: node dist/bench/models.js [--quick] [--connections 10,100,1000] [--routes age,work,uuid]
 *      [--models thread,loop,pool] [--seconds 3] [--deadline 45] [--rounds N] [--json FILE]
 * --rounds N measures every steady cell N times, interleaved, and shows median (min–max); where
 * each model gives way is judged only then (one run a cell is noise on a 2-core machine).
 * Full grid: minutes on a 2-core machine, most of it Model A starting threads and the loop
 * model taking 1000 connections (the JSON's elapsedS says how long a run took); --quick: 10
 * and 50 connections, 1 s windows.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { findPgBinaries, startEmbeddedCluster, type EmbeddedCluster } from '../src/db/index.js';
import { describeMachine } from '../src/labs/machine.js';
import { summarizeMachine } from '../src/results/lab-result.js';
import { MODELS_IN_ORDER, MODEL_ROUTES, type RouteKey } from '../src/labs/models-names.js';
import { MODELS_SETUP, mib, type CellResult } from '../src/labs/models-cell.js';
import { runGridRounds, threadRssSlope, threadSpawn } from '../src/labs/models-grid.js';
import { gridTable, ratioTable } from '../src/labs/models-tables.js';
import { findGiveWay } from '../src/labs/models-give-way.js';
import { MODEL, type ModelName } from '../src/models/model.js';
import { formatBytes } from '../src/format/numbers.js';
import { renderTable } from '../src/format/table.js';
import { startSocketlab } from './support/server-process.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string' },
    routes: { type: 'string' },
    models: { type: 'string' },
    seconds: { type: 'string' },
    deadline: { type: 'string' },
    rounds: { type: 'string' },
    ...JSON_OUTPUT_FLAGS,
  },
});

const list = (text: string | undefined, fallback: string[]): string[] =>
  text === undefined
    ? fallback
    : text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
const connections = list(values.connections, values.quick ? ['10', '50'] : ['10', '100', '1000']).map(Number);
const routes = list(values.routes, ['age', 'work', 'uuid']).filter((r): r is RouteKey => r in MODEL_ROUTES);
const models = list(values.models, [...MODELS_IN_ORDER]).filter((m): m is ModelName => (Object.values(MODEL) as string[]).includes(m));
const measureSeconds = Number(values.seconds ?? (values.quick ? 1 : 3));
const warmupDeadlineMs = Number(values.deadline ?? (values.quick ? 15 : 45)) * 1000;
const rounds = Math.max(1, Math.floor(Number(values.rounds ?? 1)));
const benchRun = beginBenchRun('models', values);

async function main(): Promise<void> {
  const started = Date.now();
  const machine = describeMachine();
  const out = (text: string): void => void process.stdout.write(text);
  // Other work on the machine moves every number here: say how busy it was.
  const load = (): string =>
    os
      .loadavg()
      .map((n) => n.toFixed(1))
      .join(' ');
  out(`machine: ${summarizeMachine(machine)}; load average ${load()}\n`);
  let cluster: EmbeddedCluster | null = null;
  if (routes.some((r) => MODEL_ROUTES[r].needsDb)) {
    if (findPgBinaries() === null) out('PostgreSQL server binaries were not found (apt-get install postgresql): the /uuid cells are skipped\n');
    else cluster = await startEmbeddedCluster();
  }
  out(
    `models ${models.join(', ')} × connections ${connections.join(', ')} × ${routes.map((r) => MODEL_ROUTES[r].label).join(', ')}; ` +
      `${measureSeconds} s windows after every connection has answered (deadline ${warmupDeadlineMs / 1000} s); ` +
      `DB pool ${MODELS_SETUP.dbPool} (loop, pool), one connection per thread (thread); ${MODELS_SETUP.poolWorkers} pool workers` +
      `${cluster === null ? '' : `; PostgreSQL ${cluster.version}, max_connections ${cluster.maxConnections}`}\n\n`,
  );
  let cells: CellResult[] = [];
  try {
    cells = await runGridRounds(
      { models, connections, routes, measureSeconds, warmupDeadlineMs },
      rounds,
      {
        dbUrl: cluster?.url ?? null,
        postmasterPid: cluster?.postmasterPid ?? null,
        startServer: (args) => startSocketlab(args),
        stopServer: (server) => server.stop('SIGTERM', MODELS_SETUP.stopDeadlineMs),
      },
      (cell, round) =>
        out(
          `  ${rounds > 1 ? `round ${round + 1} ` : ''}${cell.model.padEnd(6)} ${String(cell.connections).padStart(5)} ${MODEL_ROUTES[cell.route].label.padEnd(11)} ` +
            `${cell.status === 'skipped' ? `skipped: ${cell.note}` : `${Math.round(cell.rps)} req/s, p99 ${cell.latency.p99Ms} ms, ${cell.end.threads} threads, ${mib(cell.end.rssBytes)} MiB, ready after ${cell.warmupMs / 1000} s${cell.note === null ? '' : ` (${cell.status}: ${cell.note})`}`}\n`,
        ),
    );
  } finally {
    await cluster?.stop();
  }

  const grid = gridTable(cells);
  out(`\n${renderTable(grid.header, grid.rows)}\n`);
  const ratios = ratioTable(cells, routes, connections);
  out(`\nEach model against the event loop (B), same run:\n\n${renderTable(ratios.header, ratios.rows)}\n`);

  const giveWay: string[] = [];
  const slope = threadRssSlope(cells, 'age') ?? threadRssSlope(cells);
  const spawn = threadSpawn(cells).sort((a, b) => a.connections - b.connections);
  if (slope !== null || spawn.length > 0) {
    out('\nModel A, per thread (a Node worker is a whole V8 isolate: far heavier than a JVM, .NET or OS thread, so this exaggerates the model):\n');
    if (slope !== null)
      out(`  RSS per connection thread: ${formatBytes(slope.bytesPerThread)} (slope from ${slope.from} to ${slope.to} connections on ${MODEL_ROUTES[slope.route].label})\n`);
    for (const s of spawn)
      out(`  start-up with ${s.connections} starting at once (${MODEL_ROUTES[s.route].label}): p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms over ${s.count} threads\n`);
  }
  if (rounds < 2) {
    out('\nWhere each model gives way is not judged from one run a cell: pass --rounds 3.\n');
  } else {
    out(`\nWhere each model gives way (${rounds} interleaved runs a cell):\n`);
    for (const route of routes) {
      for (const model of models) {
        const found = findGiveWay(cells, model, route);
        if (found !== null) {
          giveWay.push(found.text);
          out(`  - ${found.text}\n`);
        }
      }
    }
  }
  const elapsedS = Math.round((Date.now() - started) / 1000);
  out(`\n${cells.length} cells in ${elapsedS} s; load average at the end ${load()}\n`);
  writeBenchJson(
    values.json,
    benchRun,
    { quick: values.quick === true || measureSeconds < 3, versions: { postgres: cluster?.version ?? null } },
    { options: { models, connections, routes, measureSeconds, warmupDeadlineMs, rounds }, elapsedS, grid, ratios, threadRssSlope: slope, threadSpawn: spawn, giveWay, cells },
  );
}

await main();
