/**
 * Latency histograms: HdrHistogram (hdr-histogram-js), values recorded in microseconds.
 *
 * One shape everywhere (server stage timings, the load generator, the database pool) so
 * that histograms from worker threads and processes can be merged exactly: a percentile
 * of merged histograms is the percentile of all samples, which averaging percentiles is not.
 */
import hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** One hour in microseconds: anything slower is clamped, not dropped. */
const HIGHEST_TRACKABLE_US = 3_600_000_000;

export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 64,
    // The pure-JS build: WebAssembly histograms need destroy() and cannot cross threads.
    useWebAssembly: false,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });
}

/** The histogram's range is [1, HIGHEST_TRACKABLE_US]: a shorter duration counts as 1 µs, a longer one as the top. */
function clampMicros(us: number): number {
  return Math.min(Math.max(us, 1), HIGHEST_TRACKABLE_US);
}

/** Record a duration given in nanoseconds (from process.hrtime.bigint differences). */
export function recordNanos(histogram: Histogram, nanos: bigint | number): void {
  const us = Math.round(Number(nanos) / 1000);
  histogram.recordValue(clampMicros(us));
}

/** Record a duration given in milliseconds, `count` times (a sample that stands for `count`). */
export function recordMillis(histogram: Histogram, ms: number, count = 1): void {
  const us = Math.round(ms * 1000);
  const value = clampMicros(us);
  if (count === 1) histogram.recordValue(value);
  else histogram.recordValueWithCount(value, count);
}

/** The percentiles every table in socketlab shows, in milliseconds. */
export interface LatencySummary {
  count: number;
  minMs: number;
  avgMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * The mean of the samples recorded between two readings of one cumulative histogram (a
 * server's /stats before and after a run): count × mean is the sum, so the run's own mean is
 * the difference of the sums over the difference of the counts. Null when nothing was
 * recorded in between; `before` null counts from zero.
 */
export function meanBetween(before: { mean: number; count: number } | null, after: { mean: number; count: number }): number | null {
  const count = after.count - (before?.count ?? 0);
  if (count <= 0) return null;
  const sum = after.mean * after.count - (before === null ? 0 : before.mean * before.count);
  return round3(Math.max(0, sum / count));
}

export function summarizeHistogram(histogram: Histogram): LatencySummary {
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, minMs: 0, avgMs: 0, p50Ms: 0, p90Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 };
  const ms = (us: number): number => round3(us / 1000);
  return {
    count,
    minMs: ms(histogram.minNonZeroValue),
    avgMs: ms(histogram.mean),
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p90Ms: ms(histogram.getValueAtPercentile(90)),
    p95Ms: ms(histogram.getValueAtPercentile(95)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
  };
}

/** Compact text form for crossing threads, processes and JSON files. */
export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  const decoded = hdr.decodeFromCompressedBase64(encoded, 64, false);
  const histogram = createHistogram();
  histogram.add(decoded);
  return histogram;
}

/** Fold `source` into `target` exactly (same bucket layout, counts added). */
export function mergeHistogram(target: Histogram, source: Histogram): void {
  target.add(source);
}
