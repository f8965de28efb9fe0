import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabDefinition } from '../../src/labs/types.js';
import { viewFindings } from '../../src/report/findings.js';
import { renderReportHtml } from '../../src/report/html.js';
import { LAYERS, layerFileName, layerOfLab } from '../../src/report/layers.js';
import { escapeText, renderLayerIndex, renderLayerPage, renderTable } from '../../src/report/markdown.js';
import { buildReportModel, type ReportModel } from '../../src/report/model.js';
import { CHOICE, chooseResults, type LoadedResult } from '../../src/report/results.js';
import { describeProblem, validateLabResult } from '../../src/results/validate.js';
import { ALL_FIXTURES, DB_POOL, KNEE, REQUEST_CYCLE, SLOW_LINK, labResult } from './fixtures.js';
import { assertWellFormed } from './xml.js';

const loaded = (result: (typeof ALL_FIXTURES)[number], name = `${result.lab.id}-x.json`): LoadedResult => ({ file: `/nowhere/${name}`, name, result });

const DEFINITION: LabDefinition = {
  id: 'request-cycle',
  number: 1,
  title: 'One request, from socket() to JSON',
  layer: '1 request',
  summary: 'one request timed stage by stage',
  intro: 'Before any talk of a million users, follow one.\n- not a list: a wrapped line that starts with a dash\nand a | pipe and *stars*.',
  settings: { quick: {}, full: {} },
  run: async () => {},
};

function model(results: readonly (typeof ALL_FIXTURES)[number][], definitions: LabDefinition[] = [DEFINITION]): ReportModel {
  return buildReportModel(definitions, chooseResults(results.map((r) => loaded(r))));
}

