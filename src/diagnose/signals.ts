/**
 * One rule per layer: whether this run can see it, the evidence at a step where its signal
 * crossed the threshold, and the numbers that rule it out when it never did. Pure functions
 * of the recorded steps and the context; every sentence is built from the numbers it names.
 * verdict.ts orders the crossings; plan.ts asks the load generator's rule after each step.
 */
import { formatBytes } from '../format/numbers.js';
import { formatMs, formatPercent, formatShare, formatValue, formatVus } from './format.js';
import { LAYER, SIGNAL, THRESHOLD, type WatchedLayer } from './constants.js';
import { describeGrowth, findKnee, isFlat } from './plan.js';
import type { DiagnoseContext, Evidence, ProcessStep, RuledOut, StepMeasurement, ThreadLoad } from './types.js';

export interface LayerRule {
  layer: WatchedLayer;
  /** Why this run cannot see the layer, or null when it can. */
  unseen(ctx: DiagnoseContext): string | null;
  /**
   * The evidence at `step`, given the steps with fewer users (and all the steps, for a rule
   * that needs the whole curve); null when nothing crossed.
   */
  cross(step: StepMeasurement, below: readonly StepMeasurement[], ctx: DiagnoseContext, steps: readonly StepMeasurement[]): Evidence[] | null;
  /** What the whole ramp measured for this layer, as the reason it is ruled out. */
  ruleOut(steps: readonly StepMeasurement[], ctx: DiagnoseContext): RuledOut;
  /**
   * The layer's main reading at `step` as a share of its threshold (1 = at the threshold),
   * for the chart of how close each layer came; null when not read. The verdict never uses
   * it: a layer gives way by its cross() rule alone.
   */
  pressure(step: StepMeasurement, ctx: DiagnoseContext): number | null;
}

const ratio = (value: number | null | undefined, limit: number | null | undefined): number | null =>
  value === null || value === undefined || limit === null || limit === undefined || !(limit > 0) ? null : value / limit;

const maxOf = (...values: (number | null)[]): number | null => {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return present.length === 0 ? null : Math.max(...present);
};

const num = formatValue;
const pct = formatPercent;
const share = formatShare;
const ms = formatMs;
const users = (vus: number): string => `${formatVus(vus)}`;

function processLabel(p: ProcessStep): string {
  return `pid ${p.pid}${p.name === null ? '' : ` (${p.name})`}`;
}

function threadLabel(p: ProcessStep): string {
  const t = p.busiestThread;
  if (t === null) return processLabel(p);
  return `${t.tid === p.pid ? 'the main thread' : `thread ${t.tid}`}${t.name === null ? '' : ` "${t.name}"`} of ${processLabel(p)}`;
}

/** The step and value where `read` is highest (nulls skipped). */
function peakOver<T>(steps: readonly StepMeasurement[], read: (s: StepMeasurement) => T | null, value: (t: T) => number): { step: StepMeasurement; item: T; value: number } | null {
  let best: { step: StepMeasurement; item: T; value: number } | null = null;
  for (const step of steps) {
    const item = read(step);
    if (item === null) continue;
    const v = value(item);
    if (!Number.isFinite(v)) continue;
    if (best === null || v > best.value) best = { step, item, value: v };
  }
  return best;
}

function evidence(layer: WatchedLayer, signal: Evidence['signal'], step: StepMeasurement, value: number, threshold: number | null, unit: string, text: string): Evidence {
  return { layer, signal, vus: step.vus, value, threshold, unit, text };
}

function ruledOut(
  layer: WatchedLayer,
  signal: RuledOut['signal'],
  peak: { step: StepMeasurement; value: number } | null,
  threshold: number | null,
  unit: string,
  text: string,
): RuledOut {
  return { layer, signal, peak: peak === null ? null : peak.value, vus: peak === null ? null : peak.step.vus, threshold, unit, text };
}

function noPidReason(ctx: DiagnoseContext, what: string): string | null {
  if (ctx.targetPids.length > 0) return null;
  const hint = ctx.listenerPid === null ? "pass --pid with the server's PID" : `pass --pid ${ctx.listenerPid} (the process holding the listening socket on port ${ctx.port})`;
  return `no --pid: ${what} are read from /proc/PID; ${hint}`;
}

/**
 * How sure a saturation must be. The layers named before the others (the generator, the
 * database) need the strict form, the thread having run half a core itself: a thread merely
 * woken often on a crowded machine must not outrank every other layer. The target's CPU
 * needs throughput flat besides, which waiting for a CPU alone does not cause, so the
 * runnable share is enough there: on a machine crowded by other work, a server thread that
 * always has work is still the one that limits what this machine gives it.
 */
export type Proof = 'strict' | 'runnable';

/**
 * Saturation of a process: its busiest thread's runnable share when that thread is
 * saturated, and all its threads together in cores.
 */
function saturation(p: ProcessStep, proof: Proof): { runnable: number | null; cores: number | null } {
  return {
    runnable: threadSaturated(p.busiestThread, proof) ? (p.busiestThread as ThreadLoad).runnablePercent : null,
    cores: p.cpuPercent === null ? null : p.cpuPercent / 100,
  };
}

