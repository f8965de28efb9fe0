/**
 * `socketlab report`'s work: lab results in, a report folder and layer pages out.
 *
 *   <out>/index.html            every lab on one self-contained page
 *   <out>/charts/<id>.svg       each chart, for the layer pages
 *   <out>/data/<file>.json      a copy of each results file used, so the pages cite data that
 *                               sits beside them
 *   <layers>/NN-<slug>.md       one page per layer, and README.md listing them
 *
 * The user's report is results/report/ (layers in results/report/layers/); the committed
 * reference is docs/results/ and docs/layers/, rewritten only when asked (cli/report.ts).
 *
 * The charts/ and data/ folders are the report's alone: charts it no longer draws are
 * removed, and data files of runs it no longer shows, so a folder never keeps data no page
 * cites. A data file it could not read is left where it is (and named), unless it is an
 * older run of a lab the report now shows from a newer file. Every path written is checked
 * to stay inside its folder, whatever a results file says.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabDescription } from '../results/lab-result.js';
import { LAB_ERR, LabError } from '../errors.js';
import { OLDER_LAB_RESULT_SCHEMAS } from '../results/lab-result.js';
import { renderReportHtml, REPORT_GENERATOR } from './html.js';
import { layerFileName } from './layers.js';
import { renderLayerIndex, renderLayerPage } from './markdown.js';
import { buildReportModel, type ReportModel } from './model.js';
import { chooseResults, readResults, CHOICE, type Choice, type LoadedResult, type SkippedFile } from './results.js';

export interface BuildReportOptions {
  /** Folders the results are read from, in order (a file in two of them is read once). */
  resultsDirs: readonly string[];
  /** The report's folder: index.html, charts/, data/. */
  outDir: string;
  /** Where the layer pages go (the user's report: <out>/layers). */
  layersDir: string;
  /** Which run of each lab to show (results.ts CHOICE). */
  choice?: Choice;
  /** The lab definitions, for each lab's intro (loadLabs() in the CLI). */
  definitions: readonly LabDescription[];
}

export interface BuiltReport {
  model: ReportModel;
  htmlPath: string;
  layerPages: string[];
  dataFiles: string[];
  chartFiles: string[];
  /** Results files read but not shown: another run of the same lab was chosen. */
  unused: LoadedResult[];
  /** Files that are not lab results of this schema, and why. */
  skipped: SkippedFile[];
}

export function buildReport(options: BuildReportOptions): BuiltReport {
  const scan = readResults(options.resultsDirs);
  const chosen = chooseResults(scan.results, options.choice ?? CHOICE.LATEST);
  const model = buildReportModel(options.definitions, chosen);

  const outDir = path.resolve(options.outDir);
  const dataOut = path.join(outDir, 'data');
  const chartsOut = path.join(outDir, 'charts');
  const layersOut = path.resolve(options.layersDir);
  for (const dir of [outDir, dataOut, chartsOut, layersOut]) mkdirSync(dir, { recursive: true });

  const dataFiles = model.sources.map((source) => {
    const target = inside(dataOut, source.name);
    if (path.resolve(source.file) !== target) copyFileSync(source.file, target);
    return target;
  });

  const chartFiles: string[] = [];
  for (const view of model.layers) {
    for (const lab of view.labs) {
      for (const chart of lab.run?.steps.flatMap((s) => s.charts) ?? []) {
        const target = inside(chartsOut, path.basename(chart.file));
        writeFileSync(target, `<?xml version="1.0" encoding="UTF-8"?>\n${chart.svg}\n`);
        chartFiles.push(target);
      }
    }
  }
  removeStale(chartsOut, '.svg', new Set(chartFiles), () => true);
  const dataIsSource = options.resultsDirs.some((dir) => path.resolve(dir) === dataOut);
  const shown = new Set(model.sources.map((s) => s.result.lab.id));
  const readable = new Set(scan.results.map((r) => r.file));
  // A data folder the report also reads from (the reference) loses only what it could read and
  // no longer shows, or an older-schema run of a lab shown now; another one is wholly its own.
  removeStale(dataOut, '.json', new Set(dataFiles), (file) => !dataIsSource || readable.has(file) || isSupersededOlderRun(file, shown));

  const htmlPath = inside(outDir, 'index.html');
  const layersHref = relativeHref(outDir, layersOut);
  writeFileSync(htmlPath, renderReportHtml(model, { layersHref }));

  const resultsHref = relativeHref(layersOut, outDir);
  const layerPages = model.layers.map((view) => {
    const target = inside(layersOut, layerFileName(view.layer));
    writeFileSync(target, renderLayerPage(view, { resultsHref }));
    return target;
  });
  const indexPath = inside(layersOut, 'README.md');
  writeFileSync(indexPath, renderLayerIndex(model, { resultsHref }));
  layerPages.push(indexPath);

  const used = new Set(model.sources.map((s) => s.file));
  return { model, htmlPath, layerPages, dataFiles, chartFiles, unused: scan.results.filter((r) => !used.has(r.file)), skipped: scan.skipped };
}

/**
 * Why the report must not write into `dir`, or null when it may: a folder that does not
 * exist, is empty, or holds a report this command wrote (its index.html says so). Anything
 * else is someone's folder, which the report does not fill or prune without --force.
 */
export function checkReportFolder(dir: string): string | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return code === 'ENOTDIR' ? `${dir} is a file, not a folder` : `${dir} cannot be read (${code ?? String(error)})`;
  }
  if (names.length === 0) return null;
  const index = path.join(dir, 'index.html');
  if (existsSync(index)) {
    try {
      if (readFileSync(index, 'utf8').slice(0, 2000).includes(REPORT_GENERATOR)) return null;
    } catch {
      // Unreadable: not known to be ours.
    }
  }
  return `${dir} is not empty and holds no report written by socketlab report`;
}

/** `dir/name`, refused unless it stays directly inside `dir` (no separators, no `..`). */
export function inside(dir: string, name: string): string {
  const target = path.resolve(dir, name);
  if (path.dirname(target) !== path.resolve(dir) || name === '' || name === '.' || name === '..') {
    throw new LabError(LAB_ERR.USAGE, `refusing to write ${JSON.stringify(name)}: it is not a file name inside ${dir}`);
  }
  return target;
}

/** A relative link from one folder to another, with forward slashes (for HTML and Markdown). */
function relativeHref(from: string, to: string): string {
  const relative = path.relative(from, to).split(path.sep).join('/');
  return relative === '' ? '.' : relative;
}

function removeStale(dir: string, extension: string, keep: ReadonlySet<string>, mayRemove: (file: string) => boolean): void {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.endsWith(extension) && !keep.has(file) && mayRemove(file)) rmSync(file, { force: true });
  }
}

/** A results file of an older schema whose lab the report now shows from a newer run. */
function isSupersededOlderRun(file: string, shownLabs: ReadonlySet<string>): boolean {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { schema?: unknown; lab?: { id?: unknown } };
    return typeof data.schema === 'string' && OLDER_LAB_RESULT_SCHEMAS.includes(data.schema) && typeof data.lab?.id === 'string' && shownLabs.has(data.lab.id);
  } catch {
    return false;
  }
}
