/**
 * A CPU budget for the sampler's expensive reads.
 *
 * Some readings cost far more than the rest of a sample: the TCP census walks the kernel's
 * whole socket hash (milliseconds, growing with RAM and with sockets), FD kinds cost one
 * readlink per descriptor. Taking them at a fixed rate would let the sampler's overhead grow
 * with exactly the load it is watching. Instead each one may use a fixed share of one core:
 * after a reading that cost `c` ms, the next is due no sooner than `c / share` ms later
 * (a 7 ms census with a 0.5% share runs every 1.4 s; a 0.2 ms one every sample). The
 * sampler's cost then stays bounded by design, and each sample says which readings it holds.
 */
export interface Cadence {
  /** Whether the reading is due at `now` (ms). */
  due(now: number): boolean;
  /** Record that a reading starting at `now` took `costMs`. */
  ran(now: number, costMs: number): void;
}

export function createCadence(share: number, minIntervalMs: number): Cadence {
  let next = 0;
  // Timers fire a little early or late; half an interval of slack keeps a reading that is
  // due every sample from being skipped every other one.
  const slack = minIntervalMs / 2;
  return {
    due: (now) => now + slack >= next,
    ran(now, costMs) {
      next = now + Math.max(minIntervalMs, share > 0 ? costMs / share : Infinity);
    },
  };
}
