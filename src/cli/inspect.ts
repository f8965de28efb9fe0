/**
 * `socketlab inspect PID|:PORT`: one look at a process (FDs by kind, threads, limits,
 * context switches) or at a listening port (accept queue now and max, connections by
 * state), from /proc and, for the accept-queue maximum, ss.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { EXIT, LAB_ERR, LabError, usageError } from '../errors.js';
import { booleanFlag, parseFlags } from './args.js';
import type { Command } from './command.js';
import { readKernelCounters, shortCounterName, type CounterValues } from '../metrics/kernel-counters.js';
import {
  parseProcStat,
  parseProcStatus,
  pidExists,
  readCommandLine,
  readContextSwitches,
  readFdTargets,
  readLimits,
  readProcessSamplePortable,
  readThreads,
  summarizeFdTargets,
  ticksToMs,
  type FdSummary,
  type ResourceLimit,
  type ThreadSample,
} from '../metrics/process-stats.js';
import { isUnavailable, PROCFS, processExists, procfsUnavailableReason, readProcDir, readProcText } from '../metrics/procfs.js';
import { readSysctls, type SysctlName } from '../metrics/sysctls.js';
import {
  censusPort,
  createCapacityLookup,
  findListeners,
  readTcpSockets,
  TCP_STATE_NAMES,
  type ListenQueue,
  type PortCensus,
  type TcpSocket,
  type TcpStateName,
} from '../metrics/tcp-sockets.js';
import { parseInspectTarget } from '../metrics/targets.js';
import type { ContextSwitches, FdKinds } from '../metrics/types.js';
import { formatBytes, formatNumber } from '../format/numbers.js';
import { renderTable } from '../format/table.js';

const USAGE = `Usage: socketlab inspect PID|:PORT [--json]

A one-shot look at a process or at a listening port, as the kernel sees it.

  PID      a process: CPU, RSS, threads (busiest first), context switches (voluntary:
           it waited; involuntary: the scheduler took the CPU away), open FDs by kind
           (sockets matched to TCP states), and the open-files limit (RLIMIT_NOFILE).
  :PORT    a listening port: each listening socket's accept queue (connections waiting
           for accept()) now and its maximum, the processes holding it, connections on
           the port by state (server side and local clients apart), the kernel's
           listen-drop counters and the sysctls that size the queues.

Flags:
  --json       print the result as JSON instead of tables
  -h, --help   this text

Needs Linux /proc (elsewhere: CPU and RSS only). The accept-queue maximum needs ss
(iproute2): /proc/net/tcp reports only the current length.

Examples:
  socketlab inspect 12345
  socketlab inspect :3000 --json
`;

/** CPU % is measured over this window: long enough for 10 ms clock ticks to mean something. */
const CPU_WINDOW_MS = 250;
/** Threads listed in the text view, busiest first; --json lists all. */
const THREADS_SHOWN = 8;

interface SocketBreakdown {
  /** This process's TCP sockets by state (matched by inode against /proc/net/tcp{,6}). */
  tcp: Partial<Record<TcpStateName, number>>;
  /** Its listening sockets. */
  listening: { port: number; address: string; queued: number; max: number | null }[];
  /** Sockets not in the TCP tables: Unix, UDP, netlink, raw. */
  other: number;
}

interface ProcessReport {
  kind: 'process';
  pid: number;
  name: string | null;
  state: string | null;
  ppid: number | null;
  command: string | null;
  cpu: { totalMs: number | null; percent: number | null; windowMs: number };
  rssBytes: number | null;
  threads: { count: number | null; list: ThreadSample[] | null };
  ctxSwitches: ContextSwitches | null;
  fds: { count: number; kinds: FdKinds; anon: Record<string, number>; sockets: SocketBreakdown | null } | null;
  limits: { openFiles: ResourceLimit | null; processes: ResourceLimit | null } | null;
  unavailable: string[];
}

interface PortReport {
  kind: 'port';
  port: number;
  listeners: (ListenQueue & { owners: { pid: number; name: string | null }[] })[];
  connections: PortCensus;
  /** Totals since the network namespace started (every port, every process). */
  kernelCounters: CounterValues | null;
  sysctls: Partial<Record<SysctlName, string | null>> | null;
  unavailable: string[];
}

