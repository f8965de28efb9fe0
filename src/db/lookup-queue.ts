/**
 * The lookups waiting for a connection in the pool's batch mode (pool.ts), oldest first.
 *
 * A FIFO of plain records in a growable ring (no allocation per lookup beyond the record),
 * and one timer for the acquire timeout: lookups enqueue in time order, so the oldest is
 * always the next to expire, and one timer aimed at it replaces the timer per waiter that
 * the connection queue uses. At 10,000 waiting lookups that is 1 timer, not 10,000.
 */

export interface QueuedLookup {
  id: number;
  enqueuedAt: number;
  resolve: (value: string | null) => void;
  reject: (error: Error) => void;
}

const MIN_CAPACITY = 64;

export class LookupQueue {
  private items: (QueuedLookup | undefined)[] = new Array(MIN_CAPACITY);
  private head = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `timeoutMs` null: no lookup ever expires. `onExpired` gets the lookups that waited
   * timeoutMs, oldest first, removed from the queue.
   */
  constructor(
    private readonly timeoutMs: number | null,
    private readonly onExpired: (expired: QueuedLookup[], now: number) => void,
  ) {}

  get length(): number {
    return this.count;
  }

  push(lookup: QueuedLookup): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = lookup;
    this.count += 1;
    if (this.count === 1) this.arm();
  }

  /** The `max` oldest lookups (fewer if fewer wait), removed from the queue. */
  take(max: number): QueuedLookup[] {
    const n = Math.min(max, this.count);
    const taken = new Array<QueuedLookup>(n);
    const items = this.items;
    for (let i = 0; i < n; i++) {
      taken[i] = items[this.head] as QueuedLookup;
      items[this.head] = undefined;
      this.head = this.head + 1 === items.length ? 0 : this.head + 1;
    }
    this.count -= n;
    this.arm();
    return taken;
  }

  /** Every lookup, removed (the pool is closing, or the database is unreachable). */
  drain(): QueuedLookup[] {
    return this.take(this.count);
  }

  private grow(): void {
    const bigger = new Array<QueuedLookup | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) bigger[i] = this.items[(this.head + i) % this.items.length];
    this.items = bigger;
    this.head = 0;
  }

  /** Aim the one timer at the oldest lookup's deadline (or stop it when none waits). */
  private arm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.timeoutMs === null || this.count === 0) return;
    const oldest = this.items[this.head] as QueuedLookup;
    const delay = Math.max(0, oldest.enqueuedAt + this.timeoutMs - performance.now());
    this.timer = setTimeout(this.expire, delay);
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = performance.now();
    const timeoutMs = this.timeoutMs as number;
    let n = 0;
    while (n < this.count && now - (this.items[(this.head + n) % this.items.length] as QueuedLookup).enqueuedAt >= timeoutMs) n += 1;
    const expired = this.take(n);
    if (expired.length > 0) this.onExpired(expired, now);
  };
}
