/**
 * The report in a real browser: Debian's chromium, headless, JavaScript off (the page must
 * not need it), loading the report's index.html from a file:// URL. It checks what a reader
 * sees: every chart drawn with a size, its axis titles and tick labels laid out inside it,
 * lines and bars present, and nothing fetched from anywhere but the file itself.
 * Chromium and its set-up: test/support/chromium.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildReport } from '../../src/report/build.js';
import { writeFixtureResults } from './fixtures.js';
import { chromiumSkipReason, withPageInChromium } from '../support/chromium.js';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface DomNode {
  id: string;
  textContent: string | null;
  getBoundingClientRect(): Box;
  querySelectorAll(selector: string): Iterable<DomNode>;
}
const SKIP = chromiumSkipReason('the report');

test('the report renders in headless chromium: charts drawn, axes labelled, nothing fetched', { skip: SKIP, timeout: 60_000 }, async () => {
  let chartFiles = 0;
  await withPageInChromium(
    'socketlab-report-browser-',
    (root) => {
      const results = path.join(root, 'results');
      writeFixtureResults(results);
      const out = path.join(root, 'report');
      const built = buildReport({ resultsDirs: [results], outDir: out, layersDir: path.join(out, 'layers'), definitions: [] });
      chartFiles = built.chartFiles.length;
      return built.htmlPath;
    },
    async ({ page, response, url, requested, root }) => {
      assert.ok(response?.ok(), `loaded ${url}`);
      assert.deepEqual(
        requested.filter((u) => u !== url),
        [],
        'the page fetched nothing else',
      );

      // One round trip for every chart's layout, measured by the browser's own layout engine.
      // (The project compiles without the DOM library: the few DOM shapes used are typed here.)
      const layouts = await page.locator('svg.chart').evaluateAll((elements) =>
        (elements as unknown as DomNode[]).map((svg) => {
          const view = globalThis as unknown as { scrollX: number; scrollY: number };
          const rect = (el: DomNode): Box => {
            const r = el.getBoundingClientRect();
            return { x: r.x + view.scrollX, y: r.y + view.scrollY, width: r.width, height: r.height };
          };
          return {
            id: svg.id,
            box: rect(svg),
            labels: [...svg.querySelectorAll('text.axis-label, text.tick')].map((t) => ({ text: t.textContent ?? '', box: rect(t) })),
            marks: [...svg.querySelectorAll('g.series path, g.series rect, g.series circle')].map(rect),
            whiskers: [...svg.querySelectorAll('g.spread line')].map(rect),
          };
        }),
      );
      const expected = chartFiles;
      assert.ok(expected >= 20, `${expected} charts built`);
      assert.equal(layouts.length, expected);
      for (const { id, box, labels, marks, whiskers } of layouts) {
        assert.ok(box.width > 300 && box.height > 100, `${id}: drawn at ${JSON.stringify(box)}`);
        // Axis titles and tick labels are laid out inside the chart, with a real size.
        assert.ok(labels.length >= 4, `${id}: ${labels.length} axis labels`);
        for (const label of labels) {
          const b = label.box;
          assert.ok(label.text !== '' && b.width > 0 && b.height > 0, `${id}: label "${label.text}" has a size`);
          assert.ok(
            b.x >= box.x - 1 && b.x + b.width <= box.x + box.width + 1 && b.y >= box.y - 1 && b.y + b.height <= box.y + box.height + 1,
            `${id}: label "${label.text}" inside the chart`,
          );
        }
        assert.ok(marks.length > 0 && marks.some((m) => m.width > 0 || m.height > 0), `${id}: has lines or bars with a size`);
        // A whisker (the runs' min–max) is drawn inside the chart.
        for (const w of whiskers)
          assert.ok(
            w.x >= box.x - 1 && w.x + w.width <= box.x + box.width + 1 && w.y >= box.y - 1 && w.y + w.height <= box.y + box.height + 1,
            `${id}: a whisker inside the chart`,
          );
      }
      assert.ok(layouts.filter((l) => l.whiskers.length > 0).length >= 5, 'comparisons show their spread');
      // The knee chart's axis reads "virtual users", and its title is the one the data gave.
      const knee = page.locator('svg.chart[id^="knee-throughput-against-virtual-users"]').first();
      assert.equal(await knee.locator('text.axis-label').first().textContent(), 'virtual users');
      assert.match((await knee.locator('text.chart-title').textContent()) ?? '', /^Throughput against virtual users \(\/age\)$/);

      const shot = path.join(root, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      assert.ok(png.length > 50_000, `a real picture: ${png.length} bytes`);
    },
  );
});
