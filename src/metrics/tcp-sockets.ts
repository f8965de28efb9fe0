/**
 * TCP sockets as the kernel lists them in /proc/net/tcp and /proc/net/tcp6: a census by
 * state, and for each listening socket the length of its accept queue.
 *
 * Two kernel facts shape this file:
 *
 * 1. For a LISTEN socket, /proc/net/tcp's `rx_queue` is sk_ack_backlog, the connections
 *    that finished the handshake and wait for accept(). But `tx_queue` is write_seq -
 *    snd_una like any socket, i.e. 0, *not* the backlog maximum (get_tcp4_sock in
 *    net/ipv4/tcp_ipv4.c). Only the sock_diag netlink interface reports sk_max_ack_backlog
 *    for listeners (tcp_diag_get_info in net/ipv4/tcp_diag.c), and Node cannot open a
 *    netlink socket, so the maximum comes from `ss -ltne` (iproute2, which speaks sock_diag),
 *    once per listening socket: it is fixed when listen() is called.
 *
 * 2. Reading these files walks every bucket of the kernel's socket hash tables, sized from
 *    RAM at boot, not from how many sockets exist: on the 24 GiB test machine one read of
 *    /proc/net/tcp costs ~3.4 ms with two sockets in it, ~25 ms at 2,400. The kernel lists
 *    listening sockets first, so readListenQueues stops at the first non-listener (0.1 ms
 *    when connections exist early in the hash, up to a whole walk when none do); the full
 *    census is the expensive read, parsed without an object per line (censusTcpText), and
 *    the sampler runs both on a CPU budget (see cadence.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { errnoCode } from '../errors.js';
import { HOST_ENDIANNESS, PROCFS, procfsUnavailableReason, readProcText, type Unavailable } from './procfs.js';

/** TCP states by the number the kernel prints (include/net/tcp_states.h). */
export const TCP_STATES = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  // Request sockets (half-open, in the SYN queue) are printed as SYN_RECV by /proc; 12 is
  // their in-kernel state and is mapped to the same name in case a kernel prints it.
  12: 'SYN_RECV',
} as const;

export type TcpStateName = (typeof TCP_STATES)[keyof typeof TCP_STATES] | 'UNKNOWN';

/** Every state name, in the order tables show them. */
export const TCP_STATE_NAMES: readonly TcpStateName[] = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'UNKNOWN',
];

export type TcpStateCounts = Record<TcpStateName, number>;

export interface TcpSocket {
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: TcpStateName;
  /** Bytes not yet acknowledged by the peer; 0 for a listener (see the file comment). */
  txQueue: number;
  /** Bytes received and not yet read; for a listener, connections waiting for accept(). */
  rxQueue: number;
  uid: number;
  /** The socket's inode, as in /proc/PID/fd/N -> socket:[inode]; 0 when no process holds it (TIME_WAIT, not yet accepted). */
  inode: number;
}

// ─── pure parsing ────────────────────────────────────────────────────────────

/**
 * Decode an address as /proc prints it: 8 hex digits (IPv4) or 32 (IPv6), each 32-bit
 * word in host byte order. IPv4-mapped IPv6 addresses (a v4 client on a dual-stack `::`
 * listener) come out as `::ffff:127.0.0.1`, the way ss and Node print them.
 */
export function decodeProcAddress(hex: string, endianness: 'LE' | 'BE' = HOST_ENDIANNESS): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const group = [0, 2, 4, 6].map((at) => parseInt(hex.slice(word + at, word + at + 2), 16));
    if (endianness === 'LE') group.reverse();
    bytes.push(...group);
  }
  if (bytes.length === 4) return bytes.join('.');
  return formatIPv6(bytes);
}

/** RFC 5952 text form: lowercase, the longest run of two or more zero groups as `::`. */
function formatIPv6(bytes: number[]): string {
  const isMapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (isMapped) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}

/**
 * One line of /proc/net/tcp{,6} after the header:
 * `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
 * Returns null for the header or a line cut short.
 */
