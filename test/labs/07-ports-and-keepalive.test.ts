import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceUnavailableReason } from '../../src/labs/netns.js';
import { COMPARISON_ROUNDS, type Spread } from '../../src/metrics/comparison.js';
import { readExhaustion, readKeepAlive, readWaysOut, type KeepAliveReading, type NarrowRangeRun } from '../../src/labs/ports-kit.js';
import type { LabTestRun } from './run-lab.js';
import { diagnoseShape, runLabForShape, type ShapeCheck } from './run-lab-for-shape.js';

// The committed full run (docs/results/data/ports-and-keepalive-*.json), as one run a mode.
const COMMITTED: KeepAliveReading = {
  keepAliveRps: [91_606],
  perRequestRps: [13_312],
  keepAliveConnections: 50,
  connectP50Ms: 1.499,
  timeWait: { keepAlive: 50, clientCloses: { client: 14_080, server: 0 }, serverCloses: { client: 0, server: 14_116 } },
  portRange: '32768\t60999',
  rangePorts: 28_232,
  twReuse: '2',
};

test('ports-kit: keep-alive is called faster only when its runs and the per-request runs part', () => {
  const apart = readKeepAlive({ ...COMMITTED, keepAliveRps: [91_606, 88_000], perRequestRps: [13_312, 12_900] });
  assert.match(apart, /keep-alive is higher in every run, 6\.9x the other's median/);
  const overlap = readKeepAlive({ ...COMMITTED, keepAliveRps: [14_000, 3_900], perRequestRps: [2_900, 4_100] });
  assert.match(overlap, /no measurable difference at this noise level/);
  assert.doesNotMatch(overlap, /higher|lower/);
});

test('ports-kit: TIME_WAIT is said to follow the closing side only when it did', () => {
  const follows = readKeepAlive(COMMITTED);
  assert.match(follows, /TIME_WAIT landed on the side that closed first: up to 14,080 client sockets/);
  assert.match(follows, /with keep-alive 50 in its first run \(at most one for each of its 50 connections/);
  assert.match(follows, /tcp_tw_reuse=2 lets connect\(\) reuse a port/);
  const mixed = readKeepAlive({ ...COMMITTED, timeWait: { keepAlive: 80, clientCloses: { client: 10, server: 900 }, serverCloses: { client: 0, server: 14_116 } }, twReuse: '0' });
  assert.match(mixed, /TIME_WAIT did not follow the closing side here/);
  assert.match(mixed, /more than its 50 connections/);
  assert.doesNotMatch(mixed, /landed on the side|tcp_tw_reuse/);
});

test('ports-kit: the narrow range reading follows the failures counted', () => {
  const exhausted: NarrowRangeRun = { ok: 100, eaddrnotavail: 101_691, otherFailures: 0, timeWaitPeak: 100 };
  const committed = readExhaustion(exhausted, 100, 5);
  assert.match(committed, /then every further connect\(\) failed with EADDRNOTAVAIL:\n101,691 times in 5 s/);
  assert.match(committed, /Nothing was wrong with the server/);
  const enough = readExhaustion({ ok: 60, eaddrnotavail: 0, otherFailures: 0, timeWaitPeak: 60 }, 100, 5);
  assert.match(enough, /no connect\(\) failed with EADDRNOTAVAIL/);
  assert.doesNotMatch(enough, /every further|Nothing was wrong/);
  const mixed = readExhaustion({ ...exhausted, otherFailures: 7, timeWaitPeak: 40 }, 100, 5);
  assert.match(mixed, /and 7 requests otherwise/);
  assert.match(mixed, /Only 40 of the 100 used ports were seen in TIME_WAIT/);
  assert.doesNotMatch(mixed, /every further|Nothing was wrong|Each used port/);
});

test('ports-kit: each way out is judged against the ceiling its ports set', () => {
  const committed = {
    keepAlive: { ok: 398_567, eaddrnotavail: 0, otherFailures: 0, timeWaitPeak: 10 },
    addresses: { ok: 800, eaddrnotavail: 101_152, otherFailures: 0, timeWaitPeak: 800, count: 8 },
    twReuse: { ok: 500, eaddrnotavail: 86_310, otherFailures: 0, timeWaitPeak: 100 },
  };
  const reading = readWaysOut(committed, 100);
  assert.match(reading, /Keep-alive needed no new ports: 398,567 requests/);
  assert.match(reading, /a higher ceiling, not a cure/);
  assert.match(reading, /tcp_tw_reuse=1 lets connect\(\) take over a TIME_WAIT port/);
  const contrary = readWaysOut(
    {
      keepAlive: { ...committed.keepAlive, eaddrnotavail: 12 },
      addresses: { ...committed.addresses, ok: 733, eaddrnotavail: 0 },
      twReuse: { ...committed.twReuse, ok: 100 },
    },
    100,
  );
  assert.match(contrary, /Even keep-alive met EADDRNOTAVAIL 12 times/);
  assert.match(contrary, /no EADDRNOTAVAIL in\nthis run \(the ceiling, 800, was not reached\)/);
  assert.match(contrary, /tcp_tw_reuse=1 did not get past the range here/);
  assert.doesNotMatch(contrary, /needed no new ports|not a cure|take over/);
});

interface NsPhase {
  ok: number;
  eaddrnotavail: number;
  otherFailures: number;
  timeWaitPeak: number;
  sourceAddresses: number;
}

interface ModeRow {
  mode: string;
  connects: number;
}

/** Runs of the whole quick lab before giving up on the shape (each ≈ 18 s on 2 cores). */
const ATTEMPTS = 3;

/** Users of step 1 (each keeps one connection with keep-alive). */
const usersOf = (run: LabTestRun): number => {
  const runs = run.result.steps[0]?.measurements?.runs as ModeRow[];
  return Math.max(...runs.filter((r) => r.mode === 'keep-alive').map((r) => r.connects));
};

/**
 * The measured shape: without keep-alive TIME_WAIT piles up (> 5 per user) on the side that
 * closes, keep-alive serves more than a connection per request, and in the narrow range the
 * ways out get past the first run's ceiling.
 */
function checkPorts(run: LabTestRun, namespaces: boolean): ShapeCheck {
  const f = run.result.findings;
  const problems: string[] = [];
  const vus = usersOf(run);
  const rps = f.rps as { keepAlive: Spread; perRequest: Spread };
  const serverCloses = f.serverClosesTimeWait as { client: number; server: number };
  const measured = [
    `users ${vus}`,
    `req/s keep-alive ${rps.keepAlive.runs.join('/')}, per request ${rps.perRequest.runs.join('/')}`,
    `TIME_WAIT client-closes ${String(f.timeWaitPeak)}, server-closes ${JSON.stringify(serverCloses)}, keep-alive ${String(f.keepaliveTimeWait)}`,
  ];
  if (!(rps.keepAlive.median > rps.perRequest.median)) problems.push(`keep-alive ${rps.keepAlive.median} req/s, per request ${rps.perRequest.median}`);
  // Keep-alive leaves at most one TIME_WAIT per connection (when the run closes them)...
  if (!((f.keepaliveTimeWait as number) <= vus)) problems.push(`keep-alive TIME_WAIT ${String(f.keepaliveTimeWait)} for ${vus} connections`);
  // ...a connection per request leaves one per request on the side that closed first.
  if (!((f.timeWaitPeak as number) > 5 * vus)) problems.push(`client-closes TIME_WAIT ${String(f.timeWaitPeak)} for ${vus} users`);
  if (!(serverCloses.server > 5 * vus && serverCloses.server > serverCloses.client)) problems.push(`server-closes TIME_WAIT ${JSON.stringify(serverCloses)}`);
  if (namespaces) {
    const exhaustion = f.exhaustion as NsPhase;
    const ways = f.waysOut as { keepAlive: NsPhase; sourceAddresses: NsPhase; twReuse: NsPhase };
    measured.push(`narrow range ${JSON.stringify(exhaustion)}, ways out ${JSON.stringify(ways)}`);
    if (!(exhaustion.eaddrnotavail > 0)) problems.push('no EADDRNOTAVAIL with 100 ports');
    if (!(exhaustion.timeWaitPeak >= exhaustion.ok - 1)) problems.push(`TIME_WAIT ${exhaustion.timeWaitPeak} after ${exhaustion.ok} connections`);
    if (!(ways.keepAlive.ok > 10 * exhaustion.ok)) problems.push(`keep-alive served ${ways.keepAlive.ok}`);
    // Each source address brings its own 100 ports: the ceiling moves, the exhaustion stays.
    if (!(ways.sourceAddresses.ok > 2 * exhaustion.ok && ways.sourceAddresses.eaddrnotavail > 0))
      problems.push(`${ways.sourceAddresses.ok} requests, ${ways.sourceAddresses.eaddrnotavail} EADDRNOTAVAIL with ${ways.sourceAddresses.sourceAddresses} addresses`);
    // tcp_tw_reuse=1 takes over TIME_WAIT ports a second old: more than one round of 100.
    if (!(ways.twReuse.ok > exhaustion.ok)) problems.push(`tcp_tw_reuse=1: ${ways.twReuse.ok} requests`);
  }
  return { problems, measured: measured.join('; ') };
}

test('ports-and-keepalive: TIME_WAIT only without keep-alive, on the closing side; a narrow port range ends in EADDRNOTAVAIL', { timeout: 5 * 60_000 }, async (t) => {
  const unavailable = await namespaceUnavailableReason();
  const shape = await runLabForShape('ports-and-keepalive', (run) => checkPorts(run, unavailable === null), { attempts: ATTEMPTS, timeoutMs: 120_000 });
  diagnoseShape(t, shape);
  const { result, cli } = shape.best;
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;

  // Step 1: every run of each mode is kept, interleaved rounds of the quick form.
  const runs = result.steps[0]?.measurements?.runs as ModeRow[];
  for (const mode of ['keep-alive', 'new connection, client closes', 'new connection, server closes']) {
    assert.equal(runs.filter((r) => r.mode === mode).length, COMPARISON_ROUNDS.quick, `${mode}: every run kept`);
  }

  if (unavailable !== null) {
    assert.equal(f.eaddrnotavail, null);
    assert.equal(f.eaddrnotavailReason, unavailable);
    assert.deepEqual(
      result.steps.slice(1).map((s) => s.status),
      ['skipped', 'skipped'],
    );
  } else {
    // The kernel's limits, exact whatever the machine's speed: one connection per port, and
    // keep-alive needs no new port.
    const exhaustion = f.exhaustion as NsPhase;
    const ways = f.waysOut as { keepAlive: NsPhase; sourceAddresses: NsPhase };
    assert.ok(exhaustion.ok > 0 && exhaustion.ok <= 100, `${exhaustion.ok} requests on 100 ports`);
    assert.equal(ways.keepAlive.eaddrnotavail, 0, 'keep-alive needs no new ports');
    assert.ok(ways.sourceAddresses.ok <= 100 * ways.sourceAddresses.sourceAddresses, `${ways.sourceAddresses.ok} requests with ${ways.sourceAddresses.sourceAddresses} addresses`);
  }
  assert.deepEqual(shape.problems, [], `the measured shape in ${shape.runs} run(s) of the lab:\n${shape.report}`);
});
