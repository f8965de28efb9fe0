/**
 * Model B: one thread, non-blocking I/O. Every handler runs on the event loop that also
 * reads and writes every socket, so a /work request stalls all other connections for its
 * whole duration, while a /uuid request costs the loop almost nothing while it waits.
 */
import { isRouteCall, matchRoute, ROUTE } from '../app/routes.js';
import { respondCompute, respondJson, respondUuid, type UuidStore } from '../app/handlers.js';
import type { HttpRequest } from '../http/request-parser.js';
import type { HttpResponse } from '../http/response-writer.js';
import { MODEL, type ConcurrencyModel } from './model.js';

export interface LoopModelOptions {
  uuidStore: UuidStore | null;
  /** Everything /stats shows, gathered by whoever assembled the server. */
  stats: () => unknown;
}

export function createLoopModel(options: LoopModelOptions): ConcurrencyModel {
  const handler = (request: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    const call = matchRoute(request.method, request.path);
    if (!isRouteCall(call)) return call;
    if (call.route === ROUTE.UUID) return respondUuid(call, options.uuidStore);
    if (call.route === ROUTE.STATS) return respondJson(200, options.stats());
    return respondCompute(call) as HttpResponse;
  };
  return {
    name: MODEL.LOOP,
    handler,
    stats: () => ({ threads: 1 }),
    close: async () => {},
  };
}
