import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceUnavailableReason } from '../../src/labs/netns.js';
import { runLabQuick } from './run-lab.js';

interface NsPhase {
  ok: number;
  eaddrnotavail: number;
  timeWaitPeak: number;
  sourceAddresses: number;
}

test('ports-and-keepalive: TIME_WAIT only without keep-alive, on the closing side; a narrow port range ends in EADDRNOTAVAIL', { timeout: 90_000 }, async () => {
  const unavailable = await namespaceUnavailableReason();
  const { result, cli } = await runLabQuick('ports-and-keepalive', { timeoutMs: 80_000 });
  assert.equal(cli.code, 0, cli.stderr);
  const f = result.findings;

  // Step 1, the host's loopback.
  const rows = result.steps[0]?.measurements?.rows as { mode: string; connects: number; timeWaitClient: number; timeWaitServer: number }[];
  const vus = rows[0]?.connects as number;
  assert.ok((f.keepaliveRps as number) > (f.perRequestRps as number), `keep-alive ${f.keepaliveRps} req/s vs per request ${f.perRequestRps}`);
  // Keep-alive leaves at most one TIME_WAIT per connection (when the run closes them)...
  assert.ok((f.keepaliveTimeWait as number) <= vus, `keep-alive TIME_WAIT ${f.keepaliveTimeWait} for ${vus} connections`);
  // ...a connection per request leaves one per request on the side that closed first.
  assert.ok((f.timeWaitPeak as number) > 5 * vus, `client-closes TIME_WAIT ${f.timeWaitPeak}`);
  const serverCloses = f.serverClosesTimeWait as { client: number; server: number };
  assert.ok(serverCloses.server > 5 * vus && serverCloses.server > serverCloses.client, `server-closes TIME_WAIT ${JSON.stringify(serverCloses)}`);

  if (unavailable !== null) {
    assert.equal(f.eaddrnotavail, null);
    assert.equal(f.eaddrnotavailReason, unavailable);
    assert.deepEqual(result.steps.slice(1).map((s) => s.status), ['skipped', 'skipped']);
    return;
  }
  // Steps 2 and 3, inside private namespaces with 100 ephemeral ports.
  const exhaustion = f.exhaustion as NsPhase;
  assert.ok((f.eaddrnotavail as number) > 0, 'EADDRNOTAVAIL appears with the narrow port range');
  assert.ok(exhaustion.ok > 0 && exhaustion.ok <= 100, `${exhaustion.ok} requests on 100 ports`);
  assert.ok(exhaustion.timeWaitPeak >= exhaustion.ok - 1, `TIME_WAIT ${exhaustion.timeWaitPeak} after ${exhaustion.ok} connections`);
  const ways = f.waysOut as { keepAlive: NsPhase; sourceAddresses: NsPhase; twReuse: NsPhase };
  assert.equal(ways.keepAlive.eaddrnotavail, 0, 'keep-alive needs no new ports');
  assert.ok(ways.keepAlive.ok > 10 * exhaustion.ok, `keep-alive served ${ways.keepAlive.ok}`);
  // Each source address brings its own 100 ports: the ceiling moves, the exhaustion stays.
  assert.ok(ways.sourceAddresses.ok > 4 * exhaustion.ok && ways.sourceAddresses.ok <= 100 * ways.sourceAddresses.sourceAddresses, `${ways.sourceAddresses.ok} requests with ${ways.sourceAddresses.sourceAddresses} addresses`);
  assert.ok(ways.sourceAddresses.eaddrnotavail > 0);
  // tcp_tw_reuse=1 takes over TIME_WAIT ports a second old: more than one round of 100.
  assert.ok(ways.twReuse.ok > exhaustion.ok, `tcp_tw_reuse=1: ${ways.twReuse.ok} requests`);
});