/** Runnable at least THREAD_RUNNABLE of the step; strictly, having also run THREAD_RUN_MIN of a core. */
export function threadSaturated(thread: ThreadLoad | null, proof: Proof): boolean {
  if (thread === null || thread.runnablePercent < THRESHOLD.THREAD_RUNNABLE * 100) return false;
  return proof === 'runnable' || thread.cpuPercent >= THRESHOLD.THREAD_RUN_MIN * 100;
}

/** The rule for a saturated thread, in words. */
function saturatedText(proof: Proof): string {
  return proof === 'strict'
    ? `saturated is runnable ${THRESHOLD.THREAD_RUNNABLE * 100}% having run ${THRESHOLD.THREAD_RUN_MIN * 100}% of a core`
    : `saturated is runnable ${THRESHOLD.THREAD_RUNNABLE * 100}%`;
}

/** "runnable at most R% of a step (on a CPU C%, at V VUs; saturated is ...)". */
function describeThreadPeak(thread: ThreadLoad, vus: number, proof: Proof): string {
  return `runnable at most ${pct(thread.runnablePercent)} of a step (on a CPU ${pct(thread.cpuPercent)}, at ${users(vus)}; ${saturatedText(proof)})`;
}

const loadGenerator: LayerRule = {
  layer: LAYER.LOAD_GENERATOR,
  pressure: (step, ctx) =>
    maxOf(
      ratio(step.generator.busiestThread?.runnablePercent, THRESHOLD.THREAD_RUNNABLE * 100),
      ratio(step.generator.fdsPeak, THRESHOLD.GENERATOR_FD_SHARE * (step.generator.fdLimit ?? ctx.generatorFdLimit ?? 0)),
    ),
  unseen: () => null,
  cross(step, _below, ctx) {
    const found: Evidence[] = [];
    const g = step.generator;
    const emfile = step.load.failures.emfile ?? 0;
    if (emfile > 0) {
      found.push(
        evidence(
          LAYER.LOAD_GENERATOR,
          SIGNAL.EMFILE,
          step,
          emfile,
          0,
          'failures',
          `the generator's own sockets failed ${num(emfile)} times with EMFILE/ENFILE at ${users(step.vus)}: it ran out of descriptors`,
        ),
      );
    }
    const limit = g.fdLimit ?? ctx.generatorFdLimit;
    if (g.fdsPeak !== null && limit !== null && g.fdsPeak >= THRESHOLD.GENERATOR_FD_SHARE * limit) {
      found.push(
        evidence(
          LAYER.LOAD_GENERATOR,
          SIGNAL.GENERATOR_FDS,
          step,
          g.fdsPeak,
          Math.ceil(THRESHOLD.GENERATOR_FD_SHARE * limit),
          'descriptors',
          `the generator held ${num(g.fdsPeak)} of the ${num(limit)} descriptors its ulimit -n allows (${share(g.fdsPeak / limit)})`,
        ),
      );
    }
    // A generator that spins reconnecting after failures is busy because of them, not the
    // reason for them: its CPU counts only while requests succeed.
    if (step.load.failureRate < THRESHOLD.FAILURE_RATE) {
      const s = saturation(g, 'strict');
      if (s.runnable !== null && s.runnable >= THRESHOLD.THREAD_RUNNABLE * 100) {
        found.push(
          evidence(
            LAYER.LOAD_GENERATOR,
            SIGNAL.GENERATOR_THREAD_RUNNABLE,
            step,
            s.runnable,
            THRESHOLD.THREAD_RUNNABLE * 100,
            '% of the step',
            `the generator's busiest thread (${threadLabel(g)}) was runnable ${pct(s.runnable)} of the step at ${users(step.vus)} (on a CPU ${pct(g.busiestThread?.cpuPercent ?? 0)}): it had no idle moment left to send more`,
          ),
        );
      } else if (s.cores !== null && s.cores >= THRESHOLD.CORES_SHARE * ctx.cores) {
        found.push(
          evidence(
            LAYER.LOAD_GENERATOR,
            SIGNAL.GENERATOR_CORES,
            step,
            s.cores,
            THRESHOLD.CORES_SHARE * ctx.cores,
            'cores',
            `the generator used ${num(Math.round(s.cores * 100) / 100)} of the machine's ${ctx.cores} cores at ${users(step.vus)}`,
          ),
        );
      }
    }
    return found.length > 0 ? found : null;
  },
  ruleOut(steps, ctx) {
    const cpu = peakOver(
      steps,
      (s) => s.generator.busiestThread,
      (t) => t.runnablePercent,
    );
    const fds = peakOver(
      steps,
      (s) => (s.generator.fdsPeak === null ? null : s.generator),
      (g) => g.fdsPeak as number,
    );
    const limit = fds?.item.fdLimit ?? ctx.generatorFdLimit;
    const parts = [
      cpu === null ? "the generator's threads were not readable" : `the generator's busiest thread was ${describeThreadPeak(cpu.item, cpu.step.vus, 'strict')}`,
      fds === null ? null : `it held at most ${num(fds.value)} descriptors${limit === null ? '' : ` of ${num(limit)}`}`,
      'no EMFILE',
    ].filter((p): p is string => p !== null);
    return ruledOut(LAYER.LOAD_GENERATOR, SIGNAL.GENERATOR_THREAD_RUNNABLE, cpu, THRESHOLD.THREAD_RUNNABLE * 100, '% of the step', parts.join(', '));
  },
};

