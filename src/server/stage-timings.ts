/**
 * Where a request's time goes, stage by stage, from the server's side of the socket.
 *
 * Recording must cost next to nothing when nobody looks, so the request path only writes
 * six numbers into a preallocated ring (the last WINDOW requests); histograms are built
 * from the ring when /stats or a lab asks. The percentiles are therefore "over the last
 * 65,536 requests", which is what a live view wants anyway.
 */
import { createHistogram, recordMillis, summarizeHistogram, type LatencySummary } from '../metrics/histogram.js';

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
const WINDOW = 65_536;

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

/** One request's stamps, as the last request's trace in /stats shows them. */
export interface RequestTrace {
  method: string;
  target: string;
  status: number;
  firstOnConnection: boolean;
  stampsMs: number[];
}

export class StageTimings {
  private readonly ring = new Float64Array(WINDOW * STAMPS);
  /** 1 where the request was the first on its connection (accept→first byte is meaningful). */
  private readonly first = new Uint8Array(WINDOW);
  private next = 0;
  private filled = 0;
  // The most recent request, for the request-cycle lab; its stamps stay in the ring.
  private lastMethod = '';
  private lastTarget = '';
  private lastStatus = 0;

  record(stamps: ArrayLike<number>, firstOnConnection: boolean, method: string, target: string, status: number): void {
    const base = this.next * STAMPS;
    for (let i = 0; i < STAMPS; i++) this.ring[base + i] = stamps[i] as number;
    this.first[this.next] = firstOnConnection ? 1 : 0;
    this.next = (this.next + 1) % WINDOW;
    if (this.filled < WINDOW) this.filled += 1;
    this.lastMethod = method;
    this.lastTarget = target;
    this.lastStatus = status;
  }

  /** The most recent request's stamps, or null before the first. */
  lastTrace(): RequestTrace | null {
    if (this.filled === 0) return null;
    const index = (this.next + WINDOW - 1) % WINDOW;
    return {
      method: this.lastMethod,
      target: this.lastTarget,
      status: this.lastStatus,
      firstOnConnection: this.first[index] === 1,
      stampsMs: Array.from(this.ring.subarray(index * STAMPS, index * STAMPS + STAMPS)),
    };
  }

  /** Percentiles of each interval over the window. */
  summarize(): StageSummary {
    const histograms = INTERVALS.map(() => createHistogram());
    for (let r = 0; r < this.filled; r++) {
      const base = r * STAMPS;
      INTERVALS.forEach((interval, i) => {
        if (interval.firstOnly && this.first[r] === 0) return;
        const ms = (this.ring[base + interval.to] as number) - (this.ring[base + interval.from] as number);
        recordMillis(histograms[i] as ReturnType<typeof createHistogram>, ms < 0 ? 0 : ms);
      });
    }
    const summary = {} as StageSummary;
    INTERVALS.forEach((interval, i) => {
      summary[interval.name] = summarizeHistogram(histograms[i] as ReturnType<typeof createHistogram>);
    });
    return summary;
  }

  get count(): number {
    return this.filled;
  }

  reset(): void {
    this.next = 0;
    this.filled = 0;
  }
}
