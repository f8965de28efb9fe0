/**
 * The ramp's shape and when it stops, as pure functions of the steps measured so far: the
 * users of each ramp step, the finer sweep around the knee, the stop rule, and where the
 * knee is. runDiagnose (run.ts) asks these after every step.
 */
import { formatShare, formatValue as formatNumber, formatVus } from './format.js';
import { RAMP, STOP, THRESHOLD, type StopReason } from './constants.js';
import type { Evidence, Knee, StepMeasurement } from './types.js';

/** 1, 4, 16, ... while below maxVus, then maxVus itself. */
export function planRampVus(maxVus: number): number[] {
  const vus: number[] = [];
  for (let v = 1; v < maxVus; v *= RAMP.FACTOR) vus.push(v);
  vus.push(maxVus);
  return vus;
}

/**
 * Up to RAMP.CONFIRM_POINTS users strictly between `lower` and `upper`, evenly spaced on a
 * log scale (16 → 64 gives 23, 32, 45): the finer sweep that places the knee between two
 * ramp steps. Fewer when there are not that many whole numbers in between.
 */
export function planConfirmVus(lower: number, upper: number, points: number = RAMP.CONFIRM_POINTS): number[] {
  const out = new Set<number>();
  for (let i = 1; i <= points; i++) {
    const v = Math.round(lower * (upper / lower) ** (i / (points + 1)));
    if (v > lower && v < upper) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

/** Steps in the order of their users (ramp before confirm at equal users, then as run). */
export function orderSteps(steps: readonly StepMeasurement[]): StepMeasurement[] {
  return [...steps].sort((a, b) => a.vus - b.vus || (a.phase === b.phase ? 0 : a.phase === 'ramp' ? -1 : 1) || a.index - b.index);
}

/** The steps with fewer users than `step`: what its throughput is compared with. */
export function stepsBelow(steps: readonly StepMeasurement[], step: StepMeasurement): StepMeasurement[] {
  return steps.filter((s) => s.vus < step.vus);
}

/** The step with the most throughput among `steps`, or null when there is none. */
export function bestStep(steps: readonly StepMeasurement[]): StepMeasurement | null {
  let best: StepMeasurement | null = null;
  for (const s of steps) if (best === null || s.load.rps > best.load.rps) best = s;
  return best;
}

/**
 * `step`'s throughput over the best of the steps with fewer users, minus one (0.02 = 2%
 * more); null when there is no step below it or the best made nothing.
 */
export function growthOver(step: StepMeasurement, below: readonly StepMeasurement[]): number | null {
  const best = bestStep(below);
  if (best === null || best.load.rps <= 0) return null;
  return step.load.rps / best.load.rps - 1;
}

export function isFlat(step: StepMeasurement, below: readonly StepMeasurement[]): boolean {
  const growth = growthOver(step, below);
  return growth !== null && growth <= THRESHOLD.PLATEAU_GROWTH;
}

const percent = formatShare;

/** The sentence that says how `step`'s throughput compares with the best below it. */
export function describeGrowth(step: StepMeasurement, below: readonly StepMeasurement[]): string {
  const best = bestStep(below);
  const growth = growthOver(step, below);
  if (best === null || growth === null) return `${formatVus(step.vus)} made ${formatNumber(step.load.rps)} req/s`;
  const change = growth >= 0 ? `${percent(growth)} more than` : `${percent(-growth)} less than`;
  return `${formatVus(step.vus)} made ${formatNumber(step.load.rps)} req/s, ${change} the ${formatNumber(best.load.rps)} req/s of ${formatVus(best.vus)}`;
}

/**
 * Whether to stop after `step`, and why, in the issue's order: the generator at its own
 * limit (its evidence is passed in, see signals.ts), requests failing, the rule broken,
 * throughput flat. `below` are the steps with fewer users.
 */
export function decideStop(step: StepMeasurement, below: readonly StepMeasurement[], generatorEvidence: readonly Evidence[] | null): { reason: StopReason; text: string } | null {
  if (generatorEvidence !== null && generatorEvidence.length > 0) {
    return { reason: STOP.GENERATOR, text: `the load generator reached its own limit at ${formatVus(step.vus)}: ${(generatorEvidence[0] as Evidence).text}` };
  }
  if (step.load.requests > 0 && step.load.failureRate >= THRESHOLD.FAILURE_RATE) {
    const kinds = Object.entries(step.load.failures)
      .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
      .map(([kind, n]) => `${kind} ${formatNumber(n ?? 0)}`)
      .join(', ');
    return {
      reason: STOP.FAILURES,
      text: `${percent(step.load.failureRate)} of the requests at ${formatVus(step.vus)} failed (${kinds}), at least ${percent(THRESHOLD.FAILURE_RATE)}`,
    };
  }
  const broken = step.load.thresholds.filter((t) => !t.passed);
  if (broken.length > 0) {
    return { reason: STOP.RULE, text: `the rule ${broken.map((t) => `${t.expression} (measured ${formatNumber(t.actual)})`).join(', ')} broke at ${formatVus(step.vus)}` };
  }
  if (isFlat(step, below)) {
    return { reason: STOP.PLATEAU, text: `throughput stopped growing: ${describeGrowth(step, below)} (at most ${percent(THRESHOLD.PLATEAU_GROWTH)} counts as flat)` };
  }
  return null;
}

/**
 * The knee: the first step, in order of users, from which throughput never again grew more
 * than PLATEAU_GROWTH above the best of the steps before it; and that best step. A step
 * that dipped by chance and was beaten later is not a knee. Null when throughput grew to the
 * last step.
 */
export function findKnee(steps: readonly StepMeasurement[]): Knee | null {
  const ordered = orderSteps(steps);
  for (let at = 0; at < ordered.length; at++) {
    const step = ordered[at] as StepMeasurement;
    const below = stepsBelow(ordered, step);
    const best = bestStep(below);
    if (best === null || best.load.rps <= 0) continue;
    const ceiling = (1 + THRESHOLD.PLATEAU_GROWTH) * best.load.rps;
    if (ordered.slice(at).every((s) => s.load.rps <= ceiling)) {
      return { lastGrowingVus: best.vus, lastGrowingRps: best.load.rps, flatVus: step.vus, flatRps: step.load.rps };
    }
  }
  return null;
}

/**
 * Whether the finer sweep refutes a plateau: one of its steps (fewer users than the one that
 * stopped the ramp) made more than PLATEAU_GROWTH above every ramp step below the stop. The
 * flat step was then a dip (a busy moment on a shared machine), and the ramp goes on.
 */
export function sweepRefutesPlateau(rampBelowStop: readonly StepMeasurement[], sweep: readonly StepMeasurement[]): StepMeasurement | null {
  const best = bestStep(rampBelowStop);
  if (best === null) return null;
  const top = bestStep(sweep);
  return top !== null && top.load.rps > (1 + THRESHOLD.PLATEAU_GROWTH) * best.load.rps ? top : null;
}