async function inspectProcess(pid: number): Promise<ProcessReport> {
  const procReason = procfsUnavailableReason();
  if (procReason !== null) {
    if (!pidExists(pid)) throw new LabError(LAB_ERR.NOT_FOUND, `no process with PID ${pid} (it may have exited)`);
    const [first] = await readProcessSamplePortable([pid]);
    await delay(CPU_WINDOW_MS);
    const [second] = await readProcessSamplePortable([pid]);
    const cpu = first?.cpuTimeMs != null && second?.cpuTimeMs != null ? ((second.cpuTimeMs - first.cpuTimeMs) / CPU_WINDOW_MS) * 100 : null;
    return {
      kind: 'process',
      pid,
      name: null,
      state: null,
      ppid: null,
      command: null,
      cpu: { totalMs: second?.cpuTimeMs ?? null, percent: cpu === null ? null : Math.round(cpu * 10) / 10, windowMs: CPU_WINDOW_MS },
      rssBytes: second?.rssBytes ?? null,
      threads: { count: null, list: null },
      ctxSwitches: null,
      fds: null,
      limits: null,
      unavailable: [`${procReason}: FDs, threads, context switches and limits are unavailable; CPU and RSS come from pidusage`],
    };
  }
  const readStat = (): ReturnType<typeof parseProcStat> => {
    const text = readProcText(`${pid}/stat`);
    return text === null ? null : parseProcStat(text);
  };
  const before = readStat();
  const statusText = readProcText(`${pid}/status`);
  if (before === null || statusText === null || !processExists(pid)) {
    throw new LabError(LAB_ERR.NOT_FOUND, `no process with PID ${pid} (it may have exited; \`ps -e\` lists running processes)`);
  }
  const unavailable: string[] = [];
  const status = parseProcStatus(statusText);
  const startedAt = performance.now();

  const targets = readFdTargets(pid);
  let fds: ProcessReport['fds'] = null;
  if (targets === null) {
    unavailable.push(
      processExists(pid) ? `FDs: permission denied reading ${PROCFS}/${pid}/fd (run as the process's user or root)` : 'FDs: the process exited while being inspected',
    );
  } else {
    const summary = summarizeFdTargets(targets);
    fds = { count: targets.length, kinds: summary.kinds, anon: summary.anon, sockets: breakDownSockets(summary, unavailable) };
  }
  const threads = readThreads(pid);
  const ctxSwitches = readContextSwitches(pid, status);
  const limits = readLimits(pid);
  const command = readCommandLine(pid);

  // CPU % over a short window, measured across the readings above rather than on top of them.
  const remaining = CPU_WINDOW_MS - (performance.now() - startedAt);
  if (remaining > 0) await delay(remaining);
  const after = readStat();
  const windowMs = performance.now() - startedAt;
  const beforeMs = ticksToMs(before.utimeTicks + before.stimeTicks);
  const afterMs = after === null ? null : ticksToMs(after.utimeTicks + after.stimeTicks);
  return {
    kind: 'process',
    pid,
    name: status.name ?? before.comm,
    state: status.state,
    ppid: status.ppid,
    command,
    cpu: {
      totalMs: afterMs ?? beforeMs,
      percent: afterMs === null ? null : Math.round(((afterMs - beforeMs) / windowMs) * 1000) / 10,
      windowMs: Math.round(windowMs),
    },
    rssBytes: status.rssBytes,
    threads: { count: status.threads, list: threads === null ? null : [...threads].sort((a, b) => (b.cpuTimeMs ?? 0) - (a.cpuTimeMs ?? 0)) },
    ctxSwitches,
    fds,
    limits: limits === null ? null : { openFiles: limits['Max open files'] ?? null, processes: limits['Max processes'] ?? null },
    unavailable,
  };
}

/** Match the process's socket inodes against the TCP tables. */
function breakDownSockets(summary: FdSummary, unavailable: string[]): SocketBreakdown | null {
  if (summary.socketInodes.length === 0) return { tcp: {}, listening: [], other: 0 };
  const table = readTcpSockets();
  if (isUnavailable(table)) {
    unavailable.push(`socket states: ${table.unavailable}`);
    return null;
  }
  const byInode = new Map<number, TcpSocket>();
  for (const socket of table) if (socket.inode !== 0) byInode.set(socket.inode, socket);
  const breakdown: SocketBreakdown = { tcp: {}, listening: [], other: 0 };
  const listeners: ListenQueue[] = [];
  for (const inode of summary.socketInodes) {
    const socket = byInode.get(inode);
    if (socket === undefined) {
      breakdown.other += 1;
      continue;
    }
    breakdown.tcp[socket.state] = (breakdown.tcp[socket.state] ?? 0) + 1;
    if (socket.state === 'LISTEN') listeners.push(...findListeners([socket]));
  }
  const capacities = createCapacityLookup();
  capacities.fill(listeners);
  const reason = capacities.unavailable();
  if (reason !== null) unavailable.push(reason);
  breakdown.listening = listeners.map((l) => ({ port: l.port, address: l.address, queued: l.queued, max: l.max }));
  return breakdown;
}

