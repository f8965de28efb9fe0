/**
 * The same scenario as a k6 script: for the user who outgrows one load machine and moves to
 * k6 and its distributed runners, and who wants to compare k6's numbers with socketlab's.
 *
 * Mapping: closed model → `constant-vus` (or `ramping-vus` with stages), open model →
 * `constant-arrival-rate` (preAllocatedVUs = maxVUs = --max-vus, so both drop starts the
 * same way), keep-alive off → `noConnectionReuse`, --local-address → `localIPs`, thresholds
 * → k6 metric names. The hold model has no k6 equivalent (k6 VUs run iterations; they do
 * not park idle sockets), so it is refused.
 */
import { usageError } from '../errors.js';
import { LOAD_MODEL } from './constants.js';
import { parseTemplate } from './request-bytes.js';
import { parseThreshold, toK6Threshold } from './thresholds.js';
import type { LoadPlan } from './types.js';

/** k6 durations: whole milliseconds are always accepted ("1500ms"); whole seconds read better. */
function k6Duration(ms: number): string {
  const whole = Math.round(ms);
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** k6's arrival rate is an integer per timeUnit; find a unit that makes it whole. */
function k6Rate(perSecond: number): { rate: number; timeUnit: string } {
  if (Number.isInteger(perSecond)) return { rate: perSecond, timeUnit: '1s' };
  if (Number.isInteger(perSecond * 60)) return { rate: perSecond * 60, timeUnit: '1m' };
  return { rate: Math.round(perSecond * 1000), timeUnit: '1000s' };
}

const js = (value: unknown): string => JSON.stringify(value);

/** The URL expression for one request: a plain string, or a template literal with randInt() for each {a..b}. */
function urlExpression(plan: LoadPlan): string {
  const base = new URL(plan.url);
  const origin = `${base.protocol}//${base.host}`;
  const parts = parseTemplate(plan.pathTemplate);
  if (parts.every((part) => 'text' in part)) return js(origin + plan.pathTemplate);
  const escapeTemplateText = (text: string): string => text.replace(/[`\\$]/g, (c) => `\\${c}`);
  const body = parts.map((part) => ('text' in part ? escapeTemplateText(part.text) : `\${randInt(${part.min}, ${part.max})}`)).join('');
  return `\`${escapeTemplateText(origin)}${body}\``;
}

export function renderK6Script(plan: LoadPlan): string {
  if (plan.model === LOAD_MODEL.HOLD) {
    throw usageError('--k6-script: the hold model has no k6 equivalent (k6 VUs run requests, they do not hold idle sockets); use --vus or --rate');
  }
  let scenario: Record<string, unknown>;
  if (plan.model === LOAD_MODEL.OPEN) {
    scenario = {
      executor: 'constant-arrival-rate',
      ...k6Rate(plan.rate),
      duration: k6Duration(plan.durationMs),
      preAllocatedVUs: plan.maxVus,
      maxVUs: plan.maxVus,
      gracefulStop: k6Duration(plan.gracefulStopMs),
    };
  } else if (plan.stages !== null) {
    scenario = {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: plan.stages.map((stage) => ({ duration: k6Duration(stage.durationMs), target: stage.target })),
      // socketlab lets a retiring VU finish its request, then stops it: k6's gracefulRampDown.
      gracefulRampDown: k6Duration(plan.gracefulStopMs),
      gracefulStop: k6Duration(plan.gracefulStopMs),
    };
  } else {
    scenario = { executor: 'constant-vus', vus: plan.vus, duration: k6Duration(plan.durationMs), gracefulStop: k6Duration(plan.gracefulStopMs) };
  }

  const thresholds: Record<string, string[]> = {};
  const notes: string[] = [];
  let countsFailures = false;
  for (const expression of plan.thresholds) {
    const threshold = parseThreshold(expression);
    const k6 = toK6Threshold(threshold);
    const expressions = thresholds[k6.metric] ?? [];
    thresholds[k6.metric] = expressions;
    expressions.push(k6.expression);
    if (k6.metric === 'socketlab_failed_requests') countsFailures = true;
    if (threshold.metric === 'total') {
      notes.push(
        plan.model === LOAD_MODEL.OPEN
          ? `// ${expression}: socketlab's total counts from each request's intended start (coordinated omission corrected) and includes connecting; k6's http_req_duration counts from the actual send, without connecting: compare it with socketlab's service time.`
          : `// ${expression}: k6's http_req_duration excludes connecting; socketlab's total includes it for new connections.`,
      );
    }
    if (threshold.metric === 'service') notes.push(`// ${expression}: socketlab's uncorrected service time; k6 has only the one duration.`);
  }

  const options: Record<string, unknown> = { scenarios: { socketlab: scenario } };
  if (Object.keys(thresholds).length > 0) options.thresholds = thresholds;
  if (!plan.keepAlive) options.noConnectionReuse = true;
  if (plan.localAddresses.length > 0) options.localIPs = plan.localAddresses.join(',');
  const optionsText = JSON.stringify(options, null, 2).replace(/"([A-Za-z_$][\w$]*)":/g, '$1:');

  const hasRandom = parseTemplate(plan.pathTemplate).some((part) => 'min' in part);
  const params: Record<string, unknown> = {};
  if (plan.headers.length > 0) params.headers = Object.fromEntries(plan.headers);
  if (plan.timeoutMs > 0) params.timeout = k6Duration(plan.timeoutMs);
  const lines: string[] = [
    `// k6 script written by socketlab load for ${plan.url}`,
    `// Run: k6 run ${'<this file>'}   (compare with socketlab load's summary of the same scenario)`,
    "import http from 'k6/http';",
  ];
  if (plan.thinkMs > 0) lines.push("import { sleep } from 'k6';");
  if (countsFailures) lines.push("import { Counter } from 'k6/metrics';");
  lines.push('');
  if (plan.closeBy === 'server' && !plan.keepAlive) lines.push("// --close-by server: k6 sends 'Connection: close' with noConnectionReuse, as socketlab does.");
  lines.push(...notes);
  lines.push(`export const options = ${optionsText};`, '');
  if (countsFailures) lines.push("const failedRequests = new Counter('socketlab_failed_requests');", '');
  if (hasRandom) {
    lines.push('// A uniform random integer in [min, max], as socketlab expands {min..max}.');
    lines.push('function randInt(min, max) {', '  return min + Math.floor(Math.random() * (max - min + 1));', '}', '');
  }
  lines.push(`const params = ${JSON.stringify(params)};`, '');
  lines.push('export default function () {');
  lines.push(`  const res = http.request(${js(plan.method)}, ${urlExpression(plan)}, ${plan.body === null ? 'null' : js(plan.body)}, params);`);
  if (countsFailures) lines.push('  if (res.status === 0 || res.status >= 400) failedRequests.add(1);');
  if (plan.thinkMs > 0) lines.push(`  sleep(${plan.thinkMs / 1000});`);
  lines.push('}', '');
  return lines.join('\n');
}
