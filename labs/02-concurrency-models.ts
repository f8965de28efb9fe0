/**
 * Lab 2, 0 → 100 users: thread per connection, event loop, or thread pool?
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { findPgBinaries } from '../src/db/index.js';
import { startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import { AXIS, axis, lineChart, type SpreadLineSeries } from '../src/labs/chart-kit.js';
import { COMPARISON_ROUNDS, compareSpreads, describeComparison, spreadOf, VERDICT, type Spread } from '../src/metrics/comparison.js';
import { MODEL_ROUTES, MODEL_TITLES, WORK_MS, type RouteKey } from '../src/labs/models-names.js';
import { CELL_STATUS, MODELS_SETUP, mib, perThousand, rpsSpreadOf, spreadText, type CellEnvironment, type CellResult } from '../src/labs/models-cell.js';
import { findCell, runGridRounds, threadRssSlope, threadSpawn } from '../src/labs/models-grid.js';
import { gridTable, ratioTable } from '../src/labs/models-tables.js';
import { findGiveWay, type GiveWay } from '../src/labs/models-give-way.js';
import { measureAcceptsPerTurn, type AcceptsPerTurn } from '../src/labs/accepts-per-turn.js';
import { MODEL, type ModelName } from '../src/models/model.js';
import { formatBytes, formatReading as fmt } from '../src/format/numbers.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepTable } from '../src/labs/types.js';

interface Settings {
  /** Runs of every cell, interleaved (comparison.ts COMPARISON_ROUNDS). */
  rounds: number;
  connections: readonly number[];
  routes: readonly RouteKey[];
  /** The counts /uuid runs at (default: every count). */
  uuidConnections?: readonly number[];
  measureSeconds: number;
  warmupDeadlineMs: number;
}

/**
 * Every cell runs COMPARISON_ROUNDS times, interleaved. A run costs at least 2 s (a second of
 * warm-up, a second measured) plus a server's start and stop, so the quick form pays for its
 * rounds with a smaller grid: /work only (the CPU-bound route, where the models differ most),
 * at 4 and 12 connections (Model A starts 12 isolates far sooner than 20): 6 cells, 12 runs,
 * as many runs as the 12 single cells it measured before, with no PostgreSQL to start (on a
 * busy machine: 48 s against 74 s for the old 12 cells; with /uuid at 12 connections as well,
 * 18 runs took a fifth longer than those). The full form runs /uuid too, at every count.
 */
const SETTINGS: LabSettings<Settings> = {
  quick: { rounds: COMPARISON_ROUNDS.quick, connections: [4, 12], routes: ['work'], measureSeconds: 1, warmupDeadlineMs: 15_000 },
  full: { rounds: COMPARISON_ROUNDS.full, connections: [10, 100, 1000], routes: ['work', 'uuid'], measureSeconds: 3, warmupDeadlineMs: 30_000 },
};

/** Connections left waiting for a busy loop, to see how many it takes per turn. */
const ACCEPT_PROBE_CONNECTIONS = 20;

