import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { findPgBinaries } from '../../src/db/index.js';
import type { RouteKey } from '../../src/labs/models-names.js';
import { CELL_STATUS, skippedCell, type CellResult } from '../../src/labs/models-cell.js';
import { combineRuns } from '../../src/labs/models-grid.js';
import { findGiveWay } from '../../src/labs/models-give-way.js';
import type { AcceptsPerTurn } from '../../src/labs/accepts-per-turn.js';
import { readLoopModel, readPoolModel, readSideBySide, readThreadModel } from '../../labs/02-concurrency-models.js';
import { MODEL, type ModelName } from '../../src/models/model.js';

type PerCount<T> = Record<string, T | null>;
type PerRoute<T> = Record<string, PerCount<T>>;
interface ModelFindings {
  rps: PerRoute<number>;
  p50Ms: PerRoute<number>;
  p99Ms: PerRoute<number>;
  threads: PerRoute<number>;
  rssMb: PerRoute<number>;
  ctxSwitches: PerRoute<{ voluntary: number | null; involuntary: number | null }>;
  status: PerRoute<string>;
  pgBackends: PerRoute<number>;
}

const num = (value: number | null | undefined, what: string): number => {
  assert.equal(typeof value, 'number', `${what} was not measured`);
  return value as number;
};

