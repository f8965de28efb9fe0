/**
 * `socketlab docs [--check]`: rewrite the figure regions of docs/*.md from the committed
 * outputs (docs/results/bench/*.json from the bench programs, docs/results/data/*.json the
 * labs' reference run), so that every table of figures in the docs is what a program
 * printed, not what someone typed. src/report/doc-regions.ts finds the regions,
 * src/report/doc-figures.ts renders them; this module reads and writes the files.
 *
 * Its own command rather than a flag of `bench` or `report`: `bench` runs programs and
 * `report` builds a report from results/ into a folder of the user's, while this reads only
 * what is committed and writes only inside the markers of docs/, and its --check is what
 * the tests run.
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { EXIT, LAB_ERR, LabError, isLabError, usageError } from '../errors.js';
import { benchCommand, benchJsonPath, LAB_DATA_DIR, renderFigures, type FigureSources } from '../report/doc-figures.js';
import { findRegions, replaceRegions } from '../report/doc-regions.js';
import { chooseResults, CHOICE, readResults } from '../report/results.js';
import { checkBenchEnvelope, type BenchResult } from '../results/bench-result.js';
import type { LabResult } from '../results/lab-result.js';
import { booleanFlag, noPositionals, parseFlags, stringFlag } from './args.js';
import type { Command } from './command.js';

/** The folders whose markdown files may hold regions, relative to the checkout. */
const DOC_DIRS = ['docs', path.join('docs', 'layers')] as const;

const USAGE = `Usage: socketlab docs [--check] [--root DIR]

Rewrite the generated figure regions of docs/*.md and docs/layers/*.md, each between
<!-- figures:NAME --> and <!-- /figures:NAME -->, from the committed outputs:

  docs/results/bench/NAME.json  what socketlab bench NAME -- --json FILE wrote
  docs/results/data/*.json      the labs' reference run (socketlab report --reference)

Everything outside the markers is left byte for byte. A missing output is named with the
command that makes it.

  --check     change nothing; exit 1 and name every region that differs from what the
              committed outputs give (npm test runs this)
  --root DIR  the checkout (default: the current folder)

Examples:
  npx socketlab bench serve -- --json docs/results/bench/serve.json && npx socketlab docs
  npx socketlab docs --check
`;

export const command: Command = {
  name: 'docs',
  summary: 'rewrite the figure tables in docs/ from the committed bench and lab outputs (--check)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('docs', argv, { check: { type: 'boolean' }, root: { type: 'string' } });
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('docs', positionals);
    const root = stringFlag(values, 'root') ?? '.';
    if (!existsSync(path.join(root, 'docs'))) throw usageError(`socketlab docs: no docs/ folder in ${path.resolve(root)}: run it in a socketlab checkout, or pass --root`);
    const outcome = updateDocs(root, { check: booleanFlag(values, 'check') });
    for (const line of outcome.errors) process.stderr.write(`socketlab docs: ${line}\n`);
    if (outcome.errors.length > 0) return EXIT.FAILURE;
    if (outcome.stale.length === 0) {
      process.stdout.write(`${outcome.regions} figure regions in ${outcome.files} files: all up to date\n`);
      return EXIT.OK;
    }
    if (booleanFlag(values, 'check')) {
      for (const line of outcome.stale) process.stdout.write(`stale: ${line}\n`);
      process.stdout.write(`${outcome.stale.length} of ${outcome.regions} figure regions differ from the committed outputs: run npx socketlab docs\n`);
      return EXIT.FAILURE;
    }
    for (const line of outcome.stale) process.stdout.write(`rewrote ${line}\n`);
    return EXIT.OK;
  },
};

export interface DocsOutcome {
  files: number;
  regions: number;
  /** "docs/benchmarks.md:42 figures:serve" for each region whose text changed (or would). */
  stale: string[];
  /** One line per thing that could not be rendered (a missing output, a missing field). */
  errors: string[];
}

/** Render every region under `root`; write the files that changed unless `check`. */
export function updateDocs(root: string, options: { check: boolean }): DocsOutcome {
  const sources = createSources(root);
  const outcome: DocsOutcome = { files: 0, regions: 0, stale: [], errors: [] };
  for (const dir of DOC_DIRS) {
    let names: string[];
    try {
      names = readdirSync(path.join(root, dir))
        .filter((name) => name.endsWith('.md'))
        .sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const shown = path.join(dir, name);
      const file = path.join(root, shown);
      const text = readFileSync(file, 'utf8');
      let regions: ReturnType<typeof findRegions>;
      try {
        regions = findRegions(text, shown);
      } catch (error) {
        outcome.errors.push(messageOf(error));
        continue;
      }
      if (regions.length === 0) continue;
      outcome.files += 1;
      outcome.regions += regions.length;
      let failed = false;
      const { text: updated, stale } = replaceRegions(text, regions, (region) => {
        try {
          return renderFigures(region.name, region.args, sources);
        } catch (error) {
          failed = true;
          const line = messageOf(error);
          if (!outcome.errors.includes(line)) outcome.errors.push(line);
          return region.body;
        }
      });
      outcome.stale.push(...stale.map((r) => `${shown}:${r.line} figures:${[r.name, ...r.args].join(' ')}`));
      if (!options.check && !failed && updated !== text) writeFileSync(file, updated);
    }
  }
  return outcome;
}

function messageOf(error: unknown): string {
  if (isLabError(error)) return error.message;
  throw error;
}

/** Reads each output once; a missing or unreadable one is a LabError naming the file and its command. */
function createSources(root: string): FigureSources {
  const benches = new Map<string, BenchResult>();
  let labs: Map<string, LabResult> | null = null;
  let skippedFiles: { file: string; reason: string }[] = [];
  return {
    bench(name) {
      const cached = benches.get(name);
      if (cached !== undefined) return cached;
      const file = benchJsonPath(name);
      let text: string;
      try {
        text = readFileSync(path.join(root, file), 'utf8');
      } catch {
        throw new LabError(LAB_ERR.DOCS_FIGURES, `${file} is missing: make it with ${benchCommand(name)}`);
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new LabError(LAB_ERR.DOCS_FIGURES, `${file} is not JSON (${(error as Error).message}): make it again with ${benchCommand(name)}`);
      }
      const checked = checkBenchEnvelope(value);
      if (!checked.ok) throw new LabError(LAB_ERR.DOCS_FIGURES, `${file}: ${checked.reason}: make it again with ${benchCommand(name)}`);
      if (checked.result.bench !== name)
        throw new LabError(LAB_ERR.DOCS_FIGURES, `${file} holds bench "${checked.result.bench}", not "${name}": make it again with ${benchCommand(name)}`);
      benches.set(name, checked.result);
      return checked.result;
    },
    lab(id) {
      if (labs === null) {
        const scan = readResults([path.join(root, LAB_DATA_DIR)]);
        labs = new Map([...chooseResults(scan.results, CHOICE.REFERENCE)].map(([key, loaded]) => [key, loaded.result]));
        skippedFiles = scan.skipped;
      }
      const skipped = skippedFiles.filter((s) => path.basename(s.file).startsWith(`${id}-`)).map((s) => `${path.basename(s.file)} (${s.reason})`);
      const result = labs.get(id);
      if (result === undefined) {
        throw new LabError(
          LAB_ERR.DOCS_FIGURES,
          `no readable run of lab ${id} in ${LAB_DATA_DIR}${skipped.length === 0 ? '' : `, skipped ${skipped.join(', ')}`}: make one with npx socketlab lab ${id} --yes, then npx socketlab report --reference`,
        );
      }
      return result;
    },
  };
}