export const lab: LabDefinition<Settings> = {
  id: 'concurrency-models',
  number: 2,
  title: 'Thread per connection, event loop, or thread pool?',
  layer: '0 → 100',
  summary: 'models A, B and C side by side on CPU-bound and I/O-bound work: req/s, p50/p99, threads, RSS, context switches',
  intro: `The same server, three ways to run its handlers. Model A gives every connection a thread of
its own that blocks while it works (classic Apache, a Java servlet container before virtual
threads). Model B runs every handler on the one event loop that also does all the I/O (Node,
nginx, Redis). Model C keeps the I/O on the loop and hands handlers to a fixed pool of worker
threads (a .NET or Java executor). Each serves ${MODEL_ROUTES.work.label} (${WORK_MS} ms of CPU) and ${MODEL_ROUTES.uuid.label} (one
PostgreSQL query) to a growing number of keep-alive connections. The kernel counts the
threads, the memory and the context switches; the load generator times every request. Watch
what grows with the connections in each model, and where each one stops keeping up.`,
  settings: SETTINGS,

  async run(lab: LabContext, grid: Settings) {
    const rounds = grid.rounds;
    const connections = [...grid.connections];
    const cores = os.availableParallelism();

    let dbUrl: string | null = null;
    let postmasterPid: number | null = null;
    let uuidSkipped: string | null = null;
    if (!grid.routes.includes('uuid')) {
      uuidSkipped = `the quick form runs ${MODEL_ROUTES.work.label} only, to afford ${rounds} runs a cell: run without --quick for ${MODEL_ROUTES.uuid.label}`;
      lab.skip(`${MODEL_ROUTES.uuid.label} under every model`, uuidSkipped);
    } else if (findPgBinaries() === null) {
      uuidSkipped = 'PostgreSQL server binaries were not found (apt-get install postgresql), so /uuid was not run';
      lab.skip(`${MODEL_ROUTES.uuid.label} under every model`, uuidSkipped);
    } else {
      // One cluster for all three models (each server gets --db URL), started once: faster
      // than --db embedded per server, and every model sees the same database.
      const cluster = await startLabDatabase(lab);
      dbUrl = cluster.url;
      postmasterPid = cluster.postmasterPid;
      lab.say(
        `One PostgreSQL (max_connections ${cluster.maxConnections}) serves all three models. Models B and C use a pool of ${MODELS_SETUP.dbPool} connections; Model A opens one per thread. Model C runs ${MODELS_SETUP.poolWorkers} workers (one per core).`,
      );
    }
    lab.say(
      `Every cell is a fresh server. Its clock starts once every connection has had a first answer (the kernel's count of bytes received on each client socket, from ss); that wait is the "all answered s" column, then ${grid.measureSeconds} s are measured. Every cell runs ${rounds} times, interleaved (the grid in order, then in reverse), and shows the median (min–max) of its runs. Threads and RSS are the kernel's (/proc), context switches are summed over every thread for the measured seconds.`,
    );
    const routes = grid.routes.filter((route) => !(MODEL_ROUTES[route].needsDb && dbUrl === null));
    const countsText = `${connections.slice(0, -1).join(', ')} and ${connections[connections.length - 1]} connections`;

    let all: CellResult[] = [];
    let accepts: AcceptsPerTurn | null = null;
    await lab.step(`Every model at ${countsText}, ${rounds} interleaved runs a cell`, async (step) => {
      step.progress(`how many waiting connections this Node's loop accepts per turn (${ACCEPT_PROBE_CONNECTIONS} waiting)`);
      accepts = await measureAcceptsPerTurn(ACCEPT_PROBE_CONNECTIONS);
      const env: CellEnvironment = {
        dbUrl,
        postmasterPid,
        startServer: (args) => startLabServer(lab, args),
        stopServer: async (server) => {
          // Model A must bring up every thread before it can stop it: allow for that.
          const exit = await server.stop('SIGTERM', MODELS_SETUP.stopDeadlineMs);
          await stopLabServer(lab, server);
          return exit;
        },
        progress: step.progress,
        signal: step.signal,
      };
      const started = performance.now();
      all = await runGridRounds(
        {
          models: [MODEL.THREAD, MODEL.LOOP, MODEL.POOL],
          connections,
          routes,
          ...(grid.uuidConnections === undefined ? {} : { routeConnections: { uuid: grid.uuidConnections } }),
          measureSeconds: grid.measureSeconds,
          warmupDeadlineMs: grid.warmupDeadlineMs,
        },
        rounds,
        env,
      );
      const runs = all.reduce((sum, c) => sum + (c.runs?.length ?? (c.status === CELL_STATUS.SKIPPED ? 0 : 1)), 0);
      return {
        table: overviewTable(all, routes, connections),
        reading: `${runs} runs of ${all.filter((c) => c.status !== CELL_STATUS.SKIPPED).length} cells in ${Math.round((performance.now() - started) / 1000)} s; each value is the median (min–max) of a cell's runs.
A cell that gave way (its connections not all answered in time, or memory low) ran once: that is a state, not a number to repeat.`,
        measurements: { rounds, acceptsPerTurn: accepts, cells: all },
      };
    });

    const cellsOf = (model: ModelName): CellResult[] => all.filter((c) => c.model === model);
    await lab.step(`${MODEL_TITLES.thread} at ${countsText}`, async () => ({
      table: gridTable(cellsOf(MODEL.THREAD), { modelColumn: false }),
      reading: readThreadModel(cellsOf(MODEL.THREAD), connections, routes, cores),
    }));
    await lab.step(`${MODEL_TITLES.loop} at ${countsText}`, async () => ({
      table: gridTable(cellsOf(MODEL.LOOP), { modelColumn: false }),
      reading: readLoopModel(cellsOf(MODEL.LOOP), connections, routes, accepts),
    }));
    await lab.step(`${MODEL_TITLES.pool} at ${countsText}`, async () => ({
      table: gridTable(cellsOf(MODEL.POOL), { modelColumn: false }),
      reading: readPoolModel(cellsOf(MODEL.POOL), all, connections, routes, cores),
    }));

    const givesWay: GiveWay[] = [];
    await lab.step('Side by side: where each model gives way', async () => {
      for (const route of routes) {
        for (const model of [MODEL.THREAD, MODEL.LOOP, MODEL.POOL]) {
          const found = findGiveWay(all, model, route);
          if (found !== null) givesWay.push(found);
        }
      }
      return {
        table: ratioTable(all, routes, connections),
        reading: `Ratios are of the medians, against Model B (A÷B 2 = twice B's). ${readSideBySide(all, connections, routes)}
${givesWay.map((g) => `- ${g.text}.`).join('\n')}`,
        charts: routes.flatMap((route) => modelCharts(all, route, connections)),
        measurements: { givesWay },
      };
    });

    lab.findings.rounds = rounds;
    lab.findings.connections = connections;
    lab.findings.routes = Object.fromEntries(routes.map((r) => [r, MODEL_ROUTES[r].label]));
    lab.findings.models = Object.fromEntries([MODEL.THREAD, MODEL.LOOP, MODEL.POOL].map((model) => [model, modelFindings(all, model, routes)]));
    const slope = threadRssSlope(all, 'work') ?? threadRssSlope(all);
    const spawn = threadSpawn(all);
    const largestSpawn = spawn.sort((a, b) => b.connections - a.connections)[0] ?? null;
    lab.findings.threadCost = {
      rssPerThreadMb: slope === null ? null : mib(slope.bytesPerThread),
      rssSlopeBetween: slope === null ? null : [slope.from, slope.to],
      spawnP50Ms: largestSpawn?.p50Ms ?? null,
      spawnP99Ms: largestSpawn?.p99Ms ?? null,
      spawnAtConnections: largestSpawn?.connections ?? null,
      idleThreads: all.find((c) => c.model === MODEL.THREAD && c.idle.threads !== null)?.idle.threads ?? null,
    };
    lab.findings.acceptsPerTurn = accepts;
    lab.findings.givesWay = givesWay;
    lab.findings.uuidSkipped = uuidSkipped;
  },
};

