/**
 * How every concurrency model serves a request, in two calls, so that the three models
 * differ only in where the second one runs (ARCHITECTURE.md: a model decides only where a
 * handler runs):
 * - `dispatch`, on the thread that parsed the request, answers what is answered there: bad
 *   input (400/404/405, never worth a trip to a worker) and /stats (the counters live on the
 *   main thread). Anything else comes back as a HandlerCall, plain data a model may post to
 *   another thread as it is.
 * - `answerCall` answers a HandlerCall wherever it runs: on the loop, in a piscina worker, in
 *   a connection's own thread. Same function, same bytes, in every model.
 */
import { errorResponse, type HttpResponse } from '../http/response-writer.js';
import { isRouteCall, matchRoute, ROUTE, type RouteCall } from './routes.js';
import { respondAge, respondHealthz, respondJson, respondUuid, respondUuidSync, respondWork, type UuidStore, type UuidStoreSync } from './handlers.js';

/** A call for a handler: every route but /stats, which dispatch answers itself. */
export type HandlerCall = Exclude<RouteCall, { route: typeof ROUTE.STATS }>;

/**
 * The answer now (an error, or /stats from `stats`), or the call to hand to where handlers
 * run. `stats` is called only for /stats: it gathers the server's figures, not a request's.
 */
export function dispatch(method: string, target: string, stats: () => unknown): HttpResponse | HandlerCall {
  const call = matchRoute(method, target);
  if (!isRouteCall(call)) return call;
  if (call.route === ROUTE.STATS) return respondJson(200, stats());
  return call;
}

/**
 * The answer to `call`. With a blocking store (a connection's own thread) or none, it is
 * synchronous; with a pool (the loop, a piscina worker) /uuid answers with a promise.
 */
export function answerCall(call: HandlerCall, store: UuidStoreSync | null): HttpResponse;
export function answerCall(call: HandlerCall, store: UuidStore | null): HttpResponse | Promise<HttpResponse>;
export function answerCall(call: HandlerCall, store: UuidStore | UuidStoreSync | null): HttpResponse | Promise<HttpResponse> {
  switch (call.route) {
    case ROUTE.AGE:
      return respondAge(call);
    case ROUTE.WORK:
      return respondWork(call);
    case ROUTE.HEALTHZ:
      return respondHealthz();
    case ROUTE.UUID:
      return store === null || 'lookupSync' in store ? respondUuidSync(call, store) : respondUuid(call, store);
    default:
      // A call that crossed a thread is data, not a type: whatever route arrives that is not
      // answered here gets the same 500 in every model (a worker used to throw for /stats).
      return errorResponse(500, 'LAB_ERR_APP_NOT_ANSWERED', `route ${(call as { route: string }).route} is answered on the thread that parsed the request`);
  }
}
