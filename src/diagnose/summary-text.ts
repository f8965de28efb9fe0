/**
 * The terminal output, k6-style: what was driven and watched, one table row per step with
 * each layer's reading, why the ramp stopped, then the verdict in sentences, its evidence,
 * what was ruled out (with its numbers), what could not be seen, and the run's limits.
 */
import { formatBytes, formatNumber } from '../format/numbers.js';
import { renderTable, type Cell } from '../format/table.js';
import { formatVus } from './format.js';
import { orderSteps } from './plan.js';
import { formatRate } from './signals.js';
import type { DiagnoseResult, ProcessStep, StepMeasurement } from './types.js';

const round1 = (value: number): number => Math.round(value * 10) / 10;

/** One line: what the ramp is. */
export function describeRamp(result: Pick<DiagnoseResult, 'options'>): string {
  const o = result.options;
  const parts = [
    `closed-model users ×4 from 1 up to ${formatNumber(o.maxVus)}`,
    `${formatNumber(o.stepDurationMs / 1000)} s a step`,
    o.keepAlive ? 'keep-alive' : 'a new connection per request',
    o.workers === 1 ? '1 generator thread' : `${o.workers} generator threads`,
  ];
  if (o.rules.length > 0) parts.push(`rule ${o.rules.join(', ')}`);
  return parts.join('; ');
}

/** One line: what is watched. */
export function describeWatched(result: Pick<DiagnoseResult, 'context'>): string {
  const c = result.context;
  const parts: string[] = [];
  parts.push(c.targetPids.length > 0 ? `pid ${c.targetPids.join(', ')}` : 'no server pid');
  if (c.databasePids.length > 0) parts.push(`postgres ${c.databasePids.join(', ')} and its backends`);
  parts.push(c.listenerSeen ? `the listening socket on port ${c.port}` : `port ${c.port} from the client side`);
  if (c.serve) parts.push(`socketlab serve's /stats${c.serveDb ? ' (with its pool)' : ''}`);
  if (c.link !== null) parts.push(`the link ${c.link.device}${c.link.rateBitsPerSec === null ? '' : ` (${formatRate(c.link.rateBitsPerSec)})`}`);
  parts.push('the generator itself', 'the machine');
  return parts.join('; ');
}

function busiestTarget(step: StepMeasurement): ProcessStep | null {
  let best: ProcessStep | null = null;
  for (const t of step.targets) if (t.busiestThread !== null && (best === null || t.busiestThread.runnablePercent > (best.busiestThread?.runnablePercent ?? 0))) best = t;
  return best;
}

function fdsCell(p: ProcessStep | undefined): Cell {
  if (p === undefined || p.fdsPeak === null) return null;
  return p.fdLimit === null ? formatNumber(p.fdsPeak) : `${formatNumber(p.fdsPeak)}/${formatNumber(p.fdLimit)}`;
}

