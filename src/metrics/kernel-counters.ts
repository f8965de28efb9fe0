/**
 * The kernel's own tallies of what happened to TCP: /proc/net/netstat (TcpExt, IpExt, the
 * Linux-specific MIB) and /proc/net/snmp (Ip, Icmp, Tcp, Udp, the RFC 1213/4022 MIBs).
 *
 * Both files use the same layout: for each protocol, one line of names and one line of
 * values, each starting with `Proto:`. The counters are per network namespace and count
 * since the namespace was created, for every process in it: a lab reads them before and
 * after a step and reports the difference, never the absolute value. The Tcp MIB is shared
 * by IPv4 and IPv6 (there is no Tcp section in /proc/net/snmp6), so these cover both.
 */
import { DIRECT_PROC_FILES, procfsUnavailableReason, type ProcFiles, type Unavailable } from './procfs.js';

/** Counter values keyed `Proto.Name`, e.g. `TcpExt.ListenOverflows`, `Tcp.RetransSegs`. */
export type CounterValues = Record<string, number>;

/**
 * The counters every lab and the live panel show, in the order they are shown, with the
 * short name used on screen and what a rise means.
 */
export const KEY_COUNTERS = {
  'TcpExt.ListenOverflows': 'accept queue was full when a handshake completed or a SYN arrived (connection dropped)',
  'TcpExt.ListenDrops': 'any drop at a listening socket (includes every ListenOverflows)',
  'TcpExt.TCPReqQFullDrop': 'SYN dropped because the SYN queue was full and syncookies were off',
  'TcpExt.SyncookiesSent': 'SYN queue full: answered with a syncookie instead of a queued request',
  'Tcp.ActiveOpens': 'connect() calls that sent a SYN (client side)',
  'Tcp.PassiveOpens': 'handshakes completed by a listener (server side)',
  'Tcp.AttemptFails': 'connection attempts that failed (RST or timeout before ESTABLISHED)',
  'Tcp.EstabResets': 'established connections reset',
  'Tcp.RetransSegs': 'segments retransmitted (includes retransmitted SYNs)',
  'TcpExt.TCPTimeouts': 'retransmission timer fired (an RTO: a SYN or data segment went unanswered)',
  'TcpExt.TCPAbortOnData': 'connection reset because data arrived after the application closed it',
  'TcpExt.TCPAbortOnClose': 'connection reset because the application closed it with unread data',
  'TcpExt.TCPAbortOnTimeout': 'connection given up after too many retransmissions',
  'TcpExt.TW': 'sockets that finished TIME_WAIT normally',
} as const;

export type KeyCounterName = keyof typeof KEY_COUNTERS;

/**
 * Values in these files that are levels, not running totals: a difference of them means
 * nothing, so diffCounters leaves them out. (MaxConn is -1, "dynamic", per RFC 2012.)
 */
export const GAUGE_COUNTERS: ReadonlySet<string> = new Set([
  'Tcp.RtoAlgorithm',
  'Tcp.RtoMin',
  'Tcp.RtoMax',
  'Tcp.MaxConn',
  'Tcp.CurrEstab',
  'Ip.Forwarding',
  'Ip.DefaultTTL',
  'MPTcpExt.MPCurrEstab',
]);

/**
 * Parse the two-line-per-protocol layout shared by /proc/net/netstat and /proc/net/snmp.
 * Pure: text in, `{ 'Proto.Name': value }` out. A names line without a matching values line
 * (a truncated read) is skipped rather than guessed at. `into` lets two files fill one
 * object (a spread of two 300-key objects costs as much as parsing them).
 */
export function parseProtoCounters(text: string, into: CounterValues = {}): CounterValues {
  const counters = into;
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const namesLine = lines[i] as string;
    const valuesLine = lines[i + 1] as string;
    const colon = namesLine.indexOf(':');
    // A pair is two lines starting with the same `Proto:`.
    if (colon < 0 || !valuesLine.startsWith(namesLine.slice(0, colon + 1))) continue;
    i += 1;
    const keys = keysOf(namesLine, colon);
    const values = valuesLine
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    const count = Math.min(keys.length, values.length);
    for (let k = 0; k < count; k++) {
      const value = Number(values[k]);
      if (Number.isFinite(value)) counters[keys[k] as string] = value;
    }
  }
  return counters;
}

/**
 * `Proto.Name` keys of a names line, built once per distinct line: the names never change
 * while the kernel runs, and building ~300 key strings was half the cost of a parse.
 */
const KEYS_BY_NAMES_LINE = new Map<string, string[]>();

function keysOf(namesLine: string, colon: number): string[] {
  let keys = KEYS_BY_NAMES_LINE.get(namesLine);
  if (keys === undefined) {
    const prefix = namesLine.slice(0, colon);
    keys = namesLine
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((name) => name !== '')
      .map((name) => `${prefix}.${name}`);
    // Bounded: a kernel has a handful of these lines; anything else is not worth caching.
    if (KEYS_BY_NAMES_LINE.size < 64) KEYS_BY_NAMES_LINE.set(namesLine, keys);
  }
  return keys;
}

/** Both files merged: ~130 µs opened afresh, ~80 µs through a ProcFileCache. */
export function readKernelCounters(files: ProcFiles = DIRECT_PROC_FILES): CounterValues | Unavailable {
  const reason = procfsUnavailableReason();
  if (reason !== null) return { unavailable: reason };
  const netstat = files.text('net/netstat');
  const snmp = files.text('net/snmp');
  if (netstat === null && snmp === null) return { unavailable: 'neither /proc/net/netstat nor /proc/net/snmp exists' };
  return parseProtoCounters(netstat ?? '', parseProtoCounters(snmp ?? ''));
}

/**
 * `after - before` for every running total present in both (gauges left out). When `only`
 * is given, just those names, each present even when zero, so that a table of them always
 * has the same rows.
 */
export function diffCounters(before: CounterValues, after: CounterValues, only?: readonly string[]): CounterValues {
  const delta: CounterValues = {};
  if (only !== undefined) {
    for (const name of only) {
      const a = before[name];
      const b = after[name];
      delta[name] = a === undefined || b === undefined ? 0 : b - a;
    }
    return delta;
  }
  for (const name of Object.keys(after)) {
    if (GAUGE_COUNTERS.has(name)) continue;
    const a = before[name];
    if (a === undefined) continue;
    delta[name] = (after[name] as number) - a;
  }
  return delta;
}

/** Only the names whose value is not zero: the short form stored for a whole run. */
export function nonZeroCounters(values: CounterValues): CounterValues {
  const kept: CounterValues = {};
  for (const [name, value] of Object.entries(values)) if (value !== 0) kept[name] = value;
  return kept;
}

/** `TcpExt.ListenOverflows` → `ListenOverflows`: the name a person reads on screen. */
export function shortCounterName(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(dot + 1);
}