const memory: LayerRule = {
  layer: LAYER.MEMORY,
  pressure: (step, ctx) =>
    ctx.memTotalBytes === null || step.machine.memAvailableMinBytes === null
      ? null
      : (1 - step.machine.memAvailableMinBytes / ctx.memTotalBytes) / (1 - THRESHOLD.MEM_AVAILABLE_SHARE),
  unseen(ctx) {
    if (ctx.memTotalBytes === null) return "no /proc/meminfo here: the machine's available memory is not readable";
    if (!ctx.local && ctx.targetPids.length === 0) return "the target is not on this machine: its memory is not visible from here (only the generator's machine is)";
    return null;
  },
  cross(step, _below, ctx) {
    const found: Evidence[] = [];
    const total = ctx.memTotalBytes;
    const available = step.machine.memAvailableMinBytes;
    if (total !== null && available !== null && available <= THRESHOLD.MEM_AVAILABLE_SHARE * total) {
      found.push(
        evidence(
          LAYER.MEMORY,
          SIGNAL.MEM_AVAILABLE,
          step,
          available,
          THRESHOLD.MEM_AVAILABLE_SHARE * total,
          'bytes',
          `MemAvailable fell to ${formatBytes(available)} of ${formatBytes(total)} (${share(available / total)}) at ${users(step.vus)}`,
        ),
      );
    }
    const swap = step.machine.swapInBytesPerSec;
    if (swap !== null && swap >= THRESHOLD.SWAP_IN_BYTES_PER_SEC) {
      found.push(
        evidence(LAYER.MEMORY, SIGNAL.SWAP_IN, step, swap, THRESHOLD.SWAP_IN_BYTES_PER_SEC, 'bytes/s', `the machine swapped in ${formatBytes(swap)}/s at ${users(step.vus)}`),
      );
    }
    if (found.length > 0) {
      for (const t of step.targets) {
        if (t.rssPeakBytes !== null)
          found.push(evidence(LAYER.MEMORY, SIGNAL.TARGET_RSS, step, t.rssPeakBytes, null, 'bytes', `${processLabel(t)} held ${formatBytes(t.rssPeakBytes)} resident`));
      }
    }
    return found.length > 0 ? found : null;
  },
  ruleOut(steps, ctx) {
    const total = ctx.memTotalBytes as number;
    // The lowest available memory is the peak of what was in use.
    const low = peakOver(
      steps,
      (s) => s.machine.memAvailableMinBytes,
      (v) => -v,
    );
    const rss = peakOver(
      steps,
      (s) => s.targets.find((t) => t.rssPeakBytes !== null) ?? null,
      (t) => t.rssPeakBytes as number,
    );
    const available = low === null ? null : -low.value;
    const text = [
      available === null
        ? 'MemAvailable was not read'
        : `MemAvailable stayed at or above ${formatBytes(available)} of ${formatBytes(total)} (${share(available / total)}; short is ${share(THRESHOLD.MEM_AVAILABLE_SHARE)})`,
      rss === null ? null : `${processLabel(rss.item)} held at most ${formatBytes(rss.value)} resident (at ${users(rss.step.vus)})`,
    ]
      .filter((p): p is string => p !== null)
      .join('; ');
    return {
      layer: LAYER.MEMORY,
      signal: SIGNAL.MEM_AVAILABLE,
      peak: available,
      vus: low?.step.vus ?? null,
      threshold: THRESHOLD.MEM_AVAILABLE_SHARE * total,
      unit: 'bytes',
      text,
    };
  },
};