/**
 * The three models side by side on one route, against the connections: throughput and p99
 * (medians, with each cell's runs as a whisker), threads and RSS at the end of the window.
 * A cell skipped or stopped for memory has no point; one that gave way has its own.
 */
function modelCharts(cells: readonly CellResult[], route: RouteKey, connections: readonly number[]): ChartDeclaration[] {
  const label = MODEL_ROUTES[route].label;
  const drawn = (c: CellResult | undefined): c is CellResult => c !== undefined && c.status !== CELL_STATUS.SKIPPED && c.status !== CELL_STATUS.MEMORY;
  const lines = (read: (c: CellResult) => Spread | number | null): SpreadLineSeries[] =>
    [MODEL.THREAD, MODEL.LOOP, MODEL.POOL].map((model) => ({
      name: MODEL_TITLES[model],
      points: connections
        .map((n) => findCell(cells, model, route, n))
        .filter(drawn)
        .map((c) => ({ x: c.connections, y: read(c) })),
    }));
  const x = AXIS.CONNECTIONS;
  const mibSpread = (spread: Spread | null | undefined, fallback: number | null): Spread | number | null =>
    spread === null || spread === undefined
      ? mib(fallback)
      : { runs: spread.runs.map((v) => mib(v) as number), median: mib(spread.median) as number, min: mib(spread.min) as number, max: mib(spread.max) as number };
  return [
    lineChart(
      {
        title: `Throughput against connections, ${label}`,
        caption: "Medians of each cell's runs, the whiskers their min–max. Where a line flattens or falls, more connections no longer bring more requests.",
      },
      { x, y: AXIS.RPS },
      lines((c) => rpsSpreadOf(c)),
    ),
    lineChart(
      { title: `p99 latency against connections, ${label}`, caption: 'The slowest 1% of requests in each cell (median of the runs, whiskers their min–max).' },
      { x, y: { ...AXIS.LATENCY, label: 'p99 latency' } },
      lines((c) => c.spread?.p99Ms ?? c.latency.p99Ms),
    ),
    lineChart(
      {
        title: `Threads against connections, ${label}`,
        caption: "The kernel's count at the end of the window: a thread per connection grows with them, a loop and a pool do not.",
      },
      { x, y: axis('threads') },
      lines((c) => c.end.threads),
    ),
    lineChart(
      { title: `Memory (RSS) against connections, ${label}`, caption: 'Resident memory at the end of the window (median of the runs, whiskers their min–max).' },
      { x, y: axis('RSS', 'MiB') },
      lines((c) => mibSpread(c.spread?.rssBytes, c.end.rssBytes)),
    ),
  ];
}

