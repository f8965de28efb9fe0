import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { runLabQuick } from './run-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasTools = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v ip && command -v tc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Names the lab gives what it creates: none may outlive the run. */
function leftovers(): string[] {
  if (!hasTools) return [];
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('socketlab-link-'));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => /: sl\d+h[@:]/.test(line));
  return [...namespaces, ...links];
}

test('slow-link: the same users behind a shaped link make fewer requests, and the link, not the database, is the limit', { timeout: 60_000 }, async () => {
  const before = leftovers();
  const { result, cli } = await runLabQuick('slow-link', { timeoutMs: 55_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;
  assert.ok((f.localRps as number) > 0, `local throughput: ${String(f.localRps)}`);
  assert.equal(f.addedRttMs, 40);

  if (!isRoot || !hasTools) {
    assert.equal(f.remoteRps, null);
    assert.equal(f.bottleneck, null);
    assert.match(String(f.linkSkipped), /root|namespace|ip |tc /);
    assert.ok(result.steps.some((s) => s.status === 'skipped' && s.reason === f.linkSkipped));
    return;
  }

  assert.ok(f.delayMethod === 'netem' || f.delayMethod === 'relay', `delay method: ${String(f.delayMethod)}`);
  if (f.delayMethod === 'relay') assert.ok(typeof f.netemUnavailable === 'string' && f.netemUnavailable.length > 0, 'the lab says why netem was not used');

  const localRps = f.localRps as number;
  const remoteRps = f.remoteRps as number;
  // 32 users and 40 ms per round trip allow at most 800 req/s; next to the server the same
  // users make thousands even on a busy 2-core machine.
  assert.ok(remoteRps > 0 && remoteRps < localRps / 2, `remote ${remoteRps} req/s vs local ${localRps}`);
  assert.ok(remoteRps <= 800 * 1.05, `users ÷ RTT bounds the remote throughput: ${remoteRps}`);
  assert.equal(f.bottleneck, 'link');

  // The delay is real: no remote request was faster than (almost) the added round trip.
  const remote = f.remote as { minMs: number; avgMs: number; failed: number; waitAvgMs: number | null; downlinkUtilisation: number };
  assert.ok(remote.minMs >= 40 * 0.9, `fastest remote request: ${remote.minMs} ms`);
  assert.equal(remote.failed, 0);

  // Where there is a database, waiting for its pool is most of a local request and a small
  // part of a remote one: the database is no longer where requests wait.
  const local = f.local as { waitAvgMs: number | null; avgMs: number };
  if (local.waitAvgMs !== null && remote.waitAvgMs !== null) {
    const localShare = local.waitAvgMs / local.avgMs;
    const remoteShare = remote.waitAvgMs / remote.avgMs;
    assert.ok(remoteShare < localShare / 2, `pool wait share: local ${localShare}, remote ${remoteShare}`);
  }

  // Eight times the users fill the pipe: the server → client direction runs near the cap.
  const many = f.manyUsers as { rps: number; downlinkUtilisation: number; linkLimit: string | null };
  assert.ok(many.rps > remoteRps, `256 users ${many.rps} req/s vs 32 users ${remoteRps}`);
  assert.ok(many.downlinkUtilisation > remote.downlinkUtilisation, 'more users use more of the link');
  assert.ok(many.downlinkUtilisation >= 0.6 && many.downlinkUtilisation <= 1.1, `link utilisation with 256 users: ${many.downlinkUtilisation}`);

  assert.deepEqual(leftovers(), before, 'the namespace and the veth pair are gone');
});