/** The table of steps, in order of users; columns only for what this run watched. */
export function renderStepTable(result: Pick<DiagnoseResult, 'steps' | 'context'>): string {
  const c = result.context;
  const steps = orderSteps(result.steps);
  const columns: { header: string; cell: (s: StepMeasurement) => Cell; when: boolean }[] = [
    { header: 'vus', cell: (s) => s.vus, when: true },
    { header: 'step', cell: (s) => (s.phase === 'ramp' ? 'ramp' : 'confirm'), when: true },
    { header: 'req/s', cell: (s) => s.load.rps, when: true },
    { header: 'p50 ms', cell: (s) => s.load.latencyMs.p50, when: true },
    { header: 'p99 ms', cell: (s) => s.load.latencyMs.p99, when: true },
    { header: 'failed', cell: (s) => (s.load.failed === 0 ? 0 : `${formatNumber(s.load.failed)} (${formatNumber(round1(s.load.failureRate * 100))}%)`), when: true },
    { header: 'target thread %', cell: (s) => busiestTarget(s)?.busiestThread?.runnablePercent ?? null, when: c.targetPids.length > 0 },
    { header: 'target fds', cell: (s) => fdsCell(s.targets[0]), when: c.targetPids.length > 0 },
    {
      header: 'accept queue',
      cell: (s) => (s.listener === null ? null : `${formatNumber(s.listener.queuedPeak)}${s.listener.backlog === null ? '' : `/${formatNumber(s.listener.backlog)}`}`),
      when: c.listenerSeen,
    },
    { header: 'overflows', cell: (s) => s.kernel?.listenOverflows ?? null, when: c.listenerSeen },
    { header: 'loop delay ms', cell: (s) => s.serve?.loopDelayMeanMs ?? null, when: c.serve },
    {
      header: 'pool wait/query ms',
      cell: (s) => (s.serve?.poolWaitAvgMs == null ? null : `${formatNumber(s.serve.poolWaitAvgMs)}/${formatNumber(s.serve.poolQueryAvgMs ?? 0)}`),
      when: c.serveDb,
    },
    { header: 'postgres %', cell: (s) => s.database?.busiest?.runnablePercent ?? null, when: c.databasePids.length > 0 },
    { header: 'client ports', cell: (s) => s.client.portsInUsePeak, when: true },
    { header: 'TIME_WAIT', cell: (s) => s.client.timeWaitPeak, when: true },
    { header: 'link/s', cell: (s) => (s.link === null ? null : formatBytes(Math.max(s.link.rxBytesPerSec, s.link.txBytesPerSec))), when: c.link !== null },
    { header: 'generator %', cell: (s) => s.generator.busiestThread?.runnablePercent ?? null, when: true },
    { header: 'machine cpu %', cell: (s) => s.machine.cpuPercent, when: true },
  ];
  const shown = columns.filter((col) => col.when);
  return renderTable(
    shown.map((col) => col.header),
    steps.map((s) => shown.map((col) => col.cell(s))),
  );
}

export function renderDiagnoseSummary(result: DiagnoseResult): string {
  const out: string[] = [];
  out.push(`socketlab diagnose  ${result.url}${result.pathTemplate !== new URL(result.url).pathname + new URL(result.url).search ? `  (path ${result.pathTemplate})` : ''}`);
  out.push(`  ramp: ${describeRamp(result)}`);
  out.push(`  watched: ${describeWatched(result)}`, '');
  out.push(renderStepTable(result));
  out.push('', '  "target thread %" and "generator %": the busiest thread\'s time on a CPU or waiting for one, as a share of the step.');
  out.push(`  stopped: ${result.stop.text}`);
  if (result.knee !== null)
    out.push(`  knee: ${formatNumber(result.knee.lastGrowingRps)} req/s at ${formatVus(result.knee.lastGrowingVus)}, flat at ${formatVus(result.knee.flatVus)}`);
  out.push('');
  const b = result.bottleneck;
  out.push(`verdict: ${b.layer}${b.vus === null ? '' : ` at ${formatVus(b.vus)}`}`);
  for (const sentence of result.verdict) out.push(`  ${sentence}`);
  if (b.evidence.length > 0) {
    out.push('', '  evidence');
    for (const e of b.evidence) out.push(`  ✗ ${e.signal}: ${e.text}`);
  }
  if (result.ruledOut.length > 0) {
    out.push('', '  ruled out');
    for (const r of result.ruledOut) out.push(`  ✓ ${r.layer}: ${r.text}`);
  }
  if (result.unseen.length > 0) {
    out.push('', '  not seen by this run');
    for (const u of result.unseen) out.push(`  ? ${u.layer}: ${u.reason}`);
  }
  if (result.notes.length > 0) {
    out.push('', '  limits of this run');
    for (const note of result.notes) out.push(`  - ${note}`);
  }
  return `${out.join('\n')}\n`;
}
