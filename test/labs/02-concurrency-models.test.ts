import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { findPgBinaries } from '../../src/db/index.js';

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

test("concurrency-models: Model A's threads and memory follow its connections, B's and C's do not; the loop queues /work on one core", async () => {
  const { result, cli } = await runLabQuick('concurrency-models', { timeoutMs: 150_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const findings = result.findings;
  const [small, big] = findings.connections as [number, number];
  const models = findings.models as Record<'thread' | 'loop' | 'pool', ModelFindings>;
  const { thread, loop, pool } = models;

  // Model A: one kernel thread per connection on top of the idle process's.
  const threadsA = thread.threads.work as PerCount<number>;
  const idle = num((findings.threadCost as { idleThreads: number }).idleThreads, 'idle threads');
  assert.ok(Math.abs(num(threadsA[small], 'A threads') - (idle + small)) <= 3, `A at ${small}: ${threadsA[small]} threads, idle ${idle}`);
  assert.ok(Math.abs(num(threadsA[big], 'A threads') - (idle + big)) <= 3, `A at ${big}: ${threadsA[big]} threads, idle ${idle}`);
  // Models B and C: the same threads whatever the connections; C has its workers on top.
  for (const [name, model] of [['loop', loop], ['pool', pool]] as const) {
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

  // One core, one queue: on /work the loop's median grows with the connections waiting.
  const p50 = loop.p50Ms.work as PerCount<number>;
  assert.ok(num(p50[big], 'loop p50') >= 2.5 * num(p50[small], 'loop p50'), `loop /work p50 ${p50[small]} → ${p50[big]} ms`);

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

  // /uuid: a database connection per thread for A; or said plainly why it was not run.
  if (findPgBinaries() !== null) {
    assert.equal(findings.uuidSkipped, null);
    for (const [name, model] of Object.entries(models)) {
      if (model.status.uuid?.[String(big)] === 'skipped') continue;
      assert.ok(num(model.rps.uuid?.[String(big)], `${name} uuid rps`) > 0, `${name}: no /uuid answers`);
    }
    if (thread.status.uuid?.[String(big)] === 'measured') assert.ok(num(thread.pgBackends.uuid?.[String(big)], 'backends') >= big, `A at ${big}: ${thread.pgBackends.uuid?.[String(big)]} backends`);
  } else {
    assert.match(String(findings.uuidSkipped), /PostgreSQL/);
    assert.ok(result.steps.some((s) => s.status === 'skipped' && /PostgreSQL/.test(s.reason ?? '')));
  }

  // The comparison says, for every model and route, where it gave way or that it held.
  const givesWay = findings.givesWay as { model: string; route: string; text: string }[];
  assert.ok(givesWay.length >= 3 && givesWay.every((g) => g.text.length > 20), JSON.stringify(givesWay));
});
