/**
 * The fixed vocabulary of `socketlab diagnose`: the layers a verdict can name, the signal
 * each layer is judged by and its threshold (with the reason for that number), the order in
 * which layers that gave way at the same step are named, the ramp's shape, and the lever and
 * lab for each layer. The string values appear in `--json` (`bottleneck.layer`,
 * `evidence[].signal`) and in docs/diagnose.md: they are a file format.
 */

/** The layers a verdict can name, and `none`. */
export const LAYER = {
  CPU: 'cpu',
  EVENT_LOOP: 'event-loop',
  ACCEPT_QUEUE: 'accept-queue',
  DESCRIPTORS: 'descriptors',
  DB_POOL: 'db-pool',
  DATABASE: 'database',
  PORTS: 'ports',
  LINK: 'link',
  MEMORY: 'memory',
  LOAD_GENERATOR: 'load-generator',
  NONE: 'none',
} as const;

export type Layer = (typeof LAYER)[keyof typeof LAYER];

/** Every layer but `none`. */
export type WatchedLayer = Exclude<Layer, typeof LAYER.NONE>;

/**
 * When several layers give way at the same step, the first of this list is named. A layer
 * whose failure *causes* the others' symptoms, or that the kernel counts as a hard failure,
 * comes before the limits inferred from CPU and waits:
 * - the load generator: if it was at its own limit, the load it claims to have applied was
 *   not applied, and nothing measured on the target can be trusted;
 * - memory: a machine that swaps slows every other layer at once;
 * - descriptors, ports and the accept queue: hard limits the kernel enforces, seen as
 *   failures (EMFILE, EADDRNOTAVAIL, dropped handshakes retried after 1 s and 3 s) whatever
 *   the CPU does; their failures then make the generator spin and the throughput flat;
 * - the database before its pool: a CPU-bound Postgres makes every pooled query slow, and
 *   the requests queue for the pool behind it;
 * - the pool before CPU: requests queued for a connection hold no CPU, and a loop that
 *   answers them late is waiting, not computing;
 * - CPU before the event loop: a loop delayed because its thread is a full core busy is
 *   the CPU's symptom (event-loop is named when the loop is delayed without that);
 * - the link last: behind a saturated link the server idles, so a tie is a coincidence.
 */
export const PRECEDENCE: readonly WatchedLayer[] = [
  LAYER.LOAD_GENERATOR,
  LAYER.MEMORY,
  LAYER.DESCRIPTORS,
  LAYER.PORTS,
  LAYER.ACCEPT_QUEUE,
  LAYER.DATABASE,
  LAYER.DB_POOL,
  LAYER.CPU,
  LAYER.EVENT_LOOP,
  LAYER.LINK,
];

/**
 * The stable names of the signals a piece of evidence (or a ruled-out line) is about. Each
 * names the counter or reading it comes from, so a test or a script can check that the
 * verdict rests on the right one.
 */
export const SIGNAL = {
  /** Throughput compared with the steps before (req/s). */
  THROUGHPUT: 'throughput',
  /** The target's busiest thread: share of the step it was on a CPU or waiting for one (schedstat). */
  TARGET_THREAD_RUNNABLE: 'target.busiest-thread.runnable',
  /** The target process over all its threads, in cores. */
  TARGET_CORES: 'target.cpu.cores',
  /** socketlab serve --model pool: mean wait of a task for a worker thread over the step (piscina, GET /stats). */
  TASK_WAIT: 'serve.pool.task-wait',
  /** The target's RSS. */
  TARGET_RSS: 'target.rss',
  /** The target's open descriptors against its own soft RLIMIT_NOFILE. */
  TARGET_FDS: 'target.fds',
  /** Requests whose connection was closed or reset before an answer (closed_early + reset). */
  CLOSED_UNANSWERED: 'failures.closed_early+reset',
  /** `socketlab serve`'s event-loop delay, mean over the step (GET /stats). */
  LOOP_DELAY: 'serve.event-loop.delay',
  /** The listening socket's accept queue against its backlog (/proc/net/tcp rx_queue, ss for the maximum). */
  ACCEPT_QUEUE: 'listener.accept-queue',
  LISTEN_OVERFLOWS: 'TcpExt.ListenOverflows',
  LISTEN_DROPS: 'TcpExt.ListenDrops',
  SYN_RETRANSMITS: 'TcpExt.TCPSynRetrans',
  /** Connect time (SYN to established) at p99: a dropped SYN is retried after 1 s, then 3 s. */
  CONNECT_P99: 'load.connect.p99',
  /** Pool wait against query time, means over the step (GET /stats). */
  POOL_WAIT: 'serve.db.pool-wait',
  /** Postgres processes (the postmaster named by --pid and its backends). */
  DATABASE_RUNNABLE: 'database.busiest-process.runnable',
  DATABASE_CORES: 'database.cpu.cores',
  /** Client-side sockets to the target's port (any state, TIME_WAIT included) against ip_local_port_range. */
  PORTS_IN_USE: 'client.ports-in-use',
  TIME_WAIT: 'client.TIME_WAIT',
  EADDRNOTAVAIL: 'failures.eaddrnotavail',
  /** Bytes per second on the interface the route to the target leaves by, against its shaped rate. */
  LINK_BYTES: 'link.bytes-per-second',
  /** Throughput against users ÷ round trip (a closed-model user makes at most one request per round trip). */
  LINK_LATENCY_BOUND: 'link.users-per-rtt',
  MEM_AVAILABLE: 'machine.MemAvailable',
  SWAP_IN: 'machine.pswpin',
  GENERATOR_THREAD_RUNNABLE: 'generator.busiest-thread.runnable',
  GENERATOR_CORES: 'generator.cpu.cores',
  GENERATOR_FDS: 'generator.fds',
  EMFILE: 'failures.emfile',
} as const;

