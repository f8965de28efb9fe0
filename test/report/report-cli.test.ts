import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { KNEE, writeFixtureResults } from './fixtures.js';
import { assertWellFormed } from './xml.js';

test('socketlab report turns a results folder into the HTML page, the charts, the data copies and the layer pages', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-'));
  try {
    const results = path.join(root, 'results');
    const docs = path.join(root, 'docs');
    const names = writeFixtureResults(results);
    // An older quick run of the knee (to be passed over), a file that is not a lab result,
    // and a stale data file from an earlier report (to be removed).
    writeFileSync(path.join(results, 'knee-2020-01-01.json'), JSON.stringify({ ...KNEE, startedAt: '2020-01-01T00:00:00.000Z', options: { quick: true, yes: true } }));
    writeFileSync(path.join(results, 'load-run.json'), JSON.stringify({ schema: 'socketlab.load-result/1' }));
    mkdirSync(path.join(docs, 'results', 'data'), { recursive: true });
    writeFileSync(path.join(docs, 'results', 'data', 'stale-2019.json'), '{}');

    const cli = await runCli(['report', '--results', results, '--out', docs]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /Read 10 lab results from .*; used 9:/);
    assert.match(cli.stdout, /6\. knee: knee-2026-11-27T20-04-57-500Z\.json \(full run, completed/);
    assert.match(cli.stdout, /skipped load-run\.json: not a lab result/);

    const data = readdirSync(path.join(docs, 'results', 'data')).sort();
    assert.deepEqual(data, [...names].sort(), 'exactly the files used, byte for byte copies');
    for (const name of names) assert.equal(readFileSync(path.join(docs, 'results', 'data', name), 'utf8'), readFileSync(path.join(results, name), 'utf8'));

    const layers = readdirSync(path.join(docs, 'layers')).sort();
    assert.deepEqual(layers, ['01-one-request.md', '02-0-to-100.md', '03-100-to-1000.md', '04-1000-to-10000.md', '05-10000-to-100000.md', 'README.md']);
    const layer3 = readFileSync(path.join(docs, 'layers', '03-100-to-1000.md'), 'utf8');
    assert.ok(layer3.includes('## Lab 3: The accept queue overflows') && layer3.includes('## Lab 4: Out of file descriptors'));
    // Every chart a page shows is a file that exists.
    for (const page of layers) {
      const text = readFileSync(path.join(docs, 'layers', page), 'utf8');
      for (const [, target] of text.matchAll(/\]\((\.\.\/results\/[^)]+)\)/g)) assert.ok(existsSync(path.join(docs, 'layers', decodeURIComponent(target as string))), `${page} links ${target}`);
    }

    const charts = readdirSync(path.join(docs, 'results', 'charts'));
    assert.ok(charts.length >= 20, `${charts.length} charts`);
    for (const chart of charts) assertWellFormed(readFileSync(path.join(docs, 'results', 'charts', chart), 'utf8'));
    const html = readFileSync(path.join(docs, 'results', 'index.html'), 'utf8');
    assertWellFormed(html, { html: true });
    assert.equal((html.match(/<svg /g) ?? []).length, charts.length, 'the page inlines every chart');

    // Run again with one lab's results gone: its copy goes, and its section says it has none.
    rmSync(path.join(results, names.find((n) => n.startsWith('all-cores')) as string));
    const again = await runCli(['report', '--results', results, '--out', docs]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!readdirSync(path.join(docs, 'results', 'data')).some((n) => n.startsWith('all-cores')));
    assert.match(readFileSync(path.join(docs, 'layers', '05-10000-to-100000.md'), 'utf8'), /\*\*No results yet\.\*\* Run `socketlab lab all-cores`/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('socketlab report with no results still writes pages that say so; bad flags exit 2', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'socketlab-report-'));
  try {
    const cli = await runCli(['report', '--results', path.join(root, 'none'), '--out', path.join(root, 'docs')]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(readFileSync(path.join(root, 'docs', 'results', 'index.html'), 'utf8'), /No lab results yet/);
    const bad = await runCli(['report', '--nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /socketlab report: .*--nope/);
    const help = await runCli(['report', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--results DIR/);
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
  for (const args of [['seed', '--reference'], ['seed', '--', '--reference']]) {
    const run = await runCli(['bench', ...args]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /uuid-7500-local\s+post\s+300\s+14,228\s+263\s+-\s+505\s+673\s+2,180\s+0/);
  }
  const failing = await runCli(['bench', 'seed', '--', '--no-such-flag']);
  assert.equal(failing.code, 2, 'the program\'s own exit status comes back');
  assert.match(failing.stderr, /--no-such-flag/);

  const unknown = await runCli(['bench', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no program named "nope": choose one of parser, serve/);
});
