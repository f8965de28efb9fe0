/**
 * `socketlab report`: the lab results on this machine turned into the user's report, an
 * HTML page and layer pages in a folder of the user's (results/report/ by default). The
 * committed reference of this checkout (docs/results, docs/layers) is rewritten only with
 * --reference. src/report/build.ts says what goes where.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadLabs } from '../labs/registry.js';
import type { LabDefinition } from '../labs/types.js';
import { buildReport, checkReportFolder, type BuildReportOptions } from '../report/build.js';
import { CHOICE } from '../report/results.js';
import { EXIT, usageError } from '../errors.js';
import { booleanFlag, noPositionals, parseFlags, stringFlag } from './args.js';
import type { Command } from './command.js';

const DEFAULT_RESULTS = 'results';
const DEFAULT_OUT = path.join('results', 'report');
/** The committed reference, relative to the checkout (the working directory). */
const REFERENCE = { OUT: path.join('docs', 'results'), LAYERS: path.join('docs', 'layers') } as const;

const USAGE = `Usage: socketlab report [--results DIR] [--out DIR] [--force] [--open]
       socketlab report --reference [--results DIR]

Build your report from the lab runs on this machine: for each lab, its latest completed run
in the results folder (quick or full: the one you ran last), written to

  OUT/index.html            one self-contained page: every step's tables, readings and
                            charts, the findings, the machine each lab ran on
  OUT/charts/*.svg          the same charts as files
  OUT/data/*.json           copies of the results files shown
  OUT/layers/NN-<layer>.md  one page per layer of the load ladder, and README.md

A lab with no results gets a line saying so. A results file that is not a lab result this
socketlab reads (from an older version, cut short, edited by hand) is skipped with one line
naming it and its first wrong field.

  --results DIR  where the lab runs wrote <lab>-<timestamp>.json (default ./${DEFAULT_RESULTS})
  --out DIR      the report's folder (default ./${DEFAULT_OUT}); it must be missing, empty
                 or hold a report this command wrote
  --force        write into an --out folder that holds other files anyway (its charts/*.svg
                 and data/*.json that this report does not show are removed)
  --reference    rewrite this checkout's committed reference instead, ./${REFERENCE.OUT}/ and
                 ./${REFERENCE.LAYERS}/, from DIR and the reference's own data/: per lab a
                 completed full run before a --quick one, then the newest
  --open         open the HTML page in the desktop's browser afterwards (xdg-open)

Examples:
  socketlab lab knee && socketlab report            (results/report/index.html)
  socketlab report --reference                      (docs/ after a full tour)
  socketlab report --reference --results docs/results/data   (rebuild docs/ from its copies)
`;

export const command: Command = {
  name: 'report',
  summary: 'turn results/*.json into your report in results/report/ (--reference: the docs/)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('report', argv, {
      results: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      reference: { type: 'boolean' },
      open: { type: 'boolean' },
    });
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('report', positionals);
    const resultsDir = stringFlag(values, 'results') ?? DEFAULT_RESULTS;
    const out = stringFlag(values, 'out');
    const reference = booleanFlag(values, 'reference');
    const force = booleanFlag(values, 'force');
    if (reference && (out !== undefined || force)) throw usageError(`socketlab report: --reference writes ${REFERENCE.OUT} and ${REFERENCE.LAYERS}; it takes no --out or --force`);

    let target: Omit<BuildReportOptions, 'definitions'>;
    if (reference) {
      // Outside a checkout there is no reference to rewrite: creating docs/ there helps nobody.
      if (!existsSync(REFERENCE.OUT))
        throw usageError(
          `socketlab report: no committed reference here (${REFERENCE.OUT} does not exist): run --reference in a socketlab checkout, or leave it out for your own report`,
        );
      target = { resultsDirs: [resultsDir, path.join(REFERENCE.OUT, 'data')], outDir: REFERENCE.OUT, layersDir: REFERENCE.LAYERS, choice: CHOICE.REFERENCE };
    } else {
      const outDir = out ?? DEFAULT_OUT;
      const resolved = path.resolve(outDir);
      if ([REFERENCE.OUT, REFERENCE.LAYERS, 'docs'].some((dir) => path.resolve(dir) === resolved)) {
        throw usageError(`socketlab report: ${outDir} is the committed reference: pass --reference to rewrite it`);
      }
      const refusal = force ? null : checkReportFolder(outDir);
      if (refusal !== null) throw usageError(`socketlab report: ${refusal}: choose another --out, or pass --force to write into it`);
      target = { resultsDirs: [resultsDir], outDir, layersDir: path.join(outDir, 'layers'), choice: CHOICE.LATEST };
    }
    const definitions = await loadDefinitions();
    const built = buildReport({ ...target, definitions });

    const rel = (file: string): string => {
      const relative = path.relative(process.cwd(), file);
      return relative === '' || relative.startsWith('..') ? file : relative;
    };
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    // A skipped file is worth a line of its own on stderr: the person may want to fix or delete it.
    for (const skipped of built.skipped) process.stderr.write(`socketlab report: skipped ${printable(skipped.file)}: ${printable(skipped.reason)}\n`);
    const lines: string[] = [];
    for (const view of built.model.layers) {
      for (const lab of view.labs) {
        const run = lab.run;
        lines.push(
          run === null
            ? `  ${lab.number}. ${lab.id}: no results yet (socketlab lab ${lab.id})`
            : `  ${lab.number}. ${lab.id}: ${printable(run.source.name)} (${run.quick ? 'quick' : 'full'} run, ${run.outcome}, ${run.when}, ${plural(
                run.steps.reduce((n, s) => n + s.charts.length, 0),
                'chart',
              )})`,
        );
      }
    }
    const read = built.model.sources.length + built.unused.length;
    process.stdout.write(
      [
        `Read ${plural(read, 'lab result')} from ${target.resultsDirs.join(' and ')}${built.skipped.length > 0 ? ` (skipped ${plural(built.skipped.length, 'file')})` : ''}; showing ${built.model.sources.length}:`,
        ...lines,
        '',
        `Wrote ${rel(built.htmlPath)}, ${plural(built.chartFiles.length, 'chart')}, ${plural(built.dataFiles.length, 'data file')}, and ${plural(built.layerPages.length, 'page')} in ${rel(path.dirname(built.layerPages[0] as string))}/.`,
        '',
      ].join('\n'),
    );
    if (booleanFlag(values, 'open')) openInBrowser(built.htmlPath);
    return EXIT.OK;
  },
};

/**
 * Text from a file name or a file's content, safe to print on a terminal: control characters
 * (an escape sequence could rewrite the screen) are shown as \\u escapes.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The lab definitions give each section its intro. A lab file that fails to load (being
 * edited, say) must not stop the report: its results are still shown, without the intro.
 */
async function loadDefinitions(): Promise<LabDefinition[]> {
  try {
    return await loadLabs();
  } catch (error) {
    process.stderr.write(`socketlab report: could not load the lab definitions (${error instanceof Error ? error.message : String(error)}); sections will have no intro\n`);
    return [];
  }
}

function openInBrowser(file: string): void {
  const url = pathToFileURL(file).href;
  // Not the labs' kit.hasCommand: that module brings the load generator and Postgres with it.
  if (spawnSync('sh', ['-c', 'command -v xdg-open'], { stdio: 'ignore' }).status !== 0) {
    process.stdout.write(`No xdg-open here: open ${url} in a browser.\n`);
    return;
  }
  spawn('xdg-open', [url], { detached: true, stdio: 'ignore' }).unref();
  process.stdout.write(`Opened ${url}\n`);
}