/** req/s of each model per route and count: the comparison at a glance. */
function overviewTable(cells: readonly CellResult[], routes: readonly RouteKey[], connections: readonly number[]): StepTable {
  const value = (c: CellResult | undefined): string | null => {
    if (c === undefined || c.status === CELL_STATUS.SKIPPED) return null;
    const text = spreadText(rpsSpreadOf(c), Math.round);
    return c.status === CELL_STATUS.MEASURED ? text : `${text} (${c.status})`;
  };
  const rows: (string | number | null)[][] = [];
  for (const route of routes) {
    for (const n of connections) {
      const row = [MODEL.THREAD, MODEL.LOOP, MODEL.POOL].map((m) => findCell(cells, m, route, n));
      if (row.every((c) => c === undefined)) continue;
      rows.push([MODEL_ROUTES[route].label, n, ...row.map(value)]);
    }
  }
  return { header: ['route', 'conns', 'A req/s', 'B req/s', 'C req/s'], rows };
}

type PerRoute<T> = Record<string, Record<string, T>>;

/** findings.models.<model>.<metric>.<route>.<connections>, from cells that were measured. */
function modelFindings(cells: readonly CellResult[], model: ModelName, routes: readonly RouteKey[]): Record<string, PerRoute<unknown>> {
  const metric = <T>(read: (c: CellResult) => T): PerRoute<T | null> =>
    Object.fromEntries(
      routes.map((route) => [
        route,
        Object.fromEntries(
          cells
            .filter((c) => c.model === model && c.route === route)
            .map((c) => [String(c.connections), c.status === CELL_STATUS.SKIPPED || c.status === CELL_STATUS.MEMORY ? null : read(c)]),
        ),
      ]),
    );
  return {
    rps: metric((c) => c.rps),
    p50Ms: metric((c) => c.latency.p50Ms),
    p99Ms: metric((c) => c.latency.p99Ms),
    threads: metric((c) => c.end.threads),
    rssMb: metric((c) => mib(c.end.rssBytes)),
    ctxSwitches: metric((c) => c.ctxSwitches),
    status: metric((c) => c.status),
    pgBackends: metric((c) => c.pgBackends),
  };
}

