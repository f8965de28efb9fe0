/**
 * Model B: one thread, non-blocking I/O. Every handler runs on the event loop that also
 * reads and writes every socket, so a /work request stalls all other connections for its
 * whole duration, while a /uuid request costs the loop almost nothing while it waits.
 */
import { answerCall, dispatch } from '../app/dispatch.js';
import type { UuidStore } from '../app/handlers.js';
import { isRouteCall } from '../app/routes.js';
import type { HttpRequest } from '../http/request-parser.js';
import type { HttpResponse } from '../http/response-writer.js';
import { MODEL, type ConcurrencyModel } from './model.js';

export interface LoopModelOptions {
  uuidStore: UuidStore | null;
  /** Everything /stats shows, gathered by whoever assembled the server. */
  stats: () => unknown;
}

export function createLoopModel(options: LoopModelOptions): ConcurrencyModel {
  const { uuidStore, stats } = options;
  // Where the handler runs: right here, on the loop that parsed the request.
  const handler = (request: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    const call = dispatch(request.method, request.path, stats);
    return isRouteCall(call) ? answerCall(call, uuidStore) : call;
  };
  return {
    name: MODEL.LOOP,
    handler,
    stats: () => ({ threads: 1 }),
    close: async () => {},
  };
}
