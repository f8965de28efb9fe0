import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { POST_MACHINE, POST_RUNS, postPoolSize } from '../../src/report/post-figures.js';

/** ../shared/seed beside the project folder (dist/test/report/ is three levels down). */
const FIGURES = fileURLToPath(new URL('../../../../shared/seed/figures.json', import.meta.url));

interface FiguresRun {
  id: string;
  vus: number;
  remote: boolean;
  [field: string]: unknown;
}

test("the post's figures in src/ are the ones in ../shared/seed/figures.json", (t) => {
  if (!existsSync(FIGURES)) {
    t.skip(`${FIGURES} is not here (a clone outside the workspace): nothing to check the committed figures against`);
    return;
  }
  const figures = JSON.parse(readFileSync(FIGURES, 'utf8')) as { machine: { cores: number; memoryGb: number; poolMaxConnections: Record<string, number> }; runs: FiguresRun[] };
  assert.deepEqual(
    POST_RUNS.map((r) => r.id),
    figures.runs.map((r) => r.id),
    'the same seven runs, in the same order',
  );
  const numeric = ['vus', 'rps', 'p50Ms', 'p95Ms', 'p99Ms', 'maxMs', 'avgMs', 'failures'] as const;
  for (const run of POST_RUNS) {
    const source = figures.runs.find((r) => r.id === run.id) as FiguresRun;
    for (const field of numeric) assert.equal(run[field], source[field], `${run.id}.${field}`);
    assert.equal(run.remote, source.remote, `${run.id}.remote`);
    assert.equal(run.p99Approximate ?? false, source.p99Approximate ?? false, `${run.id}.p99Approximate`);
  }
  assert.equal(POST_MACHINE.cores, figures.machine.cores);
  assert.equal(POST_MACHINE.memoryGb, figures.machine.memoryGb);
  assert.deepEqual(Object.values(figures.machine.poolMaxConnections), [postPoolSize(1000), postPoolSize(5000)]);
});

test('the post publishes no p90: none is quoted', () => {
  for (const run of POST_RUNS) assert.equal('p90Ms' in run, false, run.id);
});
