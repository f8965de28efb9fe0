/**
 * Every figure region in this checkout's docs/ is what the committed outputs give
 * (`socketlab docs --check`): a doc whose table was typed or edited by hand, or whose JSON
 * changed without `socketlab docs`, fails here with the regions named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { updateDocs } from '../../src/cli/docs.js';
import { findRegions } from '../../src/report/doc-regions.js';

/** The checkout: dist/test/report/ is three levels down. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('every figure region in docs/ is up to date with docs/results (socketlab docs --check)', () => {
  const outcome = updateDocs(ROOT, { check: true });
  assert.deepEqual(outcome.errors, [], 'every region renders from the committed outputs');
  assert.ok(outcome.regions > 0, 'the docs hold generated regions');
  assert.deepEqual(outcome.stale, [], 'run npx socketlab docs, then commit the docs');
});

test('no generated region shows a figure that was not there ("undefined", "NaN", "null")', () => {
  const docs = path.join(ROOT, 'docs');
  for (const name of readdirSync(docs).filter((n) => n.endsWith('.md'))) {
    for (const region of findRegions(readFileSync(path.join(docs, name), 'utf8'), name)) {
      assert.doesNotMatch(region.body, /\bundefined\b|\bNaN\b|\bnull\b/, `${name}:${region.line} figures:${region.name}`);
    }
  }
});
