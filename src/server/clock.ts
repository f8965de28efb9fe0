/**
 * A coarse clock for the request path. One timer, ticking every TICK_MS, keeps the current
 * time in milliseconds and the IMF-fixdate string for the Date header (RFC 9110 §6.6.1
 * wants one per response; a second's resolution is all it has). Connection deadlines are
 * compared against `now`, so no request pays for Date.now() or per-socket timers.
 */
import { formatHttpDate } from '../http/response-writer.js';

/** Deadline precision: idle and header timeouts fire within one tick of their due time. */
export const TICK_MS = 250;

export class CoarseClock {
  now = Date.now();
  httpDate = formatHttpDate(this.now);
  private second = Math.floor(this.now / 1000);
  private timer: NodeJS.Timeout | null = null;

  /** Ticks until stop(); `onTick` runs after the time is refreshed (the server sweeps deadlines there). */
  start(onTick: (now: number) => void): void {
    this.timer = setInterval(() => {
      this.refresh();
      onTick(this.now);
    }, TICK_MS);
    // The clock alone must never keep the process alive.
    this.timer.unref();
  }

  refresh(): void {
    this.now = Date.now();
    const second = Math.floor(this.now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.httpDate = formatHttpDate(this.now);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
