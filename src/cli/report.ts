/**
 * `socketlab report`: the lab results on this machine turned into the HTML report and the
 * layer pages of the docs (src/report/build.ts says what goes where).
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadLabs } from '../labs/registry.js';
import type { LabDefinition } from '../labs/types.js';
import { buildReport } from '../report/build.js';
import { EXIT } from '../errors.js';
import { booleanFlag, noPositionals, parseFlags, stringFlag } from './args.js';
import type { Command } from './command.js';

const USAGE = `Usage: socketlab report [--results DIR] [--out DIR] [--open]

Build the report from the lab runs on this machine: for each lab, the newest results file
(a completed run before a failed one, a full run before a --quick one), turned into

  DIR/results/index.html       one self-contained page: every step's tables and readings,
                               SVG charts, the findings, the machine each lab ran on
  DIR/results/charts/*.svg     the same charts as files
  DIR/results/data/*.json      copies of the results files used (the docs cite these)
  DIR/layers/NN-<layer>.md     one page per layer of the load ladder, and README.md

A lab with no results gets a line saying so. Run the labs first (socketlab tour, or
socketlab lab NAME), then this.

  --results DIR  where the lab runs wrote results/<lab>-<timestamp>.json (default ./results)
  --out DIR      the docs folder to write into (default ./docs)
  --open         open the HTML page in the desktop's browser afterwards (xdg-open)

Examples:
  socketlab lab knee && socketlab report
  socketlab report --results docs/results/data     (rebuild the docs from the copies)
`;

export const command: Command = {
  name: 'report',
  summary: 'turn results/*.json into docs/results/index.html and the docs/layers pages',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('report', argv, { results: { type: 'string' }, out: { type: 'string' }, open: { type: 'boolean' } });
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('report', positionals);
    const resultsDir = stringFlag(values, 'results') ?? 'results';
    const docsDir = stringFlag(values, 'out') ?? 'docs';
    const definitions = await loadDefinitions();
    const built = buildReport({ resultsDir, docsDir, definitions });

    const rel = (file: string): string => {
      const relative = path.relative(process.cwd(), file);
      return relative === '' || relative.startsWith('..') ? file : relative;
    };
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    const lines: string[] = [];
    for (const view of built.model.layers) {
      for (const lab of view.labs) {
        const run = lab.run;
        lines.push(
          run === null
            ? `  ${lab.number}. ${lab.id}: no results yet (socketlab lab ${lab.id})`
            : `  ${lab.number}. ${lab.id}: ${run.source.name} (${run.quick ? 'quick' : 'full'} run, ${run.outcome}, ${run.when}, ${plural(run.steps.reduce((n, s) => n + s.charts.length, run.findingCharts.length), 'chart')})`,
        );
      }
    }
    for (const skipped of built.skipped) lines.push(`  skipped ${skipped.name}: ${skipped.reason}`);
    process.stdout.write(
      [
        `Read ${plural(built.model.sources.length + built.unused.length, 'lab result')} from ${resultsDir}; used ${built.model.sources.length}:`,
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
