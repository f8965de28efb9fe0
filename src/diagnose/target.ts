/**
 * What can be known about the target before the ramp starts, and what that leaves unseen:
 * whether it is on this machine (loopback, another local address, or through an interface
 * to somewhere else), which of the --pid processes are the server and which Postgres, its
 * listening socket, whether it is socketlab serve (GET /stats), and the limits of the
 * generator's own process. Refuses a non-loopback target without --allow-remote: a ramp is
 * a load test, and it is sent only where the user says they may send one.
 */
import { lookup } from 'node:dns/promises';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { EXIT, LAB_ERR, LabError, usageError } from '../errors.js';
import type { LoadPlan } from '../load/index.js';
import { countPortRange, isUnavailable, readListenQueues, readSysctls, createCapacityLookup, type ListenQueue } from '../metrics/index.js';
import { fdLimitFrom, readLimits } from '../metrics/process-stats.js';
import { formatNumber } from '../format/numbers.js';
import { formatVus } from './format.js';
import { DIAGNOSE_DEFAULTS } from './constants.js';
import { readMemInfo } from '../metrics/host.js';
import { lookupRoute, readLinkRate } from './link-watch.js';
import { fetchServeStats, hasPool, isServeStats } from './serve-stats.js';
import type { DiagnoseContext, DiagnoseOptions } from './types.js';

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (net.isIPv4(v4)) return v4.startsWith('127.');
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

async function resolveHost(host: string): Promise<string> {
  if (net.isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new LabError(LAB_ERR.BAD_URL, `socketlab diagnose: cannot resolve "${host}"; check the URL's host`, { cause: error, exitCode: EXIT.USAGE });
  }
}

function processName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The PID holding the socket with this inode (what `ss -p` shows), found by reading the
 * descriptor links of every process: done once, as a hint for a user who gave no --pid.
 */
export function findSocketOwner(inode: number): number | null {
  if (inode === 0) return null;
  const wanted = `socket:[${inode}]`;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === wanted) return Number(entry);
      } catch {
        // closed meanwhile, or not ours to read
      }
    }
  }
  return null;
}

/** Listeners on the port that accept connections for `address` (bound to it or to any address). */
function listenersFor(port: number, address: string): ListenQueue[] {
  const listeners = readListenQueues([port]);
  if (isUnavailable(listeners)) return [];
  const matching = listeners.filter((l) => l.address === address || l.address === '0.0.0.0' || l.address === '::' || l.address === `::ffff:${address}`);
  createCapacityLookup().fill(matching);
  return matching;
}

export interface InspectedTarget {
  context: DiagnoseContext;
  /** The target's IP address, resolved once. */
  address: string;
  /** Limits of this run, stated. */
  notes: string[];
}

export async function inspectTarget(options: DiagnoseOptions, plan: LoadPlan): Promise<InspectedTarget> {
  const address = await resolveHost(plan.host);
  const loopback = isLoopbackAddress(address);
  if (!loopback && !options.allowRemote) {
    throw usageError(`socketlab diagnose: ${plan.host} is not a loopback address and a ramp is a load test; pass --allow-remote if you may load that server`);
  }
  const notes: string[] = [];
  let local = loopback;
  let linkInfo: DiagnoseContext['link'] = null;
  if (!loopback) {
    const route = await lookupRoute(address);
    if (route === null) notes.push(`the route to ${address} could not be read (ip route get failed): the link is not watched`);
    else if (route.local) local = true;
    else if (route.device !== null) {
      const rate = await readLinkRate(route.device);
      linkInfo = { device: route.device, rateBitsPerSec: rate.bitsPerSec, rateSource: rate.source };
    }
  }

  const targetPids: number[] = [];
  const databasePids: number[] = [];
  for (const pid of options.pids) {
    if (!pidAlive(pid)) throw usageError(`socketlab diagnose: --pid ${pid}: no such process`);
    // A postmaster is named by --pid like the server; its backends are its children.
    (processName(pid) === 'postgres' ? databasePids : targetPids).push(pid);
  }

  const listeners = local ? listenersFor(plan.port, address) : [];
  const listenerSeen = listeners.length > 0;
  const listenerPid = listenerSeen && targetPids.length === 0 ? findSocketOwner((listeners[0] as ListenQueue).inode) : null;

  const sysctls = readSysctls();
  const rangeText = isUnavailable(sysctls) ? null : sysctls['net.ipv4.ip_local_port_range'];
  const rangeCount = countPortRange(rangeText);
  const limits = readLimits(process.pid);
  const fdLimit = limits === null ? null : fdLimitFrom(limits);
  const generatorFdLimit = typeof fdLimit?.soft === 'number' ? fdLimit.soft : null;

  const stats = await fetchServeStats(`http://${plan.host.includes(':') ? `[${plan.host}]` : plan.host}:${plan.port}/`, DIAGNOSE_DEFAULTS.STATS_TIMEOUT_MS);
  const serve = isServeStats(stats);
  const memory = readMemInfo();

  const context: DiagnoseContext = {
    cores: os.availableParallelism(),
    memTotalBytes: memory?.totalBytes ?? null,
    loopback,
    local,
    port: plan.port,
    targetPids,
    databasePids,
    serve,
    serveDb: serve && hasPool(stats),
    listenerSeen,
    listenerPid,
    portRange: rangeText === null || rangeCount === null ? null : { text: rangeText, count: rangeCount },
    link: linkInfo,
    generatorFdLimit,
    keepAlive: plan.keepAlive,
  };

  if (!local) {
    notes.push(
      `${plan.host} is not on this machine${linkInfo === null ? '' : ` (the route leaves by ${linkInfo.device})`}: only the client side is watched (ports, SYN retransmits, ${linkInfo === null ? '' : 'the link, '}the generator itself)${targetPids.length > 0 ? ', plus the --pid processes' : ''}`,
    );
  } else if (!listenerSeen) {
    notes.push(`no listening socket for ${address}:${plan.port} in this network namespace: the accept queue is judged from the client's connect times only`);
  }
  if (targetPids.length === 0) {
    notes.push(
      `no --pid for the server: its CPU, threads, descriptors and memory are not watched${listenerPid === null ? '' : `; pid ${listenerPid} holds the listening socket on port ${plan.port} (pass --pid ${listenerPid})`}`,
    );
  }
  if (!serve) notes.push('the target does not answer GET /stats as socketlab serve does: its event-loop delay and database pool are not seen');
  if (generatorFdLimit !== null && options.maxVus > generatorFdLimit - 64) {
    notes.push(
      `this process may open ${formatNumber(generatorFdLimit)} descriptors (ulimit -n): steps near ${formatVus(Math.max(1, generatorFdLimit - 64))} measure the generator's limit, not the server's`,
    );
  }
  return { context, address, notes };
}
