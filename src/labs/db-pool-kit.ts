/**
 * What the db-pool lab reads from Postgres's side: which of the postmaster's children are
 * client backends (one per pooled connection), and what each one costs in memory.
 *
 * Memory has three honest answers, and the lab shows all of them:
 *
 * - RSS (VmRSS): pages of the process that are in RAM, *including* pages it shares: the
 *   postgres binary and libraries, and every page of shared_buffers it has touched. Summing
 *   RSS over 100 backends counts the same shared pages 100 times.
 * - Pss: each page divided by the number of processes mapping it. Summed over the backends
 *   it is what they really occupy together.
 * - Private (Private_Clean + Private_Dirty): pages only this backend maps: its catalog and
 *   plan caches, work memory, its stack. What one more connection adds.
 *
 * Pss and Private come from /proc/PID/smaps_rollup (Linux 4.14+), one read per process;
 * without it only RSS (/proc/PID/status) is available, and the lab says so.
 */
import { readFileSync } from 'node:fs';
import { findChildPids } from '../metrics/index.js';

export interface ProcessMemory {
  pid: number;
  /** `postgres: postgres postgres 127.0.0.1(54352) idle`, `postgres: checkpointer`. */
  title: string;
  rssKb: number;
  /** Null when smaps_rollup is not available here. */
  pssKb: number | null;
  privateKb: number | null;
}

export interface PostgresMemory {
  /** Where Pss and Private came from, or why they are missing. */
  source: 'smaps_rollup' | 'status (VmRSS only: no /proc/PID/smaps_rollup on this kernel)';
  /** Client backends: one per connection. */
  backends: ProcessMemory[];
  /** The postmaster's other children: checkpointer, background writer, WAL writer, launchers. */
  auxiliary: ProcessMemory[];
}

/**
 * A client backend's process title is `postgres: USER DATABASE HOST(PORT) STATE`
 * (update_process_title); auxiliary processes say what they are (`postgres: walwriter`).
 */
const CLIENT_BACKEND = /^postgres: \S+ \S+ [0-9a-fA-F.:[\]]+\(\d+\)/;

export function readPostgresMemory(postmasterPid: number): PostgresMemory {
  const backends: ProcessMemory[] = [];
  const auxiliary: ProcessMemory[] = [];
  let rollup = true;
  for (const pid of findChildPids(postmasterPid)) {
    const title = readTitle(pid);
    if (title === null) continue; // exited meanwhile
    const memory = readProcessMemory(pid, title);
    if (memory === null) continue;
    if (memory.pssKb === null) rollup = false;
    (CLIENT_BACKEND.test(title) ? backends : auxiliary).push(memory);
  }
  return { source: rollup ? 'smaps_rollup' : 'status (VmRSS only: no /proc/PID/smaps_rollup on this kernel)', backends, auxiliary };
}

/** The number of client backends the postmaster has now (one per open connection). */
export function countClientBackends(postmasterPid: number): number {
  return findChildPids(postmasterPid).filter((pid) => CLIENT_BACKEND.test(readTitle(pid) ?? '')).length;
}

function readTitle(pid: number): string | null {
  try {
    // A backend rewrites its argv area with the title, padded with NULs or spaces.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
  } catch {
    return null;
  }
}

function readProcessMemory(pid: number, title: string): ProcessMemory | null {
  try {
    const rollup = parseKbFields(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    const rss = rollup.get('Rss');
    if (rss !== undefined) {
      return {
        pid,
        title,
        rssKb: rss,
        pssKb: rollup.get('Pss') ?? null,
        privateKb: (rollup.get('Private_Clean') ?? 0) + (rollup.get('Private_Dirty') ?? 0),
      };
    }
  } catch {
    // No smaps_rollup (kernel < 4.14) or the process is gone: fall back to VmRSS below.
  }
  try {
    const status = parseKbFields(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const rss = status.get('VmRSS');
    return rss === undefined ? null : { pid, title, rssKb: rss, pssKb: null, privateKb: null };
  } catch {
    return null;
  }
}

/** `Name:   1234 kB` lines → Name → 1234. */
export function parseKbFields(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const match of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) fields.set(match[1] as string, Number(match[2]));
  return fields;
}

export interface MemoryStats {
  count: number;
  avgMb: number | null;
  minMb: number | null;
  maxMb: number | null;
  totalMb: number | null;
}

/** Summary of one field (kB) over processes, in MiB. */
export function summarizeMemory(processes: readonly ProcessMemory[], field: 'rssKb' | 'pssKb' | 'privateKb'): MemoryStats {
  const values = processes.map((p) => p[field]).filter((v): v is number => v !== null);
  if (values.length === 0) return { count: 0, avgMb: null, minMb: null, maxMb: null, totalMb: null };
  const mb = (kb: number): number => Math.round((kb / 1024) * 100) / 100;
  const total = values.reduce((a, b) => a + b, 0);
  return { count: values.length, avgMb: mb(total / values.length), minMb: mb(Math.min(...values)), maxMb: mb(Math.max(...values)), totalMb: mb(total) };
}

/** The FATAL (or first ERROR) line in a failure's text: what Postgres itself said. */
export function postgresComplaint(text: string): string | null {
  const match = /(FATAL|ERROR):\s*([^\n]+)/.exec(text);
  return match === null ? null : `${match[1]}: ${(match[2] as string).trim()}`;
}
