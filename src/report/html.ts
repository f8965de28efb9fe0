/**
 * docs/results/index.html: every layer, lab, step, table, reading and chart on one page.
 * Self-contained on purpose: inline CSS, inline SVG, no scripts, no web fonts, so it opens
 * from a file:// URL, from a checkout with no network, and in a browser with JavaScript off.
 */
import { formatCell, type Cell } from '../format/table.js';
import { escapeXml, urlPart } from './svg.js';
import { layerFileName } from './layers.js';
import { describeRun, type LabView, type LayerView, type RenderedChart, type ReportModel, type StepView } from './model.js';
import type { FindingsTable } from './findings.js';

/**
 * The look every socketlab page shares (the report, diagnose --html): type, tables, figures.
 * Each page adds its own rules after it.
 */
export const PAGE_CSS = `
:root { color-scheme: light; --ink: #222; --muted: #666; --rule: #ddd; --accent: #0072B2; --warn: #9a5b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fafafa; }
header, main, footer { max-width: 980px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 28px; }
p { margin: 6px 0 10px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { border-bottom: 1px solid var(--ink); font-weight: 600; }
td.num, th.num { text-align: right; }
.scroll { overflow-x: auto; }
figure { margin: 12px 0 18px; }
figure svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; background: #fff; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
footer { color: var(--muted); font-size: 13px; padding-bottom: 40px; margin-top: 30px; }
`;

const CSS = `${PAGE_CSS}
h1 { font-size: 28px; margin: 0 0 6px; }
h2 { font-size: 22px; margin: 40px 0 8px; padding-top: 12px; border-top: 2px solid var(--ink); }
h3 { font-size: 19px; margin: 28px 0 6px; }
h4 { font-size: 16px; margin: 22px 0 6px; }
a { color: var(--accent); }
nav ol { padding-left: 20px; }
nav ul.labs { list-style: none; padding-left: 12px; margin: 2px 0 6px; }
nav li { margin: 2px 0; }
.lab { background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 4px 20px 16px; margin: 18px 0; }
.intro { color: #333; }
.run { color: var(--muted); font-size: 13px; }
.badge { display: inline-block; font-size: 12px; padding: 0 6px; border-radius: 3px; border: 1px solid var(--rule); color: var(--muted); margin-left: 6px; vertical-align: middle; }
.badge.quick { color: var(--warn); border-color: #e5c48f; }
.badge.none { color: #999; }
.reading { border-left: 3px solid var(--accent); padding: 2px 0 2px 12px; margin: 10px 0 14px; }
.skipped, .failed { color: var(--warn); font-style: italic; }
.missing { color: var(--muted); font-style: italic; }
.table-title { font-weight: 600; margin: 12px 0 0; font-size: 13px; }
`;

/** The page's generator tag: how `socketlab report` knows a folder holds a report it wrote. */
export const REPORT_GENERATOR = '<meta name="generator" content="socketlab report">';

export interface HtmlOptions {
  /** Layer pages, relative to the HTML file (default ../layers). */
  layersHref?: string;
}

/**
 * A lab id as an HTML id and URL fragment. Results files are validated (a lab id is
 * lower-case words and hyphens), and this keeps it so even for a model built by hand.
 */
function labAnchor(lab: LabView): string {
  return `lab-${lab.id.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}`;
}