const smallest = (connections: readonly number[]): number => connections[0] as number;
/** A steady-state cell: every connection had its answer before the window (the others are told apart, in their own sentence). */
const ok = (c: CellResult | undefined): c is CellResult => c !== undefined && c.status === CELL_STATUS.MEASURED;
const span = (values: number[]): string => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? fmt(lo) : `${fmt(lo)} to ${fmt(hi)}`;
};
const rssMib = (c: CellResult): number | null => mib(c.end.rssBytes);
const p50Text = (c: CellResult): string => (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p50Ms) : fmt(c.latency.p50Ms));
const p99Text = (c: CellResult): string => (c.spread !== undefined && c.spread.runs > 1 ? spreadText(c.spread.p99Ms) : fmt(c.latency.p99Ms));
const rpsText = (c: CellResult): string => spreadText(rpsSpreadOf(c), Math.round);
const cpuSpread = (c: CellResult): Spread => c.spread?.cpuMsPerRequest ?? spreadOf([c.cpuMsPerRequest ?? 0]);
const rssSpread = (c: CellResult): Spread => c.spread?.rssBytes ?? spreadOf([c.end.rssBytes ?? 0]);
const warmupSpread = (c: CellResult): Spread => c.spread?.warmupMs ?? spreadOf([c.warmupMs]);

/** The largest count at which this model was measured on this route (it may have given way before the grid's largest). */
function largestMeasured(cells: readonly CellResult[], model: ModelName, route: RouteKey, connections: readonly number[]): CellResult | undefined {
  return [...connections]
    .reverse()
    .map((n) => findCell(cells, model, route, n))
    .find(ok);
}

/** The pool model's cell at the largest count where both it and the loop model were steady: like against like. */
function largestBoth(pool: readonly CellResult[], all: readonly CellResult[], route: RouteKey, connections: readonly number[]): CellResult | undefined {
  return [...connections]
    .reverse()
    .map((n) => findCell(pool, MODEL.POOL, route, n))
    .find((c) => ok(c) && ok(findCell(all, MODEL.LOOP, route, c.connections)));
}

// ── Readings: each a pure function of the cells, so a test can feed it other numbers ──────

export function readThreadModel(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[], cores: number): string {
  const route = routes[0] as RouteKey;
  const lines: string[] = [];
  const measuredCells = connections.map((n) => findCell(cells, MODEL.THREAD, route, n)).filter(ok);
  const idle = cells.find((c) => c.idle.threads !== null)?.idle.threads ?? null;
  const counts = measuredCells.map((c) => `${fmt(c.end.threads)} at ${fmt(c.connections)}`).join(', ');
  // One per connection: every steady cell's threads are the idle process's plus its connections (a /stats thread may come and go).
  const onePer = idle !== null && measuredCells.length > 0 && measuredCells.every((c) => c.end.threads !== null && Math.abs(c.end.threads - (idle + c.connections)) <= 2);
  lines.push(
    onePer
      ? `Threads followed the connections (the kernel's count, on ${MODEL_ROUTES[route].label}): ${fmt(idle)} idle, ${counts}: one per connection.`
      : `Threads (the kernel's count, on ${MODEL_ROUTES[route].label}): ${fmt(idle)} idle, ${counts}: not one per connection in every cell.`,
  );
  const slope = threadRssSlope(cells, route) ?? threadRssSlope(cells);
  const spawn = threadSpawn(cells).sort((a, b) => b.connections - a.connections)[0];
  const spawnText = spawn === undefined ? '' : ` Starting ${fmt(spawn.connections)} at once took p50 ${fmt(spawn.p50Ms)} ms, p99 ${fmt(spawn.p99Ms)} ms a thread.`;
  if (slope !== null && slope.bytesPerThread > 0) {
    lines.push(`Each thread added ${formatBytes(slope.bytesPerThread)} of RSS (medians, from ${fmt(slope.from)} to ${fmt(slope.to)} connections).${spawnText}`);
  } else if (slope !== null) {
    lines.push(`RSS did not grow with the threads (from ${fmt(slope.from)} to ${fmt(slope.to)} connections).${spawnText}`);
  } else if (spawnText !== '') lines.push(spawnText.trim());
  lines.push(
    'A Node worker is a whole V8 isolate, much heavier to start and to hold than a JVM, .NET or OS thread: these per-thread costs exaggerate Model A. What carries over is the shape: threads and memory grow with connections.',
  );
  const work = connections.map((n) => findCell(cells, MODEL.THREAD, 'work', n)).filter(ok);
  const lo = work[0];
  const hi = work[work.length - 1];
  if (lo !== undefined && hi !== undefined && lo !== hi && hi.end.threads !== null) {
    const share = hi.end.threads > cores ? `${fmt(hi.end.threads)} threads took turns on ${cores} cores` : `${fmt(hi.end.threads)} threads ran on ${cores} cores`;
    lines.push(
      `On ${MODEL_ROUTES.work.label}, ${share}: ${fmt(perThousand(hi.ctxSwitches.involuntary, hi.responses))} involuntary context switches per 1,000 requests (${fmt(perThousand(lo.ctxSwitches.involuntary, lo.responses))} at ${fmt(lo.connections)}), p50 ${p50Text(lo)} → ${p50Text(hi)} ms.`,
    );
  }
  const uuid = largestMeasured(cells, MODEL.THREAD, 'uuid', connections);
  if (uuid !== undefined && uuid.pgBackends !== null) {
    lines.push(
      uuid.pgBackends >= uuid.connections
        ? `On ${MODEL_ROUTES.uuid.label} each thread held a database connection of its own: ${fmt(uuid.pgBackends)} PostgreSQL backends at ${fmt(uuid.connections)} connections.`
        : `On ${MODEL_ROUTES.uuid.label}: ${fmt(uuid.pgBackends)} PostgreSQL backends at ${fmt(uuid.connections)} connections, fewer than its threads.`,
    );
  }
  const stuck = cells.find((c) => c.status !== CELL_STATUS.MEASURED && c.note !== null && c.note !== 'no PostgreSQL');
  if (stuck !== undefined) lines.push(`At ${fmt(stuck.connections)} connections on ${MODEL_ROUTES[stuck.route].label}: ${stuck.note}.`);
  return lines.join('\n');
}

