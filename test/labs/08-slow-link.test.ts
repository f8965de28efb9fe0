import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { COMPARISON_ROUNDS, type Spread } from '../../src/metrics/comparison.js';
import { decideBottleneck, BOTTLENECK } from '../../src/labs/link-kit.js';
import { readLocal, readMoreUsers, readPoolWait, readRemote, readVerdict, summarizePhases, type Phase } from '../../labs/08-slow-link.js';
import type { LabTestRun } from './run-lab.js';
import { diagnoseShape, runLabForShape, type ShapeCheck } from './run-lab-for-shape.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasTools = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v ip && command -v tc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A run shaped like the committed full run's (docs/results/data/slow-link-*.json), with what a test changes. */
function phase(where: 'local' | 'remote', values: Partial<Phase> = {}): Phase {
  const base: Phase =
    where === 'local'
      ? {
          label: 'local',
          where,
          vus: 32,
          rps: 18_850,
          p50Ms: 1.611,
          p99Ms: 3.393,
          minMs: 0.149,
          avgMs: 1.698,
          failed: 0,
          waitAvgMs: 1.226,
          queryAvgMs: 0.209,
          downBytesPerSec: null,
          upBytesPerSec: null,
          downlinkUtilisation: null,
          tbfDown: null,
          tbfUp: null,
        }
      : {
          label: 'remote',
          where,
          vus: 32,
          rps: 768,
          p50Ms: 41.5,
          p99Ms: 45.1,
          minMs: 39.1,
          avgMs: 41.6,
          failed: 0,
          waitAvgMs: 0.18,
          queryAvgMs: 0.306,
          downBytesPerSec: 227_620,
          upBytesPerSec: 114_164,
          downlinkUtilisation: 0.455,
          tbfDown: { sentBytes: 4_561_965, sentPackets: 30_880, dropped: 0, overlimits: 0 },
          tbfUp: null,
        };
  return { ...base, ...values };
}

const SETUP = { vus: 32, pool: 4, withDb: true };

test('slow-link: a side of several runs is shown by its medians, failures summed', () => {
  const summary = summarizePhases([phase('remote', { rps: 700, failed: 1 }), phase('remote', { rps: 800, failed: 2, minMs: 38 }), phase('remote', { rps: 760 })]);
  assert.equal(summary.rps, 760);
  assert.equal(summary.failed, 3);
  assert.equal(summary.minMs, 38, 'the fastest request of all runs');
});

test('slow-link: the local reading names the pool only when the wait beats the query in every run', () => {
  const pool = readLocal([phase('local'), phase('local', { waitAvgMs: 1.1, queryAvgMs: 0.25 })], SETUP);
  assert.match(pool, /the queue\nis in front of the database/);
  const server = readLocal([phase('local', { waitAvgMs: 0.1 }), phase('local', { waitAvgMs: 0.15 })], SETUP);
  assert.match(server, /shorter than the query .* in every run,\nso the server, not the pool, was the limit/);
  const overlap = readLocal([phase('local', { waitAvgMs: 0.1 }), phase('local', { waitAvgMs: 1.2 })], SETUP);
  assert.match(overlap, /overlap across the runs/);
  assert.doesNotMatch(overlap, /in front of the database|not the pool/);
});

test('slow-link: behind the link is slower only when the runs part, and the round trip is a floor only when measured as one', () => {
  const remote = readRemote([phase('local'), phase('local', { rps: 17_000 })], [phase('remote'), phase('remote', { rps: 760 })], { vus: 32, rttMs: 40 });
  assert.match(remote, /next to the server is higher in every run/);
  assert.match(remote, /every request paid the 40 ms round trip/);
  const close = readRemote([phase('local', { rps: 900 }), phase('local', { rps: 700 })], [phase('remote'), phase('remote', { rps: 780, minMs: 12 })], { vus: 32, rttMs: 40 });
  assert.match(close, /no measurable difference/);
  assert.match(close, /less than the 40 ms round trip/);
  assert.doesNotMatch(close, /higher|every request paid/);
});

