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

export const KNEE = {
  /** The knee is the smallest load whose throughput is within this share of the peak (the 5%). */
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