export function renderReportHtml(model: ReportModel, options: HtmlOptions = {}): string {
  const layersHref = options.layersHref ?? '../layers';
  const body = [
    '<header>',
    '<h1>socketlab: where one server breaks, measured</h1>',
    `<p>Every number on this page was measured by a socketlab lab on a real machine; nothing here is typed by hand. Built by <code>socketlab report</code> from ${model.sources.length} results file${model.sources.length === 1 ? '' : 's'} (kept in <a href="data/">data/</a>). The same numbers, layer by layer: <a href="${escapeXml(layersHref)}/README.md">the layer pages</a>.</p>`,
    model.machines.length === 0
      ? '<p class="missing">No lab results yet: run <code>socketlab tour</code> (or <code>socketlab lab NAME</code>), then <code>socketlab report</code>.</p>'
      : `<p>Measured on: ${model.machines.map((m) => escapeXml(m)).join('; ')}.</p>`,
    renderNav(model),
    '</header>',
    '<main>',
    ...model.layers.map((layer) => renderLayer(layer, layersHref)),
    '</main>',
    '<footer>Regenerate with <code>socketlab report</code> (see docs/report.md in socketlab). Charts are inline SVG; this page has no scripts and loads nothing from the network.</footer>',
  ];
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    REPORT_GENERATOR,
    '<title>socketlab results</title>',
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function renderNav(model: ReportModel): string {
  const items = model.layers.map((view) => {
    const labs = view.labs.map((lab) => `<li><a href="#${labAnchor(lab)}">${lab.number}. ${escapeXml(lab.title)}</a>${badge(lab)}</li>`).join('');
    return `<li><a href="#layer-${view.layer.number}">Layer ${view.layer.number}: ${escapeXml(view.layer.users)}</a>. ${escapeXml(capitalize(view.layer.question))}<ul class="labs">${labs}</ul></li>`;
  });
  return `<nav aria-label="contents"><ol>${items.join('')}</ol></nav>`;
}

function renderLayer(view: LayerView, layersHref: string): string {
  const { layer } = view;
  return [
    `<section class="layer" id="layer-${layer.number}">`,
    `<h2>Layer ${layer.number}: ${escapeXml(layer.users)}. ${escapeXml(capitalize(layer.question))}</h2>`,
    `<p class="run">As a page of its own: <a href="${escapeXml(layersHref)}/${layerFileName(layer)}">${layerFileName(layer)}</a></p>`,
    ...view.labs.map(renderLab),
    '</section>',
  ].join('\n');
}

function renderLab(lab: LabView): string {
  const parts: string[] = [`<article class="lab" id="${labAnchor(lab)}">`, `<h3>Lab ${lab.number}: ${escapeXml(lab.title)}${badge(lab)}</h3>`];
  if (lab.intro !== null) parts.push(...paragraphs(lab.intro, 'intro'));
  else parts.push(`<p class="missing">This lab (<code>${escapeXml(lab.id)}</code>) is not in this checkout yet.</p>`);
  if (lab.run === null) {
    parts.push(`<p class="missing">No results yet for this lab: run <code>socketlab lab ${escapeXml(lab.id)}</code>, then <code>socketlab report</code>.</p>`, '</article>');
    return parts.join('\n');
  }
  const run = lab.run;
  parts.push(`<p class="run">${escapeXml(describeRun(run))} Data: <a href="data/${escapeXml(urlPart(run.source.name))}">${escapeXml(run.source.name)}</a>.</p>`);
  run.steps.forEach((step, i) => {
    parts.push(renderStep(step, i));
  });
  parts.push('<section class="findings">', '<h4>Findings</h4>');
  if (run.findings.values.length === 0 && run.findings.tables.length === 0) parts.push('<p class="missing">This run recorded no findings.</p>');
  if (run.findings.values.length > 0) parts.push(renderTable(['finding', 'value'], run.findings.values));
  for (const table of run.findings.tables) parts.push(renderFindingsTable(table));
  parts.push('</section>', '</article>');
  return parts.join('\n');
}

function renderStep(step: StepView, index: number): string {
  const parts = ['<section class="step">', `<h4>${index + 1}. ${escapeXml(step.title)}</h4>`];
  if (step.status === 'skipped') parts.push(`<p class="skipped">Skipped here: ${escapeXml(step.reason ?? 'no reason recorded')}.</p>`);
  if (step.status === 'failed') parts.push(`<p class="failed">This step failed: ${escapeXml(step.reason ?? 'no reason recorded')}.</p>`);
  for (const table of step.tables) parts.push(renderTable(table.header, table.rows));
  if (step.reading !== null) parts.push(...paragraphs(step.reading, 'reading'));
  parts.push(...step.charts.map(renderFigure), '</section>');
  return parts.join('\n');
}

function renderFigure(chart: RenderedChart): string {
  const caption = chart.spec.caption === undefined ? '' : `<figcaption>${escapeXml(chart.spec.caption)}</figcaption>`;
  return `<figure>\n${chart.svg}\n${caption}</figure>`;
}

function renderFindingsTable(table: FindingsTable): string {
  const more = table.omittedRows > 0 ? `<p class="run">… and ${table.omittedRows} more rows in the data file.</p>` : '';
  return `<p class="table-title">${escapeXml(table.title)}</p>\n${renderTable(table.header, table.rows)}${more}`;
}

export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === null || row[i] === undefined));
  const cls = (i: number): string => (numeric[i] ? ' class="num"' : '');
  const head = `<tr>${header.map((h, i) => `<th${cls(i)}>${escapeXml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${header.map((_, i) => `<td${cls(i)}>${escapeXml(formatCell(row[i]))}</td>`).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function badge(lab: LabView): string {
  if (lab.run === null) return '<span class="badge none">no results</span>';
  if (lab.run.outcome !== 'completed') return `<span class="badge quick">${escapeXml(lab.run.outcome)}</span>`;
  return lab.run.quick ? '<span class="badge quick">quick run</span>' : '<span class="badge">full run</span>';
}

/** Text with blank lines between paragraphs; single line breaks are the terminal's wrapping. */
function paragraphs(text: string, cls: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => `<p class="${cls}">${escapeXml(p.replace(/\s*\n\s*/g, ' '))}</p>`);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
