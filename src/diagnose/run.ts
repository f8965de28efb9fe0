/**
 * runDiagnose: the ramp, the watchers and the verdict, put together.
 *
 * 1. Look at the target once (target.ts): where it is, which processes to watch, what this
 *    run will not be able to see.
 * 2. Ramp closed-model users 1, 4, 16, ... (plan.ts), one runLoad per step, every layer
 *    watched meanwhile (watch.ts). After each step, stop at the first of: the generator at
 *    its own limit, requests failing, the rule broken, throughput flat; or at --max-vus.
 * 3. Confirm around the knee: a shorter, finer sweep between the last step that grew and
 *    the one that stopped the ramp, to place the limit more closely.
 * 4. The verdict (verdict.ts), a pure function of the steps.
 */
import { EXIT, LAB_ERR, LabError } from '../errors.js';
import { FAILURE, resolveLoadPlan, runLoad, type LoadOptions, type LoadResult } from '../load/index.js';
import { formatNumber } from '../format/numbers.js';
import { formatVus } from './format.js';
import { DIAGNOSE_DEFAULTS, DIAGNOSE_SCHEMA, RAMP, STOP, type StopReason } from './constants.js';
import { decideStop, findKnee, planConfirmVus, planRampVus, stepsBelow, sweepRefutesPlateau } from './plan.js';
import { ruleFor } from './signals.js';
import { inspectTarget } from './target.js';
import type { DiagnoseContext, DiagnoseOptions, DiagnoseResult, LoadStep, StepMeasurement } from './types.js';
import { decideBottleneck, describeCrowding } from './verdict.js';
import { startWatcher, type Watcher } from './watch.js';

export interface DiagnoseProgress {
  phase: 'ramp' | 'confirm';
  /** 1-based position of the step within its phase, and how many the phase plans at most. */
  step: number;
  steps: number;
  vus: number;
  elapsedMs: number;
  durationMs: number;
  rps: number;
  errors: number;
}

export interface DiagnoseHooks {
  onProgress?(progress: DiagnoseProgress): void;
  /** Called once the target has been looked at, before any load: what this run will not see. */
  onStart?(context: DiagnoseContext, notes: readonly string[]): void;
  /** Aborting ends the current step early and gives the verdict on the steps so far. */
  signal?: AbortSignal;
}

function summarizeLoad(result: LoadResult): LoadStep {
  const s = result.summary;
  const failures: LoadStep['failures'] = {};
  for (const [kind, n] of Object.entries(s.failures)) if (n > 0) failures[kind as keyof typeof s.failures] = n;
  const c = s.latency.connect;
  return {
    requests: s.requests,
    ok: s.ok,
    failed: s.failed,
    failureRate: s.failureRate,
    interrupted: s.interrupted,
    rps: s.rps,
    failures,
    latencyMs: { p50: s.latency.total.p50Ms, p90: s.latency.total.p90Ms, p99: s.latency.total.p99Ms, max: s.latency.total.maxMs },
    connectMs: c.count === 0 ? null : { min: c.minMs, p50: c.p50Ms, p99: c.p99Ms },
    connects: s.connects,
    bytesReceived: s.bytesReceived,
    thresholds: result.thresholds,
    thresholdsPassed: result.thresholdsPassed,
  };
}

/** Nothing answered at all: no server there, which is not a bottleneck to diagnose. */
function nothingAnswered(step: StepMeasurement): boolean {
  if (step.load.ok > 0) return false;
  const kinds = Object.keys(step.load.failures);
  return kinds.length > 0 && kinds.every((kind) => kind === FAILURE.REFUSED || kind === FAILURE.OTHER);
}

