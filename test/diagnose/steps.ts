/**
 * Synthetic steps and contexts for the verdict's unit tests: a healthy baseline where every
 * layer is far from its threshold, and small patches that plant one signal at a time.
 */
import { DIAGNOSE_SCHEMA, STOP } from '../../src/diagnose/constants.js';
import { findKnee } from '../../src/diagnose/plan.js';
import type { DiagnoseContext, DiagnoseResult, ProcessStep, StepMeasurement, ThreadLoad } from '../../src/diagnose/types.js';
import { decideBottleneck } from '../../src/diagnose/verdict.js';

export const SERVER_PID = 4321;
export const GENERATOR_PID = 9999;
export const POSTGRES_PID = 5555;

export function context(patch: Partial<DiagnoseContext> = {}): DiagnoseContext {
  return {
    cores: 2,
    memTotalBytes: 16 * 2 ** 30,
    loopback: true,
    local: true,
    port: 3000,
    targetPids: [SERVER_PID],
    databasePids: [],
    serve: false,
    serveDb: false,
    listenerSeen: true,
    listenerPid: null,
    portRange: { text: '32768 60999', count: 28_232 },
    link: null,
    generatorFdLimit: 20_000,
    keepAlive: true,
    ...patch,
  };
}

export function thread(runnablePercent: number, cpuPercent: number, tid = SERVER_PID): ThreadLoad {
  return { tid, name: 'node', cpuPercent, runnablePercent };
}

function processStep(pid: number, patch: Partial<ProcessStep> = {}): ProcessStep {
  return {
    pid,
    name: 'node',
    alive: true,
    cpuPercent: 30,
    busiestThread: thread(35, 30, pid),
    threads: 11,
    rssPeakBytes: 80 * 2 ** 20,
    fdsPeak: 40,
    fdLimit: 20_000,
    voluntaryCtxSwitches: 1000,
    involuntaryCtxSwitches: 10,
    ...patch,
  };
}

export interface StepPatch {
  phase?: StepMeasurement['phase'];
  rps?: number;
  load?: Partial<StepMeasurement['load']>;
  target?: Partial<ProcessStep>;
  generator?: Partial<ProcessStep>;
  listener?: StepMeasurement['listener'];
  kernel?: Partial<NonNullable<StepMeasurement['kernel']>>;
  client?: Partial<StepMeasurement['client']>;
  machine?: Partial<StepMeasurement['machine']>;
  serve?: Partial<NonNullable<StepMeasurement['serve']>> | null;
  database?: StepMeasurement['database'];
  link?: StepMeasurement['link'];
}

let index = 0;

/** A healthy step at `vus` users; `rps` defaults to 1,000 per user (a server with room to spare). */
export function step(vus: number, patch: StepPatch = {}): StepMeasurement {
  const rps = patch.rps ?? vus * 1000;
  const requests = Math.round(rps);
  return {
    index: index++,
    phase: patch.phase ?? 'ramp',
    vus,
    durationMs: 1000,
    startedAt: '2026-01-01T00:00:00.000Z',
    load: {
      requests,
      ok: requests,
      failed: 0,
      failureRate: 0,
      interrupted: 0,
      rps,
      failures: {},
      latencyMs: { p50: 1, p90: 2, p99: 3, max: 10 },
      connectMs: { min: 0.05, p50: 0.1, p99: 0.4 },
      connects: vus,
      bytesReceived: requests * 150,
      thresholds: [],
      thresholdsPassed: true,
      ...patch.load,
    },
    generator: processStep(GENERATOR_PID, patch.generator),
    targets: [processStep(SERVER_PID, patch.target)],
    listener: patch.listener === undefined ? { port: 3000, queuedPeak: 0, backlog: 511, sockets: 1 } : patch.listener,
    kernel: { listenOverflows: 0, listenDrops: 0, synRetransmits: 0, attemptFails: 0, estabResets: 0, ...patch.kernel },
    client: { portsInUsePeak: vus, timeWaitPeak: 0, ...patch.client },
    machine: { cpuPercent: 80, memAvailableMinBytes: 12 * 2 ** 30, swapInBytesPerSec: 0, ...patch.machine },
    serve:
      patch.serve === null || patch.serve === undefined
        ? null
        : { loopDelayMeanMs: 0.5, loopUtilization: 0.3, poolWaitAvgMs: null, poolQueryAvgMs: null, poolSize: null, poolWaitingAtEnd: null, taskWaitAvgMs: null, ...patch.serve },
    database: patch.database === undefined ? null : patch.database,
    link: patch.link === undefined ? null : patch.link,
  };
}

/** A thread saturated as the verdict counts it: runnable 99%, on a CPU 95%. */
export const SATURATED = { busiestThread: thread(99, 95) } as const;

/** A whole result around `steps`, as runDiagnose would write it (for the output tests). */
export function resultFrom(
  steps: StepMeasurement[],
  ctx: DiagnoseContext = context(),
  stop: DiagnoseResult['stop'] = { reason: STOP.PLATEAU, text: 'throughput stopped growing', vus: steps[steps.length - 1]?.vus ?? 0 },
): DiagnoseResult {
  const verdict = decideBottleneck(steps, ctx, stop);
  return {
    schema: DIAGNOSE_SCHEMA,
    url: 'http://127.0.0.1:3000/age?birthdate=1993-05-01',
    pathTemplate: '/age?birthdate=1993-05-01',
    options: { pids: ctx.targetPids, maxVus: 256, stepDurationMs: 1000, rules: [], allowRemote: false, keepAlive: true, workers: 1, timeoutMs: 10_000, confirm: true },
    context: ctx,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 12_345,
    steps,
    stop,
    knee: findKnee(steps),
    bottleneck: { layer: verdict.layer, vus: verdict.vus, evidence: verdict.evidence, alsoCrossed: verdict.alsoCrossed, lever: verdict.lever, lab: verdict.lab },
    ruledOut: verdict.ruledOut,
    unseen: verdict.unseen,
    notes: ['the target does not answer GET /stats as socketlab serve does: its event-loop delay and database pool are not seen'],
    verdict: verdict.sentences,
  };
}
