/**
 * What the all-cores lab needs to hold and account for 100,000 connections on one machine:
 * the worker processes of a `serve --cluster` and what each holds (descriptors against its
 * RLIMIT_NOFILE, resident memory), the kernel's own view (/proc/net/sockstat and the slab
 * caches that grow by one object per socket), and a plan that splits the connections over
 * client processes and loopback source addresses so that neither runs out.
 *
 * Two limits shape the plan:
 * - RLIMIT_NOFILE is per process: every connection is a descriptor on each side, so neither
 *   a server process nor a client process may hold more than its soft limit.
 * - Ephemeral ports are per source address: a client socket bound to an address before
 *   connect() gets a port from ip_local_port_range that no other socket bound to that
 *   address uses (28,232 by default), whatever the destination. All of 127.0.0.0/8 is
 *   loopback on Linux, so 127.0.0.2, 127.0.0.3... are each another 28K ports.
 */
import { readFileSync } from 'node:fs';
import { censusTcpText, countFds, countPortRange, isUnavailable, readSysctls } from '../metrics/index.js';
import { readFdLimit } from '../metrics/process-stats.js';

/** The worker PIDs from a cluster's listening line: `... cluster=2 workers=123,124`. */
export function parseWorkerPids(banner: string): number[] {
  const match = /\bworkers=([\d,]+)/.exec(banner);
  return match === null ? [] : (match[1] as string).split(',').filter(Boolean).map(Number);
}

export interface ProcessFootprint {
  pid: number;
  role: 'primary' | 'worker' | 'client';
  rssBytes: number | null;
  fds: number | null;
  /** Soft RLIMIT_NOFILE: accept() fails with EMFILE past it. */
  fdLimit: number | null;
}

export function readFootprint(pid: number, role: ProcessFootprint['role']): ProcessFootprint {
  const limit = readFdLimit(pid);
  return { pid, role, rssBytes: readRss(pid), fds: countFds(pid), fdLimit: typeof limit?.soft === 'number' ? limit.soft : null };
}

