/**
 * Every shape the load generator exposes or sends between threads, in one file (after
 * piscina's types.ts): what a lab passes in (LoadOptions), what is resolved from it
 * (LoadPlan), what comes back (LoadResult), and the messages between the coordinator and
 * its worker threads. All of LoadPlan and LoadResult is plain JSON.
 */
import type { LatencySummary } from '../metrics/histogram.js';
import type { CloseBy, FailureKind, LoadModel, LOAD_RESULT_SCHEMA } from './constants.js';

/** One stage of a ramping closed model: reach `target` VUs linearly over `durationMs`. */
export interface Stage {
  durationMs: number;
  target: number;
}

/**
 * What a caller asks for. Everything but `url` is optional; `model` is inferred when left
 * out (`rate` → open, `connections` → hold, otherwise closed). Invalid combinations are a
 * LabError (LAB_ERR.USAGE) from resolveLoadPlan before anything connects.
 */
export interface LoadOptions {
  /** http://host:port/path; only plain http (TLS would measure the TLS library). */
  url: string;
  model?: LoadModel;
  /** Closed model: constant number of virtual users (default 10). */
  vus?: number;
  /** Closed model: ramp linearly from 0 through each stage's target; replaces vus and durationMs. */
  stages?: readonly Stage[];
  /** Open model: request starts per second. */
  rate?: number;
  /** Open model: most connections the pool may open (default from the rate, see LOAD_DEFAULTS). */
  maxVus?: number;
  /** Hold model: connections to open and hold idle. */
  connections?: number;
  /** Hold model: connects in flight at once (default 256). */
  connectConcurrency?: number;
  /** Run length (default 10 s); with stages, the stages' sum. */
  durationMs?: number;
  /** Closed model: pause after each response before the next request. */
  thinkMs?: number;
  /** false: a new connection for every request (default true). */
  keepAlive?: boolean;
  /** With keepAlive false: which side closes first (default client). */
  closeBy?: CloseBy;
  connectTimeoutMs?: number;
  /** Response timeout, from the request's write to its last byte; 0 disables it. */
  timeoutMs?: number;
  /** How long in-flight requests may still finish after the run's end. */
  gracefulStopMs?: number;
  /** Source addresses to bind client sockets to, used round-robin (past ~28K connections to one port). */
  localAddresses?: readonly string[];
  /** Replaces the URL's path: `/uuid/{1..1000}` picks a random id per request. */
  pathTemplate?: string;
  method?: string;
  headers?: Readonly<Record<string, string>>;
  body?: string;
  /** Worker threads to spread the VUs (or the rate, or the connections) over (default 1: in this thread). */
  workers?: number;
  /** k6-style threshold expressions, evaluated on the result (see thresholds.ts). */
  thresholds?: readonly string[];
}

/** LoadOptions validated and filled in: what every engine runs and what --json records. */
export interface LoadPlan {
  model: LoadModel;
  url: string;
  host: string;
  port: number;
  /** Path with query, possibly with `{a..b}` ranges. */
  pathTemplate: string;
  method: string;
  headers: [string, string][];
  body: string | null;
  /** Closed model without stages; the peak target with stages; 0 otherwise. */
  vus: number;
  stages: Stage[] | null;
  /** Open model, starts per second; 0 otherwise. */
  rate: number;
  /** Open model connection pool bound; 0 otherwise. */
  maxVus: number;
  /** Hold model; 0 otherwise. */
  connections: number;
  connectConcurrency: number;
  durationMs: number;
  thinkMs: number;
  keepAlive: boolean;
  closeBy: CloseBy;
  connectTimeoutMs: number;
  timeoutMs: number;
  gracefulStopMs: number;
  localAddresses: string[];
  workers: number;
  thresholds: string[];
}

/** Counts that add up across engines (one engine per thread). */
export interface LoadCounts {
  /** Finished request attempts: ok + failed (interrupted ones excluded). */
  requests: number;
  /** Complete responses of any status. */
  responses: number;
  /** Complete responses with status < 400. */
  ok: number;
  /** Requests that failed in any way, including status >= 400 (hold model: connections that failed or were dropped). */
  failed: number;
  /** In flight when the graceful stop ran out; neither ok nor failed. */
  interrupted: number;
  /** Open model: starts that found no free connection (k6 dropped_iterations). */
  dropped: number;
  /** Connection attempts (connect() calls). */
  connects: number;
  /** Connection attempts that completed the handshake. */
  connected: number;
  /** Connections open at the end of the run, before the generator closed them (hold model's headline). */
  openAtEnd: number;
  bytesReceived: number;
  bytesSent: number;
}

