/**
 * What one engine measured: run-long histograms and counters, and the current second's
 * bucket, handed to a sink as each second ends. Everything is preallocated; recording a
 * response is a few additions and histogram increments, never an allocation.
 */
import { createHistogram, recordMillis, type Histogram } from '../metrics/histogram.js';
import { FAILURE, FAILURE_KINDS, type FailureKind } from './constants.js';
import type { EngineReport, EngineSecond, LoadCounts } from './types.js';

/** Receives each finished second; must use `histogram` before returning (it is reset next). */
export interface SecondSink {
  onSecond(sample: EngineSecond, histogram: Histogram): void;
}

const KIND_INDEX: Readonly<Record<FailureKind, number>> = Object.fromEntries(FAILURE_KINDS.map((kind, i) => [kind, i])) as Record<FailureKind, number>;

/** HTTP status codes are three digits (RFC 9110 §15); anything else the parser lets through is clamped to 999. */
const STATUS_SLOTS = 1000;

function countAt(counters: number[], index: number): void {
  counters[index] = (counters[index] as number) + 1;
}

export function emptyCounts(): LoadCounts {
  return {
    requests: 0,
    responses: 0,
    ok: 0,
    failed: 0,
    interrupted: 0,
    dropped: 0,
    connects: 0,
    connected: 0,
    openAtEnd: 0,
    bytesReceived: 0,
    bytesSent: 0,
  };
}

export class Recorder {
  readonly total: Histogram = createHistogram();
  /** The same object as `total` when there is no intended start to correct for (closed model). */
  readonly service: Histogram;
  readonly connect: Histogram = createHistogram();
  readonly ttfb: Histogram = createHistogram();
  readonly counts: LoadCounts = emptyCounts();
  readonly failures: number[] = FAILURE_KINDS.map(() => 0);
  readonly statuses = new Uint32Array(STATUS_SLOTS);
  readonly otherErrors = new Map<string, number>();
  /** Alive now (VUs, pooled connections or held connections) and the most at once. */
  vus = 0;
  vusMax = 0;
  inFlight = 0;

  /** The second being filled: 1-based, ends at `nextRollAt` (ms on the engine's clock). */
  private second = 1;
  private nextRollAt = Infinity;
  private readonly secondHistogram: Histogram = createHistogram();
  private readonly bucket: EngineSecond = {
    second: 1,
    responses: 0,
    ok: 0,
    failed: 0,
    failures: FAILURE_KINDS.map(() => 0),
    dropped: 0,
    vus: 0,
    inFlight: 0,
    bytesReceived: 0,
  };

  constructor(
    private readonly sink: SecondSink,
    correctsForIntendedStart: boolean,
  ) {
    this.service = correctsForIntendedStart ? createHistogram() : this.total;
  }

  /** Begin the first second at `startMs`. */
  start(startMs: number): void {
    this.nextRollAt = startMs + 1000;
  }

  /** Close every second that ended by `nowMs` (called on each response and by a once-a-second timer). */
  rollTo(nowMs: number): void {
    while (nowMs >= this.nextRollAt) {
      this.emit();
      this.nextRollAt += 1000;
    }
  }

  /** Emit the partial last second. */
  finish(): void {
    this.emit();
    this.nextRollAt = Infinity;
  }

  private emit(): void {
    const bucket = this.bucket;
    bucket.second = this.second;
    // A copy crosses to the sink; the bucket itself is reused.
    this.sink.onSecond({ ...bucket, failures: [...bucket.failures] }, this.secondHistogram);
    this.secondHistogram.reset();
    this.second += 1;
    bucket.responses = 0;
    bucket.ok = 0;
    bucket.failed = 0;
    bucket.failures.fill(0);
    bucket.dropped = 0;
    bucket.bytesReceived = 0;
    // What is alive carries into the next second.
    bucket.vus = this.vus;
    bucket.inFlight = this.inFlight;
  }

  setVus(vus: number): void {
    this.vus = vus;
    if (vus > this.vusMax) this.vusMax = vus;
    if (vus > this.bucket.vus) this.bucket.vus = vus;
  }

  beginRequest(): void {
    this.inFlight += 1;
    if (this.inFlight > this.bucket.inFlight) this.bucket.inFlight = this.inFlight;
  }

  /** A complete response; times in ms. */
  recordResponse(nowMs: number, status: number, totalMs: number, serviceMs: number): void {
    if (nowMs >= this.nextRollAt) this.rollTo(nowMs);
    this.inFlight -= 1;
    const counts = this.counts;
    counts.requests += 1;
    counts.responses += 1;
    this.bucket.responses += 1;
    const slot = status < STATUS_SLOTS ? status : STATUS_SLOTS - 1;
    this.statuses[slot] = (this.statuses[slot] as number) + 1;
    recordMillis(this.total, totalMs);
    recordMillis(this.secondHistogram, totalMs);
    if (this.service !== this.total) recordMillis(this.service, serviceMs);
    if (status >= 400) {
      counts.failed += 1;
      this.bucket.failed += 1;
      const index = KIND_INDEX[FAILURE.HTTP_STATUS];
      countAt(this.failures, index);
      countAt(this.bucket.failures, index);
    } else {
      counts.ok += 1;
      this.bucket.ok += 1;
    }
  }

  /** A request (or a held connection) that failed; `errno` names an `other` failure. */
  recordFailure(nowMs: number, kind: FailureKind, requestInFlight: boolean, errno?: string): void {
    if (nowMs >= this.nextRollAt) this.rollTo(nowMs);
    if (requestInFlight) {
      this.inFlight -= 1;
      this.counts.requests += 1;
    }
    this.counts.failed += 1;
    this.bucket.failed += 1;
    const index = KIND_INDEX[kind];
    countAt(this.failures, index);
    countAt(this.bucket.failures, index);
    if (kind === FAILURE.OTHER) {
      const code = errno ?? 'unknown';
      this.otherErrors.set(code, (this.otherErrors.get(code) ?? 0) + 1);
    }
  }

  recordInterrupted(): void {
    this.inFlight -= 1;
    this.counts.interrupted += 1;
  }

  recordDropped(): void {
    this.counts.dropped += 1;
    this.bucket.dropped += 1;
  }

  recordConnect(ms: number): void {
    this.counts.connected += 1;
    recordMillis(this.connect, ms);
  }

  recordTtfb(ms: number): void {
    recordMillis(this.ttfb, ms);
  }

  recordBytesReceived(bytes: number): void {
    this.counts.bytesReceived += bytes;
    this.bucket.bytesReceived += bytes;
  }

  report(endedAtMs: number): EngineReport<Histogram> {
    const statuses: Record<string, number> = {};
    this.statuses.forEach((count, status) => {
      if (count > 0) statuses[String(status)] = count;
    });
    return {
      counts: { ...this.counts },
      failures: [...this.failures],
      statuses,
      otherErrors: Object.fromEntries(this.otherErrors),
      vusMax: this.vusMax,
      endedAtMs,
      histograms: { total: this.total, service: this.service, connect: this.connect, ttfb: this.ttfb },
    };
  }
}
