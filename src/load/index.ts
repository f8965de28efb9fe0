/**
 * The load generator's public API, for the CLI and the labs:
 *
 *   const result = await runLoad({ url, vus: 100, durationMs: 10_000 }, { onProgress, signal });
 *   result.summary.rps, result.summary.latency.total.p99Ms, result.summary.failures.refused ...
 *
 * See docs/load.md for the models, every option and the LoadResult (--json) shape.
 */
export { runLoad, runLoadPlan, START_LEAD_MS } from './run.js';
export { resolveLoadPlan, parseStages, parseTargetUrl } from './plan.js';
export { parseThreshold, evaluateThresholds, THRESHOLD_FORMS, type Threshold } from './thresholds.js';
export { renderK6Script } from './k6-script.js';
export { renderLoadSummary, describePlan } from './summary-text.js';
export { classifyErrno } from './classify.js';
export { FAILURE, FAILURE_KINDS, LOAD_MODEL, CLOSE_BY, LOAD_DEFAULTS, LOAD_RESULT_SCHEMA, type FailureKind, type LoadModel, type CloseBy } from './constants.js';
export type {
  LoadOptions,
  LoadPlan,
  LoadHooks,
  LoadProgress,
  LoadResult,
  LoadSummary,
  LoadCounts,
  SecondSample,
  Stage,
  ThresholdResult,
  EncodedLoadHistograms,
} from './types.js';
