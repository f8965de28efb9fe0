/**
 * The machine as a whole: how busy its CPUs were, how much memory is left, whether it swaps,
 * and what an interface has carried. Every reader answers null where the file is missing
 * (not Linux, a container without /proc or /sys), and the caller says what it could not see.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat counts in 1/100 s whatever the kernel's own tick. */
const TICK_MS = 10;

/** Busy time of all CPUs since boot in ms: user, nice, system, irq, softirq, steal (idle and iowait are not busy). */
export function readMachineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] as string;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_MS;
  } catch {
    return null;
  }
}

/** MemTotal and MemAvailable from /proc/meminfo, in bytes. */
export function readMemInfo(): { totalBytes: number; availableBytes: number } | null {
  try {
    return parseMemInfo(readFileSync('/proc/meminfo', 'latin1'));
  } catch {
    return null;
  }
}

export function parseMemInfo(text: string): { totalBytes: number; availableBytes: number } | null {
  const field = (name: string): number | null => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? null : Number(match[1]) * 1024;
  };
  const totalBytes = field('MemTotal');
  const availableBytes = field('MemAvailable');
  return totalBytes === null || availableBytes === null ? null : { totalBytes, availableBytes };
}

/** Pages swapped in since boot (/proc/vmstat pswpin). */
export function readSwapInPages(): number | null {
  try {
    const match = /^pswpin (\d+)$/m.exec(readFileSync('/proc/vmstat', 'latin1'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/** The kernel's own byte and packet counts for one interface (L2 frames, as tbf meters them). */
export interface InterfaceCounters {
  txBytes: number;
  rxBytes: number;
  txPackets: number;
  rxPackets: number;
}

/** /sys/class/net/DEVICE/statistics; null when there is no such interface. */
export function readInterfaceCounters(device: string): InterfaceCounters | null {
  try {
    const read = (name: string): number => Number(readFileSync(`/sys/class/net/${device}/statistics/${name}`, 'latin1').trim());
    return { txBytes: read('tx_bytes'), rxBytes: read('rx_bytes'), txPackets: read('tx_packets'), rxPackets: read('rx_packets') };
  } catch {
    return null;
  }
}