export function readLoopModel(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[], accepts: AcceptsPerTurn | null): string {
  const lines: string[] = [];
  const threads = cells.filter(ok).map((c) => c.end.threads as number);
  if (threads.length > 0) {
    lines.push(
      Math.min(...threads) === Math.max(...threads)
        ? `One thread ran every handler; the process had ${span(threads)} threads (libuv's and V8's helpers) whatever the connections.`
        : `One thread ran every handler; the process had ${span(threads)} threads (libuv's and V8's helpers).`,
    );
  }
  const work = largestMeasured(cells, MODEL.LOOP, 'work', connections);
  if (work !== undefined) {
    const ceiling = 1000 / WORK_MS;
    const times = Math.round(work.latency.p50Ms / WORK_MS);
    const waited = times >= 2 ? `, ${fmt(times)}× the ${WORK_MS} ms of work: each request waited behind the others for the one core` : `, about the ${WORK_MS} ms of work itself`;
    lines.push(
      `On ${MODEL_ROUTES.work.label} at ${fmt(work.connections)} connections p50 was ${p50Text(work)} ms${waited}, which finishes at most ${fmt(ceiling)} of them a second (measured ${rpsText(work)}, ${fmt(Math.round((work.rps / ceiling) * 100))}%).`,
    );
  }
  const uuid = largestMeasured(cells, MODEL.LOOP, 'uuid', connections);
  if (uuid !== undefined && routes.includes('uuid')) {
    lines.push(
      `On ${MODEL_ROUTES.uuid.label} the loop waits for PostgreSQL without blocking: ${rpsText(uuid)} req/s at ${fmt(uuid.connections)} connections, p99 ${p99Text(uuid)} ms, ${fmt(uuid.cpuMsPerRequest)} ms of CPU per request, over ${fmt(uuid.pgBackends)} backends (its pool).`,
    );
  }
  const small = findCell(cells, MODEL.LOOP, 'work', smallest(connections));
  const slowest = connections
    .map((n) => findCell(cells, MODEL.LOOP, 'work', n))
    .filter((c): c is CellResult => c !== undefined && c.status !== CELL_STATUS.SKIPPED)
    .pop();
  if (ok(small) && slowest !== undefined && slowest !== small) {
    const verdict = slowest.status === CELL_STATUS.MEASURED ? compareSpreads(warmupSpread(slowest), warmupSpread(small)) : VERDICT.HIGHER;
    const bound =
      slowest.status === CELL_STATUS.MEASURED
        ? `after ${spreadText(warmupSpread(slowest), (v) => v / 1000)} s`
        : `not within ${fmt(slowest.warmupMs / 1000)} s (${slowest.answeredAtWindow ?? '?'} had)`;
    const against = `against ${spreadText(warmupSpread(small), (v) => v / 1000)} s for ${fmt(small.connections)}`;
    if (verdict === VERDICT.HIGHER) {
      const perTurn =
        accepts === null || accepts.accepted === 0
          ? ''
          : ` This Node's loop took ${accepts.maxPerTurn === 1 ? 'one waiting connection per turn' : `up to ${accepts.maxPerTurn} waiting connections a turn`} (measured: ${accepts.accepted} waiting were accepted over ${accepts.turns} turns), and a turn also serves every connection whose request has come in, ${WORK_MS} ms each here.`;
      lines.push(`Getting there took long: all ${fmt(slowest.connections)} connections had a first answer ${bound}, ${against}.${perTurn}`);
    } else {
      lines.push(`All ${fmt(slowest.connections)} connections had a first answer ${bound}, ${against}: the warm-up is whole seconds, and these do not differ at that grain.`);
    }
  }
  if (ok(small) && work !== undefined && small !== work) {
    const a = rssMib(small);
    const b = rssMib(work);
    const sameThreads = small.end.threads === work.end.threads;
    // "No memory" only when the RSS moved by less than 5% between the counts.
    const flat = a !== null && b !== null && Math.abs(b - a) < 0.05 * a;
    const cost =
      sameThreads && flat
        ? 'cost it no threads and no memory to speak of'
        : sameThreads
          ? 'cost it no threads'
          : `moved its threads ${fmt(small.end.threads)} → ${fmt(work.end.threads)}`;
    lines.push(
      `More connections ${cost} (RSS ${fmt(a)} → ${fmt(b)} MiB); involuntary context switches (the kernel preempting it) ${fmt(perThousand(small.ctxSwitches.involuntary, small.responses))} → ${fmt(perThousand(work.ctxSwitches.involuntary, work.responses))} per 1,000 requests.`,
    );
  }
  return lines.join('\n');
}

