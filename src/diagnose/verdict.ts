/**
 * The verdict: the first layer that gave way, as a pure function of the recorded steps and
 * what is known of the target (after lab 8's decideBottleneck in src/labs/link-kit.ts, which
 * picks the limit closest to saturation; here the order is by *when* each limit was
 * reached, because a ramp sees them one after the other).
 *
 * - Each layer's rule (signals.ts) is asked at every step, in order of users; the first step
 *   where its signal crossed is where that layer gave way.
 * - The layer that gave way at the fewest users is named. Several at the same step: the one
 *   first in PRECEDENCE (constants.ts says why that order).
 * - The layers that were watched and never crossed are ruled out with their highest
 *   numbers; the layers this run could not see are listed with the reason.
 * - Nothing crossed: `link` when a remote target's throughput sat at users ÷ round trip
 *   (the link's latency bound), else `none`.
 */
import { formatValue as formatNumber, formatVus } from './format.js';
import { LAYER, LEVERS, PRECEDENCE, STOP, THRESHOLD, type Layer, type StopReason, type WatchedLayer } from './constants.js';
import { describeGrowth, findKnee, orderSteps, stepsBelow } from './plan.js';
import { LAYER_RULES, latencyBound } from './signals.js';
import type { DiagnoseContext, Evidence, RuledOut, StepMeasurement, Unseen, Verdict } from './types.js';

interface Crossing {
  layer: WatchedLayer;
  /** Position in the ordered steps. */
  at: number;
  vus: number;
  evidence: Evidence[];
}

/** Each visible layer's first crossing, in the order they are named. */
export function findCrossings(steps: readonly StepMeasurement[], ctx: DiagnoseContext): Crossing[] {
  const ordered = orderSteps(steps);
  const crossings: Crossing[] = [];
  for (const rule of LAYER_RULES) {
    if (rule.unseen(ctx) !== null) continue;
    for (let at = 0; at < ordered.length; at++) {
      const step = ordered[at] as StepMeasurement;
      const evidence = rule.cross(step, stepsBelow(ordered, step), ctx, ordered);
      if (evidence === null) continue;
      crossings.push({ layer: rule.layer, at, vus: step.vus, evidence });
      break;
    }
  }
  return crossings.sort((a, b) => a.at - b.at || PRECEDENCE.indexOf(a.layer) - PRECEDENCE.indexOf(b.layer));
}

export function decideBottleneck(steps: readonly StepMeasurement[], ctx: DiagnoseContext, stop: { reason: StopReason; text: string } | null = null): Verdict {
  const crossings = findCrossings(steps, ctx);
  const unseen: Unseen[] = [];
  const ruledOut: RuledOut[] = [];
  const crossed = new Set(crossings.map((c) => c.layer));
  for (const rule of LAYER_RULES) {
    const reason = rule.unseen(ctx);
    if (reason !== null) unseen.push({ layer: rule.layer, reason });
    else if (!crossed.has(rule.layer) && steps.length > 0) ruledOut.push(rule.ruleOut(steps, ctx));
  }

  const first = crossings[0];
  let layer: Layer;
  let vus: number | null;
  let evidence: Evidence[];
  if (first !== undefined) {
    layer = first.layer;
    vus = first.vus;
    evidence = first.evidence;
  } else {
    const ordered = orderSteps(steps);
    const last = ordered[ordered.length - 1];
    const bound = last === undefined ? null : latencyBound(last, ctx);
    if (bound !== null) {
      layer = LAYER.LINK;
      vus = bound.vus;
      evidence = [bound];
      // The bandwidth side of the link was ruled out above; the latency side is the verdict.
    } else {
      layer = LAYER.NONE;
      vus = null;
      evidence = [];
    }
  }
  const alsoCrossed = crossings.slice(first === undefined ? 0 : 1).map((c) => ({ layer: c.layer, vus: c.vus, signal: (c.evidence[0] as Evidence).signal }));
  let { lever, lab } = LEVERS[layer];
  if (layer === LAYER.NONE && stop !== null && stop.reason !== STOP.MAX_VUS && stop.reason !== STOP.INTERRUPTED) {
    // A limit was met that no watched layer explains: more users would not say more.
    lever =
      unseen.length > 0
        ? `make visible what this run could not see (${unseen.map((u) => u.layer).join(', ')}: see why below) and diagnose again`
        : 'look outside the watched processes: other work on this machine, or a layer behind the target that it calls';
    lab = null;
  }
  const verdict: Verdict = {
    layer,
    vus,
    evidence,
    alsoCrossed,
    ruledOut: layer === LAYER.LINK ? ruledOut.filter((r) => r.layer !== LAYER.LINK) : ruledOut,
    unseen,
    lever,
    lab,
    sentences: [],
  };
  verdict.sentences = describeVerdict(verdict, steps, stop);
  return verdict;
}

