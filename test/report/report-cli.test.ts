import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';
import { KNEE, REQUEST_CYCLE, writeFixtureResults } from './fixtures.js';
import { assertWellFormed } from './xml.js';

/** The checkout this test runs from: its committed reference (docs/results, docs/layers) is copied, never touched. */
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every file under `dir` (relative paths) with a hash of its bytes: a folder's exact state. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const file = path.join(at, name);
      if (statSync(file).isDirectory()) walk(file);
      else files.set(path.relative(dir, file), createHash('sha256').update(readFileSync(file)).digest('hex'));
    }
  };
  walk(dir);
  return files;
}

/** A stack trace, or the CLI's "unexpected failure" line, in the output: what bad input must never produce. */
const CRASH = /unexpected failure|\n\s+at [\w.<]+ \(|TypeError|RangeError/;

test('socketlab report writes the report folder: the HTML page, the charts each lab declared, the data copies and the layer pages', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-'));
  try {
    const results = path.join(root, 'results');
    const out = path.join(root, 'my-report');
    const names = writeFixtureResults(results);
    // An older run of the knee (passed over for the newer one), a file that is not a lab
    // result, and a stale data file from an earlier report (removed).
    writeFileSync(path.join(results, 'knee-2020-01-01.json'), JSON.stringify({ ...KNEE, startedAt: '2020-01-01T00:00:00.000Z', options: { quick: true, yes: true } }));
    writeFileSync(path.join(results, 'load-run.json'), JSON.stringify({ schema: 'socketlab.load-result/1' }));
    const first = await runCli(['report', '--results', results, '--out', out]);
    assert.equal(first.code, 0, first.stderr);
    writeFileSync(path.join(out, 'data', 'stale-2019.json'), '{}');

    const cli = await runCli(['report', '--results', results, '--out', out]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /Read 10 lab results from .* \(skipped 1 file\); showing 9:/);
    assert.match(cli.stdout, /6\. knee: knee-2026-11-27T20-04-57-500Z\.json \(full run, completed, .*, 4 charts\)/);
    assert.match(cli.stderr, /^socketlab report: skipped .*load-run\.json: schema: not a lab result/m);

    const data = readdirSync(path.join(out, 'data')).sort();
    assert.deepEqual(data, [...names].sort(), 'exactly the files shown, byte for byte copies');
    for (const name of names) assert.equal(readFileSync(path.join(out, 'data', name), 'utf8'), readFileSync(path.join(results, name), 'utf8'));

    const layers = readdirSync(path.join(out, 'layers')).sort();
    assert.deepEqual(layers, ['01-one-request.md', '02-0-to-100.md', '03-100-to-1000.md', '04-1000-to-10000.md', '05-10000-to-100000.md', 'README.md']);
    const layer3 = readFileSync(path.join(out, 'layers', '03-100-to-1000.md'), 'utf8');
    assert.ok(layer3.includes('## Lab 3: The accept queue overflows') && layer3.includes('## Lab 4: Out of file descriptors'));
    // Every chart and data file a page links is a file that exists.
    for (const page of layers) {
      const text = readFileSync(path.join(out, 'layers', page), 'utf8');
      const links = [...text.matchAll(/\]\((\.\.\/[^)]+)\)/g)].map((m) => m[1] as string);
      assert.ok(page === 'README.md' || links.length > 0, page);
      for (const target of links) assert.ok(existsSync(path.join(out, 'layers', decodeURIComponent(target))), `${page} links ${target}`);
    }

    // One chart per declaration, each a well-formed SVG, all inlined in the page.
    const declared = names.reduce(
      (n, name) => n + (JSON.parse(readFileSync(path.join(results, name), 'utf8')) as typeof KNEE).steps.reduce((m, step) => m + (step.charts?.length ?? 0), 0),
      0,
    );
    const charts = readdirSync(path.join(out, 'charts'));
    assert.equal(charts.length, declared);
    for (const chart of charts) assertWellFormed(readFileSync(path.join(out, 'charts', chart), 'utf8'));
    const html = readFileSync(path.join(out, 'index.html'), 'utf8');
    assertWellFormed(html, { html: true });
    assert.equal((html.match(/<svg /g) ?? []).length, charts.length, 'the page inlines every chart');
    assert.ok(html.includes('href="layers/README.md"'), 'the page links its own layer pages');

    // Run again with one lab's results gone: its copy goes, and its section says it has none.
    rmSync(path.join(results, names.find((n) => n.startsWith('all-cores')) as string));
    const again = await runCli(['report', '--results', results, '--out', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!readdirSync(path.join(out, 'data')).some((n) => n.startsWith('all-cores')));
    assert.ok(!readdirSync(path.join(out, 'charts')).some((n) => n.startsWith('all-cores')));
    assert.match(readFileSync(path.join(out, 'layers', '05-10000-to-100000.md'), 'utf8'), /\*\*No results yet\.\*\* Run `socketlab lab all-cores`/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('issue 14.9: in a checkout, socketlab report leaves the committed reference alone and writes results/report; --reference merges into it', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-checkout-'));
  try {
    // A fresh clone, as far as the report can tell: the committed reference, and one lab run.
    cpSync(path.join(CHECKOUT, 'docs', 'results'), path.join(root, 'docs', 'results'), { recursive: true });
    cpSync(path.join(CHECKOUT, 'docs', 'layers'), path.join(root, 'docs', 'layers'), { recursive: true });
    const committed = snapshot(path.join(root, 'docs'));
    const committedData = readdirSync(path.join(root, 'docs', 'results', 'data'));
    assert.ok(committedData.length >= 9, `${committedData.length} committed data files`);
    // Newer than the committed full run of every lab: the reference takes the newest full run.
    const [kneeFile] = writeFixtureResults(path.join(root, 'results'), new Date().toISOString()).filter((n) => n.startsWith('knee'));
    for (const name of readdirSync(path.join(root, 'results'))) if (name !== kneeFile) rmSync(path.join(root, 'results', name));

    const cli = await runCli(['report'], { cwd: root });
    assert.equal(cli.code, 0, cli.stderr);
    assert.doesNotMatch(cli.stdout + cli.stderr, CRASH);
    assert.deepEqual(snapshot(path.join(root, 'docs')), committed, 'not one byte of docs/ changed');
    assert.ok(existsSync(path.join(root, 'results', 'report', 'index.html')));
    assert.ok(existsSync(path.join(root, 'results', 'report', 'layers', '04-1000-to-10000.md')));
    assert.deepEqual(readdirSync(path.join(root, 'results', 'report', 'data')), [kneeFile]);
    assert.ok(readdirSync(path.join(root, 'results', 'report', 'charts')).every((n) => n.startsWith('knee-')));

    // Pointing --out at the reference is refused, with the flag that does it.
    for (const dir of ['docs', 'docs/results', 'docs/layers']) {
      const refused = await runCli(['report', '--out', dir], { cwd: root });
      assert.equal(refused.code, 2, dir);
      assert.match(refused.stderr, /is the committed reference: pass --reference to rewrite it/);
    }
    assert.deepEqual(snapshot(path.join(root, 'docs')), committed);

    // --reference: the knee's new run joins the reference; no other lab's data is lost.
    const reference = await runCli(['report', '--reference'], { cwd: root });
    assert.equal(reference.code, 0, reference.stderr);
    assert.doesNotMatch(reference.stdout + reference.stderr, CRASH);
    const data = readdirSync(path.join(root, 'docs', 'results', 'data'));
    assert.ok(data.includes(kneeFile as string), 'the new run is in the reference');
    for (const name of committedData) {
      const kept = data.includes(name);
      const superseded = name.startsWith('knee-');
      assert.equal(kept, !superseded, `${name}: ${superseded ? 'an older run of the lab shown now goes' : "another lab's data stays"}`);
    }
    assert.match(readFileSync(path.join(root, 'docs', 'layers', '04-1000-to-10000.md'), 'utf8'), /## Lab 6: The knee of the curve/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('issue 14.10: a crafted lab id is skipped with one line; markup anywhere else is escaped; every file stays in its folder', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-crafted-'));
  try {
    const results = path.join(root, 'results');
    const out = path.join(root, 'out', 'report');
    mkdirSync(results, { recursive: true });
    const evil = '"><img src=x onerror=alert(1)>/../../evil';
    writeFileSync(path.join(results, 'crafted-id.json'), JSON.stringify({ ...REQUEST_CYCLE, lab: { ...REQUEST_CYCLE.lab, id: evil } }));
    // Valid in every field, with markup in every text the report shows.
    const markup = '<script>alert(1)</script>';
    const chart = REQUEST_CYCLE.steps[1]?.charts?.[0];
    assert.ok(chart !== undefined && chart.kind === 'bar');
    const crafted = {
      ...KNEE,
      lab: { ...KNEE.lab, title: `Knee ${markup}` },
      machine: { ...KNEE.machine, hostname: `host${markup}` },
      error: markup,
      steps: [
        {
          title: `step ${markup}`,
          status: 'done',
          reading: `reading ${markup} ](javascript:alert(1))`,
          tables: [{ header: [`h${markup}`], rows: [[`cell${markup}`]] }],
          charts: [
            {
              ...chart,
              title: `${markup}/../../../escaped`,
              caption: markup,
              categories: chart.categories.map((c) => `${c}${markup}`),
              series: chart.series.map((s) => ({ ...s, name: `${s.name}${markup}` })),
            },
          ],
          durationMs: 1,
        },
      ],
      findings: { [`key${markup}`]: `value${markup}` },
    };
    const craftedName = 'knee-<b>x<b>(1).json';
    writeFileSync(path.join(results, craftedName), JSON.stringify(crafted));

    const cli = await runCli(['report', '--results', results, '--out', out]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.doesNotMatch(cli.stdout + cli.stderr, CRASH);
    const skips = cli.stderr.split('\n').filter((line) => line.includes('skipped'));
    assert.equal(skips.length, 1, cli.stderr);
    assert.match(skips[0] as string, /^socketlab report: skipped .*crafted-id\.json: lab\.id: not a lab id/);

    // Nothing was written outside the report's folder; a chart's file name is a slug of its title.
    const written = [...snapshot(root).keys()];
    for (const file of written) assert.ok(file.startsWith(`results${path.sep}`) || file.startsWith(`out${path.sep}report${path.sep}`), file);
    assert.ok(!written.some((f) => f.includes('evil')), written.join('\n'));
    for (const name of readdirSync(path.join(out, 'charts'))) assert.match(name, /^[a-z0-9-]+\.svg$/);

    const html = readFileSync(path.join(out, 'index.html'), 'utf8');
    assertWellFormed(html, { html: true });
    assert.ok(!/<script|<img|<b>|onerror=alert/i.test(html), 'no markup from a results file is live');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'it is shown as text');
    for (const svg of readdirSync(path.join(out, 'charts'))) {
      const text = readFileSync(path.join(out, 'charts', svg), 'utf8');
      assertWellFormed(text);
      assert.ok(!/<script/i.test(text), svg);
    }
    for (const page of readdirSync(path.join(out, 'layers'))) {
      const md = readFileSync(path.join(out, 'layers', page), 'utf8');
      assert.ok(!/<script|<img|<b>/i.test(md), `${page} has no raw markup`);
      // A link to the data file stays one link: the name's parentheses are encoded.
      if (md.includes('Lab 6')) assert.match(md, /\(\.\.\/data\/knee-%3Cb%3Ex%3Cb%3E%281%29\.json\)/);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('issue 14.10: a results file missing a field is skipped with one line naming the file and the field, and the report goes on', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-missing-'));
  try {
    const results = path.join(root, 'results');
    const out = path.join(root, 'report');
    writeFixtureResults(results);
    const { machine: _machine, ...noMachine } = REQUEST_CYCLE;
    writeFileSync(path.join(results, 'no-machine.json'), JSON.stringify(noMachine));
    writeFileSync(path.join(results, 'no-steps.json'), JSON.stringify({ ...KNEE, steps: undefined }));
    writeFileSync(
      path.join(results, 'bad-point.json'),
      JSON.stringify({
        ...KNEE,
        steps: [{ ...KNEE.steps[0], charts: [{ kind: 'line', title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', points: [[1, 'a']] }] }] }],
      }),
    );
    writeFileSync(path.join(results, 'cut-short.json'), JSON.stringify(KNEE).slice(0, 200));
    writeFileSync(path.join(results, 'older.json'), JSON.stringify({ ...KNEE, schema: 'socketlab.lab-result/1' }));

    const cli = await runCli(['report', '--results', results, '--out', out]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.doesNotMatch(cli.stdout + cli.stderr, CRASH);
    const lines = cli.stderr.trim().split('\n');
    const expected: [string, RegExp][] = [
      ['bad-point.json', /: steps\[0\]\.charts\[0\]\.series\[0\]\.points\[0\]: not a pair of finite numbers/],
      ['cut-short.json', /: not valid JSON/],
      ['no-machine.json', /: machine: missing$/],
      ['no-steps.json', /: steps: missing$/],
      ['older.json', /: schema: socketlab\.lab-result\/1 was written by an older socketlab/],
    ];
    assert.equal(lines.length, expected.length, cli.stderr);
    expected.forEach(([file, reason], i) => {
      assert.ok(lines[i]?.startsWith('socketlab report: skipped ') && lines[i]?.includes(file), lines[i]);
      assert.match(lines[i] as string, reason);
    });
    assert.match(cli.stdout, /showing 9:/, 'the good files are all shown');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("socketlab report does not write into a folder of someone else's unless told to; no results still makes a page; bad flags exit 2", async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-'));
  try {
    const mine = path.join(root, 'mine');
    mkdirSync(path.join(mine, 'charts'), { recursive: true });
    writeFileSync(path.join(mine, 'notes.txt'), 'mine');
    writeFileSync(path.join(mine, 'charts', 'drawing.svg'), '<svg/>');
    const refused = await runCli(['report', '--results', path.join(root, 'none'), '--out', mine]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is not empty and holds no report written by socketlab report: choose another --out, or pass --force/);
    assert.ok(!existsSync(path.join(mine, 'index.html')));
    const forced = await runCli(['report', '--results', path.join(root, 'none'), '--out', mine, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(path.join(mine, 'index.html'), 'utf8'), /No lab results yet/);
    assert.equal(readFileSync(path.join(mine, 'notes.txt'), 'utf8'), 'mine', 'files outside charts/ and data/ are left alone');
    // Now it holds a report of ours: no --force needed.
    const again = await runCli(['report', '--results', path.join(root, 'none'), '--out', mine]);
    assert.equal(again.code, 0, again.stderr);

    const bad = await runCli(['report', '--nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /socketlab report: .*--nope/);
    const both = await runCli(['report', '--reference', '--out', mine]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--reference writes docs\/results and docs\/layers; it takes no --out or --force/);
    const nowhere = await runCli(['report', '--reference'], { cwd: root });
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /no committed reference here/);
    assert.ok(!existsSync(path.join(root, 'docs')));
    const help = await runCli(['report', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--results DIR', '--out DIR', '--force', '--reference', '--open']) assert.ok(help.stdout.includes(flag), flag);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('socketlab bench lists the programs with what each measures, explains one, and passes arguments through', async () => {
  const list = await runCli(['bench']);
  assert.equal(list.code, 0, list.stderr);
  for (const name of ['parser', 'serve', 'load', 'db', 'seed']) assert.match(list.stdout, new RegExp(`^  ${name}\\s+\\S`, 'm'), name);
  assert.match(list.stdout, /seed\s+The post's seven load runs on this machine/);

  const help = await runCli(['bench', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: socketlab bench \[NAME\]/);

  const doc = await runCli(['bench', 'seed', '--help']);
  assert.equal(doc.code, 0);
  assert.match(doc.stdout, /--reference/);

  // Arguments after the name (and after an optional --) reach the program.
  for (const args of [
    ['seed', '--reference'],
    ['seed', '--', '--reference'],
  ]) {
    const run = await runCli(['bench', ...args]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /uuid-7500-local\s+post\s+300\s+14,228\s+263\s+-\s+505\s+673\s+2,180\s+0/);
  }
  const failing = await runCli(['bench', 'seed', '--', '--no-such-flag']);
  assert.equal(failing.code, 2, "the program's own exit status comes back");
  assert.match(failing.stderr, /--no-such-flag/);

  const unknown = await runCli(['bench', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no program named "nope": choose one of parser, serve/);
});
