/**
 * What diagnose prints and writes: the command's bad input (one line, exit 2), a target
 * with nothing listening (one line, exit 1), the text summary and the HTML page for a
 * result, and the page in headless Chromium (JavaScript off): its charts drawn with a size,
 * its verdict on screen, nothing fetched. Chromium is Debian's (see test/report/browser.test.ts);
 * without it that test skips and says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromiumSkipReason, withPageInChromium } from '../support/chromium.js';
import { diagnoseCharts, renderDiagnoseHtml } from '../../src/diagnose/html.js';
import { renderDiagnoseSummary } from '../../src/diagnose/summary-text.js';
import { runCli } from '../support/cli.js';
import { resultFrom, SATURATED, step } from './steps.js';

const CPU_RESULT = resultFrom([
  step(1, { rps: 1000 }),
  step(4, { rps: 3900, target: { busiestThread: { tid: 4321, name: 'node', cpuPercent: 88, runnablePercent: 91 } } }),
  step(16, { rps: 4000, target: SATURATED }),
  step(9, { phase: 'confirm', rps: 3950, target: SATURATED }),
]);

test('bad input: one line naming the flag, exit 2, no stack trace', async () => {
  const cases: { args: string[]; pattern: RegExp }[] = [
    { args: ['diagnose'], pattern: /needs a URL/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', 'http://127.0.0.1:2/'], pattern: /takes one URL/ },
    { args: ['diagnose', 'http://10.254.9.9:80/'], pattern: /not a loopback address.*--allow-remote/ },
    { args: ['diagnose', 'ftp://127.0.0.1/'], pattern: /http/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--rule', 'p(90)<'], pattern: /^socketlab: --rule "p\(90\)<": not a threshold expression/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--pid', 'abc'], pattern: /--pid takes a process ID/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--pid', '4194303'], pattern: /--pid 4194303: no such process/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--max-vus', '0'], pattern: /--max-vus must be between 1 and/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--step-duration', '10ms'], pattern: /--step-duration must be between 500 ms/ },
    { args: ['diagnose', 'http://127.0.0.1:1/', '--steps', '3'], pattern: /Unknown option '--steps'/ },
  ];
  for (const c of cases) {
    const run = await runCli(c.args, { timeoutMs: 20_000 });
    assert.equal(run.code, 2, `${c.args.join(' ')}: exit ${run.code}\n${run.stderr}`);
    assert.equal(run.stderr.trim().split('\n').length, 1, `${c.args.join(' ')}: one line\n${run.stderr}`);
    assert.match(run.stderr, c.pattern, c.args.join(' '));
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
});

test('--help lists every flag and the layers; exit 0', async () => {
  const run = await runCli(['diagnose', '--help']);
  assert.equal(run.code, 0);
  for (const flag of ['--pid', '--path-template', '--max-vus', '--step-duration', '--rule', '--json', '--html', '--allow-remote', '--no-keepalive', '--workers', '--timeout'])
    assert.ok(run.stdout.includes(flag), flag);
  assert.match(run.stdout, /cpu, event-loop, accept-queue, descriptors, db-pool, database, ports, link, memory, load-generator, none/);
  const top = await runCli(['--help']);
  assert.match(top.stdout, /diagnose\s+ramp load on your own server/);
});

test('nothing listening: one line, exit 1, after the first step only', async () => {
  // A port that was free a moment ago: bind, read the number, close.
  const port = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as net.AddressInfo;
      server.close(() => resolve(free));
    });
  });
  const run = await runCli(['diagnose', `http://127.0.0.1:${port}/`, '--step-duration', '500ms'], { timeoutMs: 30_000 });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^socketlab: socketlab diagnose: nothing answered at http:\/\/127\.0\.0\.1:\d+\/ \(refused [\d,]+\); is the server running\?\n$/);
});

test('the summary: the steps in order of users, the verdict, evidence, ruled out, unseen, limits', () => {
  const text = renderDiagnoseSummary(CPU_RESULT);
  assert.match(text, /^socketlab diagnose {2}http:\/\/127\.0\.0\.1:3000\/age\?birthdate=1993-05-01\n/);
  const rows = text
    .split('\n')
    .filter((line) => /^\s+\d+\s+(ramp|confirm)\s/.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
  assert.deepEqual(rows, [1, 4, 9, 16]);
  assert.match(text, /\nverdict: cpu at 9 VUs\n/);
  assert.match(text, /✗ target\.busiest-thread\.runnable: the main thread "node" of pid 4321 \(node\) was runnable 99% of the step at 9 VUs/);
  assert.match(text, /✓ accept-queue: the accept queue of port 3000 held at most 0 of its backlog of 511/);
  assert.match(text, /\? event-loop: the event-loop delay is read from socketlab serve's GET \/stats/);
  assert.match(text, /limits of this run\n {2}- the target does not answer GET \/stats/);
});

test('the page: self-contained, the verdict in it, one chart per reading that has points', () => {
  const html = renderDiagnoseHtml(CPU_RESULT);
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script|<link |src="http/);
  assert.match(html, /<span id="bottleneck-layer">cpu<\/span> at 9 VUs/);
  const charts = diagnoseCharts(CPU_RESULT);
  assert.deepEqual(
    charts.map((c) => c.id),
    ['diagnose-throughput', 'diagnose-latency', 'diagnose-thresholds', 'diagnose-cpu'],
  );
  for (const chart of charts) assert.ok(html.includes(`id="${chart.id}"`), chart.id);
  // The threshold chart holds one line per watched layer with a reading.
  const thresholds = charts[2]!;
  assert.ok(
    thresholds.series.some((s) => s.name === 'cpu' && s.points.some(([, y]) => y > 1)),
    'cpu crosses 1 in the chart',
  );
  assert.ok(!thresholds.series.some((s) => s.name === 'event-loop'), 'an unseen layer has no line');
});

const SKIP = chromiumSkipReason('the diagnose page');

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface DomNode {
  id: string;
  getBoundingClientRect(): Box;
  querySelectorAll(selector: string): Iterable<DomNode>;
}

test('the page in headless chromium: charts drawn with a size, the verdict visible, nothing fetched', { skip: SKIP, timeout: 60_000 }, async () => {
  await withPageInChromium(
    'socketlab-diagnose-browser-',
    (root) => {
      const file = path.join(root, 'diagnose.html');
      writeFileSync(file, renderDiagnoseHtml(CPU_RESULT));
      return file;
    },
    async ({ page, response, url, requested, root }) => {
      assert.ok(response?.ok());
      assert.deepEqual(
        requested.filter((u) => u !== url),
        [],
        'the page fetched nothing else',
      );
      assert.equal(await page.locator('#bottleneck-layer').textContent(), 'cpu');
      assert.ok(await page.locator('#verdict').isVisible());
      assert.match((await page.locator('#verdict').textContent()) ?? '', /The first layer to give way was cpu, at 9 VUs/);
      const layouts = await page.locator('svg.chart').evaluateAll((elements) =>
        (elements as unknown as DomNode[]).map((svg) => {
          const r = svg.getBoundingClientRect();
          return {
            id: svg.id,
            box: { x: r.x, y: r.y, width: r.width, height: r.height },
            marks: [...svg.querySelectorAll('g.series path, g.series circle')]
              .map((m) => m.getBoundingClientRect())
              .map((b) => ({ x: b.x, y: b.y, width: b.width, height: b.height })),
            labels: [...svg.querySelectorAll('text.axis-label')].length,
          };
        }),
      );
      assert.equal(layouts.length, 4, JSON.stringify(layouts.map((l) => l.id)));
      for (const { id, box, marks, labels } of layouts) {
        assert.ok(box.width > 300 && box.height > 100, `${id}: drawn at ${JSON.stringify(box)}`);
        assert.ok(
          marks.some((m) => m.width > 0 || m.height > 0),
          `${id}: has a line with a size`,
        );
        assert.equal(labels, 2, `${id}: both axes titled`);
      }
      const shot = path.join(root, 'diagnose.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.equal(readFileSync(shot).subarray(1, 4).toString('latin1'), 'PNG');
    },
  );
});