const num = formatNumber;

/** The verdict in a few sentences, each built from the numbers it states. */
export function describeVerdict(verdict: Verdict, steps: readonly StepMeasurement[], stop: { reason: StopReason; text: string } | null): string[] {
  const sentences: string[] = [];
  const ordered = orderSteps(steps);
  const maxVus = ordered.reduce((m, s) => Math.max(m, s.vus), 0);
  if (verdict.layer === LAYER.NONE) {
    const last = ordered[ordered.length - 1];
    const failing = ordered.find((s) => s.load.failed > 0 && s.load.failureRate >= THRESHOLD.FAILURE_RATE);
    const unseen = verdict.unseen.length > 0 ? ` (${verdict.unseen.map((u) => u.layer).join(', ')})` : '';
    if (last === undefined) sentences.push('No step ran: there is nothing to judge.');
    else if (stop === null || stop.reason === STOP.MAX_VUS || stop.reason === STOP.INTERRUPTED) {
      sentences.push(`Nothing gave way within ${formatVus(maxVus)}: ${describeGrowth(last, stepsBelow(ordered, last))}.`);
    } else {
      const what = stop.reason === STOP.RULE ? 'The rule broke' : stop.reason === STOP.FAILURES ? 'Requests failed' : 'Throughput stopped growing';
      sentences.push(
        `${what} at ${formatVus(maxVus)}, but no layer this run could see crossed its threshold: the limit is in a layer it could not see${unseen}, or in what other processes on this machine took.`,
      );
    }
    if (failing !== undefined) {
      const kinds = Object.entries(failing.load.failures)
        .map(([kind, n]) => `${kind} ${num(n ?? 0)}`)
        .join(', ');
      sentences.push(`${num(failing.load.failed)} requests failed at ${formatVus(failing.vus)} (${kinds}).`);
    }
  } else {
    const [head, ...rest] = verdict.evidence;
    sentences.push(`The first layer to give way was ${verdict.layer}, at ${formatVus(verdict.vus ?? 0)}: ${head === undefined ? '' : head.text}.`);
    if (rest.length > 0) sentences.push(`At the same step, ${rest.map((e) => e.text).join('; ')}.`);
  }
  if (stop !== null) sentences.push(`The ramp stopped because ${stop.text}.`);
  const knee = findKnee(steps);
  if (knee !== null) {
    sentences.push(
      `Throughput peaked at ${num(knee.lastGrowingRps)} req/s with ${formatVus(knee.lastGrowingVus)} and was flat at ${formatVus(knee.flatVus)} (${num(knee.flatRps)} req/s).`,
    );
  }
  if (verdict.alsoCrossed.length > 0) {
    sentences.push(`Later (or lower in precedence), ${verdict.alsoCrossed.map((c) => `${c.layer} crossed at ${formatVus(c.vus)}`).join(', ')}.`);
  }
  sentences.push(verdict.lab === null ? `The lever: ${verdict.lever}.` : `The lever: ${verdict.lever}; socketlab lab ${verdict.lab} shows it.`);
  return sentences;
}

/**
 * A stated limit: the steps where the machine's cores were nearly all busy and the watched
 * processes (the target, Postgres, the generator) used less than half of that. Other work
 * was then competing for the CPU, and every reading here is squeezed by it.
 */
export function describeCrowding(steps: readonly StepMeasurement[], ctx: DiagnoseContext): string | null {
  const crowded: { vus: number; machine: number; watched: number }[] = [];
  for (const s of orderSteps(steps)) {
    const machine = s.machine.cpuPercent;
    if (machine === null || machine < THRESHOLD.CORES_SHARE * ctx.cores * 100) continue;
    const watched = [s.generator, ...s.targets].reduce((n, p) => n + (p.cpuPercent ?? 0), 0) + (s.database?.cpuPercent ?? 0);
    if (watched < machine / 2) crowded.push({ vus: s.vus, machine, watched });
  }
  if (crowded.length === 0) return null;
  const worst = crowded.reduce((a, b) => (b.watched / b.machine < a.watched / a.machine ? b : a));
  return `the machine was crowded by other processes at ${crowded.length === 1 ? formatVus((crowded[0] as { vus: number }).vus) : `${crowded.map((c) => num(c.vus)).join(', ')} VUs`}: at ${formatVus(worst.vus)} its cores were ${num(Math.min(100, Math.round(worst.machine / ctx.cores)))}% busy and the watched processes used ${num(Math.round(worst.watched))}% of one core of it; every reading here was squeezed by that`;
}
