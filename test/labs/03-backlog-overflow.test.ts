import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { readAbortOnOverflow, readLargeBacklog, readSmallBacklog, type AbortRun, type LargeBacklogReading, type SmallBacklogReading } from '../../labs/03-backlog-overflow.js';

interface LargeBacklog {
  requested: number;
  somaxconn: number | null;
  effectiveBacklog: number;
  listenOverflows: number | null;
  clientsConnectedAtOnce: number;
  clientsConnectedAfterRetry: number;
  clientsConnectedSlowly: number;
  clientsFailed: number;
}

test('backlog-overflow: a small backlog overflows and delays clients; a large one does not', { timeout: 300_000 }, async () => {
  const { result, cli } = await runLabQuick('backlog-overflow', { timeoutMs: 280_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;

  // Small backlog: the kernel dropped handshakes, and some clients paid for it.
  assert.equal(f.effectiveBacklog, 8);
  assert.ok((f.listenOverflows as number) > 0, `listenOverflows: ${f.listenOverflows}`);
  assert.ok((f.listenDrops as number) >= (f.listenOverflows as number), 'every overflow is also a drop');
  const smallStep = result.steps[0];
  const smallOptions = smallStep?.measurements?.options as { clients: number } | undefined;
  assert.ok(smallOptions !== undefined, 'the small-backlog step records its options');
  const clients = smallOptions.clients;
  const atOnce = f.clientsConnectedAtOnce as number;
  const afterRetry = f.clientsConnectedAfterRetry as number;
  const failed = f.clientsFailed as number;
  assert.ok(afterRetry + failed > 0, `delayed ${afterRetry}, failed ${failed}`);
  // The queue holds backlog + 1 before the kernel drops; a few more may be accepted meanwhile.
  assert.ok(atOnce >= 1 && atOnce < clients, `at once: ${atOnce} of ${clients}`);
  // A full queue holds backlog + 1 and never more (the kernel's rule, whatever the machine's
  // speed); how full the 50 ms samples caught it depends on timing, so only the bound is checked.
  assert.ok((f.queuePeak as number) >= 1 && (f.queuePeak as number) <= 9, `queue peak: ${f.queuePeak}`);
  const classes = smallStep?.measurements?.classes as { atOnce: number; afterRetry: number; slow: number; failed: number };
  assert.equal(classes.atOnce + classes.afterRetry + classes.slow + classes.failed, clients, 'every client is accounted for');

  // Large backlog: capped by somaxconn, no overflow, nobody delayed or failed.
  const large = f.largeBacklog as LargeBacklog;
  assert.equal(large.effectiveBacklog, Math.min(large.requested, large.somaxconn ?? large.requested));
  assert.equal(large.listenOverflows, 0);
  assert.equal(large.clientsConnectedAfterRetry, 0);
  assert.equal(large.clientsFailed, 0);
  // Slow only if this busy machine delayed a connect event: never a retransmission.
  assert.equal(large.clientsConnectedAtOnce + large.clientsConnectedSlowly, clients);

  if (f.namespace === true) {
    // tcp_abort_on_overflow acts only at the final ACK: never without the setting, and on
    // a link where ACKs trail their SYNs, some clients get a reset instead of waiting.
    const abort = f.abortOnOverflow as { linkResetsWithAbortOff: number; linkResetsWithAbortOn: number; linkSynRetransWithAbortOn: number; skipped?: string };
    if (abort.skipped === undefined) {
      assert.equal(abort.linkResetsWithAbortOff, 0);
      // Only when the burst really queued on the link (no SYN of that run was dropped): a
      // machine too busy to send it at once sends SYNs one handshake at a time, as on loopback.
      if (abort.linkSynRetransWithAbortOn === 0) assert.ok(abort.linkResetsWithAbortOn > 0, `resets with abort_on_overflow=1: ${abort.linkResetsWithAbortOn}`);
    } else {
      assert.match(abort.skipped, /tc|tbf/);
    }
  } else {
    assert.match(String(f.namespaceReason), /\w/);
    const skipped = result.steps.find((s) => s.title.startsWith('tcp_abort_on_overflow'));
    assert.equal(skipped?.status, 'skipped');
    assert.match(String(skipped?.reason), /namespace/);
  }
});

test('backlog-overflow readings follow the numbers they are given', () => {
  const small: SmallBacklogReading = {
    peak: 9,
    capacity: 8,
    sampleMs: 50,
    atOnce: 10,
    afterRetry: 20,
    failed: 10,
    afterRetryConnectP50Ms: 1030,
    afterRetryAnswerP50Ms: 1600,
    overflows: 300,
    drops: 300,
    served: 30,
    serverP50Ms: 0.2,
    serverP99Ms: 1.6,
    waitMaxMs: 3000,
    cookiesSent: 40,
    cookiesRecv: 200,
    reqQFullDrops: 0,
    syncookies: '1',
  };
  assert.match(readSmallBacklog(small), /= backlog 8 \+ 1/);
  assert.match(readSmallBacklog({ ...small, peak: 6 }), /peaked at 6 in the 50 ms samples/);
  assert.match(readSmallBacklog(small), /healthy by its own clock/);
  // A server as slow as its clients' waits is not called healthy.
  assert.doesNotMatch(readSmallBacklog({ ...small, serverP99Ms: 2000 }), /healthy/);
  assert.match(readSmallBacklog(small), /dropped a SYN or final ACK 300 times/);
  assert.match(readSmallBacklog({ ...small, overflows: 0 }), /dropped nothing/);
  assert.match(readSmallBacklog(small), /final ACKs met the full accept queue/);
  assert.doesNotMatch(readSmallBacklog({ ...small, cookiesRecv: 40 }), /final ACKs met/);
  assert.doesNotMatch(readSmallBacklog({ ...small, cookiesSent: 0, cookiesRecv: 0 }), /Syncookies/i);
  assert.doesNotMatch(readSmallBacklog({ ...small, afterRetry: 0, afterRetryConnectP50Ms: null }), /p50 \? ms/);

  const large: LargeBacklogReading = {
    requested: 65_535,
    effective: 4096,
    somaxconn: 4096,
    peak: 39,
    overflows: 0,
    smallOverflows: 300,
    clients: 40,
    atOnce: 40,
    afterRetry: 0,
    failed: 0,
    connectMaxMs: 9,
    waitMaxMs: 1990,
    acceptsPerSecond: 20,
  };
  assert.match(readLargeBacklog(large), /silently caps the backlog/);
  assert.doesNotMatch(readLargeBacklog({ ...large, effective: 65_535, somaxconn: 65_535 }), /caps/);
  assert.match(readLargeBacklog(large), /never overflowed/);
  assert.match(readLargeBacklog(large), /Nobody was dropped, yet the last client waited/);
  assert.match(readLargeBacklog({ ...large, overflows: 12 }), /still overflowed 12 times/);
  assert.match(readLargeBacklog({ ...large, overflows: 12 }), /Fewer were dropped \(12 against 300/);
  assert.doesNotMatch(readLargeBacklog({ ...large, overflows: 400 }), /Fewer/);
  // A burst served much faster than the accept rate allows is not blamed on the rate.
  assert.doesNotMatch(readLargeBacklog({ ...large, waitMaxMs: 200 }), /adds no capacity/);

  const run = (over: Partial<AbortRun>): AbortRun => ({
    atOnce: 10,
    afterRetry: 20,
    resets: 0,
    overflows: 300,
    synRetrans: 40,
    cookiesRecv: 0,
    waitMaxMs: 3000,
    lastResetMs: null,
    ...over,
  });
  const abort = {
    link: '1mbit',
    plain: run({}),
    linkOff: run({ atOnce: 38, afterRetry: 0, synRetrans: 0, cookiesRecv: 100 }),
    linkOn: run({ atOnce: 38, afterRetry: 0, synRetrans: 0, resets: 5, lastResetMs: 300 }),
  };
  const text = readAbortOnOverflow(abort);
  assert.match(text, /made no reset and 20 clients still waited for a SYN retransmission/);
  assert.match(text, /overflow moved to the ACK/);
  assert.match(text, /5 got ECONNRESET within 300 ms/);
  assert.match(text, /syncookie \(100 arrived/);
  assert.match(readAbortOnOverflow({ ...abort, linkOn: run({ resets: 0 }) }), /no client got a reset/);
  assert.doesNotMatch(readAbortOnOverflow({ ...abort, linkOff: run({ atOnce: 5, overflows: 300 }) }), /moved to the ACK/);
  // One more client at once than on loopback, most still after a SYN retransmission: not moved.
  assert.doesNotMatch(readAbortOnOverflow({ ...abort, linkOff: run({ atOnce: 11, afterRetry: 29, synRetrans: 29 }) }), /moved to the ACK/);
  assert.doesNotMatch(readAbortOnOverflow({ ...abort, plain: run({ synRetrans: 0, afterRetry: 0 }) }), /meets the full queue at the SYN/);
  assert.doesNotMatch(readAbortOnOverflow({ ...abort, linkOff: run({ atOnce: 38, cookiesRecv: 0 }) }), /syncookie/);
});