test('slow-link: "the database is no longer where requests wait" only when the remote runs say so', () => {
  const local = [phase('local'), phase('local', { waitAvgMs: 1.3 })];
  assert.match(readPoolWait(local, [phase('remote'), phase('remote', { waitAvgMs: 0.2 })]), /the database is no longer where requests wait/);
  const still = readPoolWait(local, [phase('remote', { waitAvgMs: 8, avgMs: 45 }), phase('remote', { waitAvgMs: 9, avgMs: 46 })]);
  assert.match(still, /the pool queue is still there/);
  const grew = readPoolWait(local, [phase('remote', { waitAvgMs: 40, avgMs: 45 }), phase('remote', { waitAvgMs: 41, avgMs: 46 })]);
  assert.match(grew, /the pool queue grew/);
  for (const text of [still, grew]) assert.doesNotMatch(text, /no longer where requests wait/);
  assert.equal(readPoolWait([phase('local', { waitAvgMs: null })], [phase('remote')]), '', 'no database, no sentence');
});

test('slow-link: more users on the link, and which limit binds, follow the numbers', () => {
  const remote = [phase('remote'), phase('remote', { rps: 760 })];
  const many = [
    phase('remote', { vus: 256, rps: 1685, p50Ms: 151.6, downlinkUtilisation: 1.001 }),
    phase('remote', { vus: 256, rps: 1600, p50Ms: 150, downlinkUtilisation: 0.98 }),
  ];
  const bandwidth = decideBottleneck({ localRps: 18_850, remoteRps: 1642, vus: 256, rttMs: 40, downlinkUtilisation: 0.99, localLimit: BOTTLENECK.DATABASE });
  const reading = readMoreUsers(remote, many, { vus: 32, manyVus: 256, rateMbit: 4, rttMs: 40, verdict: bandwidth, capRps: 1683 });
  assert.match(reading, /256 users is higher in every run/);
  assert.match(reading, /p50 grew from 41\.5 to 151 ms/);
  assert.match(reading, /The pipe is full/);
  const flat = [phase('remote', { vus: 256, rps: 770, p50Ms: 41 }), phase('remote', { vus: 256, rps: 765, p50Ms: 42 })];
  const latency = decideBottleneck({ localRps: 18_850, remoteRps: 767, vus: 256, rttMs: 40, downlinkUtilisation: 0.46, localLimit: BOTTLENECK.SERVER });
  const contrary = readMoreUsers(remote, flat, { vus: 32, manyVus: 256, rateMbit: 4, rttMs: 40, verdict: latency, capRps: 3000 });
  assert.match(contrary, /no measurable difference/);
  assert.match(contrary, /did not change measurably/);
  assert.match(contrary, /the pipe is not full/);
  assert.doesNotMatch(contrary, /pipe is full|p50 grew/);
  // A limit is named the bottleneck only when the runs reached it.
  const near = decideBottleneck({ localRps: 3623, remoteRps: 575, vus: 32, rttMs: 40, downlinkUtilisation: 0.35, localLimit: BOTTLENECK.DATABASE });
  assert.match(readVerdict(near, 32), /Closest limit: the link's round trip \(72% of users ÷ RTT\)/);
  assert.doesNotMatch(readVerdict(near, 32), /Bottleneck/);
  const reached = decideBottleneck({ localRps: 18_850, remoteRps: 768, vus: 32, rttMs: 40, downlinkUtilisation: 0.455, localLimit: BOTTLENECK.DATABASE });
  assert.match(readVerdict(reached, 32), /Bottleneck: the link's round trip \(96% of users ÷ RTT\), not its bandwidth \(46% used\)/);
  // The link did not bind at all: the server side is named.
  const server = decideBottleneck({ localRps: 710, remoteRps: 700, vus: 32, rttMs: 40, downlinkUtilisation: 0.3, localLimit: BOTTLENECK.DATABASE });
  assert.match(readVerdict(server, 32), /The link did not bind these 32 users.*\n.*Bottleneck: the database/);
});

interface Summary {
  rps: number;
  minMs: number;
  avgMs: number;
  failed: number;
  waitAvgMs: number | null;
  downlinkUtilisation: number | null;
}

/** Runs of the whole quick lab before giving up on the shape (each ≈ 17 s on 2 cores). */
const ATTEMPTS = 3;
/** 32 users and a 40 ms round trip allow at most 800 req/s (users ÷ RTT); 5% for the clock's edges. */
const REMOTE_CEILING = 800 * 1.05;

/**
 * The link's shape: the same users make far fewer requests behind it, never more than their
 * round trips allow and with none failing, the link (not the database) is the named limit,
 * the pool queue empties, and eight times the users fill the downlink (60–110% of its cap).
 */
function checkLink({ result }: LabTestRun): ShapeCheck {
  const f = result.findings;
  const rps = f.rps as { local: Spread; remote: Spread; many: Spread };
  const local = f.local as Summary;
  const remote = f.remote as Summary;
  const many = f.manyUsers as { rps: number; failed: number; downlinkUtilisation: number };
  const problems: string[] = [];
  if (!(rps.remote.median < rps.local.median / 2)) problems.push(`remote ${rps.remote.median} req/s vs local ${rps.local.median}`);
  if (!(rps.remote.max <= REMOTE_CEILING)) problems.push(`a remote run made ${rps.remote.max} req/s, over users ÷ RTT`);
  if (f.bottleneck !== 'link') problems.push(`bottleneck ${String(f.bottleneck)}`);
  // The delay is real: no remote request was faster than (almost) the added round trip.
  if (!(remote.minMs >= 40 * 0.9)) problems.push(`fastest remote request ${remote.minMs} ms`);
  if (remote.failed !== 0 || many.failed !== 0) problems.push(`remote failures: ${remote.failed} with 32 users, ${many.failed} with 256`);
  // Where there is a database, waiting for its pool is most of a local request and a small part of a remote one.
  if (local.waitAvgMs !== null && remote.waitAvgMs !== null && !(remote.waitAvgMs / remote.avgMs < local.waitAvgMs / local.avgMs / 2)) {
    problems.push(`pool wait share: local ${local.waitAvgMs / local.avgMs}, remote ${remote.waitAvgMs / remote.avgMs}`);
  }
  if (!(many.rps > rps.remote.median)) problems.push(`256 users ${many.rps} req/s vs 32 users ${rps.remote.median}`);
  if (!(many.downlinkUtilisation > (remote.downlinkUtilisation ?? 0))) problems.push('more users did not use more of the link');
  if (!(many.downlinkUtilisation >= 0.6 && many.downlinkUtilisation <= 1.1)) problems.push(`link utilisation with 256 users: ${many.downlinkUtilisation}`);
  return {
    problems,
    measured: `req/s ${JSON.stringify(rps)}; local ${JSON.stringify(local)}; remote ${JSON.stringify(remote)}; 256 users ${JSON.stringify(many)}; bottleneck ${String(f.bottleneck)}`,
  };
}

/** Whether the namespace and the veth this run made are still there (names carry the lab's PID: other runs' are not ours to judge). */
function leftovers(namespace: string, device: string): string[] {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.split(' ')[0] === namespace);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`: ${device}@`) || line.includes(`: ${device}:`));
  return [...namespaces, ...links];
}