export type SignalName = (typeof SIGNAL)[keyof typeof SIGNAL];

/**
 * Every threshold the verdict and the ramp use. docs/diagnose.md lists them with the same
 * reasons; change one here and change it there.
 */
export const THRESHOLD = {
  /**
   * Throughput is flat when a step makes at most 5% more than the best step before it (the
   * issue's "two steps within 5%"). Between two ramp steps the users grew 4x: a server with
   * capacity left grows far more than 5%; run-to-run noise on a shared machine is ~5%.
   */
  PLATEAU_GROWTH: 0.05,
  /**
   * A step fails when 1% of its requests fail: k6's customary `http_req_failed: rate<0.01`.
   * Below it, a few resets at a step's edges (connections closed as the step ends) are noise.
   */
  FAILURE_RATE: 0.01,
  /**
   * A thread is saturated when it was runnable, on a CPU or queued for one
   * (/proc/PID/task/TID/schedstat: run time + run-queue wait), for 90% of the step. A thread
   * that always has work never sleeps in epoll_wait; counting the wait for a CPU as well as
   * the run time keeps the signal true on a machine shared with other busy processes, where
   * a saturated thread may get only half a core. 90, not 100: the moments between requests.
   */
  THREAD_RUNNABLE: 0.9,
  /**
   * ... and it ran at least half a core itself. Every wakeup of a thread waits in the run
   * queue on a crowded machine, so a thread doing little but woken often can look runnable
   * most of the time (measured on the 2-core development machine beside four compilers: the
   * generator's main thread at one user, runnable 65.8% of a step, on a CPU 7.3%). Under
   * half a core, the machine is crowded; the thread is not what limits. Asked of the layers
   * named before the others (the generator, the database); the target's CPU asks for
   * throughput flat instead (signals.ts, Proof).
   */
  THREAD_RUN_MIN: 0.5,
  /** A multi-threaded process is CPU-bound when it uses 90% of every core of the machine. */
  CORES_SHARE: 0.9,
  /**
   * The event loop is in the way when timers and I/O callbacks wait 10 ms on average beyond
   * their due time (socketlab serve's loop monitor, resolution 20 ms) and that delay at least
   * doubled since the first step: every request then waits for the loop, and more users make
   * it wait longer (libuv runs every ready socket's callback before it looks at timers again).
   */
  LOOP_DELAY_MS: 10,
  LOOP_DELAY_GROWTH: 2,
  /**
   * Descriptors are exhausted at 95% of the soft RLIMIT_NOFILE: the sampler reads the count
   * every 100 ms, so the peak it sees is a little under the true one; at the limit accept()
   * fails with EMFILE and libuv accepts and closes pending connections to shed them.
   */
  FD_SHARE: 0.95,
  /**
   * The accept queue is full when it holds its backlog (the kernel drops a SYN or the final
   * ACK once sk_ack_backlog > sk_max_ack_backlog). The kernel's ListenOverflows counter is
   * namespace-wide, so it counts only with this listener's queue seen at half its backlog,
   * or with this run's own connects taking a second (their SYNs were dropped and resent).
   */
  ACCEPT_QUEUE_SHARE: 1,
  ACCEPT_QUEUE_SHARE_WITH_OVERFLOWS: 0.5,
  /**
   * The pool is the limit when a request waits at least twice as long for a connection as
   * its query takes, and at least 1 ms: the queue in front of the pool is then longer than
   * two rounds of the pool, and the database behind it is not what is slow.
   */
  POOL_WAIT_RATIO: 2,
  POOL_WAIT_MIN_MS: 1,
  /**
   * Ports run out when the client holds 90% of ip_local_port_range towards the target (in
   * any state, TIME_WAIT's 60 s included), or as soon as connect() fails with EADDRNOTAVAIL.
   */
  PORTS_SHARE: 0.9,
  /**
   * A link is full at 80% of its shaped rate: tbf lets a burst through, then holds to the
   * rate, and the interface counters include the step's first moments before the queue builds.
   */
  LINK_RATE_SHARE: 0.8,
  /** Throughput at 80% of users ÷ round trip: each user spends most of its time on the wire. */
  LATENCY_BOUND_SHARE: 0.8,
  /**
   * Memory is short when MemAvailable falls to 5% of MemTotal (the kernel is reclaiming page
   * cache and about to swap or OOM-kill), or the machine swaps in at 1 MiB/s or more.
   */
  MEM_AVAILABLE_SHARE: 0.05,
  SWAP_IN_BYTES_PER_SEC: 1024 * 1024,
  /**
   * The generator is out of descriptors at 90% of its soft RLIMIT_NOFILE (each VU holds one
   * socket; the rest is Node's own), and at the first EMFILE it sees.
   */
  GENERATOR_FD_SHARE: 0.9,
} as const;

