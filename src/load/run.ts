/**
 * runLoad: the programmatic entry point (the CLI and the labs both call it). It validates
 * the options, runs one engine in this thread or one per worker thread, merges what they
 * measured exactly (histograms added bucket by bucket, counts summed), and evaluates the
 * thresholds.
 *
 * Why worker threads rather than child processes for --workers: both give each engine its
 * own event loop and its own core, and the per-request work is identical, so the request
 * rate is the same within noise. Measured on this (shared, 2-core) machine against the naive
 * server, 100 connections, 3 s, three rounds: 2 worker threads 35.0k / 35.7k / 35.8k req/s,
 * 2 processes of 50 VUs each 29.6k / 41.5k / 39.6k req/s together. What differs is the rest:
 * a thread loading the engine is ready in ~100 ms, a process in ~170 ms; postMessage carries
 * a second's histogram without a pipe and framing; and a thread cannot outlive the run as an
 * orphan process can. A process per worker would only matter to escape one process's
 * RLIMIT_NOFILE, which `ulimit -n` raises anyway.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { EXIT, LAB_ERR, LabError } from '../errors.js';
import { createHistogram, decodeHistogram, encodeHistogram, mergeHistogram, summarizeHistogram, type Histogram } from '../metrics/histogram.js';
import { FAILURE_KINDS, LOAD_RESULT_SCHEMA, type FailureKind } from './constants.js';
import { Engine } from './engine.js';
import { resolveLoadPlan } from './plan.js';
import { emptyCounts } from './recorder.js';
import { evaluateThresholds, parseThreshold } from './thresholds.js';
import type {
  CoordinatorMessage,
  EngineConfig,
  EngineReport,
  EngineSecond,
  LoadCounts,
  LoadHooks,
  LoadOptions,
  LoadPlan,
  LoadResult,
  LoadSummary,
  SecondSample,
  WorkerMessage,
} from './types.js';

/** Engines start this long after the coordinator decides, so that all of them are waiting when the moment comes. */
export const START_LEAD_MS = 20;
/** A worker thread that has not said "ready" by then is not going to. */
const WORKER_READY_TIMEOUT_MS = 10_000;

/** Sums one second from every engine; finished seconds become SecondSamples and progress. */
class SecondAggregator {
  readonly series: SecondSample[] = [];
  private readonly pending = new Map<number, { engines: number; sample: EngineSecond; histogram: Histogram }>();
  private responses = 0;
  private errors = 0;
  private dropped = 0;

  constructor(
    private readonly engines: number,
    private readonly plan: LoadPlan,
    private readonly onProgress: LoadHooks['onProgress'],
  ) {}

  add(sample: EngineSecond, histogram: Histogram): void {
    let entry = this.pending.get(sample.second);
    if (entry === undefined) {
      entry = {
        engines: 0,
        sample: { ...sample, responses: 0, ok: 0, failed: 0, failures: FAILURE_KINDS.map(() => 0), dropped: 0, vus: 0, inFlight: 0, bytesReceived: 0 },
        histogram: createHistogram(),
      };
      this.pending.set(sample.second, entry);
    }
    const sum = entry.sample;
    sum.responses += sample.responses;
    sum.ok += sample.ok;
    sum.failed += sample.failed;
    sample.failures.forEach((n, i) => {
      sum.failures[i] = (sum.failures[i] as number) + n;
    });
    sum.dropped += sample.dropped;
    // Each engine's most-at-once within the second; their sum bounds the true peak from above.
    sum.vus += sample.vus;
    sum.inFlight += sample.inFlight;
    sum.bytesReceived += sample.bytesReceived;
    mergeHistogram(entry.histogram, histogram);
    entry.engines += 1;
    if (entry.engines === this.engines) this.close(sample.second, 1000, true);
  }

  /** At the end: close the seconds some engines never reached (they finished earlier). */
  flush(durationMs: number): void {
    for (const second of [...this.pending.keys()].sort((a, b) => a - b)) {
      this.close(second, Math.min(1000, durationMs - (second - 1) * 1000), false);
    }
    // The last full second was closed as 1000 ms long; the run may have ended inside it.
    const last = this.series[this.series.length - 1];
    if (last !== undefined) {
      const length = Math.min(1000, durationMs - (last.second - 1) * 1000);
      if (length > 0 && length < last.lengthMs) {
        last.lengthMs = Math.round(length);
        last.rps = round1((last.responses * 1000) / length);
      }
    }
  }

