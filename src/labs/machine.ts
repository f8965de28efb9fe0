/**
 * The machine a lab ran on, recorded with every result: numbers mean little without the
 * cores, memory, kernel and the sysctls that set the limits being measured.
 */
import os from 'node:os';
import { readSysctls, isUnavailable } from '../metrics/index.js';
import { fdLimitFrom, readLimits } from '../metrics/process-stats.js';
import type { MachineInfo } from './types.js';

export function describeMachine(): MachineInfo {
  const sysctls = readSysctls();
  const limits = readLimits(process.pid);
  const fd = limits === null ? null : fdLimitFrom(limits);
  const asNumber = (value: number | 'unlimited' | undefined): number | null => (typeof value === 'number' ? value : null);
  return {
    hostname: os.hostname(),
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    sysctls: isUnavailable(sysctls) ? {} : { ...sysctls },
    openFilesLimit: { soft: asNumber(fd?.soft), hard: asNumber(fd?.hard) },
    root: typeof process.getuid === 'function' && process.getuid() === 0,
  };
}
