/**
 * Every shape `socketlab diagnose` records, in one file: what one step of the ramp measured
 * (StepMeasurement), what is known of the target before the ramp (DiagnoseContext), the
 * verdict, and the whole result that `--json` writes. All of it is plain JSON.
 */
import type { FailureKind, ThresholdResult } from '../load/index.js';
import type { Layer, SignalName, StopReason, WatchedLayer, DIAGNOSE_SCHEMA } from './constants.js';

/** One thread over one step. Percentages are of one core: 100 is a core flat out. */
export interface ThreadLoad {
  tid: number;
  name: string | null;
  /** Time on a CPU over the step. */
  cpuPercent: number;
  /** Time on a CPU or waiting in the run queue for one, over the step. */
  runnablePercent: number;
}

/** One watched process (the target, the generator itself) over one step. */
export interface ProcessStep {
  pid: number;
  name: string | null;
  /** False when the process was gone by the end of the step. */
  alive: boolean;
  /** All threads, % of one core. */
  cpuPercent: number | null;
  busiestThread: ThreadLoad | null;
  threads: number | null;
  rssPeakBytes: number | null;
  fdsPeak: number | null;
  /** Soft RLIMIT_NOFILE; null when unlimited or unreadable. */
  fdLimit: number | null;
  voluntaryCtxSwitches: number | null;
  involuntaryCtxSwitches: number | null;
}

export interface LoadStep {
  requests: number;
  ok: number;
  failed: number;
  failureRate: number;
  /** Still in flight when the step's graceful stop ended. */
  interrupted: number;
  /** Complete responses per second. */
  rps: number;
  /** Only the kinds that occurred. */
  failures: Partial<Record<FailureKind, number>>;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** SYN to established for the step's new connections; null when none connected. */
  connectMs: { min: number; p50: number; p99: number } | null;
  connects: number;
  bytesReceived: number;
  thresholds: ThresholdResult[];
  thresholdsPassed: boolean;
}

/** socketlab serve's own numbers over the step, from GET /stats before and after it. */
export interface ServeStep {
  /** Mean event-loop delay beyond the monitor's interval, ms. */
  loopDelayMeanMs: number | null;
  /** Share of the step the loop was busy, 0..1. */
  loopUtilization: number | null;
  /** Mean wait for a pooled connection and mean query time of the step's queries, ms. */
  poolWaitAvgMs: number | null;
  poolQueryAvgMs: number | null;
  poolSize: number | null;
  /** Acquirers queued at the end of the step (a gauge). */
  poolWaitingAtEnd: number | null;
  /** Model pool (piscina): mean time a task waited for a worker thread, ms. */
  taskWaitAvgMs: number | null;
}

export interface StepMeasurement {
  /** Order of execution, from 0. */
  index: number;
  phase: 'ramp' | 'confirm';
  vus: number;
  /** The load run's length, graceful stop included. */
  durationMs: number;
  startedAt: string;
  load: LoadStep;
  generator: ProcessStep;
  /** One per --pid that is not a database. */
  targets: ProcessStep[];
  /** The target's listening socket(s) in this network namespace; null when not seen here. */
  listener: { port: number; queuedPeak: number; backlog: number | null; sockets: number } | null;
  /** Changes of the namespace's TCP counters over the step; null when /proc/net is unreadable. */
  kernel: { listenOverflows: number; listenDrops: number; synRetransmits: number; attemptFails: number; estabResets: number } | null;
  client: { portsInUsePeak: number | null; timeWaitPeak: number | null };
  machine: { cpuPercent: number | null; memAvailableMinBytes: number | null; swapInBytesPerSec: number | null };
  serve: ServeStep | null;
  /** Postgres (a --pid whose name is postgres) and its backends. */
  database: { processes: number; cpuPercent: number; busiest: (ThreadLoad & { pid: number }) | null } | null;
  /** The client's interface towards the target; null over loopback. */
  link: { rxBytesPerSec: number; txBytesPerSec: number } | null;
}

