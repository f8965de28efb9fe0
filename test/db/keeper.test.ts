/**
 * No cluster outlives its owner: `socketlab serve --db embedded` killed by SIGKILL (what the
 * OOM killer sends) runs no handler at all, and its postmaster, a daemon in a session of its
 * own, must still go, and its folder with it. The keeper does that; an owner that stops its
 * cluster itself releases the keeper, which then touches nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startEmbeddedCluster } from '../../src/db/index.js';
import { isPidAlive, processCommandLine } from '../../src/db/processes.js';
import { startServe } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { assertNoPostgresLeft } from './support.js';

describe('the cluster keeper', () => {
  const pids: number[] = [];
  const cleanups: (() => void)[] = [];

  after(async () => {
    await assertNoPostgresLeft(pids);
    for (const cleanup of cleanups) cleanup();
  });

  test('serve --db embedded killed by SIGKILL: its postmaster stops and its folder is deleted', async () => {
    // A private state folder: this test's cluster is the only one in it.
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-keeper-'));
    cleanups.push(() => fs.rmSync(state, { recursive: true, force: true }));
    const serve = await startServe(['--db', 'embedded', '--pool', '2'], { env: { SOCKETLAB_STATE_DIR: state } });
    const line = /postmaster pid (\d+)\) at (\S+),/.exec(serve.output().stderr);
    assert.ok(line !== null, `serve names its postmaster: ${serve.output().stderr}`);
    const postmaster = Number(line[1]);
    pids.push(postmaster);
    const folder = path.dirname(new URL(line[2] as string).searchParams.get('passfile') as string);
    assert.ok(isPidAlive(postmaster) && fs.existsSync(folder));
    // As root, a 0700 mkdtemp folder is out of the postgres user's reach: the cluster moved to the temp dir.
    const root = path.dirname(path.dirname(folder));
    if (path.basename(root).startsWith('socketlab-pg-')) cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));

    process.kill(serve.pid, 'SIGKILL');
    await waitFor(`serve ${serve.pid} to die`, () => !isPidAlive(serve.pid));
    // Before the keeper, this postmaster ran on for good (trust auth, a TCP port, forever).
    await waitFor(`postmaster ${postmaster} to stop after its owner was killed`, () => !isPidAlive(postmaster), { timeoutMs: 20_000 });
    await waitFor(`${folder} to be deleted`, () => !fs.existsSync(folder), { timeoutMs: 20_000 });
  });

  test('a cluster stopped by its owner releases its keeper, which exits without touching anything', async () => {
    const cluster = await startEmbeddedCluster({ rows: 1, log: () => {} });
    pids.push(cluster.postmasterPid);
    const keeper = cluster.keeperPid;
    assert.ok(keeper !== null && isPidAlive(keeper), 'an owned cluster has a keeper');
    assert.match(processCommandLine(keeper) ?? '', /cluster-keeper\.js/);
    await cluster.stop();
    await waitFor(`keeper ${keeper} to exit once released`, () => !isPidAlive(keeper), { timeoutMs: 15_000 });
    assert.ok(!fs.existsSync(cluster.folder), 'the folder went with stop()');
  });
});