test('the layers: five, labs 1..9 each in exactly one', () => {
  assert.equal(LAYERS.length, 5);
  assert.deepEqual(
    LAYERS.flatMap((l) => l.labs),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(layerOfLab(4).number, 3);
  assert.equal(layerOfLab(8).number, 4);
  assert.equal(layerFileName(LAYERS[3] as (typeof LAYERS)[number]), '04-1000-to-10000.md');
});

test("one result per lab: the user's report shows the newest completed run, the reference a full one before a quick one", () => {
  const at = (iso: string, quick: boolean, outcome: 'completed' | 'failed' = 'completed') => ({ ...KNEE, startedAt: iso, options: { quick, yes: true }, outcome });
  const cases: { runs: ReturnType<typeof at>[]; latest: number; reference: number }[] = [
    { runs: [at('2026-01-01T00:00:00Z', false), at('2026-01-02T00:00:00Z', false)], latest: 1, reference: 1 },
    { runs: [at('2026-01-01T00:00:00Z', false), at('2026-01-02T00:00:00Z', true)], latest: 1, reference: 0 },
    { runs: [at('2026-01-03T00:00:00Z', false, 'failed'), at('2026-01-02T00:00:00Z', true)], latest: 1, reference: 1 },
    { runs: [at('2026-01-03T00:00:00Z', false, 'failed'), at('2026-01-02T00:00:00Z', true, 'failed')], latest: 0, reference: 0 },
  ];
  for (const { runs, latest, reference } of cases) {
    const files = runs.map((r, i) => loaded(r, `knee-${i}.json`));
    const what = JSON.stringify(runs.map((r) => [r.startedAt, r.options.quick, r.outcome]));
    assert.equal(chooseResults(files, CHOICE.LATEST).get('knee')?.name, `knee-${latest}.json`, what);
    assert.equal(chooseResults(files, CHOICE.REFERENCE).get('knee')?.name, `knee-${reference}.json`, what);
  }
});

test('every fixture is a valid lab result; a wrong field is named with what is wrong', () => {
  for (const result of ALL_FIXTURES) {
    const checked = validateLabResult(JSON.parse(JSON.stringify(result)));
    assert.ok(checked.ok, checked.ok ? '' : `${result.lab.id}: ${describeProblem(checked)}`);
  }
  const problem = (value: unknown): string => {
    const checked = validateLabResult(value);
    return checked.ok ? 'valid' : describeProblem(checked);
  };
  const step = REQUEST_CYCLE.steps[0];
  const cases: [string, unknown, RegExp][] = [
    ['a load result', { schema: 'socketlab.load-result/1' }, /^schema: not a lab result/],
    ['an older lab result', { ...REQUEST_CYCLE, schema: 'socketlab.lab-result/1' }, /^schema: socketlab\.lab-result\/1 was written by an older socketlab.*run the lab again/],
    ['no lab', { ...REQUEST_CYCLE, lab: undefined }, /^lab: missing$/],
    ['no settings', { ...REQUEST_CYCLE, settings: undefined }, /^settings: missing$/],
    ['a bad start time', { ...REQUEST_CYCLE, startedAt: 'yesterday' }, /^startedAt: not an ISO date/],
    ['markup in the id', { ...REQUEST_CYCLE, lab: { ...REQUEST_CYCLE.lab, id: '"><img src=x onerror=alert(1)>/../../evil' } }, /^lab\.id: not a lab id/],
    ['a path in the id', { ...REQUEST_CYCLE, lab: { ...REQUEST_CYCLE.lab, id: '../../etc' } }, /^lab\.id: not a lab id/],
    ['a string for a number', { ...REQUEST_CYCLE, machine: { ...REQUEST_CYCLE.machine, cores: '2' } }, /^machine\.cores: not a number \("2"\)$/],
    ['an unknown outcome', { ...REQUEST_CYCLE, outcome: 'great' }, /^outcome: "great" is not one of completed, quit, failed$/],
    [
      'a row wider than its table',
      { ...REQUEST_CYCLE, steps: [{ ...step, tables: [{ header: ['a'], rows: [[1, 2]] }] }] },
      /^steps\[0\]\.tables\[0\]\.rows\[0\]: 2 cells for 1 columns$/,
    ],
    [
      'a chart point that is not a pair',
      { ...REQUEST_CYCLE, steps: [{ ...step, charts: [{ kind: 'line', title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', points: [[1, 2], [3]] }] }] }] },
      /^steps\[0\]\.charts\[0\]\.series\[0\]\.points\[1\]: not a pair of finite numbers/,
    ],
    [
      'bars that do not match their categories',
      {
        ...REQUEST_CYCLE,
        steps: [{ ...step, charts: [{ kind: 'bar', title: 't', categories: ['a', 'b'], x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', values: [1] }] }] }],
      },
      /^steps\[0\]\.charts\[0\]\.series\[0\]\.values: 1 values for 2 categories$/,
    ],
    [
      'a whisker upside down',
      {
        ...REQUEST_CYCLE,
        steps: [
          { ...step, charts: [{ kind: 'bar', title: 't', categories: ['a'], x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', values: [1], spread: [[3, 2]] }] }] },
        ],
      },
      /spread\[0\]: min 3 above max 2$/,
    ],
    ['a control character in a key', { ...REQUEST_CYCLE, findings: { '\u001b[31m': Number.NaN } }, /^findings\["\\u001b\[31m"\]: not a finite number$/],
  ];
  for (const [what, value, expected] of cases) assert.match(problem(value), expected, what);
});

test('findings as tables: single values, lists of records, and objects of like records', () => {
  const view = viewFindings(DB_POOL.findings);
  assert.deepEqual(view.values, [['backendRssMb', 9.8]]);
  const pools = view.tables.find((t) => t.title === 'pools');
  assert.deepEqual(pools?.header, ['', 'vus', 'rps', 'p99Ms', 'waitP99Ms', 'queryP99Ms']);
  assert.deepEqual(
    pools?.rows.map((r) => r[0]),
    ['5', '20', '100'],
  );
  const matrix = view.tables.find((t) => t.title === 'matrix');
  assert.equal(matrix?.rows.length, 9);
  const knee = viewFindings(KNEE.findings);
  assert.deepEqual(
    knee.tables.map((t) => t.title),
    ['age, uuid', 'series.age', 'series.uuid'],
  );
  const knees = knee.tables[0];
  assert.deepEqual(knees?.header.slice(0, 3), ['', 'kneeVus', 'peakRps']);
  assert.deepEqual(
    knees?.rows.map((r) => r.slice(0, 2)),
    [
      ['age', 400],
      ['uuid', 200],
    ],
  );
  // Cases beside settings: local, remote and manyUsers become one table; the link's settings stay values.
  const slow = viewFindings(SLOW_LINK.findings);
  assert.equal(slow.tables[0]?.title, 'local, remote, manyUsers');
  assert.ok(slow.values.some(([k, v]) => k === 'link.rateMbit' && v === 4));
  assert.ok(!slow.values.some(([k]) => k.startsWith('remote.')));
  assert.ok(knee.tables.some((t) => t.title === 'series.age' && t.rows.length === 7 && t.header.includes('p99Ms')));
  assert.ok(
    knee.values.some(([k, v]) => k === 'vus' && v === '50, 100, 200, 400, 800, 1600, 3200'),
    'a list of numbers is one line (no thousands commas inside a comma list)',
  );
  const long = viewFindings({ list: Array.from({ length: 30 }, (_, i) => i), rows: Array.from({ length: 50 }, (_, i) => ({ i })) });
  assert.match(String(long.values[0]?.[1]), /… \(30 in all\)$/);
  assert.equal(long.tables[0]?.omittedRows, 10);
});

test('a layer page: intro, each step with its tables and reading, charts, findings, and the run it came from', () => {
  const m = model([REQUEST_CYCLE]);
  const page = renderLayerPage(m.layers[0] as ReportModel['layers'][number]);
  assert.match(page, /^<!-- Generated by `socketlab report`/);
  assert.match(page, /^# Layer 1: one request\. What happens between socket\(\) and the JSON\?$/m);
  assert.ok(page.includes('Before any talk of a million users, follow one.'), 'the intro from the lab definition');
  assert.ok(page.includes('\\- not a list'), 'a wrapped line starting with a dash is not a list item');
  assert.ok(page.includes('\\*stars\\*'));
  assert.ok(page.includes('### 2. One request: GET /uuid/42, stage by stage'));
  assert.ok(page.includes('| server stage | ms |\n|---|---:|\n| accepted → first byte read | 1.87 |'), 'a GitHub table, numbers right-aligned');
  assert.ok(page.includes('Of 7.959 ms inside the server, the handler took 6.452 ms.'));
  assert.ok(
    page.includes('*Skipped here: strace is not installed (apt\\-get install strace).*') || page.includes('*Skipped here: strace is not installed (apt-get install strace).*'),
  );
  assert.match(page, /!\[[^\]]+\]\(\.\.\/results\/charts\/request-cycle-[a-z0-9-]+\.svg\)/);
  assert.ok(page.includes('| syscallsPerRequest | - |'));
  assert.match(
    page,
    /\*Measured on vm: 2 cores \(AMD EPYC\), 23\.5 GiB, Linux 6\.18\.44, Node v20\.20\.2, 2026-11-27 20:04 UTC: a full run, 61 s in all\.\* Data: \[request-cycle-x\.json\]\(\.\.\/results\/data\/request-cycle-x\.json\)/,
  );
  // The order the docs promise: intro, steps, findings, then which machine and when.
  const order = ['Before any talk', '### 1.', '### Findings', '*Measured on'].map((s) => page.indexOf(s));
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    order,
  );
});

test('a lab without results, or without a definition, gets a line saying so', () => {
  const m = model([KNEE, { ...DB_POOL, options: { quick: true, yes: true } }], [DEFINITION]);
  const layer4 = renderLayerPage(m.layers[3] as ReportModel['layers'][number]);
  assert.ok(layer4.includes('## Lab 7: ports-and-keepalive'));
  assert.ok(layer4.includes('**No results yet.** Run `socketlab lab ports-and-keepalive`, then `socketlab report`.'));
  assert.ok(layer4.includes('*This lab (`knee`) is not in this checkout yet.*'), 'no definition: the title comes from the results file');
  assert.ok(layer4.includes('## Lab 6: The knee of the curve'));
  assert.ok(layer4.includes('a --quick run'), 'db-pool was a quick run');
  const index = renderLayerIndex(m);
  assert.ok(
    index.includes(
      '| [4](04-1000-to-10000.md) | 1,000 → 10,000 users | where is the knee? | 5. The database pool: waiting is not querying (quick run)<br>6. The knee of the curve<br>7. ports-and-keepalive (no results yet)',
    ),
  );
});

test('markdown tables escape pipes and line breaks', () => {
  assert.equal(
    renderTable({
      header: ['a|b', 'n'],
      rows: [
        ['x\ny', 1],
        [null, 2.5],
      ],
    }),
    '| a\\|b | n |\n|---|---:|\n| x y | 1 |\n| - | 2.50 |',
  );
  assert.equal(escapeText('1. first\n> quoted <tag>'), '1\\. first\n&gt; quoted &lt;tag&gt;');
});

test('the HTML page: self-contained, every lab, charts inline, no scripts', () => {
  const html = renderReportHtml(model(ALL_FIXTURES));
  assertWellFormed(html, { html: true });
  assert.ok(!/<script|<link|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i.test(html), 'nothing loaded from elsewhere');
  for (const result of ALL_FIXTURES) assert.ok(html.includes(`id="lab-${result.lab.id}"`), result.lab.id);
  assert.ok((html.match(/<svg /g) ?? []).length >= 20);
  assert.ok(html.includes('<span class="badge quick">quick run</span>'), 'fd-exhaustion was a quick run');
  assert.ok(html.includes('href="data/knee-x.json"'));
  assert.ok(html.includes('Skipped here: tc netem is not in this kernel'));
  const empty = renderReportHtml(buildReportModel([], new Map()));
  assertWellFormed(empty, { html: true });
  assert.ok(empty.includes('No lab results yet'));
  assert.equal((empty.match(/No results yet for this lab/g) ?? []).length, 9);
});

test('a results file whose lab is not at its number any more is not shown under the wrong lab', () => {
  const moved = labResult({ id: 'old-name', number: 1, title: 'Old', layer: '1', steps: [], findings: {} });
  const m = buildReportModel([DEFINITION], chooseResults([loaded(moved)]));
  assert.equal(m.layers[0]?.labs[0]?.run, null);
});
