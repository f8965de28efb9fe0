import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { hasCommand } from '../../src/labs/kit.js';
import { readAcceptOrder, readAfterLeave, readAtRest, readOneRequest, readSyscalls, type AcceptOrder } from '../../labs/01-request-cycle.js';

const hasStrace = hasCommand('strace');

test('request-cycle: every stage of one real request is timed, and syscalls are counted per request', { timeout: 300_000 }, async () => {
  const { result, cli } = await runLabQuick('request-cycle', { timeoutMs: 280_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const stages = result.findings.stages as Record<string, number>;
  assert.ok(stages !== null && typeof stages === 'object');
  for (const [name, msValue] of Object.entries(stages)) assert.ok(msValue >= 0, `${name}: ${msValue}`);
  const total = stages['total (first byte → flushed)'] as number;
  assert.ok(total > 0 && total >= (stages.handler as number), 'the handler is part of the total');
  if (hasStrace) {
    const perRequest = result.findings.syscallsPerRequest as number;
    // At least a read and a write per request, and not hundreds.
    assert.ok(perRequest >= 2 && perRequest < 50, `syscalls per request: ${perRequest}`);
  } else {
    assert.equal(result.findings.syscallsPerRequest, null);
    assert.match(String(result.findings.syscallsPerRequestReason), /strace/);
  }
  const fdStep = result.steps.find((s) => s.title.startsWith('One request'));
  const client = fdStep?.measurements?.client as { during: { fds: number } } | undefined;
  assert.ok(client !== undefined, 'the one-request step measured its client');
  const during = client.during.fds;
  const before = result.steps[0]?.measurements?.fds as number;
  assert.equal(during, before + 1, 'one connection is one more descriptor in the server');

  // A connection the busy server has not accepted is already connected for its client: the
  // kernel's accept queue holds it. Asserted only when the server was seen spinning in /work
  // (its CPU time rose) before the connect, which leaves ~280 ms of /work to see it in.
  const busy = result.steps.find((s) => s.title.startsWith('connect() against a busy server'))?.measurements as
    | { serverBusy: boolean; queuedAtConnect: number | null; answeredAfterBusy: boolean }
    | undefined;
  assert.ok(busy !== undefined, 'the busy-server step ran');
  if (busy.serverBusy && busy.queuedAtConnect !== null) {
    assert.ok(busy.queuedAtConnect >= 1, JSON.stringify(busy));
    assert.equal(busy.answeredAfterBusy, true, 'the waiting connection is served only after /work');
  }
});

test('request-cycle readings follow the numbers they are given', () => {
  // The pool's backends are named only when PostgreSQL counted some.
  assert.match(readAtRest({ fds: 24, sockets: 7, pipes: 9, anon: 6, pgBackends: 4 }), /PostgreSQL ran 4 backends/);
  assert.match(readAtRest({ fds: 20, sockets: 3, pipes: 9, anon: 6, pgBackends: 0 }), /no backend/);
  assert.doesNotMatch(readAtRest({ fds: 20, sockets: 3, pipes: 9, anon: 6, pgBackends: null }), /PostgreSQL/);

  const one = { totalMs: 2, handlerMs: 1.2, withDb: true, beforeFds: 24, duringFds: 25 };
  assert.match(readOneRequest({ ...one, servedBefore: 0 }), /first request this server served/);
  assert.doesNotMatch(readOneRequest({ ...one, servedBefore: 3 }), /first request/);
  assert.match(readOneRequest({ ...one, servedBefore: 3 }), /served 3 requests before/);
  assert.match(readOneRequest({ ...one, servedBefore: 0 }), /one more than at rest/);
  assert.match(readOneRequest({ ...one, servedBefore: 0, duringFds: 27 }), /3 more than at rest/);

  const seen: AcceptOrder = { serverBusy: true, connectMs: 0.4, queuedAtConnect: 1, answeredAfterMs: 280, busyAnsweredAfterMs: 305, answeredAfterBusy: true, busyMs: 300 };
  assert.match(readAcceptOrder(seen), /not yet accept\(\)ed/);
  assert.match(readAcceptOrder(seen), /only after \/work's/);
  assert.doesNotMatch(readAcceptOrder({ ...seen, answeredAfterBusy: false }), /only after/);
  assert.match(readAcceptOrder({ ...seen, queuedAtConnect: 0 }), /already accept\(\)ed/);
  assert.doesNotMatch(readAcceptOrder({ ...seen, queuedAtConnect: 0 }), /not yet accept/);
  assert.match(readAcceptOrder({ ...seen, queuedAtConnect: null }), /unknown/);
  assert.match(readAcceptOrder({ ...seen, serverBusy: false }), /had not yet risen/);

  assert.match(readAfterLeave({ beforeFds: 24, afterFds: 24 }), /gone again/);
  assert.doesNotMatch(readAfterLeave({ beforeFds: 24, afterFds: 26 }), /gone again/);
  assert.match(readAfterLeave({ beforeFds: 24, afterFds: 26 }), /2 more than the 24 at rest/);

  assert.match(
    readSyscalls(
      [
        ['read', 1],
        ['write', 1],
      ],
      2,
    ),
    /2 system calls per request on a kept-alive connection, mostly read \(1\), write \(1\)/,
  );
  assert.match(readSyscalls([], 0), /no more system calls/);
});