export interface LoadSummary extends LoadCounts {
  /** From the start to the end of the last request (including the graceful stop). */
  durationMs: number;
  /** Complete responses per second over durationMs (what wrk and autocannon call requests/s). */
  rps: number;
  /** failed / requests (hold model: failed / connects); 0 when nothing ran. */
  failureRate: number;
  /** Most VUs (closed), pooled connections (open) or open connections (hold) at once. */
  vusMax: number;
  latency: {
    /** Request start to last byte; the open model counts from the intended start (coordinated omission corrected). */
    total: LatencySummary;
    /** Actual start to last byte: the uncorrected service time. Equal to total in the closed model. */
    service: LatencySummary;
    /** SYN to established, for each new connection. */
    connect: LatencySummary;
    /** Request written to first response byte. */
    ttfb: LatencySummary;
  };
  failures: Record<FailureKind, number>;
  /** Every status code seen, as "200": count. */
  statuses: Record<string, number>;
  /** The statuses other than 2xx. 3xx are counted here but are not failures (as in k6). */
  non2xx: Record<string, number>;
  /** errno codes classified as `other`, by code. */
  otherErrors: Record<string, number>;
}

/** One second of the run (all workers summed). */
export interface SecondSample {
  /** 1 for the first second: covers [second-1, second) seconds after the start. */
  second: number;
  /** Length of this bucket in ms: 1000 except for the last one. */
  lengthMs: number;
  responses: number;
  rps: number;
  ok: number;
  failed: number;
  /** Only the kinds that occurred in this second. */
  failures: Partial<Record<FailureKind, number>>;
  dropped: number;
  /** Most VUs / connections alive during the second. */
  vus: number;
  /** Most requests in flight at once during the second. */
  inFlight: number;
  bytesReceived: number;
  /** Total latency of the requests that completed in this second. */
  latency: LatencySummary;
}

/** What onProgress receives once a second. */
export interface LoadProgress {
  elapsedMs: number;
  /** The planned run length (without the graceful stop). */
  durationMs: number;
  vus: number;
  inFlight: number;
  rps: number;
  /** Cumulative. */
  responses: number;
  errors: number;
  dropped: number;
  last: SecondSample;
}

export interface LoadHooks {
  onProgress?(progress: LoadProgress): void;
  /** Aborting ends the run early as if its duration had passed (graceful stop, then a result). */
  signal?: AbortSignal;
}

/** The outcome of one threshold expression. */
export interface ThresholdResult {
  expression: string;
  /** Canonical metric: total | connect | ttfb | service | failures | rps | dropped. */
  metric: string;
  /** What was measured, in the threshold's unit (ms, a fraction, per second, a count). */
  actual: number;
  passed: boolean;
}

/** Histograms (HdrHistogram, microseconds) as compressed base64, see src/metrics/histogram.ts. */
export interface EncodedLoadHistograms {
  unit: 'us';
  total: string;
  service: string;
  connect: string;
  ttfb: string;
}

export interface LoadResult {
  schema: typeof LOAD_RESULT_SCHEMA;
  plan: LoadPlan;
  /** ISO time of the first request. */
  startedAt: string;
  summary: LoadSummary;
  series: SecondSample[];
  histograms: EncodedLoadHistograms;
  thresholds: ThresholdResult[];
  /** true when there are no thresholds or all passed. */
  thresholdsPassed: boolean;
  /** The signal aborted the run before its planned end (Ctrl-C in the CLI). */
  stoppedEarly: boolean;
}

// ── Between the coordinator and its engines ────────────────────────────────────────────

/** One engine's counts for one second (histogram travels beside it). */
export interface EngineSecond {
  second: number;
  responses: number;
  ok: number;
  failed: number;
  /** Indexed like FAILURE_KINDS. */
  failures: number[];
  dropped: number;
  vus: number;
  inFlight: number;
  bytesReceived: number;
}

/** One engine's final report; histograms as objects in-thread, encoded across threads. */
export interface EngineReport<H> {
  counts: LoadCounts;
  /** Indexed like FAILURE_KINDS. */
  failures: number[];
  statuses: Record<string, number>;
  otherErrors: Record<string, number>;
  vusMax: number;
  /** Engine's end, ms after the common start. */
  endedAtMs: number;
  histograms: { total: H; service: H; connect: H; ttfb: H };
}

/** What one engine runs: workerData of a load worker thread, or the in-thread engine's config. */
export interface EngineConfig {
  plan: LoadPlan;
  /** The target's IP address, resolved once by the coordinator (a DNS lookup per connect would go through libuv's thread pool). */
  address: string;
  workerIndex: number;
  workerCount: number;
}

export type CoordinatorMessage =
  /** Start at this process.hrtime.bigint() value (as a string: bigint does not cross as JSON). */
  { type: 'start'; startNs: string } | { type: 'stop' };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'second'; sample: EngineSecond; histogram: string }
  | { type: 'done'; report: EngineReport<string> }
  | { type: 'failed'; message: string; code: string | undefined };