const descriptors: LayerRule = {
  layer: LAYER.DESCRIPTORS,
  pressure: (step) => maxOf(...step.targets.map((t) => ratio(t.fdsPeak, t.fdLimit === null ? null : THRESHOLD.FD_SHARE * t.fdLimit))),
  unseen: (ctx) => noPidReason(ctx, "the target's descriptors and its RLIMIT_NOFILE"),
  cross(step) {
    const found: Evidence[] = [];
    for (const t of step.targets) {
      if (t.fdsPeak === null || t.fdLimit === null) continue;
      if (t.fdsPeak >= THRESHOLD.FD_SHARE * t.fdLimit) {
        found.push(
          evidence(
            LAYER.DESCRIPTORS,
            SIGNAL.TARGET_FDS,
            step,
            t.fdsPeak,
            Math.ceil(THRESHOLD.FD_SHARE * t.fdLimit),
            'descriptors',
            `${processLabel(t)} held ${num(t.fdsPeak)} of the ${num(t.fdLimit)} descriptors its RLIMIT_NOFILE allows at ${users(step.vus)}`,
          ),
        );
      }
    }
    if (found.length === 0) return null;
    const closed = (step.load.failures.closed_early ?? 0) + (step.load.failures.reset ?? 0);
    if (closed > 0) {
      found.push(
        evidence(
          LAYER.DESCRIPTORS,
          SIGNAL.CLOSED_UNANSWERED,
          step,
          closed,
          0,
          'requests',
          `${num(closed)} requests had their connection closed or reset unanswered (accept() failing with EMFILE)`,
        ),
      );
    }
    return found;
  },
  ruleOut(steps) {
    const top = peakOver(
      steps,
      (s) => s.targets.find((t) => t.fdsPeak !== null && t.fdLimit !== null) ?? null,
      (t) => (t.fdsPeak as number) / (t.fdLimit as number),
    );
    if (top === null) {
      const any = peakOver(
        steps,
        (s) => s.targets.find((t) => t.fdsPeak !== null) ?? null,
        (t) => t.fdsPeak as number,
      );
      return ruledOut(
        LAYER.DESCRIPTORS,
        SIGNAL.TARGET_FDS,
        any,
        null,
        'descriptors',
        any === null ? "the target's descriptors were not readable" : `${processLabel(any.item)} held at most ${num(any.value)} descriptors, with no open-files limit`,
      );
    }
    const t = top.item;
    return ruledOut(
      LAYER.DESCRIPTORS,
      SIGNAL.TARGET_FDS,
      { step: top.step, value: t.fdsPeak as number },
      Math.ceil(THRESHOLD.FD_SHARE * (t.fdLimit as number)),
      'descriptors',
      `${processLabel(t)} held at most ${num(t.fdsPeak as number)} of its ${num(t.fdLimit as number)} descriptors (${share(top.value)}, at ${users(top.step.vus)}; exhausted is ${share(THRESHOLD.FD_SHARE)})`,
    );
  },
};

const ports: LayerRule = {
  layer: LAYER.PORTS,
  pressure: (step, ctx) =>
    maxOf(ratio(step.client.portsInUsePeak, ctx.portRange === null ? null : THRESHOLD.PORTS_SHARE * ctx.portRange.count), (step.load.failures.eaddrnotavail ?? 0) > 0 ? 1 : null),
  unseen: () => null,
  cross(step, _below, ctx) {
    const found: Evidence[] = [];
    const eaddr = step.load.failures.eaddrnotavail ?? 0;
    if (eaddr > 0) {
      found.push(
        evidence(
          LAYER.PORTS,
          SIGNAL.EADDRNOTAVAIL,
          step,
          eaddr,
          0,
          'failures',
          `connect() failed ${num(eaddr)} times with EADDRNOTAVAIL at ${users(step.vus)}: no free local port towards the target`,
        ),
      );
    }
    const inUse = step.client.portsInUsePeak;
    const range = ctx.portRange;
    if (inUse !== null && range !== null && inUse >= THRESHOLD.PORTS_SHARE * range.count) {
      found.push(
        evidence(
          LAYER.PORTS,
          SIGNAL.PORTS_IN_USE,
          step,
          inUse,
          Math.ceil(THRESHOLD.PORTS_SHARE * range.count),
          'ports',
          `the client held ${num(inUse)} sockets towards port ${ctx.port} of the ${num(range.count)} ephemeral ports in ip_local_port_range (${range.text})`,
        ),
      );
    }
    if (found.length === 0) return null;
    const tw = step.client.timeWaitPeak;
    if (tw !== null && tw > 0)
      found.push(evidence(LAYER.PORTS, SIGNAL.TIME_WAIT, step, tw, null, 'sockets', `${num(tw)} of them in TIME_WAIT, which holds a port for 60 s after the client closes first`));
    return found;
  },
  ruleOut(steps, ctx) {
    const top = peakOver(
      steps,
      (s) => s.client.portsInUsePeak,
      (v) => v,
    );
    const range = ctx.portRange;
    const tw = peakOver(
      steps,
      (s) => s.client.timeWaitPeak,
      (v) => v,
    );
    const text = [
      top === null
        ? 'client sockets towards the target were not counted'
        : `the client held at most ${num(top.value)} sockets towards port ${ctx.port}${range === null ? '' : ` of ${num(range.count)} ephemeral ports (${share(top.value / range.count)}; exhausted is ${share(THRESHOLD.PORTS_SHARE)})`}`,
      tw === null ? null : `${num(tw.value)} in TIME_WAIT at most`,
      'no EADDRNOTAVAIL',
    ]
      .filter((p): p is string => p !== null)
      .join(', ');
    return ruledOut(LAYER.PORTS, SIGNAL.PORTS_IN_USE, top, range === null ? null : Math.ceil(THRESHOLD.PORTS_SHARE * range.count), 'ports', text);
  },
};

