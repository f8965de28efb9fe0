/**
 * Lab 2, 0 → 100 users: thread per connection, event loop, or thread pool?
 */
import os from 'node:os';
import { findPgBinaries } from '../src/db/index.js';
import { pick, startLabDatabase, startLabServer, stopLabServer } from '../src/labs/kit.js';
import {
  CELL_STATUS,
  MODEL_ROUTES,
  MODEL_TITLES,
  MODELS_SETUP,
  WORK_MS,
  findCell,
  fmt,
  findGiveWay,
  gridTable,
  mib,
  perThousand,
  ratioTable,
  runGrid,
  threadRssSlope,
  threadSpawn,
  type CellEnvironment,
  type CellResult,
  type GiveWay,
  type RouteKey,
} from '../src/labs/models-kit.js';
import { MODEL, type ModelName } from '../src/models/model.js';
import { formatBytes } from '../src/report/table.js';
import type { LabContext, LabDefinition, StepContext } from '../src/labs/types.js';

/** A CPU-bound and an I/O-bound route: the two kinds of work the models differ on. */
const LAB_ROUTES: readonly RouteKey[] = ['work', 'uuid'];

interface GridSize {
  connections: readonly number[];
  measureSeconds: number;
  warmupDeadlineMs: number;
}

/** --quick keeps the test short (its budget is 40 s): 5 and 20 connections, 1 s windows. */
const GRID = {
  quick: { connections: [5, 20], measureSeconds: 1, warmupDeadlineMs: 15_000 },
  full: { connections: [10, 100, 1000], measureSeconds: 3, warmupDeadlineMs: 30_000 },
} as const satisfies Record<'quick' | 'full', GridSize>;

export const lab: LabDefinition = {
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

  async run(lab: LabContext) {
    const grid = pick<GridSize>(lab, GRID.quick, GRID.full);
    const connections = [...grid.connections];
    const cores = os.availableParallelism();

    let dbUrl: string | null = null;
    let postmasterPid: number | null = null;
    let uuidSkipped: string | null = null;
    if (findPgBinaries() === null) {
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
      `Every cell is a fresh server. Its clock starts once every connection has had a first answer (the kernel's count of bytes received on each client socket, from ss); that wait is the "all answered s" column, then ${grid.measureSeconds} s are measured. Threads and RSS are the kernel's (/proc), context switches are summed over every thread for the measured seconds.`,
    );
    const routes = LAB_ROUTES.filter((route) => !(MODEL_ROUTES[route].needsDb && dbUrl === null));

    const countsText = `${connections.slice(0, -1).join(', ')} and ${connections[connections.length - 1]} connections`;
    const all: CellResult[] = [];
    const measureModel = async (model: ModelName, step: StepContext): Promise<CellResult[]> => {
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
      const cells = await runGrid({ models: [model], connections, routes, measureSeconds: grid.measureSeconds, warmupDeadlineMs: grid.warmupDeadlineMs }, env);
      all.push(...cells);
      return cells;
    };

    await lab.step(`${MODEL_TITLES.thread} at ${countsText}`, async (step) => {
      const cells = await measureModel(MODEL.THREAD, step);
      return { table: gridTable(cells, { modelColumn: false }), reading: readThreadModel(cells, connections, routes, cores), measurements: { cells } };
    });
    await lab.step(`${MODEL_TITLES.loop} at ${countsText}`, async (step) => {
      const cells = await measureModel(MODEL.LOOP, step);
      return { table: gridTable(cells, { modelColumn: false }), reading: readLoopModel(cells, connections, routes), measurements: { cells } };
    });
    await lab.step(`${MODEL_TITLES.pool} at ${countsText}`, async (step) => {
      const cells = await measureModel(MODEL.POOL, step);
      return { table: gridTable(cells, { modelColumn: false }), reading: readPoolModel(cells, all, connections, routes, cores), measurements: { cells } };
    });

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
        reading: `Ratios are against Model B in this run (A÷B 2 = twice B's). ${readSideBySide(all, connections, routes)}
${givesWay.map((g) => `- ${g.text}.`).join('\n')}`,
        measurements: { givesWay },
      };
    });

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
    lab.findings.givesWay = givesWay;
    lab.findings.uuidSkipped = uuidSkipped;
  },
};

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
const times = (a: number, b: number): string => (b === 0 ? '?' : `${fmt(Math.round((a / b) * 100) / 100)}×`);
const span = (values: number[]): string => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? fmt(lo) : `${fmt(lo)} to ${fmt(hi)}`;
};

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