function readRss(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** This process's soft RLIMIT_NOFILE (children inherit it), or null where /proc has none. */
export function ownFdLimit(): number | null {
  const limit = readFdLimit(process.pid);
  return typeof limit?.soft === 'number' ? limit.soft : null;
}

/** Ephemeral ports per source address (ip_local_port_range, here or as `rangeText` says), 28,232 by default. */
export function ephemeralPorts(rangeText?: string): number {
  if (rangeText !== undefined) return countPortRange(rangeText.trim()) ?? 28_232;
  const sysctls = readSysctls();
  const count = isUnavailable(sysctls) ? null : countPortRange(sysctls['net.ipv4.ip_local_port_range'] ?? null);
  return count ?? 28_232;
}

/** /proc/net/sockstat: the kernel's socket totals for this network namespace. */
export interface Sockstat {
  /** Sockets of every kind. */
  socketsUsed: number;
  tcpInuse: number;
  tcpOrphan: number;
  tcpTimeWait: number;
  tcpAlloc: number;
  /** Pages of socket buffer memory (send and receive queues) charged to TCP. */
  tcpMemPages: number;
}

export function parseSockstat(text: string): Sockstat | null {
  const sockets = /sockets: used (\d+)/.exec(text);
  const tcp = /TCP: inuse (\d+) orphan (\d+) tw (\d+) alloc (\d+) mem (\d+)/.exec(text);
  if (sockets === null || tcp === null) return null;
  return {
    socketsUsed: Number(sockets[1]),
    tcpInuse: Number(tcp[1]),
    tcpOrphan: Number(tcp[2]),
    tcpTimeWait: Number(tcp[3]),
    tcpAlloc: Number(tcp[4]),
    tcpMemPages: Number(tcp[5]),
  };
}

/**
 * The totals of the network namespace `pid` lives in (/proc/PID/net is that process's view),
 * or of our own without a PID.
 */
export function readSockstat(pid?: number): Sockstat | null {
  try {
    return parseSockstat(readFileSync(`/proc/${pid ?? 'self'}/net/sockstat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Server-side ESTABLISHED sockets on `port`, counted in the network namespace of `pid`:
 * the kernel's census, whoever holds the sockets (accepted or still in the accept queue).
 */
export function countEstablished(pid: number, port: number): number | null {
  const texts: { text: string; family: 4 | 6 }[] = [];
  for (const [file, family] of [
    ['tcp', 4],
    ['tcp6', 6],
  ] as const) {
    try {
      texts.push({ text: readFileSync(`/proc/${pid}/net/${file}`, 'utf8'), family });
    } catch {
      // No IPv6 here: IPv4 alone.
    }
  }
  if (texts.length === 0) return null;
  return censusTcpText(texts, [port]).ports[0]?.server.ESTABLISHED ?? null;
}

/**
 * The slab caches that gain an object per TCP socket: the socket itself (`TCP`, over 2 KiB),
 * its inode (`sock_inode_cache`), the open file (`filp`), its dentry, and the epoll entry
 * that watches it (`eventpoll_epi`).
 */
export const SOCKET_SLABS = ['TCP', 'sock_inode_cache', 'filp', 'dentry', 'eventpoll_epi'] as const;

export interface SlabCache {
  /** Objects in use (active_objs). */
  objects: number;
  /** Bytes per object, padding included. */
  objectSize: number;
}

export interface SlabReading {
  caches: Record<string, SlabCache>;
  /** All slab memory, from /proc/meminfo's Slab line. */
  slabBytes: number | null;
}

/**
 * The socket caches from /proc/slabinfo (readable by root only; null elsewhere). The caches
 * are the whole machine's: what other processes open and close shows up in the counts, so
 * a lab reads the object sizes as exact and the changes in counts as approximate.
 */
export function readSlabs(): SlabReading | null {
  let text: string;
  try {
    text = readFileSync('/proc/slabinfo', 'utf8');
  } catch {
    return null;
  }
  const caches: Record<string, SlabCache> = {};
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const name = fields[0] as string;
    if (!(SOCKET_SLABS as readonly string[]).includes(name)) continue;
    // name active_objs num_objs objsize objperslab pagesperslab : ...
    caches[name] = { objects: Number(fields[1]), objectSize: Number(fields[3]) };
  }
  let slabBytes: number | null = null;
  try {
    const match = /^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match !== null) slabBytes = Number(match[1]) * 1024;
  } catch {
    // No meminfo: caches alone.
  }
  return { caches, slabBytes };
}

/** One client process's share of the connections and the source addresses it binds to. */
export interface HoldShare {
  connections: number;
  addresses: string[];
}

/**
 * Split `total` connections over client processes of at most `perProcess` each, and give
 * each its own loopback addresses, enough that no address needs more than `portShare` of
 * its ephemeral ports.
 *
 * Why a quarter by default: a socket bound to an address with port 0 gets its port from
 * bind(), and since Linux 4.6 bind() searches the odd half of the range first (leaving the
 * even half to connect() without bind). As that half fills, each search walks further: on
 * this 2-core machine 12,500 binds to one address took 26 s, the same over two addresses
 * 4.7 s. A quarter of the range keeps every address well inside the odd half.
 */
export function planHold(total: number, perProcess: number, ports: number, options: { minProcesses?: number; portShare?: number } = {}): HoldShare[] {
  const processes = Math.max(options.minProcesses ?? 1, Math.ceil(total / perProcess));
  const usablePorts = Math.floor(ports * (options.portShare ?? 0.25));
  const shares: HoldShare[] = [];
  let next = 2; // 127.0.0.1 is left to everything else
  for (let i = 0; i < processes; i += 1) {
    const connections = Math.floor(total / processes) + (i < total % processes ? 1 : 0);
    const count = Math.max(1, Math.ceil(connections / usablePorts));
    const addresses = Array.from({ length: count }, (_, k) => loopbackAddress(next + k));
    next += count;
    shares.push({ connections, addresses });
  }
  return shares;
}

/** The n-th address of 127.0.0.0/8 (n ≥ 1), skipping .0 and .255 in the last octet. */
function loopbackAddress(n: number): string {
  const perBlock = 254;
  const block = Math.floor((n - 1) / perBlock);
  const last = ((n - 1) % perBlock) + 1;
  return `127.0.${block}.${last}`;
}