const database: LayerRule = {
  layer: LAYER.DATABASE,
  pressure: (step) => ratio(step.database?.busiest?.runnablePercent, THRESHOLD.THREAD_RUNNABLE * 100),
  unseen: (ctx) => (ctx.databasePids.length > 0 ? null : "no --pid names a postgres process: pass the postmaster's PID to watch its backends' CPU"),
  cross(step, _below, ctx) {
    const db = step.database;
    if (db === null) return null;
    const found: Evidence[] = [];
    if (db.busiest !== null && threadSaturated(db.busiest, 'strict')) {
      found.push(
        evidence(
          LAYER.DATABASE,
          SIGNAL.DATABASE_RUNNABLE,
          step,
          db.busiest.runnablePercent,
          THRESHOLD.THREAD_RUNNABLE * 100,
          '% of the step',
          `Postgres process ${db.busiest.pid}${db.busiest.name === null ? '' : ` (${db.busiest.name})`} was runnable ${pct(db.busiest.runnablePercent)} of the step at ${users(step.vus)}: its queries are CPU-bound`,
        ),
      );
    }
    const cores = db.cpuPercent / 100;
    if (cores >= THRESHOLD.CORES_SHARE * ctx.cores) {
      found.push(
        evidence(
          LAYER.DATABASE,
          SIGNAL.DATABASE_CORES,
          step,
          cores,
          THRESHOLD.CORES_SHARE * ctx.cores,
          'cores',
          `${num(db.processes)} Postgres processes used ${num(Math.round(cores * 100) / 100)} of the ${ctx.cores} cores at ${users(step.vus)}`,
        ),
      );
    }
    return found.length > 0 ? found : null;
  },
  ruleOut(steps) {
    const top = peakOver(
      steps,
      (s) => s.database?.busiest ?? null,
      (b) => b.runnablePercent,
    );
    const cores = peakOver(
      steps,
      (s) => s.database,
      (d) => d.cpuPercent / 100,
    );
    const text =
      top === null
        ? "the Postgres processes' CPU was not readable"
        : `the busiest Postgres process was ${describeThreadPeak(top.item, top.step.vus, 'strict')}${cores === null ? '' : `, all of them together at most ${num(Math.round(cores.value * 100) / 100)} cores`}`;
    return ruledOut(LAYER.DATABASE, SIGNAL.DATABASE_RUNNABLE, top, THRESHOLD.THREAD_RUNNABLE * 100, '% of the step', text);
  },
};

/** Pool wait over query time, or null when either is missing. */
function poolRatio(step: StepMeasurement): { wait: number; query: number } | null {
  const s = step.serve;
  if (s === null || s.poolWaitAvgMs === null || s.poolQueryAvgMs === null) return null;
  return { wait: s.poolWaitAvgMs, query: s.poolQueryAvgMs };
}

const dbPool: LayerRule = {
  layer: LAYER.DB_POOL,
  pressure: (step) => {
    const r = poolRatio(step);
    return r === null ? null : r.wait / Math.max(THRESHOLD.POOL_WAIT_MIN_MS, THRESHOLD.POOL_WAIT_RATIO * r.query);
  },
  unseen(ctx) {
    if (!ctx.serve) return "the target did not answer GET /stats as socketlab serve does: an application's pool is visible only through its own counters";
    if (!ctx.serveDb) return 'socketlab serve runs without a database (--db): there is no pool';
    return null;
  },
  cross(step) {
    const r = poolRatio(step);
    if (r === null) return null;
    if (r.wait < THRESHOLD.POOL_WAIT_MIN_MS || r.wait < THRESHOLD.POOL_WAIT_RATIO * r.query) return null;
    const size = step.serve?.poolSize ?? null;
    const found = [
      evidence(
        LAYER.DB_POOL,
        SIGNAL.POOL_WAIT,
        step,
        r.wait,
        Math.max(THRESHOLD.POOL_WAIT_MIN_MS, THRESHOLD.POOL_WAIT_RATIO * r.query),
        'ms',
        `a request waited ${ms(r.wait)} on average for one of the ${size === null ? '' : `${num(size)} `}pooled connections at ${users(step.vus)}, ${num(Math.round((r.wait / Math.max(r.query, 0.001)) * 10) / 10)}x its ${ms(r.query)} query`,
      ),
    ];
    return found;
  },
  ruleOut(steps) {
    const top = peakOver(steps, poolRatio, (r) => r.wait / Math.max(r.query, 0.001));
    const text =
      top === null
        ? 'pool wait and query time were not read'
        : `a request waited at most ${ms(top.item.wait)} for a pooled connection against ${ms(top.item.query)} of query (at ${users(top.step.vus)}; the pool limits at ${THRESHOLD.POOL_WAIT_RATIO}x the query and ${ms(THRESHOLD.POOL_WAIT_MIN_MS)})`;
    return ruledOut(LAYER.DB_POOL, SIGNAL.POOL_WAIT, top === null ? null : { step: top.step, value: top.item.wait }, null, 'ms', text);
  },
};