export function parseTcpLine(line: string, family: 4 | 6, endianness: 'LE' | 'BE' = HOST_ENDIANNESS): TcpSocket | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 10 || !(fields[0] as string).endsWith(':')) return null;
  const [local, remote, st, queues, , , uid, , inode] = fields.slice(1) as string[];
  const localColon = (local as string).indexOf(':');
  const remoteColon = (remote as string).indexOf(':');
  const queueColon = (queues as string).indexOf(':');
  if (localColon < 0 || remoteColon < 0 || queueColon < 0) return null;
  const stateNumber = parseInt(st as string, 16);
  return {
    family,
    localAddress: decodeProcAddress((local as string).slice(0, localColon), endianness),
    localPort: parseInt((local as string).slice(localColon + 1), 16),
    remoteAddress: decodeProcAddress((remote as string).slice(0, remoteColon), endianness),
    remotePort: parseInt((remote as string).slice(remoteColon + 1), 16),
    state: TCP_STATES[stateNumber as keyof typeof TCP_STATES] ?? 'UNKNOWN',
    txQueue: parseInt((queues as string).slice(0, queueColon), 16),
    rxQueue: parseInt((queues as string).slice(queueColon + 1), 16),
    uid: Number(uid),
    inode: Number(inode),
  };
}

/** Every socket in the text of /proc/net/tcp (family 4) or /proc/net/tcp6 (family 6). */
export function parseTcpTable(text: string, family: 4 | 6, endianness: 'LE' | 'BE' = HOST_ENDIANNESS): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    const socket = parseTcpLine(line, family, endianness);
    if (socket !== null) sockets.push(socket);
  }
  return sockets;
}

export function emptyStateCounts(): TcpStateCounts {
  const counts = {} as TcpStateCounts;
  for (const name of TCP_STATE_NAMES) counts[name] = 0;
  return counts;
}

/** How many sockets are in each state. */
export function censusTcpStates(sockets: Iterable<TcpSocket>): TcpStateCounts {
  const counts = emptyStateCounts();
  for (const socket of sockets) counts[socket.state] += 1;
  return counts;
}

/**
 * Connections on one port, split by which end this machine holds. On loopback both ends
 * are here: the server's (local port = port) and the client's (remote port = port). The
 * split matters because TCP puts TIME_WAIT on the end that closed first.
 */
export interface PortCensus {
  port: number;
  /** Sockets whose local port is `port`, listeners excluded: the server's accepted connections. */
  server: TcpStateCounts;
  /** Sockets whose remote port is `port`: clients on this machine connected to it. */
  client: TcpStateCounts;
}

export function censusPort(sockets: Iterable<TcpSocket>, port: number): PortCensus {
  const server = emptyStateCounts();
  const client = emptyStateCounts();
  for (const socket of sockets) {
    if (socket.localPort === port && socket.state !== 'LISTEN') server[socket.state] += 1;
    else if (socket.remotePort === port && socket.state !== 'LISTEN') client[socket.state] += 1;
  }
  return { port, server, client };
}

/** One listening socket and its accept queue. */
export interface ListenQueue {
  port: number;
  address: string;
  family: 4 | 6;
  inode: number;
  /** Connections that completed the handshake and wait for accept() (sk_ack_backlog). */
  queued: number;
  /**
   * The accept queue's capacity, sk_max_ack_backlog = min(backlog passed to listen(),
   * net.core.somaxconn); null when ss is missing. The kernel drops only when queued is
   * already *greater* than this (sk_acceptq_is_full), so the queue holds up to max + 1.
   */
  max: number | null;
}

/** The listeners among `sockets`, optionally only those on `ports`. */
export function findListeners(sockets: Iterable<TcpSocket>, ports?: readonly number[]): ListenQueue[] {
  const listeners: ListenQueue[] = [];
  for (const socket of sockets) {
    if (socket.state !== 'LISTEN') continue;
    if (ports !== undefined && !ports.includes(socket.localPort)) continue;
    listeners.push({
      port: socket.localPort,
      address: socket.localAddress,
      family: socket.family,
      inode: socket.inode,
      queued: socket.rxQueue,
      max: null,
    });
  }
  return listeners;
}

/** What the census needs from a whole table, without a TcpSocket per line. */
export interface TcpCensus {
  states: TcpStateCounts;
  /** One per asked-for port, in the order asked. */
  ports: PortCensus[];
  /** Listening sockets on the asked-for ports (all listeners when no ports are asked for). */
  listeners: ListenQueue[];
}

