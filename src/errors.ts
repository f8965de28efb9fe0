/**
 * One error type for the whole project, each failure with a stable code.
 *
 * Parser failures are not thrown: the parser returns a code from http/constants.ts
 * (`HPE_*`, after llhttp's names) and the server turns it into a response. Everything
 * else that a person can cause (a bad flag, a port in use, a missing PostgreSQL binary)
 * is a LabError with a `LAB_ERR_<AREA>_<WHAT>` code and a message that says what
 * happened and what to do. The CLI prints `message` alone for these: an expected
 * failure never shows a stack trace.
 */

export const LAB_ERR = {
  /** A command-line flag or argument is missing or malformed. Exit 2. */
  USAGE: 'LAB_ERR_CLI_USAGE',
  /** The port asked for is taken by another process. */
  PORT_IN_USE: 'LAB_ERR_SERVER_PORT_IN_USE',
  /** The server could not listen for another reason (permission, bad address). */
  LISTEN: 'LAB_ERR_SERVER_LISTEN',
  /** A URL given to the load generator is not one it can drive. */
  BAD_URL: 'LAB_ERR_LOAD_BAD_URL',
  /** A threshold expression could not be parsed. */
  BAD_THRESHOLD: 'LAB_ERR_LOAD_BAD_THRESHOLD',
  /** PostgreSQL server binaries were not found. */
  PG_MISSING: 'LAB_ERR_DB_PG_MISSING',
  /** The throwaway cluster failed to start, initialise or stop. */
  PG_CLUSTER: 'LAB_ERR_DB_CLUSTER',
  /** A pooled connection was not available within the pool timeout. */
  POOL_TIMEOUT: 'LAB_ERR_DB_POOL_TIMEOUT',
  /** A query failed or the database went away. */
  DB_QUERY: 'LAB_ERR_DB_QUERY',
  /** A capability the step needs is missing here (root, /proc, a kernel feature, a tool). */
  UNSUPPORTED: 'LAB_ERR_ENV_UNSUPPORTED',
  /** A lab name that does not exist. */
  UNKNOWN_LAB: 'LAB_ERR_LAB_UNKNOWN',
  /** A process a lab started (a load generator, a relay) failed or gave no result. */
  LAB_CHILD: 'LAB_ERR_LAB_CHILD',
  /** A process or port to inspect does not exist. */
  NOT_FOUND: 'LAB_ERR_METRICS_NOT_FOUND',
  /** socketlab docs: a committed output the docs are built from is missing or lacks a figure. */
  DOCS_FIGURES: 'LAB_ERR_DOCS_FIGURES',
  /** diagnose: nothing answered at the target URL (refused, reset or timed out from the first step). */
  TARGET_SILENT: 'LAB_ERR_DIAGNOSE_TARGET_SILENT',
} as const;

export type LabErrorCode = (typeof LAB_ERR)[keyof typeof LAB_ERR];

/** Process exit codes the CLI uses. 99 follows k6 for a failed threshold. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  THRESHOLD_FAILED: 99,
} as const;

/** Failures the person running the command can fix by changing what they typed: exit 2. */
const INPUT_ERRORS: ReadonlySet<LabErrorCode> = new Set([LAB_ERR.USAGE, LAB_ERR.PORT_IN_USE, LAB_ERR.LISTEN, LAB_ERR.BAD_URL, LAB_ERR.BAD_THRESHOLD, LAB_ERR.UNKNOWN_LAB]);

export class LabError extends Error {
  readonly code: LabErrorCode;
  /** The exit status the CLI uses when this error ends a command. */
  readonly exitCode: number;

  constructor(code: LabErrorCode, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LabError';
    this.code = code;
    this.exitCode = options.exitCode ?? (INPUT_ERRORS.has(code) ? EXIT.USAGE : EXIT.FAILURE);
  }
}

/** Shorthand for the most common case: a bad flag, reported in one line with exit 2. */
export function usageError(message: string): LabError {
  return new LabError(LAB_ERR.USAGE, message, { exitCode: EXIT.USAGE });
}

export function isLabError(error: unknown): error is LabError {
  return error instanceof LabError;
}

/** The errno-style code of a Node system error (`EADDRINUSE`, `ECONNRESET`), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