test('slow-link: the same users behind a shaped link make fewer requests, and the link, not the database, is the limit', { timeout: 5 * 60_000 }, async (t) => {
  const linked = isRoot && hasTools;
  const shape = await runLabForShape('slow-link', (run) => (linked ? checkLink(run) : { problems: [], measured: '' }), { attempts: linked ? ATTEMPTS : 1, timeoutMs: 150_000 });
  diagnoseShape(t, shape);
  const { result, cli } = shape.best;
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;
  assert.ok((f.localRps as number) > 0, `local throughput: ${String(f.localRps)}`);
  assert.equal(f.addedRttMs, 40);

  if (!linked) {
    assert.equal(f.remoteRps, null);
    assert.equal(f.bottleneck, null);
    assert.match(String(f.linkSkipped), /root|namespace|ip |tc /);
    assert.ok(result.steps.some((s) => s.status === 'skipped' && s.reason === f.linkSkipped));
    return;
  }

  assert.ok(f.delayMethod === 'netem' || f.delayMethod === 'relay', `delay method: ${String(f.delayMethod)}`);
  if (f.delayMethod === 'relay') assert.ok(typeof f.netemUnavailable === 'string' && f.netemUnavailable.length > 0, 'the lab says why netem was not used');
  // Every run of every side is kept, interleaved rounds of the quick form.
  const runs = result.steps[0]?.measurements?.runs as { where: string; vus: number }[];
  const sides = {
    local: runs.filter((r) => r.where === 'local'),
    remote: runs.filter((r) => r.where === 'remote' && r.vus === 32),
    many: runs.filter((r) => r.where === 'remote' && r.vus === 256),
  };
  for (const [side, list] of Object.entries(sides)) assert.equal(list.length, COMPARISON_ROUNDS.quick, `${side}: every run kept`);
  for (const run of shape.all) {
    const { namespace, vethDevice } = run.result.findings as { namespace: string; vethDevice: string };
    assert.deepEqual(leftovers(namespace, vethDevice), [], `namespace ${namespace} and veth ${vethDevice} are gone`);
  }
  assert.deepEqual(shape.problems, [], `the link's shape in ${shape.runs} run(s) of the lab:\n${shape.report}`);
});
