/**
 * `socketlab report`'s work: results/*.json in, docs out.
 *
 *   <docs>/results/index.html        every lab on one self-contained page
 *   <docs>/results/charts/<id>.svg   each chart, for the layer pages
 *   <docs>/results/data/<file>.json  a copy of each results file used, so the docs cite
 *                                    data that is in the repository (results/ is not)
 *   <docs>/layers/NN-<slug>.md       one page per layer, and README.md listing them
 *
 * The charts/ and data/ folders are the report's alone: files there that the new report no
 * longer uses are removed, so the repository never keeps data no page cites.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabDefinition } from '../labs/types.js';
import { renderReportHtml } from './html.js';
import { layerFileName } from './layers.js';
import { renderLayerIndex, renderLayerPage } from './markdown.js';
import { buildReportModel, type ReportModel } from './model.js';
import { chooseResults, readResults, type LoadedResult } from './results.js';

export interface BuildReportOptions {
  /** Where the lab runs wrote their results (default ./results). */
  resultsDir: string;
  /** The docs folder to write into (default ./docs). */
  docsDir: string;
  /** The lab definitions, for each lab's intro (loadLabs() in the CLI). */
  definitions: readonly LabDefinition[];
}

export interface BuiltReport {
  model: ReportModel;
  htmlPath: string;
  layerPages: string[];
  dataFiles: string[];
  chartFiles: string[];
  /** Results files read but not used: another run of the same lab was chosen. */
  unused: LoadedResult[];
  /** Files in the results folder that are not lab results, and why. */
  skipped: { name: string; reason: string }[];
}

export function buildReport(options: BuildReportOptions): BuiltReport {
  const scan = readResults(options.resultsDir);
  const chosen = chooseResults(scan.results);
  const model = buildReportModel(options.definitions, chosen);

  const resultsOut = path.resolve(options.docsDir, 'results');
  const dataOut = path.join(resultsOut, 'data');
  const chartsOut = path.join(resultsOut, 'charts');
  const layersOut = path.resolve(options.docsDir, 'layers');
  for (const dir of [resultsOut, dataOut, chartsOut, layersOut]) mkdirSync(dir, { recursive: true });
  // `socketlab report --results docs/results/data` rebuilds the docs from the copies: keep those.
  const sourceFiles = new Set(model.sources.map((source) => source.file));
  removeGenerated(dataOut, '.json', sourceFiles);
  removeGenerated(chartsOut, '.svg', new Set());

  const dataFiles = model.sources.map((source) => {
    const target = path.join(dataOut, source.name);
    if (path.resolve(source.file) !== target) copyFileSync(source.file, target);
    return target;
  });

  const chartFiles: string[] = [];
  for (const view of model.layers) {
    for (const lab of view.labs) {
      if (lab.run === null) continue;
      const charts = [...lab.run.steps.flatMap((s) => s.charts), ...lab.run.findingCharts];
      for (const chart of charts) {
        const target = path.join(resultsOut, chart.file);
        writeFileSync(target, `<?xml version="1.0" encoding="UTF-8"?>\n${chart.svg}\n`);
        chartFiles.push(target);
      }
    }
  }

  const htmlPath = path.join(resultsOut, 'index.html');
  writeFileSync(htmlPath, renderReportHtml(model, { layersHref: path.relative(resultsOut, layersOut).split(path.sep).join('/') }));

  const layerPages = model.layers.map((view) => {
    const target = path.join(layersOut, layerFileName(view.layer));
    writeFileSync(target, renderLayerPage(view));
    return target;
  });
  const indexPath = path.join(layersOut, 'README.md');
  writeFileSync(indexPath, renderLayerIndex(model));
  layerPages.push(indexPath);

  const used = new Set(model.sources.map((s) => s.file));
  return { model, htmlPath, layerPages, dataFiles, chartFiles, unused: scan.results.filter((r) => !used.has(r.file)), skipped: scan.skipped };
}

function removeGenerated(dir: string, extension: string, keep: ReadonlySet<string>): void {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.endsWith(extension) && !keep.has(file)) rmSync(file, { force: true });
  }
}
