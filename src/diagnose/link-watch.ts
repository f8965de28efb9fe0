/**
 * The client's side of the path to the target: which interface the route leaves by
 * (`ip route get`), the rate it is shaped to (a `rate` in its qdiscs, as tbf and netem print
 * it, else the speed the driver reports in /sys), and its byte counters.
 *
 * The rate can only be read on this machine's end of the route. A link shaped elsewhere (a
 * real WAN, a shaper on the server's side) shows only through its effect: throughput at
 * users ÷ round trip, which the verdict treats as the link's latency bound.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `ip route get ADDRESS` → whether the address is this machine's, and the device. Pure. */
export function parseRouteGet(text: string): { local: boolean; device: string | null } {
  const first = text.trim().split('\n')[0] ?? '';
  const device = /\bdev (\S+)/.exec(first)?.[1] ?? null;
  return { local: /^local\s/.test(first), device };
}

/** The route to `address` from this network namespace; null when ip is missing or fails. */
export async function lookupRoute(address: string): Promise<{ local: boolean; device: string | null } | null> {
  try {
    const { stdout } = await run('ip', ['route', 'get', address], { timeout: 5000 });
    return parseRouteGet(stdout);
  } catch {
    return null;
  }
}

const RATE_UNITS: Readonly<Record<string, number>> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/**
 * The lowest `rate NNN[KMG]bit` in `tc qdisc show` output, in bits per second (tc prints
 * tbf's as `rate 2Mbit`; netem's optional rate the same way); null when no qdisc has one.
 * Pure.
 */
export function parseQdiscRate(text: string): number | null {
  let lowest: number | null = null;
  for (const match of text.matchAll(/\brate (\d+(?:\.\d+)?)([KMGT]?)bit\b/g)) {
    const bits = Number(match[1]) * (RATE_UNITS[match[2] as string] ?? 1);
    if (lowest === null || bits < lowest) lowest = bits;
  }
  return lowest;
}

/** The device's rate: its qdiscs' rate, else its link speed; with where it came from. */
export async function readLinkRate(device: string): Promise<{ bitsPerSec: number | null; source: string | null }> {
  try {
    const { stdout } = await run('tc', ['qdisc', 'show', 'dev', device], { timeout: 5000 });
    const rate = parseQdiscRate(stdout);
    if (rate !== null) return { bitsPerSec: rate, source: `tc qdisc on ${device}` };
  } catch {
    // no tc here: fall back to the driver's speed
  }
  try {
    const mbit = Number(readFileSync(`/sys/class/net/${device}/speed`, 'latin1').trim());
    if (Number.isFinite(mbit) && mbit > 0) return { bitsPerSec: mbit * 1e6, source: `link speed of ${device}` };
  } catch {
    // virtual devices without a speed answer EINVAL
  }
  return { bitsPerSec: null, source: null };
}
