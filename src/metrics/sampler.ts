/**
 * The sampler: take a Sample of a set of processes and ports every `intervalMs`, keep the
 * series, hand it back on stop().
 *
 * Where it runs is a choice with a measured cost (bench/metrics-overhead.ts):
 *
 * - `thread: true` runs it in a worker thread. The thread being measured does no sampling
 *   work at all; the price is the worker itself (~40 ms of CPU and ~12 MiB of RSS to start
 *   an isolate, both counted in the process that hosts it), plus one structured clone per
 *   sample posted back when the caller wants samples()/latest() live.
 * - `thread: false` (the default) runs it on the caller's event loop: no start-up cost,
 *   but each sample blocks that loop for its duration (`costUs`: ~0.7 ms median at 10
 *   samples/s over three processes, 10 ms and more when the TCP census runs). Right for a
 *   lab or load generator sampling *other* processes; wrong for a server sampling itself,
 *   which is why `serve --monitor` uses the worker (see startMonitorPanel).
 *
 * Either way the sampler's cost is measured and returned in Series.overhead.
 */
import { Worker } from 'node:worker_threads';
import { LAB_ERR, LabError, usageError } from '../errors.js';
import { createSamplerCore, SAMPLER_DEFAULTS, scheduleTicks } from './sampler-core.js';
import type { FromWorker, PanelConfig, Sample, SamplerConfig, Series, ToWorker, WorkerData } from './types.js';

export interface SamplerOptions {
  /** The processes to sample. A function is asked again before every sample (in-process only). */
  pids: number[] | (() => number[]);
  /** Also sample these PIDs' children, rediscovered every sample: pass a postmaster's PID to follow its backends. */
  childrenOf?: number[];
  /** Listening ports whose accept queues and connections to report. */
  ports?: number[];
  /** Default 100 ms (10 samples/s). */
  intervalMs?: number;
  /** Count FD kinds (socket, pipe, anon, file) on the CPU budget; counts alone are always taken. Default false. */
  fdKinds?: boolean;
  /** Take the whole-namespace TCP census on the CPU budget. Default true. */
  tcpCensus?: boolean;
  /** Share of one core the expensive readings may use (census, accept queues, FD kinds). Default 0.01; 1 = every sample. */
  budget?: number;
  /** Run in a worker thread. Default false. */
  thread?: boolean;
  /** Keep at most this many samples (oldest dropped first). Default 18,000. */
  maxSamples?: number;
  /** Called with each sample as it is taken (in worker mode: after it crossed back). */
  onSample?: (sample: Sample) => void;
}

export interface Sampler {
  /** Resolves once the first sample is taken (worker: once the thread runs). */
  readonly ready: Promise<void>;
  /** Samples so far (in worker mode, those posted back so far). */
  samples(): Sample[];
  latest(): Sample | undefined;
  /** What could not be read so far, in words (the panel's "n/a" lines). */
  unavailable(): string[];
  /** Stop sampling and return the whole run. Safe to call more than once. */
  stop(): Promise<Series>;
}

export function resolveSamplerConfig(options: SamplerOptions): SamplerConfig {
  const intervalMs = options.intervalMs ?? SAMPLER_DEFAULTS.intervalMs;
  if (!(intervalMs >= 10)) throw usageError(`the sampling interval must be at least 10 ms, got ${intervalMs}`);
  return {
    pids: typeof options.pids === 'function' ? [] : [...options.pids],
    childrenOf: [...(options.childrenOf ?? [])],
    ports: [...(options.ports ?? [])],
    intervalMs,
    fdKinds: options.fdKinds ?? false,
    tcpCensus: options.tcpCensus ?? true,
    budget: options.budget ?? SAMPLER_DEFAULTS.budget,
    maxSamples: options.maxSamples ?? SAMPLER_DEFAULTS.maxSamples,
  };
}

export function startSampler(options: SamplerOptions): Sampler {
  const config = resolveSamplerConfig(options);
  if (options.thread === true) {
    if (typeof options.pids === 'function') {
      throw new LabError(LAB_ERR.UNSUPPORTED, 'a function cannot cross into the sampler thread: pass pids as numbers, and childrenOf for a parent whose children come and go');
    }
    return startWorkerSampler(config, null, true, options.onSample);
  }
  const resolvePids = typeof options.pids === 'function' ? options.pids : () => config.pids;
  const core = createSamplerCore(config, resolvePids, 'in-process');
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const schedule = scheduleTicks(
    config.intervalMs,
    async () => {
      const sample = await core.tick();
      resolveReady();
      options.onSample?.(sample);
    },
    (error) => {
      core.fail(error);
      resolveReady();
    },
  );
  let stopping: Promise<Series> | null = null;
  return {
    ready,
    samples: core.samples,
    latest: core.latest,
    unavailable: core.unavailable,
    stop() {
      stopping ??= schedule.stop().then(() => core.finish());
      return stopping;
    },
  };
}

/**
 * The worker-thread sampler; with `panel`, the worker also draws the live panel on that
 * terminal. The worker is unref'd so a forgotten sampler never holds a process open;
 * stop() refs it again until the series has come back.
 */
export function startWorkerSampler(config: SamplerConfig, panel: PanelConfig | null, postSamples: boolean, onSample?: (sample: Sample) => void): Sampler {
  const data: WorkerData = { config, postSamples, panel };
  const worker = new Worker(new URL('./sampler-worker.js', import.meta.url), { workerData: data });
  worker.unref();
  const samples: Sample[] = [];
  let reasons: string[] = [];
  let dropped = 0;
  let failure: Error | null = null;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  let resolveSeries: (series: Series) => void = () => {};
  let rejectSeries: (error: Error) => void = () => {};
  const series = new Promise<Series>((resolve, reject) => {
    resolveSeries = resolve;
    rejectSeries = reject;
  });
  // stop() may never be called: keep an unobserved failure from becoming an unhandled rejection.
  series.catch(() => {});
  worker.on('message', (message: FromWorker) => {
    switch (message.type) {
      case 'ready':
        resolveReady();
        break;
      case 'sample':
        if (samples.length >= config.maxSamples) {
          const drop = Math.max(1, Math.ceil(config.maxSamples / 10));
          samples.splice(0, drop);
          dropped += drop;
        }
        samples.push(message.sample);
        onSample?.(message.sample);
        break;
      case 'unavailable':
        reasons = message.reasons;
        break;
      case 'series':
        resolveSeries(message.series);
        break;
      case 'error':
        failure = new Error(`metrics sampler thread: ${message.message}`);
        rejectSeries(failure);
        break;
    }
  });
  worker.on('error', (error) => {
    failure = error;
    resolveReady();
    rejectSeries(error);
  });
  worker.on('exit', (code) => {
    resolveReady();
    rejectSeries(failure ?? new Error(`metrics sampler thread exited (code ${code}) before returning its series`));
  });
  let stopping: Promise<Series> | null = null;
  return {
    ready,
    samples: () => samples,
    latest: () => samples[samples.length - 1],
    unavailable: () => reasons,
    stop() {
      if (stopping === null) {
        worker.ref();
        worker.postMessage({ type: 'stop' } satisfies ToWorker);
        stopping = series.then(
          (result) => {
            void worker.terminate();
            // The worker kept every sample; report the ones this side dropped too.
            return dropped > result.droppedSamples ? { ...result, droppedSamples: dropped } : result;
          },
          (error: unknown) => {
            void worker.terminate();
            throw error;
          },
        );
      }
      return stopping;
    },
  };
}
