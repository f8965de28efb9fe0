/**
 * A "remote" client on one machine: a network namespace joined to this one by a veth pair,
 * with the pair shaped like a slow link. Bandwidth is capped by tbf (a token bucket: bytes
 * leave at the rate, a burst may go at once, the rest queue up to a latency bound), and the
 * round trip is lengthened by netem where the kernel has it, else by a delaying relay
 * (delay-relay.ts) on the host side; the lab records which.
 *
 * Both ends are shaped because a link has two directions: the host end's egress carries the
 * responses to the client, the namespace end's egress the requests. The veth and its
 * qdiscs go away with it: deleting one end deletes the pair (tracked as a lab resource), and
 * deleting the namespace deletes its end.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LAB_ERR, LabError } from '../errors.js';
import { readInterfaceCounters, type InterfaceCounters } from '../metrics/host.js';
import type { Namespace } from './netns.js';
import type { LabContext } from './types.js';
import { vethNames } from './stale-network.js';

const run = promisify(execFile);

export interface Veth {
  /** The end in this (the root) namespace: the server's side. */
  hostDevice: string;
  /** The end inside the namespace: the client's side. */
  peerDevice: string;
  hostAddress: string;
  peerAddress: string;
  namespace: Namespace;
}

/** A /30 in 10.254.0.0/16: one address for each end. */
const SUBNET = { FIRST_OCTETS: '10.254', PREFIX: 30, SLOTS: 16_384 } as const;

let vethCounter = 0;

/** Create the pair, address both ends and bring them up; deleted when the lab ends. */
export async function createVeth(lab: LabContext, namespace: Namespace): Promise<Veth> {
  // The PID in the name keeps two runs apart and lets a later run remove a killed one's pair.
  vethCounter += 1;
  const { host: hostDevice, peer: peerDevice } = vethNames(process.pid, vethCounter);
  const [hostAddress, peerAddress] = await pickFreeSubnet();
  await run('ip', ['link', 'add', hostDevice, 'type', 'veth', 'peer', 'name', peerDevice, 'netns', namespace.name]);
  lab.track({
    name: `veth ${hostDevice}`,
    stop: async () => {
      await run('ip', ['link', 'delete', hostDevice]).catch(() => {});
    },
  });
  await run('ip', ['addr', 'add', `${hostAddress}/${SUBNET.PREFIX}`, 'dev', hostDevice]);
  await run('ip', ['link', 'set', hostDevice, 'up']);
  await namespace.exec('ip', ['addr', 'add', `${peerAddress}/${SUBNET.PREFIX}`, 'dev', peerDevice]);
  await namespace.exec('ip', ['link', 'set', peerDevice, 'up']);
  return { hostDevice, peerDevice, hostAddress, peerAddress, namespace };
}

/** A /30 whose addresses no interface here uses yet, starting from one derived from our PID. */
async function pickFreeSubnet(): Promise<[string, string]> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  const used = new Set([...stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]));
  for (let i = 0; i < 64; i += 1) {
    const slot = (process.pid + i * 97) % SUBNET.SLOTS;
    const base = `${SUBNET.FIRST_OCTETS}.${Math.floor(slot / 64)}`;
    const last = (slot % 64) * 4;
    const host = `${base}.${last + 1}`;
    const peer = `${base}.${last + 2}`;
    if (!used.has(host) && !used.has(peer)) return [host, peer];
  }
  throw new LabError(LAB_ERR.UNSUPPORTED, `no free /30 found in ${SUBNET.FIRST_OCTETS}.0.0/16 for the veth pair`);
}

export const DELAY_METHOD = { NETEM: 'netem', RELAY: 'relay' } as const;
export type DelayMethod = (typeof DELAY_METHOD)[keyof typeof DELAY_METHOD];

export interface LinkShape {
  rateMbit: number;
  /** Round trip to add: half on each direction. */
  rttMs: number;
  /** tbf's bucket: bytes that may leave at once after an idle spell. */
  burst: string;
  /** tbf's queue bound, as the longest a packet may wait for tokens; beyond it, drops. */
  queueLatency: string;
}