function readThreadModel(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[], cores: number): string {
  const route = routes[0] as RouteKey;
  const lines: string[] = [];
  const measuredCells = connections.map((n) => findCell(cells, MODEL.THREAD, route, n)).filter(ok);
  const idle = cells.find((c) => c.idle.threads !== null)?.idle.threads ?? null;
  lines.push(
    `Threads followed the connections (the kernel's count, on ${MODEL_ROUTES[route].label}): ${fmt(idle)} idle, ${measuredCells.map((c) => `${fmt(c.end.threads)} at ${fmt(c.connections)}`).join(', ')}: one per connection.`,
  );
  const slope = threadRssSlope(cells, route) ?? threadRssSlope(cells);
  const spawn = threadSpawn(cells).sort((a, b) => b.connections - a.connections)[0];
  if (slope !== null) {
    lines.push(
      `Each thread added ${formatBytes(slope.bytesPerThread)} of RSS (from ${fmt(slope.from)} to ${fmt(slope.to)} connections)${spawn === undefined ? '' : ` and took p50 ${fmt(spawn.p50Ms)} ms, p99 ${fmt(spawn.p99Ms)} ms to start with ${fmt(spawn.connections)} starting at once`}.`,
    );
  }
  lines.push(
    'A Node worker is a whole V8 isolate, much heavier to start and to hold than a JVM, .NET or OS thread: these per-thread costs exaggerate Model A. What carries over is the shape: threads and memory grow with connections.',
  );
  const work = connections.map((n) => findCell(cells, MODEL.THREAD, 'work', n)).filter(ok);
  const lo = work[0];
  const hi = work[work.length - 1];
  if (lo !== undefined && hi !== undefined && lo !== hi) {
    lines.push(
      `On ${MODEL_ROUTES.work.label}, ${fmt(hi.end.threads)} threads took turns on ${cores} cores: ${fmt(perThousand(hi.ctxSwitches.involuntary, hi.responses))} involuntary context switches per 1,000 requests (${fmt(perThousand(lo.ctxSwitches.involuntary, lo.responses))} at ${fmt(lo.connections)}), p50 ${fmt(lo.latency.p50Ms)} → ${fmt(hi.latency.p50Ms)} ms.`,
    );
  }
  const uuid = largestMeasured(cells, MODEL.THREAD, 'uuid', connections);
  if (uuid !== undefined && uuid.pgBackends !== null) {
    lines.push(`On ${MODEL_ROUTES.uuid.label} each thread held a database connection of its own: ${fmt(uuid.pgBackends)} PostgreSQL backends at ${fmt(uuid.connections)} connections.`);
  }
  const stuck = cells.find((c) => c.status !== CELL_STATUS.MEASURED && c.note !== null && c.note !== 'no PostgreSQL');
  if (stuck !== undefined) lines.push(`At ${fmt(stuck.connections)} connections on ${MODEL_ROUTES[stuck.route].label}: ${stuck.note}.`);
  return lines.join('\n');
}

function readLoopModel(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[]): string {
  const lines: string[] = [];
  const threads = cells.filter(ok).map((c) => c.end.threads as number);
  lines.push(`One thread ran every handler; the process had ${span(threads)} threads (libuv's and V8's helpers) whatever the connections.`);
  const work = largestMeasured(cells, MODEL.LOOP, 'work', connections);
  if (work !== undefined) {
    const ceiling = 1000 / WORK_MS;
    lines.push(
      `On ${MODEL_ROUTES.work.label} at ${fmt(work.connections)} connections p50 was ${fmt(work.latency.p50Ms)} ms, ${fmt(Math.round(work.latency.p50Ms / WORK_MS))}× the ${WORK_MS} ms of work: each request waited behind the others for the one core, which finishes at most ${fmt(ceiling)} of them a second (measured ${fmt(Math.round(work.rps))}, ${fmt(Math.round((work.rps / ceiling) * 100))}%).`,
    );
  }
  const uuid = largestMeasured(cells, MODEL.LOOP, 'uuid', connections);
  if (uuid !== undefined && routes.includes('uuid')) {
    lines.push(
      `On ${MODEL_ROUTES.uuid.label} the loop waits for PostgreSQL without blocking: ${fmt(Math.round(uuid.rps))} req/s at ${fmt(uuid.connections)} connections, p99 ${fmt(uuid.latency.p99Ms)} ms, ${fmt(uuid.cpuMsPerRequest)} ms of CPU per request, over ${fmt(uuid.pgBackends)} backends (its pool).`,
    );
  }
  const small = findCell(cells, MODEL.LOOP, 'work', smallest(connections));
  const slowest = connections.map((n) => findCell(cells, MODEL.LOOP, 'work', n)).filter((c): c is CellResult => c !== undefined && c.status !== CELL_STATUS.SKIPPED).pop();
  if (ok(small) && slowest !== undefined && slowest !== small) {
    const bound = slowest.status === CELL_STATUS.MEASURED ? `only after ${fmt(slowest.warmupMs / 1000)} s` : `not within ${fmt(slowest.warmupMs / 1000)} s (${slowest.answeredAtWindow ?? '?'} had)`;
    lines.push(
      `Getting there took long: all ${fmt(slowest.connections)} connections had a first answer ${bound}, against ${fmt(small.warmupMs / 1000)} s for ${fmt(small.connections)}. A busy loop accepts one new connection per turn, and each turn first serves every connection it already has.`,
    );
  }
  if (ok(small) && work !== undefined && small !== work) {
    lines.push(
      `More connections cost it no threads and no memory (${fmt(mib(small.end.rssBytes))} → ${fmt(mib(work.end.rssBytes))} MiB); its involuntary context switches come from other processes wanting its core (${fmt(perThousand(small.ctxSwitches.involuntary, small.responses))} → ${fmt(perThousand(work.ctxSwitches.involuntary, work.responses))} per 1,000 requests).`,
    );
  }
  return lines.join('\n');
}

