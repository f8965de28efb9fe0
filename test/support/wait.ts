/**
 * Synchronisation for tests without sleeps: wait for an event, or poll a condition with a
 * deadline and fail with a message that says what never happened.
 */
import { once } from 'node:events';
import type { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

/** How long a wait may take before it counts as a hang. */
export const WAIT_DEFAULT_MS = 30_000;

export interface WaitOptions {
  /**
   * Give up after this long (default 30 s). A deadline only turns a hang into a failure with
   * a reason: on a busy machine a thread or a process can take seconds to start.
   */
  timeoutMs?: number;
  /** Time between polls (default 20 ms). This spaces polls; it never stands in for an event. */
  intervalMs?: number;
}

/** Poll `condition` until it returns a truthy value, which is returned; throw at the deadline. */
export async function waitFor<T>(what: string, condition: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? WAIT_DEFAULT_MS);
  const interval = options.intervalMs ?? 20;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : String(last)})`);
    }
    await delay(interval);
  }
}

/** `events.once` with a deadline. */
export async function waitForEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, timeoutMs = WAIT_DEFAULT_MS): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return (await once(emitter, event, { signal })) as T;
  } catch (error) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`);
    throw error;
  }
}

/**
 * `promise`, or an error naming `what` once `timeoutMs` has passed: a bound for something that
 * must settle by itself (a timeout firing, a close), so that a broken one fails the test with
 * a reason instead of hanging it. The bound only catches hangs: keep it far above any real
 * duration, never use it to assert a speed.
 */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = WAIT_DEFAULT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
