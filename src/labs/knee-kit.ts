/**
 * The arithmetic of the knee lab, kept pure so it can be tested on its own: where a sweep's
 * throughput stops growing, and how well each step obeys Little's law.
 *
 * Little's law for a closed system (Denning and Buzen's interactive response time law):
 *
 *     N = X × (R + Z)
 *
 * N users, each cycling through a request (response time R) and a think (Z), produce a
 * throughput X. It needs no assumption about arrival or service distributions, only a
 * steady state, which is why a measured step that breaks it says something: the cycle has
 * a part nobody timed (here, time the users spend inside the load generator itself).
 */
import { compareSpreads, formatRatio, formatSpread, spreadOf, VERDICT } from '../metrics/comparison.js';
import { formatNumber } from '../format/numbers.js';

export const KNEE = {
  /** The knee is the smallest load whose throughput is within this share of the peak (the issue's 5%). */
  WITHIN_PEAK: 0.95,
  /**
   * Other processes used at least this much CPU (% of one core) during a run: the machine
   * was busy with work that is not the lab's (a quarter of two cores), and the run's
   * throughput says as much about that work as about the server.
   */
  BUSY_MACHINE_PERCENT: 50,
} as const;

export interface SweepStep {
  vus: number;
  /** Complete responses per second. */
  rps: number;
  /** Mean response time, ms (what Little's law needs: the mean, not a percentile). */
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface LittleCheck {
  /** X × (R + Z): the users the measured throughput and latency account for. */
  users: number;
  /** (users − N) / N, in %: negative when part of each cycle went unmeasured. */
  errorPercent: number;
  /** N / X − R: the think time the users actually had, ms (Z plus whatever the cycle spent elsewhere). */
  effectiveThinkMs: number;
}

export function checkLittle(step: Pick<SweepStep, 'vus' | 'rps' | 'avgMs'>, thinkMs: number): LittleCheck {
  const users = step.rps * ((step.avgMs + thinkMs) / 1000);
  const cycleMs = step.rps > 0 ? (step.vus / step.rps) * 1000 : Number.NaN;
  return {
    users: round(users, 1),
    errorPercent: step.vus > 0 ? round(((users - step.vus) / step.vus) * 100, 1) : 0,
    effectiveThinkMs: round(cycleMs - step.avgMs, 2),
  };
}

export interface Knee {
  /** The smallest load within KNEE.WITHIN_PEAK of the peak throughput. */
  kneeVus: number;
  kneeIndex: number;
  peakRps: number;
  peakVus: number;
  /** Throughput of every step after the knee as a share of the peak (1 = the peak). */
  pastKneeShares: number[];
}

/** The knee of a sweep ordered by rising load; null for an empty sweep. */
export function findKnee(steps: readonly SweepStep[]): Knee | null {
  if (steps.length === 0) return null;
  let peakIndex = 0;
  steps.forEach((s, i) => {
    if (s.rps > (steps[peakIndex] as SweepStep).rps) peakIndex = i;
  });
  const peak = steps[peakIndex] as SweepStep;
  const kneeIndex = steps.findIndex((s) => s.rps >= KNEE.WITHIN_PEAK * peak.rps);
  return {
    kneeVus: (steps[kneeIndex] as SweepStep).vus,
    kneeIndex,
    peakRps: Math.round(peak.rps),
    peakVus: peak.vus,
    pastKneeShares: steps.slice(kneeIndex + 1).map((s) => round(s.rps / peak.rps, 3)),
  };
}

/**
 * Where the textbook puts the knee before measuring past it: N* = X_max × (R_0 + Z), the
 * users that keep the bottleneck just busy (R_0, the response time with no queue, from
 * the lightest step). Fewer users leave it idle part of the time; more only queue.
 */
export function predictKnee(peakRps: number, unloadedAvgMs: number, thinkMs: number): number {
  return Math.round(peakRps * ((unloadedAvgMs + thinkMs) / 1000));
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ── Readings: each sentence the lab prints about a sweep, built from its numbers ──────────

/** A step as the lab keeps it: its kept (fastest) run, and the throughput and p99 of every run it had. */
export interface SweepStepRuns extends SweepStep {
  /** Throughput of every run of this step, in the order taken. */
  passRps: number[];
  /** p99 of every run of this step, ms, in the same order. */
  passP99Ms: number[];
}

/** Where the knee is, against the textbook's N*. */
export function readKnee(steps: readonly SweepStepRuns[], knee: Knee, predictedKneeVus: number): string {
  const head = `Knee at ${formatNumber(knee.kneeVus)} users (the first step within ${Math.round((1 - KNEE.WITHIN_PEAK) * 100)}% of the peak, ${formatNumber(knee.peakRps)} req/s at ${formatNumber(knee.peakVus)}); the textbook N* = X·(R₀+Z)
puts the bend at ${formatNumber(predictedKneeVus)} users`;
  if (knee.kneeIndex === 0) {
    return `${head}. The sweep's first step was already within ${Math.round((1 - KNEE.WITHIN_PEAK) * 100)}% of the peak: it started at or past the knee, so
the rising part of the curve is not in this sweep.`;
  }
  const before = steps[knee.kneeIndex - 1] as SweepStepRuns;
  const share = knee.peakRps > 0 ? Math.round((before.rps / knee.peakRps) * 100) : 0;
  const where =
    predictedKneeVus > before.vus && predictedKneeVus <= knee.kneeVus
      ? 'the prediction falls between them'
      : predictedKneeVus <= before.vus
        ? 'the bend came later than predicted'
        : 'the bend came earlier than predicted';
  return `${head}; the sweep measured ${formatNumber(before.vus)} users (${share}% of the peak), then ${formatNumber(knee.kneeVus)}: ${where}.`;
}

/**
 * What throughput and p99 did past the knee. A step "fell" only when its runs and the peak
 * step's runs do not overlap, and p99 "grew" only when the last step's runs are all above
 * the knee's: with two or three runs a step, a smaller difference is the machine's noise.
 */
export function readPastKnee(steps: readonly SweepStepRuns[], knee: Knee): string {
  const last = steps[steps.length - 1] as SweepStepRuns;
  if (knee.kneeIndex >= steps.length - 1) return `The knee is the sweep's last step: the sweep did not reach past it.`;
  const peak = steps.find((s) => s.vus === knee.peakVus) as SweepStepRuns;
  const peakSpread = spreadOf(peak.passRps);
  const past = steps.slice(knee.kneeIndex + 1).filter((s) => s !== peak);
  const kneeStep = steps[knee.kneeIndex] as SweepStepRuns;
  const p99 = readP99Climb(kneeStep, last);
  if (past.length === 0) return `Past it the sweep has only the peak itself.\n${p99}`;
  const lowest = past.reduce((a, b) => (b.rps < a.rps ? b : a));
  const share = Math.round((lowest.rps / Math.max(1, knee.peakRps)) * 100);
  const fell = past.filter((s) => compareSpreads(spreadOf(s.passRps), peakSpread) === VERDICT.LOWER);
  if (fell.length > 0) {
    const worst = fell.reduce((a, b) => (b.rps < a.rps ? b : a));
    return `Past it, throughput fell: ${formatNumber(Math.round(worst.rps))} req/s at ${formatNumber(worst.vus)} users (its runs ${rangeOf(worst.passRps)}), ${Math.round((worst.rps / Math.max(1, knee.peakRps)) * 100)}% of the
peak (whose runs were ${rangeOf(peak.passRps)}): the two steps' runs do not overlap.
${p99}`;
  }
  return `Past it, throughput held: its lowest step, ${share}% of the peak at ${formatNumber(lowest.vus)} users (runs ${rangeOf(lowest.passRps)}), overlaps
the peak's runs (${rangeOf(peak.passRps)}), so no step measurably fell at this noise level.
${p99}`;
}

/** "12,935–17,383": the range of a step's runs (the kept value is the best of them, not a median). */
function rangeOf(runs: readonly number[]): string {
  const spread = spreadOf(runs);
  return spread.min === spread.max ? formatNumber(Math.round(spread.min)) : `${formatNumber(Math.round(spread.min))}–${formatNumber(Math.round(spread.max))}`;
}

function readP99Climb(kneeStep: SweepStepRuns, last: SweepStepRuns): string {
  const at = `p99 went from ${formatNumber(kneeStep.p99Ms)} ms at the knee to ${formatNumber(last.p99Ms)} ms at ${formatNumber(last.vus)} users`;
  const verdict = compareSpreads(spreadOf(last.passP99Ms), spreadOf(kneeStep.passP99Ms));
  if (verdict === VERDICT.HIGHER) return `Meanwhile ${at} (${formatRatio(last.p99Ms / Math.max(1e-9, kneeStep.p99Ms))}): added users only queued.`;
  if (verdict === VERDICT.LOWER) return `Meanwhile ${at}: lower in every run, so the added users did not queue longer.`;
  return `Meanwhile ${at}, within the noise of the knee's runs: no measurable queueing.`;
}

/** How far the worst step strays from N = X(R + Z). */
export function readLittle(steps: readonly (SweepStep & LittleCheck)[], heldPercent: number): string {
  const worst = steps.reduce((a, b) => (Math.abs(b.errorPercent) > Math.abs(a.errorPercent) ? b : a));
  const error = Math.abs(worst.errorPercent);
  return `Little's law ${error <= heldPercent ? 'held within' : 'was off by up to'} ${error}% (worst at ${formatNumber(worst.vus)} users)`;
}

/** A sweep as the comparison of two endpoints needs it: the peak step's runs. */
export interface EndpointPeak {
  endpoint: string;
  /** Throughput of every run of the peak step. */
  peakRuns: number[];
  /** Other processes' CPU at the peak step (% of one core), null where unread. */
  othersCpuPercent: number | null;
}

/**
 * /uuid against /age at their peaks. The two sweeps run one after the other, not
 * interleaved, and the sentence says so; a difference is called only when the peak steps'
 * runs do not overlap.
 */
export function comparePeaks(age: EndpointPeak, uuid: EndpointPeak): string {
  const a = spreadOf(age.peakRuns);
  const u = spreadOf(uuid.peakRuns);
  const values = `/uuid peaked at ${formatSpread(u)} req/s and /age at ${formatSpread(a)} (median and range of the peak step's runs; the two sweeps ran one after the other)`;
  const verdict = compareSpreads(u, a);
  if (verdict === VERDICT.LOWER) {
    return `${values}: /uuid is lower in every run, ${formatRatio(a.median / Math.max(1e-9, u.median))} below /age, as each of its requests also pays
for a query (and Postgres takes its share of the cores).`;
  }
  if (verdict === VERDICT.OVERLAP) return `${values}: the runs overlap, so at this noise level the query made no measurable difference to the peak.`;
  const others = [age, uuid].map((p) => (p.othersCpuPercent === null ? '?' : `${p.othersCpuPercent}%`));
  return `${values}: /uuid is higher in every run, although each of its requests also pays for a query. Sweeps taken one after
the other share whatever else the machine did in between (other processes: ${others[0]} at /age's peak, ${others[1]} at /uuid's).`;
}

/** Who used the cores at a peak, and what that says about the bound. */
export interface PeakCpu {
  endpoint: string;
  serverCpuPercent: number | null;
  postgresCpuPercent: number | null;
  generatorCpuPercent: number | null;
  othersCpuPercent: number | null;
}

/** A process at this share of one core is saturated: its one thread had no idle time left. */
const SATURATED_PERCENT = 90;
/** The processes together used this share of all cores: the machine had no core left. */
const MACHINE_FULL_SHARE = 0.85;

export function readPeakCpu(peak: PeakCpu, cores: number): string {
  const capacity = cores * 100;
  const sum = (peak.serverCpuPercent ?? 0) + (peak.postgresCpuPercent ?? 0) + (peak.generatorCpuPercent ?? 0) + (peak.othersCpuPercent ?? 0);
  const pct = (value: number | null): string => (value === null ? '?' : `${value}%`);
  const who = `At /${peak.endpoint}'s peak the server used ${pct(peak.serverCpuPercent)} of one core${peak.postgresCpuPercent === null ? '' : `, Postgres ${pct(peak.postgresCpuPercent)}`}, the load generator
${pct(peak.generatorCpuPercent)}${peak.othersCpuPercent === null ? '' : ` and other processes ${pct(peak.othersCpuPercent)}`}: ${Math.round(sum)}% of the ${capacity}% that ${cores} cores offer.`;
  if ((peak.serverCpuPercent ?? 0) >= SATURATED_PERCENT) return `${who} The server's one JavaScript thread had no idle time left: that bounds this peak.`;
  if (sum >= MACHINE_FULL_SHARE * capacity) {
    if ((peak.othersCpuPercent ?? 0) >= KNEE.BUSY_MACHINE_PERCENT) {
      return `${who} The cores were full, much of them with
other processes' work: this peak says as much about that work as about the server.`;
    }
    return `${who} The cores were full, and the load generator's share was
not the server's: this peak is what the server could do with what was left.`;
  }
  return `${who} Cores were left idle, so the CPU did not bound this peak.`;
}