test("concurrency-models: Model A's threads and memory follow its connections, B's and C's do not; every cell runs in rounds", { timeout: 300_000 }, async () => {
  const { result, cli } = await runLabQuick('concurrency-models', { timeoutMs: 280_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const findings = result.findings;
  const rounds = findings.rounds as number;
  assert.ok(rounds >= 2, `rounds: ${rounds}`);
  const [small, big] = findings.connections as [number, number];
  const models = findings.models as Record<'thread' | 'loop' | 'pool', ModelFindings>;
  const { thread, loop, pool } = models;

  // Model A: one kernel thread per connection on top of the idle process's.
  const threadsA = thread.threads.work as PerCount<number>;
  const idle = num((findings.threadCost as { idleThreads: number }).idleThreads, 'idle threads');
  assert.ok(Math.abs(num(threadsA[small], 'A threads') - (idle + small)) <= 3, `A at ${small}: ${threadsA[small]} threads, idle ${idle}`);
  assert.ok(Math.abs(num(threadsA[big], 'A threads') - (idle + big)) <= 3, `A at ${big}: ${threadsA[big]} threads, idle ${idle}`);
  // Models B and C: the same threads whatever the connections; C has its workers on top.
  for (const [name, model] of [
    ['loop', loop],
    ['pool', pool],
  ] as const) {
    const t = model.threads.work as PerCount<number>;
    assert.ok(Math.abs(num(t[big], `${name} threads`) - num(t[small], `${name} threads`)) <= 2, `${name}: ${t[small]} → ${t[big]} threads`);
  }
  assert.ok(num(pool.threads.work?.[small], 'pool threads') > num(loop.threads.work?.[small], 'loop threads'), 'the pool model runs worker threads');

  // Memory: every Model A thread is an isolate of several MiB; the loop's RSS hardly moves.
  const grewA = num(thread.rssMb.work?.[big], 'A RSS') - num(thread.rssMb.work?.[small], 'A RSS');
  const grewB = num(loop.rssMb.work?.[big], 'B RSS') - num(loop.rssMb.work?.[small], 'B RSS');
  assert.ok(grewA >= big - small, `A's RSS grew ${grewA} MiB for ${big - small} more threads`);
  assert.ok(grewB < grewA / 4, `B's RSS grew ${grewB} MiB against A's ${grewA}`);
  const perThread = (findings.threadCost as { rssPerThreadMb: number }).rssPerThreadMb;
  assert.ok(perThread >= 1, `RSS per thread ${perThread} MiB`);

  // Every measured cell has throughput and kernel context switches over its window.
  for (const [name, model] of Object.entries(models)) {
    for (const [route, byCount] of Object.entries(model.ctxSwitches)) {
      for (const [count, cs] of Object.entries(byCount)) {
        if (model.status[route]?.[count] === 'skipped' || cs === null) continue;
        assert.ok(num(model.rps[route]?.[count], `${name} ${route} ${count} rps`) > 0, `${name} ${route} ${count}: no requests`);
        assert.ok(num(cs.voluntary, 'voluntary') + num(cs.involuntary, 'involuntary') > 0, `${name} ${route} ${count}: no context switches`);
      }
    }
  }
  // Every steady cell kept each of its runs; one that gave way ran once.
  const cells = result.steps.find((s) => s.title.startsWith('Every model'))?.measurements?.cells as CellResult[];
  for (const c of cells) {
    if (c.status === CELL_STATUS.MEASURED) assert.equal(c.runs?.length, rounds, `${c.model} ${c.route} ${c.connections}: ${c.runs?.length} runs`);
  }

  // How this Node's loop accepts waiting connections was measured, not assumed.
  const accepts = findings.acceptsPerTurn as AcceptsPerTurn | null;
  if (accepts !== null) assert.ok(accepts.accepted > 0 && accepts.maxPerTurn >= 1 && accepts.turns >= 1, JSON.stringify(accepts));

  // /uuid: the quick form leaves it out, and says so.
  if (findings.uuidSkipped === null) {
    assert.ok(findPgBinaries() !== null);
  } else {
    assert.match(String(findings.uuidSkipped), /quick|PostgreSQL/);
    assert.ok(result.steps.some((s) => s.status === 'skipped' && /quick|PostgreSQL/.test(s.reason ?? '')));
  }

  // The comparison says, for every model and route, where it gave way, that it held, or that the noise hides it.
  const givesWay = findings.givesWay as { model: string; route: string; text: string }[];
  assert.ok(givesWay.length >= 3 && givesWay.every((g) => g.text.length > 20), JSON.stringify(givesWay));
});

/** One measured run of a cell, every number set; `over` changes some. */
function run(
  model: ModelName,
  route: RouteKey,
  connections: number,
  over: Partial<CellResult> & { threads?: number; rssMb?: number; p50?: number; cpu?: number } = {},
): CellResult {
  const base = skippedCell({ model, route, connections }, '');
  const { threads, rssMb, p50, cpu, ...rest } = over;
  return {
    ...base,
    status: CELL_STATUS.MEASURED,
    note: null,
    warmupMs: 1000,
    windowMs: 1000,
    responses: 500,
    rps: 500,
    latency: { ...base.latency, p50Ms: p50 ?? 8, p99Ms: 20 },
    idle: { ...base.idle, threads: 11, rssBytes: 60 * 2 ** 20 },
    end: { cpuTimeMs: 1000, threads: threads ?? 11, rssBytes: (rssMb ?? 70) * 2 ** 20, voluntary: 10, involuntary: 10 },
    ctxSwitches: { voluntary: 10, involuntary: 20 },
    cpuMsPerRequest: cpu ?? 2,
    ...rest,
  };
}

/** A cell measured twice, with these throughputs (and the same other numbers). */
function cell(model: ModelName, route: RouteKey, connections: number, rps: [number, number], over: Parameters<typeof run>[3] = {}): CellResult {
  return combineRuns(rps.map((r) => run(model, route, connections, { ...over, rps: r })));
}

test('concurrency-models readings follow the numbers they are given', () => {
  const work = ['work'] as const;
  // Model A: one thread per connection, or not.
  const a = [cell(MODEL.THREAD, 'work', 4, [600, 620], { threads: 15, rssMb: 130 }), cell(MODEL.THREAD, 'work', 12, [590, 610], { threads: 23, rssMb: 246 })];
  assert.match(readThreadModel(a, [4, 12], work, 2), /one per connection/);
  const shared = [cell(MODEL.THREAD, 'work', 4, [600, 620], { threads: 13 }), cell(MODEL.THREAD, 'work', 12, [590, 610], { threads: 13 })];
  assert.match(readThreadModel(shared, [4, 12], work, 2), /not one per connection/);
  assert.match(readThreadModel(a, [4, 12], work, 2), /took turns on 2 cores/);
  assert.doesNotMatch(readThreadModel(a, [4, 12], work, 64), /took turns/);

  // Model B: the warm-up is called long only when its ranges part; the accept sentence comes from the measurement.
  const accepts: AcceptsPerTurn = { waiting: 20, accepted: 20, turns: 20, maxPerTurn: 1 };
  const sameWarmup = [cell(MODEL.LOOP, 'work', 4, [480, 490]), cell(MODEL.LOOP, 'work', 12, [480, 490], { p50: 24 })];
  assert.match(readLoopModel(sameWarmup, [4, 12], work, accepts), /do not differ/);
  assert.doesNotMatch(readLoopModel(sameWarmup, [4, 12], work, accepts), /took long/);
  const slowWarmup = [cell(MODEL.LOOP, 'work', 4, [480, 490]), cell(MODEL.LOOP, 'work', 12, [480, 490], { p50: 24, warmupMs: 3000 })];
  assert.match(readLoopModel(slowWarmup, [4, 12], work, accepts), /took long.*one waiting connection per turn/s);
  assert.match(readLoopModel(slowWarmup, [4, 12], work, { ...accepts, turns: 2, maxPerTurn: 19 }), /up to 19 waiting connections a turn/);
  assert.match(readLoopModel(sameWarmup, [4, 12], work, accepts), /no memory to speak of/);
  const grew = [cell(MODEL.LOOP, 'work', 4, [480, 490]), cell(MODEL.LOOP, 'work', 12, [480, 490], { rssMb: 140 })];
  assert.doesNotMatch(readLoopModel(grew, [4, 12], work, accepts), /no memory/);
  assert.match(readLoopModel(sameWarmup, [4, 12], work, accepts), /12× the 2 ms of work: each request waited/);
  assert.doesNotMatch(readLoopModel([cell(MODEL.LOOP, 'work', 4, [480, 490]), cell(MODEL.LOOP, 'work', 12, [480, 490], { p50: 2 })], [4, 12], work, accepts), /waited behind/);

  // Model C against B: faster only when every run is.
  const b = [cell(MODEL.LOOP, 'work', 12, [480, 490])];
  const cFast = [cell(MODEL.POOL, 'work', 12, [900, 950], { threads: 13 })];
  const cSame = [cell(MODEL.POOL, 'work', 12, [450, 950], { threads: 13 })];
  assert.match(readPoolModel(cFast, [...b, ...cFast], [12], work, 2), /higher in every run.*2 cores to spin on/s);
  assert.match(readPoolModel(cSame, [...b, ...cSame], [12], work, 2), /no measurable difference/);
  assert.doesNotMatch(readPoolModel(cSame, [...b, ...cSame], [12], work, 2), /cores to spin on/);

  // Side by side: "served the most" only when the best's range is clear of the next.
  assert.match(readSideBySide([...b, ...cFast], [12], work), /Model C \(thread pool\) served the most/);
  assert.match(readSideBySide([...b, ...cSame], [12], work), /served about as much/);

  // Where a model gives way, judged on the ranges of its runs.
  const lo = cell(MODEL.LOOP, 'work', 4, [480, 490]);
  const give = (hi: [number, number]): string => findGiveWay([lo, cell(MODEL.LOOP, 'work', 12, hi)], MODEL.LOOP, 'work')?.text ?? '';
  assert.match(give([470, 500]), /stopped scaling/);
  assert.match(give([300, 310]), /lost throughput/);
  assert.match(give([1000, 1100]), /held up to 12/);
  assert.match(give([400, 800]), /cannot be told at this noise level/);
  assert.doesNotMatch(give([400, 800]), /stopped scaling|lost throughput|held/);
});
