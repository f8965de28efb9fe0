/**
 * The shapes of what the sampler records, and every message that crosses between the
 * sampler's worker thread and the thread that started it, in one file (after piscina's
 * types.ts): all of it is plain data, so it survives structured clone and JSON unchanged.
 */
import type { CounterValues } from './kernel-counters.js';
import type { Sysctls } from './sysctls.js';
import type { ListenQueue, PortCensus, TcpStateCounts } from './tcp-sockets.js';
import type { Unavailable } from './procfs.js';

/** A limit as /proc/PID/limits states it. */
export type LimitValue = number | 'unlimited';

export interface FdLimit {
  soft: LimitValue;
  hard: LimitValue;
}

/** Open file descriptors by what they point at (readlink of /proc/PID/fd/N). */
export interface FdKinds {
  /** `socket:[inode]`: TCP, UDP, Unix, netlink. */
  socket: number;
  /** `pipe:[inode]`: pipes and FIFOs (child stdio, libuv's async wakeups on some builds). */
  pipe: number;
  /** `anon_inode:[...]`: epoll, eventfd, timerfd, signalfd, io_uring: the event loop's own machinery. */
  anon: number;
  /** A path: regular files, /dev/null, ttys, memfd. */
  file: number;
  /** Anything else (`net:[...]`, `mnt:[...]` namespace handles). */
  other: number;
}

export interface ContextSwitches {
  /** The thread gave up the CPU itself: blocked on I/O, a lock, a sleep, epoll_wait. */
  voluntary: number;
  /** The scheduler took the CPU away: its time slice ran out while others were runnable. */
  involuntary: number;
  /**
   * What was summed. The kernel keeps these per thread and /proc/PID/status shows only the
   * main thread's; 'all-threads' sums /proc/PID/task/(every thread)/status. Threads that have
   * exited are in neither, so the sum can fall when a thread ends.
   */
  scope: 'all-threads' | 'main-thread';
}

/** One process at one moment. Null means "not read this time" or "not readable here". */
export interface ProcessSample {
  pid: number;
  /** The kernel's short name (comm, at most 15 characters): `node`, `postgres`. */
  name: string | null;
  /** False once the process has exited (its remaining fields are null). */
  alive: boolean;
  /** Share of one core over the interval since the previous reading of this PID by the same sampler: 250 means 2.5 cores. */
  cpuPercent: number | null;
  /** User + system CPU time since the process started, all threads, in ms (10 ms resolution). */
  cpuTimeMs: number | null;
  rssBytes: number | null;
  threads: number | null;
  /** Open file descriptors now. */
  fds: number | null;
  /** FD kinds: costly at many FDs, so read on a slower cadence or on demand (null when not read this time). */
  fdKinds: FdKinds | null;
  /** Cumulative since each thread started; read on the sampler's CPU budget (one read per thread), null when not read this time. */
  ctxSwitches: ContextSwitches | null;
  /** RLIMIT_NOFILE: the ceiling for `fds`; accept() fails with EMFILE at the soft limit. */
  fdLimit: FdLimit | null;
}

/** One listening port's accept queues and its connections by state. */
export interface PortSample {
  port: number;
  /** One per listening socket on the port (an IPv4 and an IPv6 one, or several with SO_REUSEPORT). */
  listeners: ListenQueue[];
  /** From the last census; null when no census was taken in this sample. */
  census: PortCensus | null;
}

export interface Sample {
  /** Milliseconds since the sampler started. */
  t: number;
  /** Wall-clock time (ms since the epoch). */
  at: number;
  processes: ProcessSample[];
  /** Accept queues per port; null when the socket table was not read in this sample (budget). */
  ports: PortSample[] | null;
  /** All TCP sockets in the namespace by state; null when no census was taken in this sample. */
  tcp: TcpStateCounts | null;
  /** Key kernel counters, change since the previous sample (zero included); null when unavailable. */
  counters: CounterValues | null;
  /** How long taking this sample took, in µs (the sampler's own cost). */
  costUs: number;
}

export interface SamplerOverhead {
  mode: 'worker-thread' | 'in-process';
  ticks: number;
  /** Wall time of the run, ms. */
  wallMs: number;
  /** Sum of the time spent inside ticks, ms. */
  busyMs: number;
  /** CPU time of the sampler's thread over the run (worker mode, from /proc/thread-self/schedstat), ms. */
  threadCpuMs: number | null;
  /** threadCpuMs (or busyMs in-process) over wallMs, as a % of one core. Target: under 2 at 10 samples/s. */
  percentOfOneCore: number;
  /** Setting up the worker thread (isolate, module load): paid once, outside the percentage. */
  startupMs: number | null;
}

/** What `stop()` returns and what `--json` output carries under `monitor`. */
export interface Series {
  version: 1;
  /** `linux 6.8.0` */
  platform: string;
  cpus: number;
  startedAt: string;
  intervalMs: number;
  /** Every PID sampled at some point (a function or childrenOf can add PIDs as they appear). */
  pids: number[];
  ports: number[];
  sysctls: Sysctls | Unavailable;
  /** What could not be read here, each once, in words. */
  unavailable: string[];
  samples: Sample[];
  /** Samples dropped from the front when the run exceeded maxSamples. */
  droppedSamples: number;
  /** Every non-zero kernel counter change from the first sample to the last. */
  counterTotals: CounterValues;
  overhead: SamplerOverhead;
}

/** The sampler's settings in a form that can cross into a worker thread (no functions). */
export interface SamplerConfig {
  pids: number[];
  /** Also sample the children of these PIDs, rediscovered every sample (a postmaster's backends). */
  childrenOf: number[];
  ports: number[];
  intervalMs: number;
  fdKinds: boolean;
  tcpCensus: boolean;
  /** Fraction of one core the readings that grow with the load (threads, sockets, FDs) may use. */
  budget: number;
  maxSamples: number;
}

/** Live panel settings, when the worker draws the panel itself. */
export interface PanelConfig {
  /** File descriptor of the TTY to draw on (the worker writes to it directly). */
  fd: number;
  columns: number;
}

export interface WorkerData {
  config: SamplerConfig;
  /** Post each sample back to the parent thread (needed for samples()/latest()). */
  postSamples: boolean;
  panel: PanelConfig | null;
}

/** Parent → worker. */
export type ToWorker = { type: 'stop' };

/** Worker → parent. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'sample'; sample: Sample }
  /** Sent with samples when the list of unreadable things grows. */
  | { type: 'unavailable'; reasons: string[] }
  | { type: 'series'; series: Series }
  | { type: 'error'; message: string };