const cpu: LayerRule = {
  layer: LAYER.CPU,
  pressure: (step) => maxOf(...step.targets.map((t) => ratio(t.busiestThread?.runnablePercent, THRESHOLD.THREAD_RUNNABLE * 100))),
  unseen: (ctx) => noPidReason(ctx, "the target's threads and their CPU"),
  cross(step, below, ctx, steps) {
    // Saturation alone is not a bottleneck: it must coincide with throughput that stopped
    // growing for good (at or past the knee), not with one step that dipped by chance.
    const knee = findKnee(steps);
    if (knee === null || step.vus < knee.flatVus || !isFlat(step, below)) return null;
    const found: Evidence[] = [];
    for (const t of step.targets) {
      const s = saturation(t, 'runnable');
      if (s.runnable !== null && s.runnable >= THRESHOLD.THREAD_RUNNABLE * 100) {
        found.push(
          evidence(
            LAYER.CPU,
            SIGNAL.TARGET_THREAD_RUNNABLE,
            step,
            s.runnable,
            THRESHOLD.THREAD_RUNNABLE * 100,
            '% of the step',
            `${threadLabel(t)} was runnable ${pct(s.runnable)} of the step at ${users(step.vus)} (on a CPU ${pct(t.busiestThread?.cpuPercent ?? 0)}, waiting for one the rest): it always had work, so more users only queue`,
          ),
        );
      } else if (s.cores !== null && s.cores >= THRESHOLD.CORES_SHARE * ctx.cores) {
        found.push(
          evidence(
            LAYER.CPU,
            SIGNAL.TARGET_CORES,
            step,
            s.cores,
            THRESHOLD.CORES_SHARE * ctx.cores,
            'cores',
            `${processLabel(t)} used ${num(Math.round(s.cores * 100) / 100)} of the machine's ${ctx.cores} cores at ${users(step.vus)}`,
          ),
        );
      }
    }
    if (found.length === 0) return null;
    found.push(evidence(LAYER.CPU, SIGNAL.THROUGHPUT, step, step.load.rps, null, 'req/s', describeGrowth(step, below)));
    const taskWait = step.serve?.taskWaitAvgMs ?? null;
    if (taskWait !== null && taskWait > 0) {
      found.push(
        evidence(
          LAYER.CPU,
          SIGNAL.TASK_WAIT,
          step,
          taskWait,
          null,
          'ms',
          `socketlab serve's tasks waited ${ms(taskWait)} on average for a worker thread of its pool (piscina's queue)`,
        ),
      );
    }
    return found;
  },
  ruleOut(steps) {
    const top = peakOver(
      steps,
      (s) => {
        const busiest = s.targets.filter((t) => t.busiestThread !== null).sort((a, b) => (b.busiestThread?.runnablePercent ?? 0) - (a.busiestThread?.runnablePercent ?? 0))[0];
        return busiest ?? null;
      },
      (t) => (t.busiestThread as NonNullable<ProcessStep['busiestThread']>).runnablePercent,
    );
    const text =
      top === null
        ? "the target's threads were not readable"
        : `the busiest thread of the target (${threadLabel(top.item)}) was ${describeThreadPeak(top.item.busiestThread as ThreadLoad, top.step.vus, 'runnable')}, and counts only while throughput is flat`;
    return ruledOut(LAYER.CPU, SIGNAL.TARGET_THREAD_RUNNABLE, top, THRESHOLD.THREAD_RUNNABLE * 100, '% of the step', text);
  },
};

const eventLoop: LayerRule = {
  layer: LAYER.EVENT_LOOP,
  pressure: (step) => ratio(step.serve?.loopDelayMeanMs, THRESHOLD.LOOP_DELAY_MS),
  unseen: (ctx) => (ctx.serve ? null : "the event-loop delay is read from socketlab serve's GET /stats, which the target does not answer"),
  cross(step, below) {
    const delay = step.serve?.loopDelayMeanMs ?? null;
    if (delay === null || delay < THRESHOLD.LOOP_DELAY_MS) return null;
    // Growing with users: against the step with the fewest users that has a reading.
    const first = below.find((s) => s.serve?.loopDelayMeanMs !== null && s.serve?.loopDelayMeanMs !== undefined);
    if (first === undefined) return null;
    const base = first.serve?.loopDelayMeanMs as number;
    if (delay < THRESHOLD.LOOP_DELAY_GROWTH * base) return null;
    return [
      evidence(
        LAYER.EVENT_LOOP,
        SIGNAL.LOOP_DELAY,
        step,
        delay,
        Math.max(THRESHOLD.LOOP_DELAY_MS, THRESHOLD.LOOP_DELAY_GROWTH * base),
        'ms',
        `socketlab serve's event loop ran its callbacks ${ms(delay)} late on average at ${users(step.vus)}, against ${ms(base)} at ${users(first.vus)}${step.serve?.loopUtilization === null || step.serve?.loopUtilization === undefined ? '' : ` (busy ${share(step.serve.loopUtilization)} of the step)`}`,
      ),
    ];
  },
  ruleOut(steps) {
    const top = peakOver(
      steps,
      (s) => s.serve?.loopDelayMeanMs ?? null,
      (v) => v,
    );
    const text =
      top === null
        ? 'the event-loop delay was not read'
        : `the event loop ran its callbacks at most ${ms(top.value)} late on average (at ${users(top.step.vus)}; in the way at ${ms(THRESHOLD.LOOP_DELAY_MS)} and doubling)`;
    return ruledOut(LAYER.EVENT_LOOP, SIGNAL.LOOP_DELAY, top, THRESHOLD.LOOP_DELAY_MS, 'ms', text);
  },
};