export interface ShapedLink extends LinkShape {
  delayMethod: DelayMethod;
  /** Why netem was not used (tc's own words), or null when it was. */
  netemUnavailable: string | null;
  /** The qdisc lines tc reports for each end after shaping. */
  qdiscs: { host: string; peer: string };
}

/**
 * Cap both directions with tbf and, where netem exists, add half the round trip on each
 * direction with it (netem at the root, tbf as its child: the layout of the netem docs).
 * netem is probed on the veth itself: a module missing from the kernel fails right there.
 */
export async function shapeLink(veth: Veth, shape: LinkShape): Promise<ShapedLink> {
  const oneWay = `${shape.rttMs / 2}ms`;
  const tbf = ['tbf', 'rate', `${shape.rateMbit}mbit`, 'burst', shape.burst, 'latency', shape.queueLatency];
  const onHost = (args: string[]): Promise<unknown> => run('tc', args);
  const onPeer = (args: string[]): Promise<unknown> => veth.namespace.exec('tc', args);
  let netemUnavailable: string | null = null;
  try {
    await onHost(['qdisc', 'add', 'dev', veth.hostDevice, 'root', 'handle', '1:', 'netem', 'delay', oneWay]);
  } catch (error) {
    netemUnavailable = firstLine(error);
  }
  if (netemUnavailable === null) {
    await onPeer(['qdisc', 'add', 'dev', veth.peerDevice, 'root', 'handle', '1:', 'netem', 'delay', oneWay]);
    await onHost(['qdisc', 'add', 'dev', veth.hostDevice, 'parent', '1:1', 'handle', '10:', ...tbf]);
    await onPeer(['qdisc', 'add', 'dev', veth.peerDevice, 'parent', '1:1', 'handle', '10:', ...tbf]);
  } else {
    await onHost(['qdisc', 'add', 'dev', veth.hostDevice, 'root', ...tbf]);
    await onPeer(['qdisc', 'add', 'dev', veth.peerDevice, 'root', ...tbf]);
  }
  const host = ((await run('tc', ['qdisc', 'show', 'dev', veth.hostDevice])).stdout as string).trim();
  const peer = (await veth.namespace.exec('tc', ['qdisc', 'show', 'dev', veth.peerDevice])).stdout.trim();
  return { ...shape, delayMethod: netemUnavailable === null ? DELAY_METHOD.NETEM : DELAY_METHOD.RELAY, netemUnavailable, qdiscs: { host, peer } };
}

export type LinkCounters = InterfaceCounters;

/** An interface the lab made and still holds: its counters are there, or the lab is broken. */
export function readLinkCounters(device: string): LinkCounters {
  const counters = readInterfaceCounters(device);
  if (counters === null) throw new Error(`no counters for interface ${device} in /sys/class/net`);
  return counters;
}

export function diffLinkCounters(before: LinkCounters, after: LinkCounters): LinkCounters {
  return {
    txBytes: after.txBytes - before.txBytes,
    rxBytes: after.rxBytes - before.rxBytes,
    txPackets: after.txPackets - before.txPackets,
    rxPackets: after.rxPackets - before.rxPackets,
  };
}

/** tbf's counters: how often it held a packet back for lack of tokens, and how many it dropped. */
export interface TbfCounters {
  sentBytes: number;
  sentPackets: number;
  dropped: number;
  overlimits: number;
}

/** `tc -s qdisc show dev D` → the tbf's counters (cumulative since it was added). */
export async function readTbfCounters(veth: Veth, end: 'host' | 'peer'): Promise<TbfCounters | null> {
  const args = ['-s', 'qdisc', 'show', 'dev', end === 'host' ? veth.hostDevice : veth.peerDevice];
  const { stdout } = end === 'host' ? await run('tc', args) : await veth.namespace.exec('tc', args);
  return parseTbfCounters(stdout as string);
}