/** The ramp: users multiply by RAMP.FACTOR from 1 until --max-vus (1, 4, 16, 64, 256, 1,024, 4,096). */
export const RAMP = {
  FACTOR: 4,
  /** Points in the finer sweep between the last growing step and the step that stopped the ramp. */
  CONFIRM_POINTS: 3,
  /**
   * How often a plateau that the finer sweep beats lets the ramp go on: a busy moment on a
   * shared machine makes one step dip, and the sweep's fewer users then make more. Bounded,
   * so that a noisy machine cannot keep a ramp going.
   */
  RESUMES: 2,
  /** Confirm steps last half a ramp step, at least this long: a shorter step ends before the slowest requests of a loaded server do. */
  CONFIRM_MIN_MS: 1000,
} as const;

export const DIAGNOSE_DEFAULTS = {
  MAX_VUS: 4096,
  STEP_DURATION_MS: 5000,
  /** A response later than this counts as response_timeout; short enough that a stuck server ends a step. */
  TIMEOUT_MS: 10_000,
  CONNECT_TIMEOUT_MS: 10_000,
  /** In-flight requests may finish this long after a step; what is still pending counts as interrupted. */
  GRACEFUL_STOP_MS: 1000,
  /** How long a GET /stats may take before a step goes without the server's own numbers. */
  STATS_TIMEOUT_MS: 2000,
  /**
   * Sampler: 10 samples a second; the readings that grow with sockets (the accept queue, the
   * TCP census) on a budget of 10% of a core, in its own thread. At 1% (the sampler's
   * default) a listener read of a few ms comes once every few hundred ms, and a queue that is
   * full for a fraction of a 1 s step is missed.
   */
  SAMPLE_INTERVAL_MS: 100,
  SAMPLE_BUDGET: 0.1,
} as const;

export const DIAGNOSE_LIMITS = {
  MAX_VUS: 100_000,
  STEP_MIN_MS: 500,
  STEP_MAX_MS: 10 * 60_000,
  PIDS: 16,
} as const;

/** Why the ramp stopped. */
export const STOP = {
  PLATEAU: 'plateau',
  RULE: 'rule',
  FAILURES: 'failures',
  GENERATOR: 'load-generator',
  MAX_VUS: 'max-vus',
  TARGET_EXITED: 'target-exited',
  INTERRUPTED: 'interrupted',
} as const;

export type StopReason = (typeof STOP)[keyof typeof STOP];

/** What moves each layer, and the lab that shows it. */
export const LEVERS: Readonly<Record<Layer, { lever: string; lab: string | null }>> = {
  cpu: { lever: 'give the work more cores: a cluster or a worker pool, or make each request cheaper', lab: 'all-cores' },
  'event-loop': { lever: 'take the blocking or CPU-heavy work off the event loop (a worker pool), or run one loop per core', lab: 'concurrency-models' },
  'accept-queue': { lever: 'accept faster and raise the backlog (listen backlog and net.core.somaxconn)', lab: 'backlog-overflow' },
  descriptors: { lever: "raise the server's open-files limit (ulimit -n, LimitNOFILE=) and bound the connections it keeps", lab: 'fd-exhaustion' },
  'db-pool': { lever: 'size the pool for the load (more connections, up to what the database can run at once), or bound the wait with a pool timeout', lab: 'db-pool' },
  database: { lever: 'make the queries cheaper (indexes, fewer round trips) or give the database more CPU; a bigger pool only queues more', lab: 'db-pool' },
  ports: { lever: 'keep connections alive, or add source addresses, or let the server close first (TIME_WAIT on its side)', lab: 'ports-and-keepalive' },
  link: { lever: 'run the load next to the server, or give the link more bandwidth or a shorter round trip', lab: 'slow-link' },
  memory: { lever: 'bound what each connection holds, or give the machine more memory', lab: 'all-cores' },
  'load-generator': {
    lever: 'run the load from elsewhere (another machine, more generator threads with --workers, a higher ulimit -n): the generator measured itself',
    lab: 'knee',
  },
  none: { lever: 'raise --max-vus to look further: nothing gave way within the users tried', lab: null },
};

/** The schema tag of `--json`; bump when the shape changes. */
export const DIAGNOSE_SCHEMA = 'socketlab.diagnose/1' as const;