export function readPoolModel(cells: readonly CellResult[], all: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[], cores: number): string {
  const lines: string[] = [];
  const threads = cells.filter(ok).map((c) => c.end.threads as number);
  if (threads.length > 0) {
    lines.push(
      Math.min(...threads) === Math.max(...threads)
        ? `${MODELS_SETUP.poolWorkers} workers, fixed: ${span(threads)} threads whatever the connections; a request waits for a worker.`
        : `${MODELS_SETUP.poolWorkers} workers: ${span(threads)} threads; a request waits for a worker.`,
    );
  }
  const work = largestBoth(cells, all, 'work', connections);
  const loopWork = work === undefined ? undefined : findCell(all, MODEL.LOOP, 'work', work.connections);
  if (work !== undefined && ok(loopWork)) {
    const stats = work.modelStats as { waitTime?: { p99Ms: number }; runTime?: { p99Ms: number }; tasksPerWorker?: number } | null;
    const c = { label: `Model C on ${MODEL_ROUTES.work.label} at ${fmt(work.connections)} connections`, spread: rpsSpreadOf(work) };
    const b = { label: 'Model B', spread: rpsSpreadOf(loopWork) };
    const faster = compareSpreads(c.spread, b.spread) === VERDICT.HIGHER;
    lines.push(`${describeComparison(c, b, 'req/s')}${faster ? ` It has ${cores} cores to spin on instead of one (shared with the load generator and PostgreSQL).` : ''}`);
    // Where requests queue, from the pool's own clocks: piscina's queue when its wait is
    // measurable (a millisecond or more), the worker's own when a task takes well over its work.
    const inWorker = (stats?.runTime?.p99Ms ?? 0) > 2 * WORK_MS;
    const inPiscina = (stats?.waitTime?.p99Ms ?? 0) >= 1;
    const piscina = `piscina's queue (wait p99 ${fmt(stats?.waitTime?.p99Ms)} ms)`;
    const worker = `a worker, which takes up to ${fmt(stats?.tasksPerWorker)} tasks at once for /uuid's sake and runs /work's one after another (task time p99 ${fmt(stats?.runTime?.p99Ms)} ms for ${WORK_MS} ms of work)`;
    if (inPiscina && inWorker) lines.push(`Requests queue twice: in ${piscina}, then in ${worker}.`);
    else if (inWorker) lines.push(`Requests queue in ${worker}; ${piscina} hardly held them.`);
    else if (inPiscina) lines.push(`Requests queue in ${piscina}; a task took p99 ${fmt(stats?.runTime?.p99Ms)} ms for ${WORK_MS} ms of work.`);
    else lines.push(`Neither piscina's queue (wait p99 ${fmt(stats?.waitTime?.p99Ms)} ms) nor the workers (task p99 ${fmt(stats?.runTime?.p99Ms)} ms) held requests long.`);
  }
  const uuid = largestBoth(cells, all, 'uuid', connections);
  const loopUuid = uuid === undefined ? undefined : findCell(all, MODEL.LOOP, 'uuid', uuid.connections);
  if (uuid !== undefined && ok(loopUuid) && routes.includes('uuid')) {
    const c = { label: `Model C on ${MODEL_ROUTES.uuid.label} at ${fmt(uuid.connections)} connections`, spread: rpsSpreadOf(uuid) };
    const b = { label: 'Model B', spread: rpsSpreadOf(loopUuid) };
    const cpu = compareSpreads(cpuSpread(uuid), cpuSpread(loopUuid));
    const why =
      cpu === VERDICT.HIGHER
        ? ` Each request cost it more CPU, ${spreadText(cpuSpread(uuid))} ms against the loop's ${spreadText(cpuSpread(loopUuid))}: each query crosses to a worker and back, and the workers use the pure-JS pg driver (pg-native's async API cannot run in a worker thread).`
        : ` CPU per request: ${spreadText(cpuSpread(uuid))} ms against the loop's ${spreadText(cpuSpread(loopUuid))}${cpu === VERDICT.OVERLAP ? ' (the ranges overlap)' : ''}.`;
    lines.push(`${describeComparison(c, b, 'req/s')}${why}`);
  }
  return lines.join('\n');
}