/**
 * The processes holding each of `inodes` open: every /proc/N/fd link is read, so this is
 * a one-shot cost (tens of ms on a busy machine), never a sampling one.
 */
function findSocketOwners(inodes: readonly number[]): Map<number, { pid: number; name: string | null }[]> {
  const owners = new Map<number, { pid: number; name: string | null }[]>();
  const wanted = new Set(inodes.map((inode) => `socket:[${inode}]`));
  for (const entry of readProcDir('') ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let targets: string[] | null;
    try {
      targets = readFdTargets(pid);
    } catch {
      continue;
    }
    for (const target of targets ?? []) {
      if (!wanted.has(target)) continue;
      const inode = Number(target.slice(8, -1));
      const list = owners.get(inode) ?? [];
      if (!list.some((o) => o.pid === pid)) {
        const status = readProcText(`${pid}/status`);
        list.push({ pid, name: status === null ? null : parseProcStatus(status).name });
      }
      owners.set(inode, list);
    }
  }
  return owners;
}

const PORT_SYSCTLS: readonly SysctlName[] = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.ipv4.tcp_syncookies', 'net.ipv4.tcp_abort_on_overflow'];
const PORT_COUNTERS = ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDrop', 'TcpExt.SyncookiesSent'] as const;

function inspectPort(port: number): PortReport {
  const procReason = procfsUnavailableReason();
  if (procReason !== null) {
    throw new LabError(LAB_ERR.UNSUPPORTED, `cannot inspect :${port}: ${procReason} (accept queues and connection states come from /proc/net/tcp)`);
  }
  const table = readTcpSockets();
  if (isUnavailable(table)) throw new LabError(LAB_ERR.UNSUPPORTED, `cannot inspect :${port}: ${table.unavailable}`);
  const listeners = findListeners(table, [port]);
  if (listeners.length === 0) {
    throw new LabError(LAB_ERR.NOT_FOUND, `nothing listens on port ${port} in this network namespace (checked ${PROCFS}/net/tcp and tcp6); is the server running?`);
  }
  const unavailable: string[] = [];
  const capacities = createCapacityLookup();
  capacities.fill(listeners);
  const capacityReason = capacities.unavailable();
  if (capacityReason !== null) unavailable.push(capacityReason);
  const owners = findSocketOwners(listeners.map((l) => l.inode));
  const counters = readKernelCounters();
  const sysctls = readSysctls();
  return {
    kind: 'port',
    port,
    listeners: listeners.map((l) => ({ ...l, owners: owners.get(l.inode) ?? [] })),
    connections: censusPort(table, port),
    kernelCounters: isUnavailable(counters) ? null : pick(counters, PORT_COUNTERS),
    sysctls: isUnavailable(sysctls) ? null : Object.fromEntries(PORT_SYSCTLS.map((name) => [name, sysctls[name]])),
    unavailable,
  };
}

function pick(values: CounterValues, names: readonly string[]): CounterValues {
  return Object.fromEntries(names.map((name) => [name, values[name] ?? 0]));
}

// ─── text rendering ──────────────────────────────────────────────────────────

function describeLimit(limit: ResourceLimit | null): string {
  if (limit === null) return '-';
  const text = (v: ResourceLimit['soft']): string => (v === 'unlimited' ? 'unlimited' : formatNumber(v));
  return `soft ${text(limit.soft)} / hard ${text(limit.hard)}`;
}

