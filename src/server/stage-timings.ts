/**
 * Where a request's time goes, stage by stage, from the server's side of the socket.
 *
 * Recording must cost next to nothing, so the request path only writes six numbers into a
 * preallocated ring. When someone asks (/stats, a lab), what is new in the ring since the last
 * time is folded into HDR histograms, one per interval, and the summary merges those: each
 * request is folded once, so a flood of /stats costs in proportion to the requests served, not
 * to the ring (issue 14: every call re-summarised all 65,536 entries, ~28 ms of CPU). Folding on
 * the clock tick instead would cost every request ~0.4 µs of CPU (measured) whether or not
 * anyone ever looks. The histograms come in two epochs of EPOCH requests each, the current one
 * and the one before, so the percentiles cover "the last 32,768 to 65,536 requests", which is
 * what a live view wants.
 *
 * What is kept of a request is its stamps, method and status: never its target, which is
 * another client's (a query string can carry a token), not something /stats may show.
 *
 * Not every request is timed. Six stamps cost four clock reads, and a clock read costs ~55 ns
 * on this VM's kvm-clock: ~0.25 µs of the ~1.3 µs of JavaScript a GET /age costs (profiled,
 * docs/benchmarks.md "Where the time goes"). So every connection's first request is timed
 * (accept → first byte exists only there, and lab 1 and lab 3 read their own requests), and
 * one in `sampleEvery` (16 by default) of the others, systematically (every 16th), each
 * recorded with a weight of 16: the histograms then stand for all requests (a Horvitz-Thompson
 * estimate), so the percentiles are not skewed towards first requests, and their counts
 * estimate the requests they cover. What stays exact: the server's request and status
 * counters, which count every request. What is sampled: the stage percentiles, their
 * counts (an estimate, a multiple of the weight) and max (the slowest timed request).
 * `--stage-sample 1` times every request.
 */
import { createHistogram, recordMillis, summarizeHistogram, type Histogram, type LatencySummary } from '../metrics/histogram.js';

/** The stamps taken for every request, in order (performance.now() milliseconds). */
export const STAGE = {
  /** The connection was accepted (the same for every request on it). */
  ACCEPTED: 0,
  /** The first byte of this request was read. */
  FIRST_BYTE: 1,
  /** The request line and headers were parsed. */
  HEAD_PARSED: 2,
  /** The whole message (body included) had arrived. */
  MESSAGE_COMPLETE: 3,
  /** The handler produced its response (for /uuid: after the database answered). */
  HANDLER_DONE: 4,
  /** The response bytes were handed to the kernel. */
  FLUSHED: 5,
} as const;

const STAMPS = 6;
/** Time one request in this many (plus every connection's first): see the opening comment. */
export const DEFAULT_STAGE_SAMPLE_EVERY = 16;
/** Requests the ring holds between two folds: far more than a tick (250 ms) ever sees. */
const WINDOW = 65_536;
/** Requests per histogram epoch: the summary covers the current epoch and the one before. */
const EPOCH = 32_768;
/** A summary is rebuilt at most this often: a flood of /stats gets the same one. */
const SUMMARY_TTL_MS = 1000;

/** The intervals reported, each between two stamps. */
export const INTERVALS = [
  { name: 'acceptToFirstByte', from: STAGE.ACCEPTED, to: STAGE.FIRST_BYTE, firstOnly: true },
  { name: 'read+parse', from: STAGE.FIRST_BYTE, to: STAGE.HEAD_PARSED, firstOnly: false },
  { name: 'body', from: STAGE.HEAD_PARSED, to: STAGE.MESSAGE_COMPLETE, firstOnly: false },
  { name: 'handler', from: STAGE.MESSAGE_COMPLETE, to: STAGE.HANDLER_DONE, firstOnly: false },
  { name: 'serialize+write', from: STAGE.HANDLER_DONE, to: STAGE.FLUSHED, firstOnly: false },
  { name: 'total', from: STAGE.FIRST_BYTE, to: STAGE.FLUSHED, firstOnly: false },
] as const;

export type StageSummary = Record<(typeof INTERVALS)[number]['name'], LatencySummary>;

/** One request's stamps, as the last request's trace in /stats shows them (never its target). */
export interface RequestTrace {
  method: string;
  status: number;
  firstOnConnection: boolean;
  stampsMs: number[];
}

const emptyHistograms = (): Histogram[] => INTERVALS.map(() => createHistogram());

export class StageTimings {
  /** One request in this many is timed (besides every connection's first). */
  readonly sampleEvery: number;
  private untilSample: number;
  private readonly ring = new Float64Array(WINDOW * STAMPS);
  /** 1 where the request was the first on its connection (accept→first byte is meaningful). */
  private readonly first = new Uint8Array(WINDOW);
  /** How many requests each timed one stands for: 1 for a first request, sampleEvery otherwise. */
  private readonly weight = new Uint16Array(WINDOW);
  private next = 0;
  /** Requests recorded in all (the ring index is this modulo WINDOW). */
  private recorded = 0;
  /** Requests folded into the histograms so far. */
  private folded = 0;
  private current = emptyHistograms();
  private previous = emptyHistograms();
  private currentCount = 0;
  private previousCount = 0;
  private summary: StageSummary | null = null;
  private summaryAt = -Infinity;
  private summaryRecorded = -1;
  // The most recent request, for the request-cycle lab; its stamps stay in the ring.
  private lastMethod = '';
  private lastStatus = 0;