const acceptQueue: LayerRule = {
  layer: LAYER.ACCEPT_QUEUE,
  pressure: (step) => (step.listener === null ? null : ratio(step.listener.queuedPeak, step.listener.backlog)),
  unseen(ctx) {
    if (ctx.listenerSeen) return null;
    // Without the listener, the client's own view still counts: see cross().
    return null;
  },
  cross(step, _below, ctx) {
    const found: Evidence[] = [];
    const l = step.listener;
    const k = step.kernel;
    if (ctx.listenerSeen && l !== null) {
      const overflows = k?.listenOverflows ?? 0;
      const full = l.backlog !== null && l.queuedPeak >= THRESHOLD.ACCEPT_QUEUE_SHARE * l.backlog;
      const deepWithOverflows = overflows > 0 && (l.backlog === null ? l.queuedPeak > 0 : l.queuedPeak >= THRESHOLD.ACCEPT_QUEUE_SHARE_WITH_OVERFLOWS * l.backlog);
      // The sampler may miss a queue that is full only briefly; our own connects do not.
      const retriedWithOverflows = overflows > 0 && (step.load.connectMs?.p99 ?? 0) >= 1000;
      if (!full && !deepWithOverflows && !retriedWithOverflows) return null;
      found.push(
        evidence(
          LAYER.ACCEPT_QUEUE,
          SIGNAL.ACCEPT_QUEUE,
          step,
          l.queuedPeak,
          l.backlog,
          'connections',
          `the accept queue of port ${l.port} held ${num(l.queuedPeak)} connections${l.backlog === null ? '' : ` against its backlog of ${num(l.backlog)}`} at ${users(step.vus)}`,
        ),
      );
    } else {
      // Only the client's side: a connect that took a second or more had its SYN retransmitted
      // (the initial RTO is 1 s), which is what a full accept queue does to a client.
      const p99 = step.load.connectMs?.p99 ?? 0;
      if (p99 < 1000 || (k?.synRetransmits ?? 0) === 0) return null;
      found.push(
        evidence(
          LAYER.ACCEPT_QUEUE,
          SIGNAL.CONNECT_P99,
          step,
          p99,
          1000,
          'ms',
          `connecting took ${ms(p99)} at p99 at ${users(step.vus)}: SYNs went unanswered and were sent again after 1 s`,
        ),
      );
    }
    if (k !== null) {
      if (k.listenOverflows > 0)
        found.push(
          evidence(
            LAYER.ACCEPT_QUEUE,
            SIGNAL.LISTEN_OVERFLOWS,
            step,
            k.listenOverflows,
            0,
            'count',
            `the kernel counted ${num(k.listenOverflows)} ListenOverflows (handshakes dropped at a full queue)`,
          ),
        );
      if (k.listenDrops > 0) found.push(evidence(LAYER.ACCEPT_QUEUE, SIGNAL.LISTEN_DROPS, step, k.listenDrops, 0, 'count', `${num(k.listenDrops)} ListenDrops`));
      if (k.synRetransmits > 0)
        found.push(evidence(LAYER.ACCEPT_QUEUE, SIGNAL.SYN_RETRANSMITS, step, k.synRetransmits, 0, 'count', `${num(k.synRetransmits)} SYNs retransmitted (TCPSynRetrans)`));
    }
    const p99 = step.load.connectMs?.p99 ?? null;
    if (ctx.listenerSeen && p99 !== null && p99 >= 1000)
      found.push(evidence(LAYER.ACCEPT_QUEUE, SIGNAL.CONNECT_P99, step, p99, 1000, 'ms', `connects took ${ms(p99)} at p99 (a retransmitted SYN waits 1 s, then 3 s)`));
    return found;
  },
  ruleOut(steps, ctx) {
    if (!ctx.listenerSeen) {
      const top = peakOver(
        steps,
        (s) => s.load.connectMs,
        (c) => c.p99,
      );
      const text = `the listening socket is not visible from here; connects took at most ${top === null ? '-' : ms(top.value)} at p99 (a dropped SYN makes it 1 s or more)`;
      return ruledOut(LAYER.ACCEPT_QUEUE, SIGNAL.CONNECT_P99, top, 1000, 'ms', text);
    }
    const top = peakOver(
      steps,
      (s) => s.listener,
      (l) => (l.backlog === null ? l.queuedPeak : l.queuedPeak / l.backlog),
    );
    const overflows = steps.reduce((n, s) => n + (s.kernel?.listenOverflows ?? 0), 0);
    const text =
      top === null
        ? `the accept queue of port ${ctx.port} was not read`
        : `the accept queue of port ${ctx.port} held at most ${num(top.item.queuedPeak)}${top.item.backlog === null ? '' : ` of its backlog of ${num(top.item.backlog)}`} (at ${users(top.step.vus)}); ListenOverflows rose by ${num(overflows)} over the whole ramp`;
    return ruledOut(LAYER.ACCEPT_QUEUE, SIGNAL.ACCEPT_QUEUE, top === null ? null : { step: top.step, value: top.item.queuedPeak }, top?.item.backlog ?? null, 'connections', text);
  },
};

