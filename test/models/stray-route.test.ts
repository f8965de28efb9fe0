/**
 * Issue 15, item 2: the pool worker and the connection thread agree on a route they do not
 * answer. The pool worker used to throw (piscina turned that into "worker failed"); both now
 * give answerCall's 500. The pool worker's task function runs here as piscina would call it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerCall, type HandlerCall } from '../../src/app/dispatch.js';
import handle from '../../src/models/pool-worker.js';

test("a pool worker answers a route it does not serve with answerCall's 500, not a throw", async () => {
  const stray = { route: 'stats' } as unknown as HandlerCall;
  const response = await handle(stray);
  assert.equal(response.status, 500);
  assert.deepEqual(response, answerCall(stray, null), 'the same answer a connection thread gives');
  assert.equal((await handle({ route: 'healthz' })).body, 'ok');
});