function renderProcess(report: ProcessReport): string {
  const lines: string[] = [];
  lines.push(`process ${report.pid} (${report.name ?? '?'})${report.state ? ` · state ${report.state}` : ''}${report.ppid !== null ? ` · parent ${report.ppid}` : ''}`);
  if (report.command) lines.push(`  command    ${report.command.length > 200 ? `${report.command.slice(0, 199)}…` : report.command}`);
  const cpuTotal = report.cpu.totalMs === null ? '-' : `${formatNumber(report.cpu.totalMs)} ms user+system since start`;
  const cpuNow = report.cpu.percent === null ? '' : ` · ${formatNumber(report.cpu.percent)}% of one core over the last ${report.cpu.windowMs} ms`;
  lines.push(`  CPU        ${cpuTotal}${cpuNow}`);
  lines.push(`  memory     RSS ${report.rssBytes === null ? '-' : formatBytes(report.rssBytes)}`);
  if (report.ctxSwitches !== null) {
    lines.push(
      `  switches   voluntary ${formatNumber(report.ctxSwitches.voluntary)} (waited) · involuntary ${formatNumber(report.ctxSwitches.involuntary)} (preempted), summed over ${report.threads.list?.length ?? '?'} live threads`,
    );
  }
  if (report.limits !== null) {
    const open = report.limits.openFiles;
    const use =
      report.fds !== null && open !== null && open.soft !== 'unlimited'
        ? ` · ${formatNumber(report.fds.count)} in use = ${formatNumber(Math.round((report.fds.count / open.soft) * 10_000) / 100)}% of soft`
        : '';
    lines.push(`  open files ${describeLimit(open)}${use}`);
  }
  if (report.fds !== null) {
    const { kinds, anon, sockets } = report.fds;
    lines.push('', `  file descriptors: ${formatNumber(report.fds.count)} open`);
    const socketNote =
      sockets === null
        ? ''
        : [
            ...Object.entries(sockets.tcp).map(([state, n]) => `TCP ${state} ${formatNumber(n)}`),
            ...(sockets.other > 0 ? [`other ${formatNumber(sockets.other)} (Unix, UDP, netlink)`] : []),
          ].join(', ');
    const anonNote = Object.entries(anon)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
    lines.push(
      renderTable(
        ['kind', 'count', 'detail'],
        [
          ['socket', kinds.socket, socketNote],
          ['file', kinds.file, 'paths: files, /dev/null, ttys'],
          ['pipe', kinds.pipe, ''],
          ['anon', kinds.anon, anonNote],
          ['other', kinds.other, ''],
        ],
        { indent: 4 },
      ),
    );
    if (sockets !== null && sockets.listening.length > 0) {
      lines.push('', '  listening sockets');
      lines.push(
        renderTable(
          ['port', 'address', 'accept queue', 'max'],
          sockets.listening.map((l) => [String(l.port), l.address, l.queued, l.max]),
          { indent: 4 },
        ),
      );
    }
  }
  const list = report.threads.list;
  if (list !== null) {
    lines.push('', `  threads: ${formatNumber(report.threads.count ?? list.length)}${list.length > THREADS_SHOWN ? ` (busiest ${THREADS_SHOWN} shown)` : ''}`);
    lines.push(
      renderTable(
        ['TID', 'name', 'CPU ms', 'voluntary', 'involuntary'],
        list.slice(0, THREADS_SHOWN).map((t) => [String(t.tid), t.name, t.cpuTimeMs, t.voluntary, t.involuntary]),
        { indent: 4 },
      ),
    );
  }
  for (const reason of report.unavailable) lines.push(`  unavailable: ${reason}`);
  return `${lines.join('\n')}\n`;
}

function renderPort(report: PortReport): string {
  const lines: string[] = [];
  lines.push(`port :${report.port} · ${report.listeners.length} listening socket${report.listeners.length === 1 ? '' : 's'}`);
  lines.push(
    renderTable(
      ['address', 'accept queue now', 'max', 'held by'],
      report.listeners.map((l) => [l.address, l.queued, l.max, l.owners.length === 0 ? '-' : l.owners.map((o) => `${o.pid} (${o.name ?? '?'})`).join(', ')]),
    ),
  );
  lines.push('  The kernel drops a completed handshake once the queue holds more than max (ListenOverflows).');
  const rows = TCP_STATE_NAMES.filter((state) => state !== 'LISTEN' && (report.connections.server[state] > 0 || report.connections.client[state] > 0)).map((state) => [
    state,
    report.connections.server[state],
    report.connections.client[state],
  ]);
  lines.push('', `  connections on :${report.port} by state`);
  lines.push(rows.length === 0 ? '    none' : renderTable(['state', 'server side', 'clients on this machine'], rows, { indent: 4 }));
  if (report.kernelCounters !== null) {
    const parts = Object.entries(report.kernelCounters).map(([name, n]) => `${shortCounterName(name)} ${formatNumber(n)}`);
    lines.push('', `  kernel, all ports, since the namespace started: ${parts.join(' · ')}`);
  }
  if (report.sysctls !== null) {
    const parts = Object.entries(report.sysctls).map(([name, value]) => `${name} ${value ?? '-'}`);
    lines.push(`  sysctls: ${parts.join(' · ')}`);
  }
  for (const reason of report.unavailable) lines.push(`  unavailable: ${reason}`);
  return `${lines.join('\n')}\n`;
}

export const command: Command = {
  name: 'inspect',
  summary: 'one look at a process (FDs, threads, limits) or a listening port (accept queue, states)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('inspect', argv, { json: { type: 'boolean' } }, true);
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    if (positionals.length > 1) throw usageError(`socketlab inspect: takes one PID or :PORT, got ${positionals.length} (${positionals.join(' ')})`);
    const target = parseInspectTarget(positionals[0]);
    const report = target.kind === 'pid' ? await inspectProcess(target.pid) : inspectPort(target.port);
    if (booleanFlag(values, 'json')) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(report.kind === 'process' ? renderProcess(report) : renderPort(report));
    return EXIT.OK;
  },
};
