/**
 * What each route answers. The same functions run on the event loop (model loop), inside a
 * piscina worker (model pool) and inside a connection's own thread (model thread), so all
 * three models give byte-identical responses. Only /uuid differs in how it waits: a promise
 * on the loop and in the pool, a blocking call in a thread of its own.
 */
import { LAB_ERR, isLabError } from '../errors.js';
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import type { RouteCall } from './routes.js';
import { currentUtcDate, todayUtc, wholeYearsBetween } from './calendar.js';

/** What /uuid needs from the database layer (src/db implements it). */
export interface UuidStore {
  /** The uuid stored for `id`, or null when there is no such row. Throws LabError on failure. */
  lookup(id: number): Promise<string | null>;
}

/** The blocking form, for a thread that owns its connection and its database session. */
export interface UuidStoreSync {
  lookupSync(id: number): string | null;
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

export function respondHealthz(): HttpResponse {
  return { status: 200, contentType: TEXT_TYPE, body: 'ok' };
}

export function respondJson(status: number, value: unknown): HttpResponse {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

/** `nowMs` is for tests; without it the age is counted to currentUtcDate() (no clock read). */
export function respondAge(call: Extract<RouteCall, { route: 'age' }>, nowMs?: number): HttpResponse {
  // Both dates read as UTC calendar dates.
  const age = wholeYearsBetween(call, nowMs === undefined ? currentUtcDate() : todayUtc(nowMs));
  // birthdate was validated as YYYY-MM-DD, so it needs no JSON escaping.
  return { status: 200, contentType: JSON_TYPE, body: `{"birthdate":"${call.birthdate}","age":${age}}` };
}

/**
 * CPU-bound work of about `ms` milliseconds: integer arithmetic until the clock says so.
 * Reading the clock every 1024 rounds keeps its cost out of the measurement while staying
 * within ~10 µs of the target.
 */
export function burnCpu(ms: number): number {
  const until = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let x = 0x9e3779b9;
  let rounds = 0;
  do {
    for (let i = 0; i < 1024; i++) x = Math.imul(x ^ (x >>> 15), 0x85ebca6b) + i;
    rounds += 1024;
  } while (process.hrtime.bigint() < until);
  return (x >>> 0) + rounds;
}

export function respondWork(call: Extract<RouteCall, { route: 'work' }>): HttpResponse {
  const started = process.hrtime.bigint();
  const rounds = burnCpu(call.ms);
  const tookMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { status: 200, contentType: JSON_TYPE, body: `{"ms":${call.ms},"tookMs":${tookMs.toFixed(3)},"rounds":${rounds}}` };
}

function uuidResponse(id: number, uuid: string | null): HttpResponse {
  if (uuid === null) return errorResponse(404, 'LAB_ERR_APP_NOT_FOUND', `no row with id ${id}`);
  return { status: 200, contentType: JSON_TYPE, body: `{"id":${id},"uuid":"${uuid}"}` };
}

const NO_DATABASE = errorResponse(503, LAB_ERR.DB_QUERY, 'no database: start the server with --db embedded or --db URL');

/**
 * What a client hears when the database fails: a fixed reason, never the error's text. A
 * driver's message can name the server, the user, or the URL with its credentials (issue
 * 14: the database URL was in 503 bodies); the detail goes to the server's log instead.
 * A pool timeout is load, not a fault: it says when to come back (RFC 9110 §10.2.3).
 */
const DATABASE_UNAVAILABLE = errorResponse(503, LAB_ERR.DB_QUERY, 'database unavailable');
const POOL_BUSY = errorResponse(503, LAB_ERR.POOL_TIMEOUT, 'no database connection was free in time: try again', ['Retry-After', '1']);

/** Distinct causes logged, then silence: a database that is down fails every request. */
const MAX_LOGGED_CAUSES = 32;
const loggedCauses = new Set<string>();
let logLine = (line: string): void => void process.stderr.write(`socketlab serve: ${line}\n`);

/** Where database failures are logged (stderr by default; each thread logs its own). */
export function setDatabaseErrorLog(log: (line: string) => void): void {
  logLine = log;
}

/** Userinfo in any URL and password=... parameters, masked: a log is read by more people than the operator. */
export function scrubSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@').replace(/(password|passwd|pwd|secret|token)=[^&\s'"]*/gi, '$1=***');
}

/** Log a database failure once per distinct cause (its code and first line), not once per request. */
export function logDatabaseError(error: unknown): void {
  if (loggedCauses.size > MAX_LOGGED_CAUSES) return;
  const code = isLabError(error) ? error.code : error instanceof Error ? error.name : 'error';
  const message = scrubSecrets(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
  const cause = `${code}: ${message}`;
  if (loggedCauses.has(cause)) return;
  loggedCauses.add(cause);
  if (loggedCauses.size > MAX_LOGGED_CAUSES) logLine(`database error (${MAX_LOGGED_CAUSES} distinct causes logged; further ones are not)`);
  else logLine(`database error, answered 503 (logged once per cause): ${cause}`);
}

/** A database failure is the database's problem, not a crash: a generic 503, the detail in the log. */
export function respondDatabaseError(error: unknown): HttpResponse {
  logDatabaseError(error);
  return isLabError(error) && error.code === LAB_ERR.POOL_TIMEOUT ? POOL_BUSY : DATABASE_UNAVAILABLE;
}

export async function respondUuid(call: Extract<RouteCall, { route: 'uuid' }>, store: UuidStore | null): Promise<HttpResponse> {
  if (store === null) return NO_DATABASE;
  try {
    return uuidResponse(call.id, await store.lookup(call.id));
  } catch (error) {
    return respondDatabaseError(error);
  }
}

export function respondUuidSync(call: Extract<RouteCall, { route: 'uuid' }>, store: UuidStoreSync | null): HttpResponse {
  if (store === null) return NO_DATABASE;
  try {
    return uuidResponse(call.id, store.lookupSync(call.id));
  } catch (error) {
    return respondDatabaseError(error);
  }
}
