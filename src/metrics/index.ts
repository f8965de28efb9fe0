/**
 * src/metrics: the instruments every lab claim rests on. This is the surface other parts
 * import; the files behind it hold the kernel detail.
 */
export { startSampler, type Sampler, type SamplerOptions } from './sampler.js';
export { startMonitorPanel, MONITOR_DEFAULTS, type MonitorPanel, type MonitorPanelOptions } from './monitor.js';
export { takeSnapshot, diffSnapshots, type Snapshot, type SnapshotOptions, type SnapshotDiff, type ProcessDelta } from './snapshot.js';
export { startLoopMonitor, LOOP_MONITOR_DEFAULTS, type LoopMonitor, type LoopStats } from './loop-monitor.js';
export { createPanelRenderer, redrawFrame, type PanelRenderer } from './panel.js';
export {
  readKernelCounters,
  diffCounters,
  parseProtoCounters,
  KEY_COUNTERS,
  GAUGE_COUNTERS,
  shortCounterName,
  type CounterValues,
  type KeyCounterName,
} from './kernel-counters.js';
export {
  readTcpSockets,
  readTcpCensus,
  censusTcpText,
  readListenQueues,
  parseTcpTable,
  parseTcpLine,
  censusTcpStates,
  censusPort,
  findListeners,
  createCapacityLookup,
  decodeProcAddress,
  TCP_STATES,
  TCP_STATE_NAMES,
  type TcpSocket,
  type TcpStateName,
  type TcpStateCounts,
  type ListenQueue,
  type PortCensus,
  type TcpCensus,
} from './tcp-sockets.js';
export { readSysctls, countPortRange, SYSCTLS, type Sysctls, type SysctlName } from './sysctls.js';
export {
  readProcessSample,
  readThreads,
  readContextSwitches,
  readFdSummary,
  readFdTargets,
  countFds,
  readLimits,
  findChildPids,
  parseProcStat,
  parseProcStatus,
  parseProcLimits,
  classifyFdTarget,
  summarizeFdTargets,
  type ThreadSample,
  type FdSummary,
} from './process-stats.js';
export { parseTarget, parseInspectTarget, parseMonitorTargets, type Target } from './targets.js';
export { isUnavailable, procfsUnavailableReason, PROCFS, type Unavailable } from './procfs.js';
export type { Sample, Series, ProcessSample, PortSample, FdKinds, FdLimit, ContextSwitches, SamplerOverhead } from './types.js';