export async function runDiagnose(options: DiagnoseOptions, hooks: DiagnoseHooks = {}): Promise<DiagnoseResult> {
  const startedMs = Date.now();
  const startedAt = new Date(startedMs).toISOString();
  const baseLoad: LoadOptions = {
    url: options.url,
    ...(options.pathTemplate === undefined ? {} : { pathTemplate: options.pathTemplate }),
    keepAlive: options.keepAlive,
    workers: options.workers,
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: DIAGNOSE_DEFAULTS.CONNECT_TIMEOUT_MS,
    // In-flight requests may finish for up to half a step after it: a short step is not
    // doubled by a slow server, and what is still pending then counts as interrupted.
    gracefulStopMs: Math.min(DIAGNOSE_DEFAULTS.GRACEFUL_STOP_MS, Math.round(options.stepDurationMs / 2)),
    thresholds: options.rules,
  };
  // Every flag checked once, before anything is sent.
  const plan = resolveLoadPlan({ ...baseLoad, vus: Math.max(options.workers, 1), durationMs: options.stepDurationMs });
  const { context, notes } = await inspectTarget(options, plan);
  hooks.onStart?.(context, notes);
  const baseUrl = `http://${plan.host.includes(':') ? `[${plan.host}]` : plan.host}:${plan.port}/`;
  const watcher: Watcher = await startWatcher(context, baseUrl);

  const steps: StepMeasurement[] = [];
  let stop: { reason: StopReason; text: string; vus: number } | null = null;
  const runStep = async (vus: number, phase: 'ramp' | 'confirm', durationMs: number, position: number, count: number): Promise<StepMeasurement> => {
    const probe = await watcher.startStep(durationMs);
    const stepStarted = new Date().toISOString();
    const result = await runLoad(
      // With fewer users than worker threads, one thread is enough.
      { ...baseLoad, vus, durationMs, workers: Math.min(options.workers, vus) },
      {
        ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
        // Whole seconds only: the last, partial one is the graceful drain, not the step's rate.
        onProgress: (p) => {
          if (p.last.lengthMs >= 1000 && p.elapsedMs <= durationMs)
            hooks.onProgress?.({ phase, step: position, steps: count, vus, elapsedMs: p.elapsedMs, durationMs, rps: p.rps, errors: p.errors });
        },
      },
    );
    const watched = await probe.finish();
    const step: StepMeasurement = {
      index: steps.length,
      phase,
      vus,
      durationMs: result.summary.durationMs,
      startedAt: stepStarted,
      load: summarizeLoad(result),
      ...watched,
    };
    steps.push(step);
    return step;
  };
  const stopAfter = (step: StepMeasurement): { reason: StopReason; text: string } | null => {
    const below = stepsBelow(steps, step);
    const exited = step.targets.find((t) => !t.alive);
    if (exited !== undefined) return { reason: STOP.TARGET_EXITED, text: `pid ${exited.pid} exited during the step at ${formatVus(step.vus)}` };
    return decideStop(step, below, ruleFor('load-generator').cross(step, below, context, steps));
  };

  const resumes: string[] = [];
  try {
    const ramp = planRampVus(options.maxVus);
    let next = 0;
    for (;;) {
      stop = null;
      for (; next < ramp.length && stop === null; next++) {
        const vus = ramp[next] as number;
        const step = await runStep(vus, 'ramp', options.stepDurationMs, next + 1, ramp.length);
        if (steps.length === 1 && nothingAnswered(step)) {
          const kinds = Object.entries(step.load.failures)
            .map(([kind, n]) => `${kind} ${formatNumber(n ?? 0)}`)
            .join(', ');
          throw new LabError(LAB_ERR.TARGET_SILENT, `socketlab diagnose: nothing answered at ${options.url} (${kinds}); is the server running?`, { exitCode: EXIT.FAILURE });
        }
        if (hooks.signal?.aborted) stop = { reason: STOP.INTERRUPTED, text: `the run was interrupted at ${formatVus(vus)}`, vus };
        else {
          const decided = stopAfter(step);
          if (decided !== null) stop = { ...decided, vus };
        }
      }
      const stopIndex = next - 1;
      const last = ramp[stopIndex] as number;
      stop ??= { reason: STOP.MAX_VUS, text: `the ramp reached --max-vus ${formatNumber(options.maxVus)} with throughput still growing`, vus: last };

      // The finer sweep: between the ramp step below the stop and the stop itself.
      const refinable: readonly StopReason[] = [STOP.PLATEAU, STOP.RULE, STOP.FAILURES];
      if (!options.confirm || !refinable.includes(stop.reason) || stopIndex < 1 || hooks.signal?.aborted) break;
      const points = planConfirmVus(ramp[stopIndex - 1] as number, stop.vus);
      const confirmMs = Math.max(RAMP.CONFIRM_MIN_MS, Math.round(options.stepDurationMs / 2));
      const sweep: StepMeasurement[] = [];
      for (const [i, vus] of points.entries()) {
        if (hooks.signal?.aborted) break;
        const step = await runStep(vus, 'confirm', confirmMs, i + 1, points.length);
        sweep.push(step);
        // Once the finer sweep meets the stop rule again, the knee is placed.
        if (stopAfter(step) !== null) break;
      }
      // A plateau the sweep beats was a dip, not a knee: the ramp goes on (a bounded number of times).
      const stopVus = stop.vus;
      const rampBelow = steps.filter((s) => s.phase === 'ramp' && s.vus < stopVus);
      const refuting = stop.reason === STOP.PLATEAU && next < ramp.length && resumes.length < RAMP.RESUMES ? sweepRefutesPlateau(rampBelow, sweep) : null;
      if (refuting === null) break;
      const best = rampBelow.reduce((a, b) => (b.load.rps > a.load.rps ? b : a));
      resumes.push(
        `throughput looked flat at ${formatVus(stop.vus)}, but ${formatVus(refuting.vus)} then made ${formatNumber(refuting.load.rps)} req/s, more than the ${formatNumber(best.load.rps)} req/s of ${formatVus(best.vus)}: the ramp went on`,
      );
    }
  } finally {
    await watcher.stop();
  }

  const verdict = decideBottleneck(steps, context, stop);
  const sampling = watcher.unavailable();
  const crowding = describeCrowding(steps, context);
  return {
    schema: DIAGNOSE_SCHEMA,
    url: options.url,
    pathTemplate: plan.pathTemplate,
    options: {
      pids: options.pids,
      maxVus: options.maxVus,
      stepDurationMs: options.stepDurationMs,
      rules: options.rules,
      allowRemote: options.allowRemote,
      keepAlive: options.keepAlive,
      workers: options.workers,
      timeoutMs: options.timeoutMs,
      confirm: options.confirm,
    },
    context,
    startedAt,
    durationMs: Date.now() - startedMs,
    steps,
    stop,
    knee: findKnee(steps),
    bottleneck: { layer: verdict.layer, vus: verdict.vus, evidence: verdict.evidence, alsoCrossed: verdict.alsoCrossed, lever: verdict.lever, lab: verdict.lab },
    ruledOut: verdict.ruledOut,
    unseen: verdict.unseen,
    notes: [...notes, ...resumes, ...(crowding === null ? [] : [crowding]), ...sampling.map((reason) => `sampler: ${reason}`)],
    verdict: verdict.sentences,
  };
}
