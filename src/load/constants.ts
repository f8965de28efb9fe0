/**
 * The fixed vocabulary of the load generator: its three models, the failure kinds it tells
 * apart, and the defaults a run gets when a flag is left out. The string values appear in
 * `--json` output and in labs' assertions, so they are stable names: change one and you
 * change the file format (docs/load.md).
 */

/** How virtual users are driven. */
export const LOAD_MODEL = {
  /**
   * Closed model (k6 `constant-vus` / `ramping-vus`, autocannon, wrk): a fixed number of
   * virtual users, each sends a request, waits for the answer, maybe thinks, repeats. A slow
   * server slows the client down with it, which hides stalls (coordinated omission).
   */
  CLOSED: 'closed',
  /**
   * Open model (wrk2, k6 `constant-arrival-rate`): requests start on a fixed schedule
   * whatever the server does; latency counts from the intended start.
   */
  OPEN: 'open',
  /** Open N connections and hold them idle (the C10K/C100K labs): connect cost and survival only. */
  HOLD: 'hold',
} as const;

export type LoadModel = (typeof LOAD_MODEL)[keyof typeof LOAD_MODEL];

/**
 * Every way a request (or, in the hold model, a connection) can fail, each counted on its
 * own: a generic client folds most of these into "error", which is exactly what the labs
 * need to pull apart.
 */
export const FAILURE = {
  /** ECONNREFUSED: nothing listens on the port (or the accept queue overflowed with tcp_abort_on_overflow=1). */
  REFUSED: 'refused',
  /** ECONNRESET / EPIPE: the peer sent RST (it crashed, refused the connection late, or reset on purpose). */
  RESET: 'reset',
  /** No SYN-ACK within --connect-timeout (a full accept queue drops SYNs), or the kernel's own ETIMEDOUT. */
  CONNECT_TIMEOUT: 'connect_timeout',
  /** Connected, request sent, no complete response within --timeout. */
  RESPONSE_TIMEOUT: 'response_timeout',
  /** EADDRNOTAVAIL: no free local (address, port) pair; ephemeral ports exhausted or a --local-address not on this host. */
  EADDRNOTAVAIL: 'eaddrnotavail',
  /** EMFILE / ENFILE: the process (or system) ran out of file descriptors for a new socket. */
  EMFILE: 'emfile',
  /** The peer closed the connection before a complete response (in the hold model: closed a held connection). */
  CLOSED_EARLY: 'closed_early',
  /** The response bytes are not valid HTTP/1.x (the response parser's verdict). */
  MALFORMED: 'malformed',
  /** A complete response with status >= 400; `statuses` has the breakdown by code. */
  HTTP_STATUS: 'http_status',
  /** Any other errno (EHOSTUNREACH, ENETUNREACH...); `otherErrors` names them. */
  OTHER: 'other',
} as const;

export type FailureKind = (typeof FAILURE)[keyof typeof FAILURE];

/** The kinds in a fixed order, for tables and for counters kept as arrays. */
export const FAILURE_KINDS: readonly FailureKind[] = Object.values(FAILURE);

/** Who closes a connection when keep-alive is off; decides which side holds TIME_WAIT. */
export const CLOSE_BY = {
  /** The client closes right after the response: TIME_WAIT (and its port) stays on the client side. */
  CLIENT: 'client',
  /** The client sends `Connection: close` and waits for the server's FIN: TIME_WAIT lands on the server. */
  SERVER: 'server',
} as const;

export type CloseBy = (typeof CLOSE_BY)[keyof typeof CLOSE_BY];

export const LOAD_DEFAULTS = {
  VUS: 10,
  DURATION_MS: 10_000,
  CONNECT_TIMEOUT_MS: 10_000,
  /** k6 uses 60 s; 30 s is long enough for a lab and keeps a hung run from looking like a frozen terminal. */
  TIMEOUT_MS: 30_000,
  /** How long in-flight requests may finish after the run ends (k6's gracefulStop, shorter). */
  GRACEFUL_STOP_MS: 5_000,
  /**
   * Open model without --max-vus: enough connections to sustain the rate at 100 ms per
   * request (Little's law: concurrency = rate × latency), within [10, 1000].
   */
  MAX_VUS_LATENCY_S: 0.1,
  MAX_VUS_MIN: 10,
  MAX_VUS_MAX: 1000,
  /** Hold model: connects in flight at once, so a burst of SYNs does not itself overflow the server's backlog. */
  CONNECT_CONCURRENCY: 256,
  METHOD: 'GET',
  WORKERS: 1,
} as const;

/**
 * Path templates expand to at most this many distinct requests before the generator stops
 * pre-building them and formats each request instead: 4096 × ~100 bytes is 400 KiB, and
 * picking a pre-built buffer costs one Math.random().
 */
export const PREBUILT_REQUESTS_MAX = 4096;

/** Upper bounds on what a flag may ask for, so that a typo cannot ask for 10^12 sockets. */
export const LOAD_LIMITS = {
  VUS: 1_000_000,
  CONNECTIONS: 1_000_000,
  RATE: 10_000_000,
  WORKERS: 64,
  DURATION_MS: 24 * 3_600_000,
} as const;

/** The schema tag of `--json` output and of LoadResult; bump when the shape changes. */
export const LOAD_RESULT_SCHEMA = 'socketlab.load/1' as const;
