/**
 * The docs' figure regions (src/report/doc-figures.ts, doc-regions.ts, src/cli/docs.ts): a
 * changed figure changes the table, a missing figure is an error naming its file and field
 * (never "undefined" in a doc), everything outside the markers is kept byte for byte, and a
 * missing output names the command that makes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isLabError } from '../../src/errors.js';
import { SOCKETLAB_CLI } from '../../src/program.js';
import { benchCommand, describeBenchRun, markdownTable, renderFigures, type FigureSources } from '../../src/report/doc-figures.js';
import { findRegions, replaceRegions } from '../../src/report/doc-regions.js';
import { updateDocs } from '../../src/cli/docs.js';
import { BENCH_RESULT_SCHEMA, type BenchResult } from '../../src/results/bench-result.js';
import { LAB_RESULT_SCHEMA, type LabResult } from '../../src/results/lab-result.js';
import { MACHINE } from './fixtures.js';

const run = promisify(execFile);

function serveResult(): BenchResult {
  const round = (r: number, server: string, rps: number, cpu: number) => ({
    round: r,
    server,
    rps,
    requests: rps,
    cpuUsPerRequest: cpu,
    latencyAvgMs: 1,
    errors: 0,
    loadAverage: '0.50 0.40 0.30',
  });
  const summary = (server: string, rps: number, cpu: number, base: number, baseCpu: number) => ({
    server,
    rps,
    cpuUsPerRequest: cpu,
    latencyAvgMs: 1,
    errors: 0,
    baseOverThisRps: Number((base / rps).toFixed(2)),
    thisOverBaseCpu: Number((cpu / baseCpu).toFixed(2)),
  });
  return {
    schema: BENCH_RESULT_SCHEMA,
    bench: 'serve',
    args: ['--duration', '5'],
    quick: false,
    startedAt: '2026-12-06T20:00:00.000Z',
    finishedAt: '2026-12-06T20:01:00.000Z',
    machine: MACHINE,
    versions: { node: 'v20.20.2', wrk: '4.1.0' },
    loadAverage: { start: [0.5, 0.4, 0.3], end: [1.5, 0.6, 0.4] },
    path: '/age?birthdate=1993-05-01',
    durationS: 5,
    rounds: 2,
    connections: 100,
    keepAlive: {
      rounds: [
        round(1, 'socketlab serve', 90_000, 11),
        round(1, 'node:http', 60_000, 16),
        round(1, 'naive node:net', 100_000, 9),
        round(2, 'socketlab serve', 92_000, 11.2),
        round(2, 'node:http', 61_000, 16.2),
        round(2, 'naive node:net', 101_000, 9.1),
      ],
      summary: [summary('socketlab serve', 92_000, 11.2, 92_000, 11.2), summary('node:http', 61_000, 16.2, 92_000, 11.2), summary('naive node:net', 101_000, 9.1, 92_000, 11.2)],
    },
    ratios: { socketlabOverNaiveRps: 0.91, socketlabOverNaiveTarget: 0.9, naiveOverSocketlabCpu: 0.81, socketlabOverNodeHttpRps: 1.51, nodeHttpOverSocketlabCpu: 1.45 },
    close: null,
  };
}

function sourcesOf(benches: Record<string, BenchResult>, labs: Record<string, LabResult> = {}): FigureSources {
  return {
    bench(name) {
      const result = benches[name];
      if (result === undefined) throw new Error(`test asked for bench ${name}`);
      return result;
    },
    lab(id) {
      const result = labs[id];
      if (result === undefined) throw new Error(`test asked for lab ${id}`);
      return result;
    },
  };
}

test('a changed figure changes the serve table and the CPU sentence built from it', () => {
  const before = serveResult();
  const text = renderFigures('serve', [], sourcesOf({ serve: before }));
  assert.match(text, /\| socketlab serve \| 92,000 \(90,000–92,000\) \| 11\.2 \(11–11\.2\) \|/);
  assert.match(text, /9\.10 µs for the naive server, 11\.2 µs for socketlab and 16\.2 µs for node:http/);
  assert.match(text, /0\.91× the naive server\*\* by requests per second \(target ≥ 0\.90×: met\)/);
  assert.match(text, /`docs\/results\/bench\/serve\.json`/);

  const after = serveResult() as BenchResult & { keepAlive: { summary: { cpuUsPerRequest: number }[] }; ratios: { socketlabOverNaiveRps: number } };
  after.keepAlive.summary[0]!.cpuUsPerRequest = 12.5;
  after.ratios.socketlabOverNaiveRps = 0.85;
  const changed = renderFigures('serve', [], sourcesOf({ serve: after }));
  assert.notEqual(changed, text);
  assert.match(changed, /12\.5 µs for socketlab/);
  assert.match(changed, /target ≥ 0\.90×: \*\*not met\*\*/);
});

test('a missing or non-numeric figure is an error naming the file and the field, never "undefined"', () => {
  const missing = serveResult() as BenchResult & { ratios: Record<string, unknown> };
  delete missing.ratios.naiveOverSocketlabCpu;
  assert.throws(
    () => renderFigures('serve', [], sourcesOf({ serve: missing })),
    (error: unknown) =>
      isLabError(error) && error.code === 'LAB_ERR_DOCS_FIGURES' && /docs\/results\/bench\/serve\.json: field "ratios\.naiveOverSocketlabCpu" is missing/.test(error.message),
  );
  const text = serveResult() as BenchResult & { keepAlive: { summary: Record<string, unknown>[] } };
  text.keepAlive.summary[1]!.errors = 'many';
  assert.throws(() => renderFigures('serve', [], sourcesOf({ serve: text })), /field "keepAlive\.summary\[1\]\.errors" is "many", not a number/);
  const noMachine = serveResult() as unknown as Record<string, unknown>;
  noMachine.machine = { cores: 2 };
  assert.throws(() => describeBenchRun(noMachine as unknown as BenchResult), /field "machine\.memoryBytes" is missing/);
});