  constructor(sampleEvery: number = DEFAULT_STAGE_SAMPLE_EVERY) {
    if (!Number.isSafeInteger(sampleEvery) || sampleEvery < 1 || sampleEvery > 65_535) throw new RangeError(`stage sampling must be 1..65535, got ${sampleEvery}`);
    this.sampleEvery = sampleEvery;
    this.untilSample = sampleEvery;
  }

  /** Whether the next request (not the first on its connection) is to be timed. */
  sampleNext(): boolean {
    if (--this.untilSample > 0) return false;
    this.untilSample = this.sampleEvery;
    return true;
  }

  /** A timed request: a first on its connection, or one that sampleNext() picked. */
  record(stamps: ArrayLike<number>, firstOnConnection: boolean, method: string, status: number): void {
    const base = this.next * STAMPS;
    for (let i = 0; i < STAMPS; i++) this.ring[base + i] = stamps[i] as number;
    this.first[this.next] = firstOnConnection ? 1 : 0;
    this.weight[this.next] = firstOnConnection ? 1 : this.sampleEvery;
    this.next = this.next + 1 === WINDOW ? 0 : this.next + 1;
    this.recorded += 1;
    this.lastMethod = method;
    this.lastStatus = status;
  }

  /** The most recent request's stamps, or null before the first. */
  lastTrace(): RequestTrace | null {
    if (this.recorded === 0) return null;
    const index = (this.next + WINDOW - 1) % WINDOW;
    return {
      method: this.lastMethod,
      status: this.lastStatus,
      firstOnConnection: this.first[index] === 1,
      stampsMs: Array.from(this.ring.subarray(index * STAMPS, index * STAMPS + STAMPS)),
    };
  }

  /**
   * Fold the requests recorded since the last fold into the current epoch's histograms: work
   * in proportion to what is new, not to the ring. Should more than WINDOW requests come
   * between two folds, only the last WINDOW are folded (the ring holds no more).
   */
  fold(): void {
    const pendingCount = this.recorded - this.folded;
    if (pendingCount === 0) return;
    const count = Math.min(pendingCount, WINDOW);
    let r = (this.next - count + WINDOW) % WINDOW;
    for (let n = 0; n < count; n++) {
      if (this.currentCount === EPOCH) this.rotate();
      const base = r * STAMPS;
      const first = this.first[r] === 1;
      const weight = this.weight[r] as number;
      for (let i = 0; i < INTERVALS.length; i++) {
        const interval = INTERVALS[i] as (typeof INTERVALS)[number];
        if (interval.firstOnly && !first) continue;
        const ms = (this.ring[base + interval.to] as number) - (this.ring[base + interval.from] as number);
        recordMillis(this.current[i] as Histogram, Math.max(ms, 0), weight);
      }
      this.currentCount += 1;
      r = r + 1 === WINDOW ? 0 : r + 1;
    }
    this.folded = this.recorded;
  }

  private rotate(): void {
    const recycled = this.previous;
    for (const histogram of recycled) histogram.reset();
    this.previous = this.current;
    this.previousCount = this.currentCount;
    this.current = recycled;
    this.currentCount = 0;
  }

  /**
   * Percentiles of each interval over the last one or two epochs. Its cost depends on the
   * histograms' fixed size, not on how many requests there were; and it is rebuilt at most
   * once per SUMMARY_TTL_MS (and only when requests came in between).
   */
  summarize(nowMs: number = Date.now()): StageSummary {
    this.fold();
    if (this.summary !== null && (this.summaryRecorded === this.recorded || nowMs - this.summaryAt < SUMMARY_TTL_MS)) return this.summary;
    const summary = {} as StageSummary;
    INTERVALS.forEach((interval, i) => {
      const merged = createHistogram();
      merged.add(this.previous[i] as Histogram);
      merged.add(this.current[i] as Histogram);
      summary[interval.name] = summarizeHistogram(merged);
    });
    this.summary = summary;
    this.summaryAt = nowMs;
    this.summaryRecorded = this.recorded;
    return summary;
  }

  /** Timed requests the percentiles come from (each stands for its weight in their counts). */
  get count(): number {
    this.fold();
    return this.previousCount + this.currentCount;
  }

  reset(): void {
    this.next = 0;
    this.recorded = 0;
    this.folded = 0;
    for (const histogram of [...this.current, ...this.previous]) histogram.reset();
    this.currentCount = 0;
    this.previousCount = 0;
    this.summary = null;
  }
}