  private close(second: number, lengthMs: number, live: boolean): void {
    const entry = this.pending.get(second);
    if (entry === undefined) return;
    this.pending.delete(second);
    const s = entry.sample;
    if (lengthMs <= 0 && s.responses === 0 && s.failed === 0 && s.dropped === 0) return;
    const length = Math.max(1, lengthMs);
    const failures: Partial<Record<FailureKind, number>> = {};
    s.failures.forEach((n, i) => {
      if (n > 0) failures[FAILURE_KINDS[i] as FailureKind] = n;
    });
    const sample: SecondSample = {
      second,
      lengthMs: Math.round(length),
      responses: s.responses,
      rps: round1((s.responses * 1000) / length),
      ok: s.ok,
      failed: s.failed,
      failures,
      dropped: s.dropped,
      vus: s.vus,
      inFlight: s.inFlight,
      bytesReceived: s.bytesReceived,
      latency: summarizeHistogram(entry.histogram),
    };
    this.series.push(sample);
    this.responses += s.responses;
    this.errors += s.failed;
    this.dropped += s.dropped;
    if (live && this.onProgress !== undefined) {
      this.onProgress({
        elapsedMs: second * 1000,
        durationMs: this.plan.durationMs,
        vus: s.vus,
        inFlight: s.inFlight,
        rps: sample.rps,
        responses: this.responses,
        errors: this.errors,
        dropped: this.dropped,
        last: sample,
      });
    }
  }
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

async function resolveAddress(host: string): Promise<string> {
  if (net.isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new LabError(LAB_ERR.BAD_URL, `cannot resolve "${host}": ${(error as Error).message}; check the URL's host`, { cause: error, exitCode: EXIT.USAGE });
  }
}

function startNsAfter(ms: number): bigint {
  return process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
}

/** One engine in this thread: the default, and what tests and small lab runs use. */
async function runInThread(config: EngineConfig, aggregator: SecondAggregator, signal: AbortSignal | undefined): Promise<EngineReport<Histogram>[]> {
  const engine = new Engine(config, { onSecond: (sample, histogram) => aggregator.add(sample, histogram) });
  const onAbort = (): void => engine.stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const done = engine.run(startNsAfter(START_LEAD_MS));
    if (signal?.aborted) engine.stop();
    return [await done];
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** One engine per worker thread, started together on a common monotonic instant. */
async function runInWorkers(plan: LoadPlan, address: string, aggregator: SecondAggregator, signal: AbortSignal | undefined): Promise<EngineReport<Histogram>[]> {
  const workerUrl = new URL('./worker.js', import.meta.url);
  const workers: Worker[] = [];
  const reports: EngineReport<Histogram>[] = [];
  const post = (message: CoordinatorMessage): void => {
    for (const worker of workers) worker.postMessage(message);
  };
  try {
    return await new Promise<EngineReport<Histogram>[]>((resolve, reject) => {
      let ready = 0;
      let done = 0;
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      const readyTimer = setTimeout(
        () => fail(new LabError(LAB_ERR.UNSUPPORTED, `load workers did not start within ${WORKER_READY_TIMEOUT_MS} ms; try fewer --workers`)),
        WORKER_READY_TIMEOUT_MS,
      );
      const onAbort = (): void => post({ type: 'stop' });
      signal?.addEventListener('abort', onAbort, { once: true });
      for (let workerIndex = 0; workerIndex < plan.workers; workerIndex++) {
        const workerData: EngineConfig = { plan, address, workerIndex, workerCount: plan.workers };
        const worker = new Worker(workerUrl, { workerData });
        workers.push(worker);
        worker.on('message', (message: WorkerMessage) => {
          switch (message.type) {
            case 'ready':
              ready += 1;
              if (ready === plan.workers) {
                clearTimeout(readyTimer);
                if (signal?.aborted) post({ type: 'stop' });
                post({ type: 'start', startNs: String(startNsAfter(START_LEAD_MS)) });
              }
              break;
            case 'second':
              aggregator.add(message.sample, decodeHistogram(message.histogram));
              break;
            case 'done': {
              const { histograms } = message.report;
              reports.push({
                ...message.report,
                histograms: {
                  total: decodeHistogram(histograms.total),
                  service: decodeHistogram(histograms.service),
                  connect: decodeHistogram(histograms.connect),
                  ttfb: decodeHistogram(histograms.ttfb),
                },
              });
              done += 1;
              if (done === plan.workers) {
                settled = true;
                signal?.removeEventListener('abort', onAbort);
                resolve(reports);
              }
              break;
            }
            case 'failed':
              fail(new LabError(LAB_ERR.UNSUPPORTED, `load worker ${workerIndex} failed: ${message.message}`));
              break;
          }
        });
        worker.on('error', (error) => fail(new LabError(LAB_ERR.UNSUPPORTED, `load worker ${workerIndex} crashed: ${error.message}`, { cause: error })));
        worker.on('exit', (code) => {
          if (!settled) fail(new LabError(LAB_ERR.UNSUPPORTED, `load worker ${workerIndex} exited (code ${code}) before reporting`));
        });
      }
    });
  } finally {
    // Workers wait after reporting (see worker.ts); every path out ends them here.
    await Promise.all(workers.map((worker) => worker.terminate().catch(() => undefined)));
  }
}

function sumCounts(reports: readonly EngineReport<Histogram>[]): LoadCounts {
  const total = emptyCounts();
  for (const report of reports) {
    for (const key of Object.keys(total) as (keyof LoadCounts)[]) total[key] += report.counts[key];
  }
  return total;
}

function sumRecords(records: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const record of records) for (const [key, n] of Object.entries(record)) out[key] = (out[key] ?? 0) + n;
  return out;
}

/**
 * Run a load test and resolve with everything measured. Throws LabError (exit 2) for invalid
 * options before any connection is made; failures during the run are counted, not thrown.
 */
export async function runLoad(options: LoadOptions, hooks: LoadHooks = {}): Promise<LoadResult> {
  const plan = resolveLoadPlan(options);
  return runLoadPlan(plan, hooks);
}

/** runLoad for an already resolved plan (the CLI resolves first to write the k6 script). */
export async function runLoadPlan(plan: LoadPlan, hooks: LoadHooks = {}): Promise<LoadResult> {
  const thresholds = plan.thresholds.map(parseThreshold);
  const address = await resolveAddress(plan.host);
  const aggregator = new SecondAggregator(plan.workers, plan, hooks.onProgress);
  const startedAt = new Date(Date.now() + START_LEAD_MS).toISOString();
  const reports =
    plan.workers === 1
      ? await runInThread({ plan, address, workerIndex: 0, workerCount: 1 }, aggregator, hooks.signal)
      : await runInWorkers(plan, address, aggregator, hooks.signal);

  const durationMs = Math.max(1, ...reports.map((r) => r.endedAtMs));
  aggregator.flush(durationMs);

  const histograms = { total: createHistogram(), service: createHistogram(), connect: createHistogram(), ttfb: createHistogram() };
  for (const report of reports) {
    mergeHistogram(histograms.total, report.histograms.total);
    mergeHistogram(histograms.service, report.histograms.service);
    mergeHistogram(histograms.connect, report.histograms.connect);
    mergeHistogram(histograms.ttfb, report.histograms.ttfb);
  }
  const counts = sumCounts(reports);
  const failures = Object.fromEntries(FAILURE_KINDS.map((kind, i) => [kind, reports.reduce((n, r) => n + (r.failures[i] ?? 0), 0)])) as Record<FailureKind, number>;
  const statuses = sumRecords(reports.map((r) => r.statuses));
  const non2xx = Object.fromEntries(Object.entries(statuses).filter(([status]) => !status.startsWith('2')));
  const series = aggregator.series;
  const vusMax = reports.length === 1 ? (reports[0] as EngineReport<Histogram>).vusMax : Math.max(0, ...series.map((s) => s.vus));
  const attempts = plan.model === 'hold' ? counts.connects : counts.requests;

  const summary: LoadSummary = {
    ...counts,
    durationMs: Math.round(durationMs),
    rps: round1((counts.responses * 1000) / durationMs),
    failureRate: attempts === 0 ? 0 : counts.failed / attempts,
    vusMax,
    latency: {
      total: summarizeHistogram(histograms.total),
      service: summarizeHistogram(histograms.service),
      connect: summarizeHistogram(histograms.connect),
      ttfb: summarizeHistogram(histograms.ttfb),
    },
    failures,
    statuses,
    non2xx,
    otherErrors: sumRecords(reports.map((r) => r.otherErrors)),
  };
  const thresholdResults = evaluateThresholds(thresholds, summary, histograms);
  return {
    schema: LOAD_RESULT_SCHEMA,
    plan,
    startedAt,
    summary,
    series,
    histograms: {
      unit: 'us',
      total: encodeHistogram(histograms.total),
      service: encodeHistogram(histograms.service),
      connect: encodeHistogram(histograms.connect),
      ttfb: encodeHistogram(histograms.ttfb),
    },
    thresholds: thresholdResults,
    thresholdsPassed: thresholdResults.every((t) => t.passed),
    stoppedEarly: hooks.signal?.aborted === true,
  };
}