test('a short run says so under its table', () => {
  const quick = { ...serveResult(), quick: true };
  assert.match(renderFigures('serve', [], sourcesOf({ serve: quick })), /\*\*A short run\*\*/);
  assert.doesNotMatch(renderFigures('serve', [], sourcesOf({ serve: serveResult() })), /short run/);
});

test('a lab table comes from the step and table named, and a wrong step is an error', () => {
  const lab: LabResult = {
    schema: LAB_RESULT_SCHEMA,
    lab: { id: 'knee', number: 6, title: 'The knee', layer: '1,000 → 10,000' },
    options: { quick: false, yes: true },
    settings: {},
    machine: MACHINE,
    startedAt: '2026-12-06T20:00:00.000Z',
    durationMs: 1000,
    outcome: 'completed',
    steps: [
      {
        title: 'sweep',
        status: 'done',
        durationMs: 10,
        tables: [
          {
            header: ['VUs', 'req/s'],
            rows: [
              [10, 1234.5],
              [100, null],
            ],
          },
        ],
      },
    ],
    findings: {},
  };
  const text = renderFigures('lab-table', ['knee', '1', '1'], sourcesOf({}, { knee: lab }));
  assert.match(text, /\| VUs \| req\/s \|\n\|---:\|---:\|\n\| 10 \| 1,235 \|\n\| 100 \| - \|/);
  assert.throws(() => renderFigures('lab-table', ['knee', '2', '1'], sourcesOf({}, { knee: lab })), /has 1 steps, no step 2/);
  assert.throws(() => renderFigures('lab-table', ['knee'], sourcesOf({}, { knee: lab })), /needs a lab id, a step number and a table number/);
});

test('markdown tables escape pipes and right-align numeric columns', () => {
  assert.equal(
    markdownTable(
      ['a|b', 'n'],
      [
        ['x|y', 1],
        ['z', null],
      ],
    ),
    '| a\\|b | n |\n|---|---:|\n| x\\|y | 1 |\n| z | - |',
  );
});

test('only the text between the markers changes; every byte outside is kept', () => {
  const doc =
    'Intro, with 3 spaces   and a tab\t\n<!-- figures:serve -->\nold table\n<!-- /figures:serve -->\nmiddle\r\n<!-- figures:lab-table knee 1 2 -->\n<!-- /figures:lab-table -->\nend without newline';
  const regions = findRegions(doc, 'x.md');
  assert.deepEqual(
    regions.map((r) => [r.name, r.args, r.body, r.line]),
    [
      ['serve', [], 'old table', 2],
      ['lab-table', ['knee', '1', '2'], '', 6],
    ],
  );
  const { text, stale } = replaceRegions(doc, regions, (r) => `new ${r.name}\n`);
  assert.equal(
    text,
    'Intro, with 3 spaces   and a tab\t\n<!-- figures:serve -->\nnew serve\n<!-- /figures:serve -->\nmiddle\r\n<!-- figures:lab-table knee 1 2 -->\nnew lab-table\n<!-- /figures:lab-table -->\nend without newline',
  );
  assert.equal(stale.length, 2);
  // Rendering again gives the same text and nothing stale.
  const again = replaceRegions(text, findRegions(text, 'x.md'), (r) => `new ${r.name}`);
  assert.equal(again.text, text);
  assert.equal(again.stale.length, 0);
  assert.throws(() => findRegions('<!-- figures:serve -->\nno end\n', 'y.md'), /y\.md:1: <!-- figures:serve --> has no closing/);
});

test('socketlab docs: a missing output is one line naming the file and its command; --check names a stale region', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-docs-test-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'docs', 'results', 'bench'), { recursive: true });
  const doc = path.join(root, 'docs', 'page.md');
  const original = '# Page\n\n<!-- figures:serve -->\nhand-typed 8.6 µs\n<!-- /figures:serve -->\n\nAfter.\n';
  writeFileSync(doc, original);

  const missing = await run(process.execPath, [SOCKETLAB_CLI, 'docs', '--check', '--root', root]).then(
    () => assert.fail('docs --check passed without its JSON'),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `socketlab docs: docs/results/bench/serve.json is missing: make it with ${benchCommand('serve')}\n`);
  assert.equal(readFileSync(doc, 'utf8'), original, 'nothing written when a source is missing');

  writeFileSync(path.join(root, 'docs', 'results', 'bench', 'serve.json'), JSON.stringify(serveResult()));
  const check = await run(process.execPath, [SOCKETLAB_CLI, 'docs', '--check', '--root', root]).then(
    () => assert.fail('docs --check passed on a stale region'),
    (error: { code: number; stdout: string }) => error,
  );
  assert.equal(check.code, 1);
  assert.match(check.stdout, /^stale: docs\/page\.md:3 figures:serve$/m);
  assert.equal(readFileSync(doc, 'utf8'), original, '--check writes nothing');

  const outcome = updateDocs(root, { check: false });
  assert.deepEqual(outcome.errors, []);
  const written = readFileSync(doc, 'utf8');
  assert.ok(written.startsWith('# Page\n\n<!-- figures:serve -->\nGET /age'), written);
  assert.ok(written.endsWith('\n<!-- /figures:serve -->\n\nAfter.\n'), written);
  assert.doesNotMatch(written, /undefined|NaN|8\.6/);
  const { stdout } = await run(process.execPath, [SOCKETLAB_CLI, 'docs', '--check', '--root', root]);
  assert.match(stdout, /1 figure regions in 1 files: all up to date/);
});
