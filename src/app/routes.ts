/**
 * The routes every concurrency model serves, matched and validated here once, on the
 * thread that parsed the request: bad input is answered (400/404/405) without ever
 * crossing to a worker, and a handler receives a small plain object (a RouteCall) that
 * can be posted to a thread as it is.
 */
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import { compareDates, currentUtcDate, parseIsoDate, todayUtc, type CalendarDate } from './calendar.js';

export const ROUTE = {
  HEALTHZ: 'healthz',
  STATS: 'stats',
  AGE: 'age',
  UUID: 'uuid',
  WORK: 'work',
} as const;

export type RouteCall =
  | { route: typeof ROUTE.HEALTHZ }
  | { route: typeof ROUTE.STATS }
  | { route: typeof ROUTE.AGE; birthdate: string; year: number; month: number; day: number }
  | { route: typeof ROUTE.UUID; id: number }
  | { route: typeof ROUTE.WORK; ms: number };

/** /work burns at most this long: a peer must not be able to pin a core for minutes. */
export const MAX_WORK_MS = 1000;

/** Methods each path answers; HEAD is allowed wherever GET is (RFC 9110 §9.3.2). */
const ALLOW_GET = 'GET, HEAD';

export function matchRoute(method: string, target: string, nowMs?: number): RouteCall | HttpResponse {
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? '' : target.slice(queryAt + 1);
  const isGet = method === 'GET' || method === 'HEAD';

  if (path === '/age') {
    if (!isGet) return methodNotAllowed();
    // `nowMs` is for tests; a request compares with the date currentUtcDate keeps.
    return matchAge(readQueryParam(query, 'birthdate'), nowMs === undefined ? currentUtcDate() : todayUtc(nowMs));
  }
  if (path.startsWith('/uuid/')) {
    if (!isGet) return methodNotAllowed();
    return matchUuid(path.slice('/uuid/'.length));
  }
  if (path === '/work') {
    if (!isGet) return methodNotAllowed();
    return matchWork(readQueryParam(query, 'ms'));
  }
  if (path === '/healthz') return isGet ? { route: ROUTE.HEALTHZ } : methodNotAllowed();
  if (path === '/stats') return isGet ? { route: ROUTE.STATS } : methodNotAllowed();
  return errorResponse(404, 'LAB_ERR_APP_NOT_FOUND', `no route for ${path.length > 100 ? `${path.slice(0, 100)}...` : path}`);
}

/**
 * The most request-body bytes a route reads: none of these routes reads one. The server asks
 * this as soon as a head announces a body and refuses anything over it with 413 before
 * reading it (RFC 9110 §15.5.14), rather than buffering up to --max-body-bytes a body that
 * nobody reads (issue 14). GET content has "no generally defined semantics" anyway (RFC 9110
 * §9.3.1); a path or method that is not served reads nothing either. A route that takes a
 * body would return its own limit here (at most --max-body-bytes, which the server enforces).
 */
export function bodyLimitFor(_method: string, _path: string): number {
  return 0;
}

export function isRouteCall<C extends RouteCall>(value: C | HttpResponse): value is C {
  return 'route' in value;
}

function methodNotAllowed(): HttpResponse {
  return errorResponse(405, 'LAB_ERR_APP_METHOD', `method not allowed: use ${ALLOW_GET}`, ['Allow', ALLOW_GET]);
}

/**
 * The value of `name` in a query string, percent-decoded, or null. Hand-rolled because
 * URLSearchParams allocates a map of every pair for the one value a route reads.
 */
export function readQueryParam(query: string, name: string): string | null {
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (query.startsWith(name, start) && query.charCodeAt(start + name.length) === 61 /* = */) {
      const raw = query.slice(start + name.length + 1, end);
      if (raw.indexOf('%') === -1 && raw.indexOf('+') === -1) return raw;
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return null;
      }
    }
    start = end + 1;
  }
  return null;
}

function matchAge(birthdate: string | null, today: CalendarDate): RouteCall | HttpResponse {
  if (birthdate === null) return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', 'missing birthdate: use /age?birthdate=YYYY-MM-DD');
  const date = parseIsoDate(birthdate);
  if (date === null) {
    const shaped = /^\d{4}-\d{2}-\d{2}$/.test(birthdate);
    return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', shaped ? `birthdate ${birthdate} is not a calendar date` : 'birthdate must be YYYY-MM-DD');
  }
  if (compareDates(date, today) > 0) return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', `birthdate ${birthdate} is in the future`);
  return { route: ROUTE.AGE, birthdate, year: date.year, month: date.month, day: date.day };
}

function matchUuid(idText: string): RouteCall | HttpResponse {
  if (!/^[0-9]{1,10}$/.test(idText)) return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', 'id must be a whole number: use /uuid/42');
  const id = Number(idText);
  // Postgres int is 32-bit: anything larger cannot be a row, so it is simply not found.
  if (id < 1 || id > 2_147_483_647) return errorResponse(404, 'LAB_ERR_APP_NOT_FOUND', `no row with id ${idText}`);
  return { route: ROUTE.UUID, id };
}

function matchWork(msText: string | null): RouteCall | HttpResponse {
  if (msText === null || !/^\d{1,7}$/.test(msText)) return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', 'ms must be a whole number: use /work?ms=10');
  const ms = Number(msText);
  if (ms > MAX_WORK_MS) return errorResponse(400, 'LAB_ERR_APP_BAD_INPUT', `ms must be at most ${MAX_WORK_MS}`);
  return { route: ROUTE.WORK, ms };
}
