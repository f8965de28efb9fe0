/**
 * The end-of-run summary for a terminal, k6-like: what ran, counts and rates, a latency
 * table for total / connect / time to first byte, failures by kind, statuses other than 2xx,
 * and each threshold with its measured value.
 */
import { formatBytes, formatNumber } from '../format/numbers.js';
import { formatSeconds } from '../format/durations.js';
import { renderTable, type Cell } from '../format/table.js';
import type { LatencySummary } from '../metrics/histogram.js';
import { FAILURE_KINDS, LOAD_MODEL } from './constants.js';
import type { LoadPlan, LoadResult } from './types.js';

/** One line describing the scenario. */
export function describePlan(plan: LoadPlan): string {
  let what: string;
  if (plan.model === LOAD_MODEL.OPEN) what = `open model: ${formatNumber(plan.rate)} req/s for ${formatSeconds(plan.durationMs)}, up to ${formatNumber(plan.maxVus)} connections`;
  else if (plan.model === LOAD_MODEL.HOLD) what = `hold: ${formatNumber(plan.connections)} idle connections for ${formatSeconds(plan.durationMs)}`;
  else if (plan.stages !== null) what = `closed model: stages ${plan.stages.map((s) => `${formatSeconds(s.durationMs)}→${s.target}`).join(', ')}`;
  else what = `closed model: ${formatNumber(plan.vus)} VUs for ${formatSeconds(plan.durationMs)}`;
  const extras: string[] = [];
  if (plan.model !== LOAD_MODEL.HOLD) extras.push(plan.keepAlive ? 'keep-alive' : `new connection per request (${plan.closeBy} closes first)`);
  if (plan.thinkMs > 0) extras.push(`think ${formatNumber(plan.thinkMs)} ms`);
  if (plan.localAddresses.length > 0) extras.push(`from ${plan.localAddresses.join(', ')}`);
  extras.push(plan.workers === 1 ? '1 thread' : `${plan.workers} worker threads`);
  return `${what}; ${extras.join(', ')}`;
}

const latencyRow = (name: string, s: LatencySummary): Cell[] =>
  s.count === 0 ? [name, 0, null, null, null, null, null, null, null] : [name, s.count, s.avgMs, s.minMs, s.p50Ms, s.p90Ms, s.p95Ms, s.p99Ms, s.maxMs];

const percent = (fraction: number): string => `${formatNumber(Math.round(fraction * 100_000) / 1000)}%`;

function dots(label: string): string {
  return `  ${label} ${'.'.repeat(Math.max(2, 18 - label.length))}`;
}

export function renderLoadSummary(result: LoadResult): string {
  const { plan, summary: s } = result;
  const seconds = s.durationMs / 1000;
  const out: string[] = [];
  out.push(`socketlab load  ${plan.url}${plan.pathTemplate !== new URL(plan.url).pathname + new URL(plan.url).search ? `  (path ${plan.pathTemplate})` : ''}`);
  out.push(`  ${describePlan(plan)}`, '');
  if (plan.model === LOAD_MODEL.HOLD) {
    out.push(`${dots('connections')} ${formatNumber(s.connected)} established of ${formatNumber(s.connects)} attempted; ${formatNumber(s.openAtEnd)} still open at the end`);
    out.push(`${dots('failed')} ${formatNumber(s.failed)} (${percent(s.failureRate)})`);
  } else {
    out.push(`${dots('requests')} ${formatNumber(s.requests)}  ${formatNumber(s.rps)}/s  (ok ${formatNumber(s.ok)}, failed ${formatNumber(s.failed)} = ${percent(s.failureRate)})`);
    if (s.interrupted > 0) out.push(`${dots('interrupted')} ${formatNumber(s.interrupted)} still in flight when the graceful stop ended`);
    out.push(`${dots('connections')} ${formatNumber(s.connects)} opened, ${formatNumber(s.connected)} established`);
  }
  out.push(`${dots('data received')} ${formatBytes(s.bytesReceived)}  ${formatBytes(s.bytesReceived / seconds)}/s`);
  out.push(`${dots('data sent')} ${formatBytes(s.bytesSent)}  ${formatBytes(s.bytesSent / seconds)}/s`);
  out.push(`${dots(plan.model === LOAD_MODEL.OPEN ? 'connections max' : plan.model === LOAD_MODEL.HOLD ? 'open max' : 'vus max')} ${formatNumber(s.vusMax)}`);
  if (plan.model === LOAD_MODEL.OPEN) out.push(`${dots('dropped starts')} ${formatNumber(s.dropped)}  (no free connection at the scheduled time)`);
  out.push(`${dots('duration')} ${formatNumber(seconds)} s${result.stoppedEarly ? '  (stopped early: interrupted before the planned end)' : ''}`);
  out.push('');

  const rows: Cell[][] = [];
  if (plan.model !== LOAD_MODEL.HOLD) {
    rows.push(latencyRow(plan.model === LOAD_MODEL.OPEN ? 'total (from intended start)' : 'total', s.latency.total));
    if (plan.model === LOAD_MODEL.OPEN) rows.push(latencyRow('service (uncorrected)', s.latency.service));
  }
  rows.push(latencyRow('connect', s.latency.connect));
  if (plan.model !== LOAD_MODEL.HOLD) rows.push(latencyRow('ttfb', s.latency.ttfb));
  out.push(renderTable(['latency (ms)', 'count', 'avg', 'min', 'p50', 'p90', 'p95', 'p99', 'max'], rows));

  const failureRows = FAILURE_KINDS.filter((kind) => s.failures[kind] > 0).map((kind): Cell[] => [
    kind,
    s.failures[kind],
    percent(s.failures[kind] / Math.max(1, plan.model === LOAD_MODEL.HOLD ? s.connects : s.requests)),
  ]);
  out.push('');
  if (failureRows.length === 0) out.push('  failures: none');
  else {
    out.push(renderTable(['failure', 'count', 'share'], failureRows));
    const other = Object.entries(s.otherErrors);
    if (other.length > 0) out.push(`  other errors: ${other.map(([code, n]) => `${code} ${formatNumber(n)}`).join(', ')}`);
  }
  const non2xx = Object.entries(s.non2xx);
  if (non2xx.length > 0) {
    out.push('');
    out.push(
      renderTable(
        ['status', 'count', 'counted as'],
        non2xx.map(([status, n]): Cell[] => [status, n, Number(status) >= 400 ? 'failure' : 'ok (3xx, as k6)']),
      ),
    );
  }
  if (result.thresholds.length > 0) {
    out.push('');
    out.push('  thresholds');
    for (const t of result.thresholds) {
      const actual = t.metric === 'failures' && t.expression.includes('%') ? percent(t.actual) : formatNumber(t.actual);
      out.push(`  ${t.passed ? '✓' : '✗'} ${t.expression.padEnd(24)} ${t.passed ? 'passed' : 'FAILED'}  (measured ${actual})`);
    }
  }
  return `${out.join('\n')}\n`;
}
