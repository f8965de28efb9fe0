/**
 * The throwaway cluster's lifecycle with real binaries: start, seed, halt and resume on the
 * same port, stop (postmaster gone, folder deleted), recovery from a run that was killed
 * without cleaning up (owner and keeper both), a live owner's cluster left alone by another
 * start's sweep, and the relocation when the postgres user cannot reach the folder.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { liveClusters, startEmbeddedCluster, stateDir, type EmbeddedCluster } from '../../src/db/index.js';
import { isPidAlive } from '../../src/db/processes.js';
import { resolveClusterRoot, resolveRunAsUser } from '../../src/db/cluster.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { assertNoPostgresLeft, readKv, runSql } from './support.js';

const CLUSTER_MODULE = new URL('../../src/db/cluster.js', import.meta.url).href;
const isRoot = process.getuid?.() === 0;

describe('embedded cluster', () => {
  const pids: number[] = [];
  const started: EmbeddedCluster[] = [];
  const cleanups: (() => void)[] = [];

  after(async () => {
    // A cluster owner a failed test left running: SIGTERM makes it stop its cluster first.
    await Promise.all(
      [...owners].map(async (owner) => {
        if (owner.exitCode !== null || owner.signalCode !== null) return;
        owner.kill('SIGTERM');
        await waitForEvent(owner, 'exit', 30_000).catch(() => owner.kill('SIGKILL'));
      }),
    );
    await Promise.all(started.map((c) => c.stop()));
    await assertNoPostgresLeft(pids);
    for (const cleanup of cleanups) cleanup();
  });

  test('starts on 127.0.0.1 with kv seeded, halts and resumes on the same port, stops without leaving anything', async (t) => {
    const cluster = await startEmbeddedCluster({ rows: 300, maxConnections: 40, log: () => {} });
    started.push(cluster);
    const firstPid = cluster.postmasterPid;
    pids.push(firstPid);
    t.diagnostic(`start timings (ms): ${JSON.stringify(cluster.timings)}`);
    assert.match(cluster.url, /^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?passfile=[^&]+$/, 'no password, only the file that holds it');
    assert.equal(new URL(cluster.url).searchParams.get('passfile'), cluster.passfile);
    assert.ok(cluster.running());
    if (isRoot) assert.equal(cluster.runAs, 'postgres');

    const kv = await readKv(cluster.url, [1, 300, 301]);
    assert.equal(kv.size, 2, 'ids 1 and 300 exist, 301 does not');
    const settings = await readSettings(cluster.url, ['max_connections', 'listen_addresses', 'fsync', 'unix_socket_directories']);
    assert.deepEqual(settings, { max_connections: '40', listen_addresses: '127.0.0.1', fsync: 'off', unix_socket_directories: '' });

    await cluster.halt();
    assert.ok(!isPidAlive(firstPid), 'halt stops the postmaster');
    await assert.rejects(readKv(cluster.url, [1]));
    await cluster.resume();
    pids.push(cluster.postmasterPid);
    assert.notEqual(cluster.postmasterPid, firstPid);
    assert.deepEqual(await readKv(cluster.url, [1, 300]), kv, 'same data, same port after resume');

    const { folder } = cluster;
    await cluster.stop();
    assert.ok(!cluster.running());
    assert.ok(!fs.existsSync(folder), 'the folder is deleted');
    await cluster.stop(); // idempotent
    await assert.rejects(cluster.resume(), (error: unknown) => error instanceof LabError && error.code === LAB_ERR.PG_CLUSTER);
    assert.equal(liveClusters().length, 0);
  });

  for (const ending of ['SIGTERM', 'SIGINT', 'exit'] as const) {
    test(`a process that ends by ${ending === 'exit' ? 'process.exit() without closing' : ending} takes its postmaster with it`, async () => {
      const { child, reported, exited } = spawnClusterOwner(ending === 'exit' ? 'process.exit(0)' : 'setInterval(() => {}, 1000)');
      const cluster = await reported;
      pids.push(cluster.pid);
      if (ending !== 'exit') child.kill(ending);
      const { code, signal } = await exited;
      await waitFor(`postmaster ${cluster.pid} to exit`, () => !isPidAlive(cluster.pid), { timeoutMs: 15_000 });
      if (ending === 'exit') {
        assert.equal(code, 0);
        // The exit handler could only signal; the keeper deleted the folder afterwards.
        await waitFor(`${cluster.folder} to be deleted by the keeper`, () => !fs.existsSync(cluster.folder), { timeoutMs: 15_000 });
      } else {
        // Stopped in order, then died of the signal as it would have without a cluster.
        assert.equal(signal, ending);
        assert.ok(!fs.existsSync(cluster.folder), 'a signal stops the cluster cleanly, folder included');
      }
      await waitFor(`keeper ${cluster.keeperPid} to exit`, () => !isPidAlive(cluster.keeperPid), { timeoutMs: 15_000 });
    });
  }

  test('a run killed without cleaning up, keeper and all: the next start stops its orphaned postmaster and removes its folder', async () => {
    // A separate socketlab process starts a cluster; its keeper dies first, then the owner,
    // both by SIGKILL: no exit handler runs and nobody is left to clean up.
    const { child, reported, exited } = spawnClusterOwner('setInterval(() => {}, 1000)');
    const orphan = await reported;
    pids.push(orphan.pid);
    process.kill(orphan.keeperPid, 'SIGKILL');
    await waitFor(`keeper ${orphan.keeperPid} to die`, () => !isPidAlive(orphan.keeperPid));
    child.kill('SIGKILL');
    await exited;
    assert.ok(isPidAlive(orphan.pid), 'the orphaned postmaster outlives its owner when its keeper is gone too');
    assert.ok(fs.existsSync(orphan.folder));

    const lines: string[] = [];
    const cluster = await startEmbeddedCluster({ log: (l) => lines.push(l) });
    started.push(cluster);
    pids.push(cluster.postmasterPid);
    assert.ok(!isPidAlive(orphan.pid), 'the orphaned postmaster was stopped');
    assert.ok(!fs.existsSync(orphan.folder), 'the stale folder was removed');
    assert.ok(
      lines.some((l) => l.includes(path.basename(orphan.folder)) && l.includes(`postmaster ${orphan.pid}`)),
      `logged: ${lines.join(' | ')}`,
    );
    assert.equal((await readKv(cluster.url, [1])).size, 1, 'and the new cluster works');
  });

  test("another start's sweep leaves a cluster whose owner is alive alone", async () => {
    const { child, reported, exited } = spawnClusterOwner('setInterval(() => {}, 1000)');
    const other = await reported;
    pids.push(other.pid);
    try {
      const cluster = await startEmbeddedCluster({ log: () => {} });
      started.push(cluster);
      pids.push(cluster.postmasterPid);
      assert.ok(isPidAlive(other.pid), "the other owner's postmaster still runs");
      assert.ok(fs.existsSync(other.folder), 'and its folder is still there');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    await waitFor(`postmaster ${other.pid} to exit`, () => !isPidAlive(other.pid), { timeoutMs: 15_000 });
  });

  test('a stale folder whose owner and postmaster are both dead (postmaster.pid left behind) is removed at the next start', async () => {
    const done = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await waitFor('a short-lived process to exit', () => done.exitCode !== null);
    const deadPid = done.pid as number;
    // Where the next start looks: the project's folder, or the temp dir when the postgres
    // user cannot reach the project (a 0700 clone, as CI makes).
    const root = path.join(
      resolveClusterRoot(path.join(stateDir(), 'pg'), resolveRunAsUser(), () => {}),
      'clusters',
    );
    const folder = path.join(root, `stale-test-${process.pid}`);
    fs.mkdirSync(path.join(folder, 'data'), { recursive: true });
    // A start time no live process has: even if the PID were reused, this owner is gone.
    fs.writeFileSync(path.join(folder, 'owner.json'), JSON.stringify({ ownerPid: deadPid, ownerStartTime: 1, detached: false, createdAt: new Date().toISOString() }));
    fs.writeFileSync(path.join(folder, 'data', 'postmaster.pid'), `${deadPid}\n${folder}/data\n`);
    const lines: string[] = [];
    const cluster = await startEmbeddedCluster({ log: (l) => lines.push(l) });
    started.push(cluster);
    pids.push(cluster.postmasterPid);
    assert.ok(!fs.existsSync(folder), 'the stale folder was removed');
    assert.ok(
      lines.some((l) => l.includes(path.basename(folder)) && !l.includes('stopped its postmaster')),
      `logged: ${lines.join(' | ')}`,
    );
  });

  test('when the postgres user cannot reach the folder (a 0700 mktemp clone), the cluster moves under the temp dir and says so', {
    skip: !isRoot && 'only root runs postgres as another user',
  }, async (t) => {
    const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-private-'));
    cleanups.push(() => fs.rmSync(privateDir, { recursive: true, force: true }));
    assert.equal(fs.statSync(privateDir).mode & 0o777, 0o700);
    const lines: string[] = [];
    const cluster = await startEmbeddedCluster({ dir: path.join(privateDir, 'pg'), log: (l) => lines.push(l) });
    started.push(cluster);
    pids.push(cluster.postmasterPid);
    const root = path.dirname(path.dirname(cluster.folder));
    cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
    assert.ok(cluster.folder.startsWith(path.join(os.tmpdir(), 'socketlab-pg-')), cluster.folder);
    assert.ok(
      lines.some((l) => /cannot reach .*socketlab-private-.* so the cluster goes under/.test(l)),
      `logged: ${lines.join(' | ')}`,
    );
    // A fresh root has no template yet: this start paid for initdb; the copy is what later starts pay.
    t.diagnostic(`fresh root: initdb ${cluster.timings.templateMs} ms, copy ${cluster.timings.copyMs} ms, start ${cluster.timings.startMs} ms, seed ${cluster.timings.seedMs} ms`);
    assert.equal((await readKv(cluster.url, [1000])).size, 1);
  });
});

/** Every cluster owner spawned, so that the after hook can stop those a failed test left. */
const owners = new Set<ChildProcess>();

/**
 * Another process that starts a cluster, reports it on stdout, then runs `then` (its way of
 * ending). No close() is ever called: what stops the postmaster is socketlab's safety net.
 */
function spawnClusterOwner(then: string): {
  child: ChildProcess;
  reported: Promise<{ pid: number; folder: string; keeperPid: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { startEmbeddedCluster } = await import(${JSON.stringify(CLUSTER_MODULE)});
       const c = await startEmbeddedCluster({ log: () => {} });
       process.stdout.write(JSON.stringify({ pid: c.postmasterPid, folder: c.folder, keeperPid: c.keeperPid }) + '\\n');
       ${then};`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  owners.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const reported = waitFor('the child to report its cluster', () => output.split('\n').find((l) => l.startsWith('{')), { timeoutMs: 30_000 }).then(
    (line) => JSON.parse(line) as { pid: number; folder: string; keeperPid: number },
  );
  return { child, reported, exited };
}

async function readSettings(url: string, names: string[]): Promise<Record<string, string>> {
  const rows = await runSql<{ name: string; setting: string }>(url, 'SELECT name, setting FROM pg_settings WHERE name = ANY($1)', [names]);
  return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
}
