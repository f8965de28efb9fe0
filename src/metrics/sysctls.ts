/**
 * The kernel settings that decide where a single server breaks, read from /proc/sys.
 * A snapshot is taken once per run: these change only when someone runs sysctl.
 */
import { procfsUnavailableReason, readProcText, type Unavailable } from './procfs.js';

/** Each setting by its sysctl name, with why a lab cares. */
export const SYSCTLS = {
  'net.core.somaxconn': 'cap on any listen() backlog: the accept queue holds min(backlog, this) (+1)',
  'net.ipv4.tcp_max_syn_backlog': 'cap on half-open connections waiting for the final ACK (the SYN queue)',
  'net.ipv4.tcp_syncookies': '1: when the SYN queue is full, answer with a cookie instead of dropping',
  'net.ipv4.tcp_abort_on_overflow': '1: reset a connection whose accept queue is full instead of dropping the ACK',
  'net.ipv4.ip_local_port_range': 'ephemeral ports a client can use per (source, destination) pair',
  'net.ipv4.tcp_tw_reuse': 'whether a client may reuse a TIME_WAIT port for a new outgoing connection',
  'net.ipv4.tcp_fin_timeout': 'FIN_WAIT2 timeout (not TIME_WAIT, which is fixed at 60 s in the kernel)',
  'fs.file-max': 'open files allowed system-wide',
  'fs.nr_open': 'ceiling for any process RLIMIT_NOFILE hard limit',
  'fs.file-nr': 'open file handles now: allocated, free, maximum',
} as const;

export type SysctlName = keyof typeof SYSCTLS;

/** Values as the kernel prints them, whitespace runs collapsed: `32768 60999`. Missing settings are null. */
export type Sysctls = Record<SysctlName, string | null>;

export function readSysctls(): Sysctls | Unavailable {
  const reason = procfsUnavailableReason();
  if (reason !== null) return { unavailable: reason };
  const values = {} as Sysctls;
  for (const name of Object.keys(SYSCTLS) as SysctlName[]) {
    const text = readProcText(`sys/${name.replaceAll('.', '/')}`);
    values[name] = text === null ? null : text.trim().split(/\s+/).join(' ');
  }
  return values;
}

/** `32768 60999` → 28,232 usable ports (both ends inclusive). */
export function countPortRange(text: string | null): number | null {
  const match = text?.match(/^(\d+)\s+(\d+)$/);
  if (!match) return null;
  return Number(match[2]) - Number(match[1]) + 1;
}
