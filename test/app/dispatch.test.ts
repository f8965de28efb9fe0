/**
 * Issue 15, item 2: one dispatch and one answerCall for every model. dispatch answers bad
 * input and /stats where the request was parsed and hands on the rest; answerCall gives the
 * same answer wherever it runs, including for a route that should never reach it (the pool
 * worker used to throw there while the thread worker answered 500).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerCall, dispatch, type HandlerCall } from '../../src/app/dispatch.js';
import { isRouteCall } from '../../src/app/routes.js';
import type { HttpResponse } from '../../src/http/response-writer.js';

const NO_STATS = (): never => assert.fail('stats read for a request that is not /stats');

test('dispatch answers bad input and /stats itself and hands on every other route', () => {
  let statsRead = 0;
  const stats = dispatch('GET', '/stats', () => ({ reads: ++statsRead }));
  assert.ok(!isRouteCall(stats));
  assert.equal(stats.status, 200);
  assert.deepEqual(JSON.parse(String(stats.body)), { reads: 1 });

  for (const [method, target, status] of [
    ['GET', '/nowhere', 404],
    ['POST', '/age?birthdate=1993-05-01', 405],
    ['GET', '/age', 400],
    ['GET', '/work?ms=abc', 400],
    ['DELETE', '/stats', 405],
  ] as const) {
    const answer = dispatch(method, target, NO_STATS);
    assert.ok(!isRouteCall(answer), `${method} ${target} is answered by dispatch`);
    assert.equal(answer.status, status, `${method} ${target}`);
  }

  assert.deepEqual(dispatch('GET', '/healthz', NO_STATS), { route: 'healthz' });
  assert.deepEqual(dispatch('HEAD', '/uuid/42', NO_STATS), { route: 'uuid', id: 42 });
  assert.deepEqual(dispatch('GET', '/work?ms=3', NO_STATS), { route: 'work', ms: 3 });
  const age = dispatch('GET', '/age?birthdate=1993-05-01', NO_STATS);
  assert.ok(isRouteCall(age) && age.route === 'age' && age.year === 1993);
});

test('answerCall is synchronous with a blocking store or none, and answers /uuid from either kind', async () => {
  const call: HandlerCall = { route: 'uuid', id: 7 };
  const none = answerCall(call, null);
  assert.ok(!(none instanceof Promise), 'no store: answered at once, even on the loop');
  assert.equal(none.status, 503);

  const blocking = answerCall(call, { lookupSync: (id) => (id === 7 ? 'uuid-7' : null) });
  assert.ok(!(blocking instanceof Promise));
  assert.deepEqual(JSON.parse(String(blocking.body)), { id: 7, uuid: 'uuid-7' });

  const pooled = answerCall(call, { lookup: async (id) => (id === 7 ? 'uuid-7' : null) });
  assert.ok(pooled instanceof Promise, 'a pool answers when its query does');
  assert.deepEqual(JSON.parse(String((await pooled).body)), { id: 7, uuid: 'uuid-7' });

  const missing = answerCall({ route: 'uuid', id: 8 }, { lookupSync: () => null });
  assert.equal((missing as HttpResponse).status, 404);
});

test('answerCall gives the compute routes the same bytes whatever the store, and one 500 for a route it does not answer', () => {
  const healthz = answerCall({ route: 'healthz' }, null);
  assert.deepEqual(healthz, answerCall({ route: 'healthz' }, { lookup: async () => null }));
  assert.equal(healthz.body, 'ok');
  assert.equal(answerCall({ route: 'work', ms: 0 }, null).status, 200);

  // /stats never leaves the main thread, but a message from another thread is data, not a type.
  const stray = { route: 'stats' } as unknown as HandlerCall;
  const fromPool = answerCall(stray, { lookup: async () => null });
  const fromThread = answerCall(stray, null);
  assert.ok(!(fromPool instanceof Promise));
  assert.deepEqual(fromPool, fromThread);
  assert.equal(fromThread.status, 500);
  assert.match(String(fromThread.body), /LAB_ERR_APP_NOT_ANSWERED/);
});