/**
 * The census straight from the text, for the sampler: at 12,000 sockets, building a
 * TcpSocket (with two decoded addresses) per line took 50 ms, this takes a few. It relies
 * on the fixed layout every line kind shares (get_tcp4_sock, get_openreq4,
 * get_timewait4_sock and their IPv6 twins): `%4d: ` then local `ADDR:PORT`, a space,
 * remote `ADDR:PORT`, a space, two hex digits of state, with ADDR 8 hex digits (IPv4) or
 * 32 (IPv6). Listener lines, few, are parsed in full.
 */
export function censusTcpText(texts: readonly { text: string; family: 4 | 6 }[], ports: readonly number[] = []): TcpCensus {
  const states = emptyStateCounts();
  const byPort = new Map<number, PortCensus>(ports.map((port) => [port, { port, server: emptyStateCounts(), client: emptyStateCounts() }]));
  const listeners: ListenQueue[] = [];
  for (const { text, family } of texts) {
    const field = (family === 4 ? 8 : 32) + 5; // ADDR:PORT
    let start = text.indexOf('\n') + 1; // skip the header
    while (start > 0 && start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const colon = text.indexOf(': ', start);
      if (colon > 0 && colon < end) {
        const base = colon + 2;
        const stateAt = base + 2 * field + 2;
        if (stateAt + 2 <= end) {
          const stateNumber = parseInt(text.slice(stateAt, stateAt + 2), 16);
          const state: TcpStateName = TCP_STATES[stateNumber as keyof typeof TCP_STATES] ?? 'UNKNOWN';
          states[state] += 1;
          if (state === 'LISTEN' || byPort.size > 0) {
            const localPort = parseInt(text.slice(base + field - 4, base + field), 16);
            if (state === 'LISTEN') {
              if (ports.length === 0 || byPort.has(localPort)) {
                const socket = parseTcpLine(text.slice(start, end), family);
                if (socket !== null) listeners.push(...findListeners([socket]));
              }
            } else {
              const remotePort = parseInt(text.slice(base + 2 * field - 3, base + 2 * field + 1), 16);
              const server = byPort.get(localPort);
              if (server !== undefined) server.server[state] += 1;
              const client = byPort.get(remotePort);
              if (client !== undefined && client !== server) client.client[state] += 1;
            }
          }
        }
      }
      start = end + 1;
    }
  }
  return { states, ports: [...byPort.values()], listeners };
}

/**
 * Listener capacities from `ss -Hltne` output, keyed by socket inode. For a listener ss
 * prints Recv-Q (queued) and Send-Q (sk_max_ack_backlog), then `ino:N` among the extras:
 * `LISTEN 0      511    0.0.0.0:3000   0.0.0.0:*  ino:8351 sk:1 cgroup:/ <->`
 */
export function parseSsListeners(text: string): Map<number, number> {
  const capacities = new Map<number, number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'LISTEN') continue;
    const max = Number(fields[2]);
    const inodeField = fields.find((f) => f.startsWith('ino:'));
    if (inodeField === undefined || !Number.isFinite(max)) continue;
    capacities.set(Number(inodeField.slice(4)), max);
  }
  return capacities;
}

// ─── reading ─────────────────────────────────────────────────────────────────

const TCP_FILES = [
  ['net/tcp', 4],
  ['net/tcp6', 6],
] as const;

/** Every TCP socket in this network namespace. The expensive read: see the file comment. */
export function readTcpSockets(): TcpSocket[] | Unavailable {
  const reason = procfsUnavailableReason();
  if (reason !== null) return { unavailable: reason };
  const sockets: TcpSocket[] = [];
  let found = false;
  for (const [file, family] of TCP_FILES) {
    const text = readProcText(file);
    if (text === null) continue;
    found = true;
    for (const socket of parseTcpTable(text, family)) sockets.push(socket);
  }
  return found ? sockets : { unavailable: 'no /proc/net/tcp or /proc/net/tcp6 (IPv4 and IPv6 TCP both missing?)' };
}

/**
 * The census of every TCP socket in this namespace, with per-port detail: the sampler's
 * and snapshots' way to read the table (see censusTcpText for why not readTcpSockets).
 */
export function readTcpCensus(ports: readonly number[] = []): TcpCensus | Unavailable {
  const reason = procfsUnavailableReason();
  if (reason !== null) return { unavailable: reason };
  const texts: { text: string; family: 4 | 6 }[] = [];
  for (const [file, family] of TCP_FILES) {
    const text = readProcText(file);
    if (text !== null) texts.push({ text, family });
  }
  if (texts.length === 0) return { unavailable: 'no /proc/net/tcp or /proc/net/tcp6 (IPv4 and IPv6 TCP both missing?)' };
  return censusTcpText(texts, ports);
}

