/**
 * A load run that lasts until a test server has answered enough requests, rather than for a
 * fixed time: the count a test needs is there on any machine, however slow or busy, and a fast
 * one is not kept waiting. The planned duration is only a bound; the run is stopped the way a
 * user's Ctrl-C stops it (an abort: in-flight requests finish, nothing is left uncounted).
 */
import { runLoad, type LoadOptions, type LoadResult } from '../../src/load/index.js';
import { waitFor } from '../support/wait.js';
import type { TestServer } from './servers.js';

export async function runUntilServed(server: TestServer, options: LoadOptions, requests: number, boundMs = 30_000): Promise<LoadResult> {
  const from = server.requests;
  const controller = new AbortController();
  const running = runLoad({ durationMs: boundMs, ...options }, { signal: controller.signal });
  // A run that ends by itself first (an error, the bound) ends the wait too.
  let ended = false;
  void running.then(
    () => (ended = true),
    () => (ended = true),
  );
  try {
    await waitFor(`${requests} requests at the server`, () => ended || server.requests - from >= requests, { timeoutMs: boundMs + 5_000, intervalMs: 5 });
  } finally {
    controller.abort();
  }
  return running;
}