/** What is known before the ramp, and stays true during it. */
export interface DiagnoseContext {
  cores: number;
  memTotalBytes: number | null;
  /** Reached over loopback (127.0.0.0/8, ::1). */
  loopback: boolean;
  /** The target's address belongs to this machine's network namespace (loopback or another local address). */
  local: boolean;
  port: number;
  targetPids: number[];
  databasePids: number[];
  /** The target answered GET /stats as socketlab serve does. */
  serve: boolean;
  /** ... and has a database pool in its /stats. */
  serveDb: boolean;
  /** The target's listening socket was found in this namespace. */
  listenerSeen: boolean;
  /** The process found holding the listening socket, as a hint when no --pid was given. */
  listenerPid: number | null;
  /** net.ipv4.ip_local_port_range as "low high" and the count of ports in it. */
  portRange: { text: string; count: number } | null;
  /** The interface the route to the target leaves by, when it is not loopback. */
  link: { device: string; rateBitsPerSec: number | null; rateSource: string | null } | null;
  generatorFdLimit: number | null;
  keepAlive: boolean;
}

/** One signal that crossed its threshold. */
export interface Evidence {
  layer: WatchedLayer;
  signal: SignalName;
  /** The step (its users) where it was seen. */
  vus: number;
  value: number;
  threshold: number | null;
  unit: string;
  /** A sentence built from the numbers above. */
  text: string;
}

/** A layer that was watched and did not give way, with the numbers that say so. */
export interface RuledOut {
  layer: WatchedLayer;
  signal: SignalName;
  /** The highest value seen over the ramp, and at which users. */
  peak: number | null;
  vus: number | null;
  threshold: number | null;
  unit: string;
  text: string;
}

/** A layer this run could not see, and why. */
export interface Unseen {
  layer: WatchedLayer;
  reason: string;
}

export interface Verdict {
  layer: Layer;
  /** The users at which it gave way; null for `none`. */
  vus: number | null;
  evidence: Evidence[];
  /** Other layers that gave way too, later (or at the same step, lower in precedence). */
  alsoCrossed: { layer: WatchedLayer; vus: number; signal: SignalName }[];
  ruledOut: RuledOut[];
  unseen: Unseen[];
  lever: string;
  lab: string | null;
  /** The verdict in a few sentences, each built from the numbers. */
  sentences: string[];
}

/** Where throughput stopped growing. */
export interface Knee {
  /** The most users that still made throughput grow, and that throughput. */
  lastGrowingVus: number;
  lastGrowingRps: number;
  /** The first users at which it was flat (or fell). */
  flatVus: number;
  flatRps: number;
}

export interface DiagnoseOptions {
  url: string;
  pids: number[];
  pathTemplate?: string;
  maxVus: number;
  stepDurationMs: number;
  rules: string[];
  allowRemote: boolean;
  keepAlive: boolean;
  workers: number;
  timeoutMs: number;
  confirm: boolean;
}

export interface DiagnoseResult {
  schema: typeof DIAGNOSE_SCHEMA;
  url: string;
  pathTemplate: string;
  options: Omit<DiagnoseOptions, 'url' | 'pathTemplate'>;
  context: DiagnoseContext;
  startedAt: string;
  durationMs: number;
  /** In the order they ran: the ramp, then the confirm sweep. */
  steps: StepMeasurement[];
  stop: { reason: StopReason; vus: number; text: string };
  knee: Knee | null;
  bottleneck: {
    layer: Layer;
    vus: number | null;
    evidence: Evidence[];
    alsoCrossed: Verdict['alsoCrossed'];
    lever: string;
    lab: string | null;
  };
  ruledOut: RuledOut[];
  unseen: Unseen[];
  /** Limits of this run, stated: what it could not see and why. */
  notes: string[];
  verdict: string[];
}