/**
 * Read size for the listener-only path. seq_file generates records until the caller's
 * buffer is full and then advances to the next one, so a small buffer stops the kernel's
 * walk soon after the listeners instead of at the end of the established-socket table.
 */
const LISTENER_READ_BYTES = 1024;

/**
 * Only the LISTEN lines of one /proc/net/tcp file. The kernel walks the listening hash
 * first and the established hash after it (tcp_seq_start: TCP_SEQ_STATE_LISTENING, then
 * TCP_SEQ_STATE_ESTABLISHED), so the first line in another state ends the listeners.
 */
function readListenerLines(file: string, family: 4 | 6): TcpSocket[] | null {
  let fd: number;
  try {
    fd = fs.openSync(`${PROCFS}/${file}`, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
  const buffer = Buffer.allocUnsafe(LISTENER_READ_BYTES);
  const sockets: TcpSocket[] = [];
  let pending = '';
  try {
    // Bounded: a listener line is ~150 bytes, so 4,096 reads covers ~27,000 listeners.
    for (let reads = 0; reads < 4096; reads++) {
      const n = fs.readSync(fd, buffer, 0, LISTENER_READ_BYTES, null);
      if (n === 0) break;
      pending += buffer.toString('latin1', 0, n);
      const lines = pending.split('\n');
      pending = lines.pop() as string;
      for (const line of lines) {
        const socket = parseTcpLine(line, family);
        if (socket === null) continue;
        if (socket.state !== 'LISTEN') return sockets;
        sockets.push(socket);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return sockets;
}

/**
 * The accept queues of the listeners on `ports` (all listeners when `ports` is empty):
 * the cheaper path between censuses. `max` is filled from `capacities` (see
 * createCapacityLookup) when given; `families` limits the read to /proc/net/tcp (4) or
 * tcp6 (6) when the caller knows where its listeners are.
 */
export function readListenQueues(ports: readonly number[], capacities?: CapacityLookup, families: readonly (4 | 6)[] = [4, 6]): ListenQueue[] | Unavailable {
  const reason = procfsUnavailableReason();
  if (reason !== null) return { unavailable: reason };
  const listeners: ListenQueue[] = [];
  for (const [file, family] of TCP_FILES) {
    // Each file costs a walk of the listening hash: skip the one known to hold none of ours.
    if (!families.includes(family)) continue;
    const sockets = readListenerLines(file, family);
    if (sockets === null) continue;
    listeners.push(...findListeners(sockets, ports.length > 0 ? ports : undefined));
  }
  if (capacities !== undefined) capacities.fill(listeners);
  return listeners;
}

/** Fills ListenQueue.max from sock_diag through ss, asking once per new listening socket. */
export interface CapacityLookup {
  fill(listeners: ListenQueue[]): void;
  /** Why capacities are missing (no ss), or null. */
  unavailable(): string | null;
}

/** Do not run ss more often than this when a listener stays unknown to it (another netns). */
const SS_RETRY_MS = 2000;

/**
 * A cache of listener capacities by inode. Spawning ss costs ~3 ms (fork, exec, one netlink
 * dump of the listening table); a capacity cannot change without a new listen() call, so
 * each listening socket costs one ss run in its lifetime, not one per sample.
 */
export function createCapacityLookup(): CapacityLookup {
  const known = new Map<number, number>();
  let missing: string | null = null;
  let lastRun = -Infinity;
  return {
    fill(listeners) {
      const unknown = listeners.some((l) => !known.has(l.inode) && l.inode !== 0);
      if (unknown && missing === null && Date.now() - lastRun >= SS_RETRY_MS) {
        lastRun = Date.now();
        try {
          const output = execFileSync('ss', ['-Hltne'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
          for (const [inode, max] of parseSsListeners(output)) known.set(inode, max);
        } catch (error) {
          missing =
            errnoCode(error) === 'ENOENT'
              ? 'accept-queue maximum unknown: ss (iproute2) is not installed, and /proc/net/tcp reports only the current length'
              : `accept-queue maximum unknown: ss failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
        }
      }
      for (const listener of listeners) listener.max = known.get(listener.inode) ?? null;
    },
    unavailable: () => missing,
  };
}
