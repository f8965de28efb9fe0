/**
 * Event-loop delay and utilisation: numbers only the process itself can take, so a server
 * runs this and exposes read() in GET /stats.
 *
 * - Delay: perf_hooks.monitorEventLoopDelay arms a libuv timer every `resolutionMs` and
 *   records how long each one actually took to fire. Node records the whole interval
 *   between firings (an idle loop at 10 ms resolution reads ~10.1 ms), so the resolution
 *   is subtracted here: what is left is the time the loop was busy or blocked when the
 *   timer was due, which is what every callback waiting on that loop also waited.
 * - Utilisation (ELU): the share of wall time the loop spent running callbacks rather than
 *   waiting in epoll_wait. Near 1.0 the loop is saturated, whatever the CPU % says.
 *
 * Cost: one timer callback per `resolutionMs` on the monitored loop (20 ms default: ~50
 * tiny callbacks a second); ELU is two counters libuv keeps anyway.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopStats {
  /** Time since start or the last reset, ms. */
  windowMs: number;
  /** Event-loop delay beyond the timer's own interval, ms. */
  delayMs: { min: number; mean: number; p50: number; p90: number; p99: number; max: number; count: number };
  /** Share of the window the loop was busy, 0..1. */
  utilization: number;
}

export interface LoopMonitor {
  /** Stats since start or the last reset. Does not reset: several readers may call it. */
  read(): LoopStats;
  /** Start a new window. */
  reset(): void;
  /** Stop the timer; returns the last window's stats. */
  stop(): LoopStats;
}

export const LOOP_MONITOR_DEFAULTS = {
  /** 20 ms: fine enough to see a 50 ms stall, cheap enough to leave on in a benchmark. */
  resolutionMs: 20,
} as const;

export function startLoopMonitor(options: { resolutionMs?: number } = {}): LoopMonitor {
  const resolutionMs = options.resolutionMs ?? LOOP_MONITOR_DEFAULTS.resolutionMs;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let since = performance.now();
  let eluStart: EventLoopUtilization = performance.eventLoopUtilization();

  const beyond = (ns: number): number => {
    const ms = ns / 1e6 - resolutionMs;
    return Math.round(Math.max(0, ms) * 1000) / 1000;
  };

  const read = (): LoopStats => {
    const count = histogram.count;
    const utilization = performance.eventLoopUtilization(eluStart).utilization;
    return {
      windowMs: Math.round(performance.now() - since),
      delayMs:
        count === 0
          ? { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0, count: 0 }
          : {
              min: beyond(histogram.min),
              mean: beyond(histogram.mean),
              p50: beyond(histogram.percentile(50)),
              p90: beyond(histogram.percentile(90)),
              p99: beyond(histogram.percentile(99)),
              max: beyond(histogram.max),
              count,
            },
      utilization: Math.round(utilization * 10_000) / 10_000,
    };
  };

  return {
    read,
    reset() {
      histogram.reset();
      since = performance.now();
      eluStart = performance.eventLoopUtilization();
    },
    stop() {
      const stats = read();
      histogram.disable();
      return stats;
    },
  };
}