export function readSideBySide(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[]): string {
  const parts: string[] = [];
  for (const route of routes) {
    // The largest count at which the loop model reached a steady state: the yardstick for the others.
    const b = largestMeasured(cells, MODEL.LOOP, route, connections);
    if (b === undefined) continue;
    const n = b.connections;
    const steady = [findCell(cells, MODEL.THREAD, route, n), b, findCell(cells, MODEL.POOL, route, n)].filter(ok).sort((x, y) => y.rps - x.rps);
    const best = steady[0] as CellResult;
    const next = steady[1];
    const where = `On ${MODEL_ROUTES[route].label} at ${fmt(n)} connections`;
    let line =
      next === undefined || compareSpreads(rpsSpreadOf(best), rpsSpreadOf(next)) === VERDICT.HIGHER
        ? `${where} ${MODEL_TITLES[best.model]} served the most (${rpsText(best)} req/s, p99 ${p99Text(best)} ms).`
        : `${where} ${MODEL_TITLES[best.model]} and ${MODEL_TITLES[next.model]} served about as much (${rpsText(best)} and ${rpsText(next)} req/s): the ranges overlap.`;
    const a = largestMeasured(cells, MODEL.THREAD, route, connections);
    const bAtA = a === undefined ? undefined : findCell(cells, MODEL.LOOP, route, a.connections);
    if (a !== undefined && ok(bAtA)) {
      const memory = compareSpreads(rssSpread(a), rssSpread(bAtA));
      const rss = `${fmt(rssMib(a))} MiB at ${fmt(a.connections)} connections against B's ${fmt(rssMib(bAtA))} MiB`;
      line += memory === VERDICT.HIGHER ? ` Model A held more memory: ${rss}.` : ` Model A held ${rss}.`;
    }
    parts.push(line);
  }
  return parts.join('\n');
}