/** Bytes per second on the link, the busier direction. */
function linkBytes(step: StepMeasurement): number | null {
  return step.link === null ? null : Math.max(step.link.rxBytesPerSec, step.link.txBytesPerSec);
}

const link: LayerRule = {
  layer: LAYER.LINK,
  pressure: (step, ctx) => {
    const bytes = linkBytes(step);
    const rate = ctx.link?.rateBitsPerSec ?? null;
    return bytes === null || rate === null ? null : (bytes * 8) / (THRESHOLD.LINK_RATE_SHARE * rate);
  },
  unseen(ctx) {
    if (ctx.link === null) return null; // loopback: ruled out, not unseen
    if (ctx.link.rateBitsPerSec === null)
      return `the rate of ${ctx.link.device} is not known (no rate in its qdisc, no speed in /sys): only throughput against users ÷ round trip can name the link`;
    return null;
  },
  cross(step, _below, ctx) {
    const rate = ctx.link?.rateBitsPerSec ?? null;
    const bytes = linkBytes(step);
    if (rate === null || bytes === null || ctx.link === null) return null;
    if (bytes * 8 < THRESHOLD.LINK_RATE_SHARE * rate) return null;
    return [
      evidence(
        LAYER.LINK,
        SIGNAL.LINK_BYTES,
        step,
        bytes,
        (THRESHOLD.LINK_RATE_SHARE * rate) / 8,
        'bytes/s',
        `${ctx.link.device} carried ${formatBytes(bytes)}/s at ${users(step.vus)}, ${share((bytes * 8) / rate)} of its ${formatRate(rate)} rate (${ctx.link.rateSource ?? 'rate'})`,
      ),
    ];
  },
  ruleOut(steps, ctx) {
    if (ctx.link === null) {
      return ruledOut(LAYER.LINK, SIGNAL.LINK_BYTES, null, null, 'bytes/s', 'the target is reached over loopback, which has no rate of its own');
    }
    const rate = ctx.link.rateBitsPerSec;
    const top = peakOver(steps, linkBytes, (v) => v);
    const text =
      top === null
        ? `${ctx.link.device}'s counters were not read`
        : `${ctx.link.device} carried at most ${formatBytes(top.value)}/s (at ${users(top.step.vus)})${rate === null ? '' : `, ${share((top.value * 8) / rate)} of its ${formatRate(rate)} rate (full is ${share(THRESHOLD.LINK_RATE_SHARE)})`}`;
    return ruledOut(LAYER.LINK, SIGNAL.LINK_BYTES, top, rate === null ? null : (THRESHOLD.LINK_RATE_SHARE * rate) / 8, 'bytes/s', text);
  },
};

export function formatRate(bitsPerSec: number): string {
  if (bitsPerSec >= 1e9) return `${num(bitsPerSec / 1e9)} Gbit/s`;
  if (bitsPerSec >= 1e6) return `${num(bitsPerSec / 1e6)} Mbit/s`;
  if (bitsPerSec >= 1e3) return `${num(bitsPerSec / 1e3)} kbit/s`;
  return `${num(bitsPerSec)} bit/s`;
}

/** Every layer's rule, in PRECEDENCE order. */
export const LAYER_RULES: readonly LayerRule[] = [loadGenerator, memory, descriptors, ports, acceptQueue, database, dbPool, cpu, eventLoop, link];

export function ruleFor(layer: WatchedLayer): LayerRule {
  return LAYER_RULES.find((r) => r.layer === layer) as LayerRule;
}

/**
 * The latency form of `link`: a remote target whose throughput is at users ÷ round trip
 * spends its users' time on the wire. It is no knee (it moves with the users), so the
 * verdict names it only when nothing else gave way. The round trip is the fastest connect
 * seen (a handshake is one round trip).
 */
export function latencyBound(step: StepMeasurement, ctx: DiagnoseContext): Evidence | null {
  if (ctx.link === null || step.load.connectMs === null) return null;
  const rttMs = step.load.connectMs.min;
  if (!(rttMs > 0)) return null;
  const bound = step.vus / (rttMs / 1000);
  if (step.load.rps < THRESHOLD.LATENCY_BOUND_SHARE * bound) return null;
  return evidence(
    LAYER.LINK,
    SIGNAL.LINK_LATENCY_BOUND,
    step,
    step.load.rps,
    THRESHOLD.LATENCY_BOUND_SHARE * bound,
    'req/s',
    `${users(step.vus)} made ${num(step.load.rps)} req/s, ${share(step.load.rps / bound)} of the ${num(Math.round(bound))} req/s that ${num(step.vus)} users ÷ the ${ms(rttMs)} round trip allow: each user spends its time on the wire`,
  );
}