/**
 * The statistics line that follows the tbf's own line:
 * `qdisc tbf 10: parent 1:1 rate 4Mbit burst 8Kb lat 300ms`
 * ` Sent 123456 bytes 789 pkt (dropped 0, overlimits 42 requeues 0)`
 */
export function parseTbfCounters(text: string): TbfCounters | null {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.startsWith('qdisc tbf'));
  if (at === -1) return null;
  const match = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(lines.slice(at + 1, at + 3).join(' '));
  if (match === null) return null;
  return { sentBytes: Number(match[1]), sentPackets: Number(match[2]), dropped: Number(match[3]), overlimits: Number(match[4]) };
}

export function diffTbfCounters(before: TbfCounters | null, after: TbfCounters | null): TbfCounters | null {
  if (before === null || after === null) return null;
  return {
    sentBytes: after.sentBytes - before.sentBytes,
    sentPackets: after.sentPackets - before.sentPackets,
    dropped: after.dropped - before.dropped,
    overlimits: after.overlimits - before.overlimits,
  };
}

export const BOTTLENECK = { DATABASE: 'database', SERVER: 'server', LINK: 'link' } as const;
export type Bottleneck = (typeof BOTTLENECK)[keyof typeof BOTTLENECK];
export const LINK_LIMIT = { LATENCY: 'latency', BANDWIDTH: 'bandwidth' } as const;
export type LinkLimit = (typeof LINK_LIMIT)[keyof typeof LINK_LIMIT];

export interface VerdictInput {
  /** What the same users made next to the server: the most the server side delivered without a link. */
  localRps: number;
  remoteRps: number;
  vus: number;
  rttMs: number;
  /** Server→client bytes per second over the cap's bytes per second. */
  downlinkUtilisation: number;
  /** The name of the local limit: the database when /uuid queued for the pool, else the server. */
  localLimit: Bottleneck;
}

export interface Verdict {
  bottleneck: Bottleneck;
  /** Which side of the link, when the link is the bottleneck. */
  linkLimit: LinkLimit | null;
  /** users ÷ RTT: the most a closed model of `vus` users can make when each request takes at least one round trip (Little's law). */
  latencyBoundRps: number;
  remoteShareOfLocal: number;
  /** How close each limit came to binding: 1 is saturated. */
  utilisation: { bandwidth: number; latency: number; serverSide: number };
}

/**
 * Which limit dominated the remote run: the one closest to saturation. Three are measured:
 * the link's bandwidth (bytes on the wire over the cap), its round trip (throughput over
 * users ÷ RTT: a closed-model user cannot go faster than one request per round trip), and
 * the server side (throughput over what the same server delivered without the link).
 */
export function decideBottleneck(input: VerdictInput): Verdict {
  const latencyBoundRps = input.rttMs > 0 ? input.vus / (input.rttMs / 1000) : Infinity;
  const utilisation = {
    bandwidth: round3(input.downlinkUtilisation),
    latency: Number.isFinite(latencyBoundRps) ? round3(input.remoteRps / latencyBoundRps) : 0,
    serverSide: input.localRps > 0 ? round3(input.remoteRps / input.localRps) : 0,
  };
  const top = Math.max(utilisation.bandwidth, utilisation.latency, utilisation.serverSide);
  const base = { latencyBoundRps, remoteShareOfLocal: utilisation.serverSide, utilisation };
  if (top === utilisation.bandwidth) return { ...base, bottleneck: BOTTLENECK.LINK, linkLimit: LINK_LIMIT.BANDWIDTH };
  if (top === utilisation.latency) return { ...base, bottleneck: BOTTLENECK.LINK, linkLimit: LINK_LIMIT.LATENCY };
  return { ...base, bottleneck: input.localLimit, linkLimit: null };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? (error as { stderr?: string }).stderr || error.message : String(error);
  return text.trim().split('\n')[0] ?? text;
}
