/**
 * What the report says, before it is written as HTML or Markdown: per layer, per lab, the
 * lab's own words (its intro, from the lab definition) and the chosen run's steps, tables,
 * readings, charts and findings. Both renderers read this, so the page and the docs never
 * disagree about which run or which numbers they show.
 */
import type { LabDescription } from '../results/lab-result.js';
import { summarizeMachine } from '../results/lab-result.js';
import type { LabResult, ResultTable } from '../results/lab-result.js';
import { renderChart, type ChartSpec } from './chart.js';
import { chartIds, toChartSpec } from './declared-charts.js';
import { viewFindings, type FindingsView } from './findings.js';
import { LAYERS, PLANNED_LABS, layerOfLab, type Layer } from './layers.js';
import type { LoadedResult } from './results.js';

export interface RenderedChart {
  spec: ChartSpec;
  svg: string;
  /** Where its .svg file goes, relative to the results folder: `charts/<id>.svg`. */
  file: string;
}

export interface StepView {
  title: string;
  status: 'done' | 'skipped' | 'failed';
  reason: string | null;
  reading: string | null;
  tables: ResultTable[];
  charts: RenderedChart[];
}

export interface RunView {
  source: LoadedResult;
  /** "host: 2 cores (AMD EPYC 7B13), 24.0 GiB, Linux 6.1, Node v20.19.0" */
  machine: string;
  /** "2025-11-27 19:41 UTC" */
  when: string;
  quick: boolean;
  outcome: LabResult['outcome'];
  error: string | null;
  durationS: number;
  steps: StepView[];
  findings: FindingsView;
}

export interface LabView {
  number: number;
  id: string;
  title: string;
  summary: string | null;
  /** The lab's intro paragraph; null when its definition could not be loaded. */
  intro: string | null;
  run: RunView | null;
}

export interface LayerView {
  layer: Layer;
  labs: LabView[];
}

export interface ReportModel {
  layers: LayerView[];
  /** The results files used, in tour order. */
  sources: LoadedResult[];
  /** Each distinct machine the runs were measured on. */
  machines: string[];
}

export function buildReportModel(definitions: readonly LabDescription[], chosen: ReadonlyMap<string, LoadedResult>): ReportModel {
  const byNumber = new Map<number, { definition: LabDescription | null; source: LoadedResult | null }>();
  for (const number of Object.keys(PLANNED_LABS).map(Number)) byNumber.set(number, { definition: null, source: null });
  for (const definition of definitions) byNumber.set(definition.number, { definition, source: byNumber.get(definition.number)?.source ?? null });
  for (const source of chosen.values()) {
    const entry = byNumber.get(source.result.lab.number) ?? { definition: null, source: null };
    // A results file whose id no longer matches the lab at its number is from an older plan: the id decides.
    if (entry.definition === null || entry.definition.id === source.result.lab.id) byNumber.set(source.result.lab.number, { ...entry, source });
  }

  const layers: LayerView[] = LAYERS.map((layer) => ({ layer, labs: [] }));
  for (const number of [...byNumber.keys()].sort((a, b) => a - b)) {
    const { definition, source } = byNumber.get(number) as { definition: LabDescription | null; source: LoadedResult | null };
    const layer = layers.find((l) => l.layer.number === layerOfLab(number).number) as LayerView;
    layer.labs.push({
      number,
      id: definition?.id ?? source?.result.lab.id ?? PLANNED_LABS[number] ?? `lab-${number}`,
      title: definition?.title ?? source?.result.lab.title ?? PLANNED_LABS[number] ?? `Lab ${number}`,
      summary: definition?.summary ?? null,
      intro: definition?.intro ?? null,
      run: source === null ? null : buildRunView(source),
    });
  }
  const sources = layers.flatMap((l) => l.labs.flatMap((lab) => (lab.run === null ? [] : [lab.run.source])));
  const machines = [...new Set(layers.flatMap((l) => l.labs.flatMap((lab) => (lab.run === null ? [] : [lab.run.machine]))))];
  return { layers, sources, machines };
}

function buildRunView(source: LoadedResult): RunView {
  const result = source.result;
  // The charts each step declared, in order; ids unique across the lab (and so the page).
  const declared = result.steps.flatMap((step, i) => (step.charts ?? []).map((chart) => ({ step: i, chart })));
  const ids = chartIds(
    result.lab.id,
    declared.map((d) => d.chart.title),
  );
  const rendered = declared.map((d, n) => ({ step: d.step, chart: render(toChartSpec(d.chart, ids[n] as string)) }));
  const steps: StepView[] = result.steps.map((step, i) => ({
    title: step.title,
    status: step.status,
    reason: step.reason ?? null,
    reading: step.reading ?? null,
    tables: step.tables ?? [],
    charts: rendered.filter((r) => r.step === i).map((r) => r.chart),
  }));
  return {
    source,
    machine: describeRunMachine(result),
    when: formatWhen(result.startedAt),
    quick: result.options.quick,
    outcome: result.outcome,
    error: result.error ?? null,
    durationS: Math.round(result.durationMs / 1000),
    steps,
    findings: viewFindings(result.findings),
  };
}

function render(spec: ChartSpec): RenderedChart {
  return { spec, svg: renderChart(spec), file: `charts/${spec.id}.svg` };
}

function describeRunMachine(result: LabResult): string {
  return `${result.machine.hostname}: ${summarizeMachine(result.machine)}`;
}

/** ISO time to "2025-11-27 19:41 UTC": the docs are read in every time zone. */
export function formatWhen(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The sentence every lab section ends with: which machine, when, and what kind of run. */
export function describeRun(run: RunView): string {
  const kind = run.quick ? 'a --quick run (short loads and small counts: the effects are real but smaller than in a full run)' : 'a full run';
  const outcome = run.outcome === 'completed' ? '' : run.outcome === 'quit' ? ' It was quit before the end.' : ` It failed: ${run.error ?? 'no reason recorded'}.`;
  return `Measured on ${run.machine}, ${run.when}: ${kind}, ${run.durationS} s in all.${outcome}`;
}
