/**
 * Regenerate test/fixtures/llhttp-cases.json (and LLHTTP-LICENSE) from llhttp's markdown cases,
 * so that the conformance test runs on a clean clone where ../shared does not exist.
 *
 *   npx tsc -p . && node dist/test/http/llhttp-fixture.js --write [DIR]
 *
 * DIR defaults to ../shared/conformance/llhttp (relative to the repository). Without --write
 * this does nothing, so that a test runner that picks the file up runs it harmlessly.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extractCases, type LlhttpCase } from './llhttp-cases.js';

/** The repository root, from dist/test/http/ (compiled) where this runs. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SHARED_CASES_DIR = fileURLToPath(new URL('../../../../shared/conformance/llhttp/', import.meta.url));
export const FIXTURE_PATH = fileURLToPath(new URL('../../../test/fixtures/llhttp-cases.json', import.meta.url));
export const LICENSE_PATH = fileURLToPath(new URL('../../../test/fixtures/LLHTTP-LICENSE', import.meta.url));

export interface LlhttpFixture {
  about: string;
  source: string;
  regenerate: string;
  cases: LlhttpCase[];
}

export function buildFixture(dir: string): LlhttpFixture {
  return {
    about:
      "Request test cases of llhttp 9.4.2 (test/request/*.md), reduced to data: the input bytes (a latin1 string, one char per byte) and llhttp's verdict, completed messages and their fields. Used by test/http/llhttp-conformance.test.ts.",
    source: 'llhttp 9.4.2, https://github.com/nodejs/llhttp, MIT licence: see LLHTTP-LICENSE beside this file.',
    regenerate: 'npx tsc -p . && node dist/test/http/llhttp-fixture.js --write [path/to/llhttp/markdown]',
    cases: extractCases(dir),
  };
}

export function serializeFixture(fixture: LlhttpFixture): string {
  return `${JSON.stringify(fixture, null, 1)}\n`;
}

function main(argv: string[]): void {
  if (argv[0] !== '--write') return;
  const dir = argv[1] ?? SHARED_CASES_DIR;
  if (!existsSync(dir)) {
    process.stderr.write(`llhttp-fixture: no case directory at ${dir}\n`);
    process.exitCode = 2;
    return;
  }
  const fixture = buildFixture(dir);
  writeFileSync(FIXTURE_PATH, serializeFixture(fixture));
  writeFileSync(LICENSE_PATH, readFileSync(`${dir.replace(/\/$/, '')}/LICENSE`));
  process.stdout.write(`wrote ${fixture.cases.length} cases to ${FIXTURE_PATH}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
