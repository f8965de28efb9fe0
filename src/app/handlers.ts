/**
 * What each route answers. The same functions run on the event loop (model loop), inside a
 * piscina worker (model pool) and inside a connection's own thread (model thread), so all
 * three models give byte-identical responses. Only /uuid differs in how it waits: a promise
 * on the loop and in the pool, a blocking call in a thread of its own.
 */
import { LAB_ERR, isLabError } from '../errors.js';
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import { ROUTE, type RouteCall } from './routes.js';
import { todayUtc, wholeYearsBetween } from './calendar.js';

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

export function respondAge(call: Extract<RouteCall, { route: 'age' }>, nowMs: number = Date.now()): HttpResponse {
  // Both dates read as UTC calendar dates.
  const age = wholeYearsBetween(call, todayUtc(nowMs));
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
 * A database failure is the database's problem, not a crash: 503 with a short reason.
 * A pool timeout also says when to come back (RFC 9110 §10.2.3 Retry-After).
 */
export function respondDatabaseError(error: unknown): HttpResponse {
  if (isLabError(error) && error.code === LAB_ERR.POOL_TIMEOUT) {
    return errorResponse(503, error.code, error.message, ['Retry-After', '1']);
  }
  const reason = error instanceof Error ? error.message.split('\n')[0] ?? 'database error' : 'database error';
  return errorResponse(503, LAB_ERR.DB_QUERY, `database unavailable: ${reason}`);
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

/**
 * The compute routes, the same wherever they run. /stats and /uuid are answered by the
 * model (stats live on the main thread; uuid needs a store), so they are not here.
 */
export function respondCompute(call: RouteCall, nowMs: number = Date.now()): HttpResponse | null {
  switch (call.route) {
    case ROUTE.HEALTHZ:
      return respondHealthz();
    case ROUTE.AGE:
      return respondAge(call, nowMs);
    case ROUTE.WORK:
      return respondWork(call);
    default:
      return null;
  }
}