function readPoolModel(cells: readonly CellResult[], all: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[], cores: number): string {
  const lines: string[] = [];
  const threads = cells.filter(ok).map((c) => c.end.threads as number);
  lines.push(`${MODELS_SETUP.poolWorkers} workers, fixed: ${span(threads)} threads whatever the connections; a request waits for a worker.`);
  const work = largestBoth(cells, all, 'work', connections);
  const loopWork = work === undefined ? undefined : findCell(all, MODEL.LOOP, 'work', work.connections);
  if (work !== undefined && ok(loopWork)) {
    const stats = work.modelStats as { waitTime?: { p99Ms: number }; runTime?: { p99Ms: number }; tasksPerWorker?: number } | null;
    lines.push(
      `On ${MODEL_ROUTES.work.label} at ${fmt(work.connections)} connections: ${fmt(Math.round(work.rps))} req/s, ${times(work.rps, loopWork.rps)} the loop's ${fmt(Math.round(loopWork.rps))}, with ${cores} cores to spin on instead of one (shared with the load generator and PostgreSQL).`,
    );
    lines.push(
      `Requests queue twice: in piscina's queue (wait p99 ${fmt(stats?.waitTime?.p99Ms)} ms), then in a worker, which takes up to ${fmt(stats?.tasksPerWorker)} tasks at once for /uuid's sake and runs /work's one after another (task time p99 ${fmt(stats?.runTime?.p99Ms)} ms for ${WORK_MS} ms of work).`,
    );
  }
  const uuid = largestBoth(cells, all, 'uuid', connections);
  const loopUuid = uuid === undefined ? undefined : findCell(all, MODEL.LOOP, 'uuid', uuid.connections);
  if (uuid !== undefined && ok(loopUuid) && routes.includes('uuid')) {
    lines.push(
      `On ${MODEL_ROUTES.uuid.label}: ${fmt(Math.round(uuid.rps))} req/s, ${times(uuid.rps, loopUuid.rps)} the loop's, ${fmt(uuid.cpuMsPerRequest)} ms of CPU per request against the loop's ${fmt(loopUuid.cpuMsPerRequest)}: each query crosses to a worker and back, and the workers use the pure-JS pg driver (pg-native's async API cannot run in a worker thread).`,
    );
  }
  return lines.join('\n');
}

function readSideBySide(cells: readonly CellResult[], connections: readonly number[], routes: readonly RouteKey[]): string {
  const parts: string[] = [];
  for (const route of routes) {
    // The largest count at which the loop model reached a steady state: the yardstick for the others.
    const b = largestMeasured(cells, MODEL.LOOP, route, connections);
    if (b === undefined) continue;
    const n = b.connections;
    const a = largestMeasured(cells, MODEL.THREAD, route, connections);
    const c = findCell(cells, MODEL.POOL, route, n);
    const best = [findCell(cells, MODEL.THREAD, route, n), b, c].filter(ok).sort((x, y) => y.rps - x.rps)[0] as CellResult;
    parts.push(
      `On ${MODEL_ROUTES[route].label} at ${fmt(n)} connections ${MODEL_TITLES[best.model]} served the most (${fmt(Math.round(best.rps))} req/s, p99 ${fmt(best.latency.p99Ms)} ms)${a !== undefined ? `; Model A held ${fmt(mib(a.end.rssBytes))} MiB at ${fmt(a.connections)} connections against B's ${fmt(mib(findCell(cells, MODEL.LOOP, route, a.connections)?.end.rssBytes ?? null))} MiB` : ''}.`,
    );
  }
  return parts.join('\n');
}
