/**
 * Root follows no link the cluster user could plant. When socketlab runs as root, Postgres
 * runs as `postgres`, and a folder that user owns can hold a symlink to anything by the time
 * root opens, reads or deletes in it. These tests plant such links as the postgres user and
 * check that root's log append, reads and deletion never go through them, that deleting the
 * data folder takes no right the cluster user lacks, and that there is no `nobody` fallback.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { openAppendNoFollow, readFileNoFollow, removeTree, writeFileNoFollow } from '../../src/db/cluster-files.js';
import { resolveRunAsUser } from '../../src/db/cluster.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { lookupUser, type SystemUser } from '../../src/db/processes.js';
import { assertNoPostgresLeft } from './support.js';

const isRoot = process.getuid?.() === 0;
const NEEDS_ROOT = !isRoot && 'only root runs postgres as another user';

/** Run a shell command as `user`; returns whether it succeeded. */
function asUser(user: SystemUser, script: string, ...args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('/bin/sh', ['-c', script, 'sh', ...args], { uid: user.uid, gid: user.gid, encoding: 'utf8', timeout: 15_000 });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

describe('no nobody fallback', () => {
  test('as root with no postgres user: a clear error naming the fix, never nobody', () => {
    const users: Record<string, SystemUser> = { nobody: { name: 'nobody', uid: 65534, gid: 65534 } };
    assert.throws(
      () => resolveRunAsUser((name) => users[name] ?? null, 0),
      (error: unknown) => error instanceof LabError && error.code === LAB_ERR.PG_CLUSTER && /no "postgres" user/.test(error.message) && /useradd/.test(error.message),
    );
    const postgres = { name: 'postgres', uid: 101, gid: 101 };
    assert.deepEqual(
      resolveRunAsUser((name) => (name === 'postgres' ? postgres : null), 0),
      postgres,
    );
    assert.equal(
      resolveRunAsUser(() => null, 1000),
      null,
      'a normal user runs postgres as itself',
    );
  });
});

describe("root's file operations never follow a link", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-nofollow-'));
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test('appending, reading and writing refuse a planted link; writing replaces it instead', () => {
    const victim = path.join(scratch, 'victim');
    fs.writeFileSync(victim, 'untouched\n');
    const link = path.join(scratch, 'log');
    fs.symlinkSync(victim, link);
    assert.throws(
      () => openAppendNoFollow(link),
      (error: unknown) => error instanceof LabError && /symbolic link/.test(error.message),
    );
    assert.throws(
      () => readFileNoFollow(link),
      (error: unknown) => error instanceof LabError && /symbolic link/.test(error.message),
    );
    writeFileNoFollow(link, 'new\n');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n', 'the link target was not written');
    assert.ok(!fs.lstatSync(link).isSymbolicLink(), 'the link was replaced by a file');
  });

  test('a FIFO is refused rather than read (it would block the reader for ever)', () => {
    const fifo = path.join(scratch, 'fifo');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return;
    assert.throws(
      () => readFileNoFollow(fifo),
      (error: unknown) => error instanceof LabError && /not a regular file/.test(error.message),
    );
  });
});

describe('a cluster run as the postgres user', { skip: NEEDS_ROOT }, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-root-files-'));
  const postgres = lookupUser('postgres') as SystemUser;
  const pids: number[] = [];
  const clusters: EmbeddedCluster[] = [];

  after(async () => {
    await Promise.all(clusters.map((c) => c.stop().catch(() => {})));
    await assertNoPostgresLeft(pids);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test("the files root writes live in a folder only root can write; data/ is the cluster user's", async () => {
    const cluster = await startEmbeddedCluster({ rows: 1, log: () => {} });
    clusters.push(cluster);
    pids.push(cluster.postmasterPid);
    const folder = fs.lstatSync(cluster.folder);
    assert.equal(folder.uid, 0);
    assert.equal(folder.mode & 0o777, 0o711, 'root writes here; postgres may only pass through');
    for (const name of ['owner.json', 'postgres.log', 'pgpass']) {
      const file = fs.lstatSync(path.join(cluster.folder, name));
      assert.ok(file.isFile(), name);
      assert.equal(file.uid, 0, name);
      assert.equal(file.mode & 0o777, 0o600, name);
    }
    const data = fs.lstatSync(cluster.dataDir);
    assert.equal(data.uid, postgres.uid);
    assert.equal(data.mode & 0o777, 0o700);
    assert.ok(!asUser(postgres, 'touch "$1"', path.join(cluster.folder, 'planted')).ok, 'postgres cannot create anything beside data/');
  });

  test('postgres.log swapped for a link by the cluster user: root never appends through it', async () => {
    const cluster = await startEmbeddedCluster({ rows: 1, log: () => {} });
    clusters.push(cluster);
    pids.push(cluster.postmasterPid);
    const victim = path.join(scratch, 'victim-log');
    fs.writeFileSync(victim, 'untouched\n');
    // The attack: as postgres, replace the log root appends to with a link to a root file.
    const planted = asUser(postgres, 'rm -f "$1" && ln -s "$2" "$1"', cluster.logFile, victim);
    assert.ok(!planted.ok, `the cluster user could swap the log: ${planted.output}`);
    // Root opens the log again on every start: halt and resume make it do so.
    await cluster.halt('immediate');
    await cluster.resume();
    pids.push(cluster.postmasterPid);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n', 'nothing was appended to the victim');
    assert.ok(fs.lstatSync(cluster.logFile).isFile());
  });

  test('deleting data/ follows no planted link and takes no right the cluster user lacks', async () => {
    const cluster = await startEmbeddedCluster({ rows: 1, log: () => {} });
    pids.push(cluster.postmasterPid);
    // Outside: a folder with a file, which a link planted in data/ points at.
    const outside = path.join(scratch, 'outside');
    fs.mkdirSync(outside, { mode: 0o777 });
    fs.writeFileSync(path.join(outside, 'keep'), 'keep\n');
    assert.ok(asUser(postgres, 'ln -s "$1" "$2/escape" && mkdir "$2/sub" && ln -s "$1/keep" "$2/sub/keep-link"', outside, cluster.dataDir).ok);
    // Inside data/: a folder only root may empty (a root-owned folder the cluster user cannot
    // write into). Deleting as the cluster user must leave it, as that user could not delete it.
    const rootOnly = path.join(cluster.dataDir, 'root-only');
    fs.mkdirSync(rootOnly, { mode: 0o755 });
    fs.writeFileSync(path.join(rootOnly, 'keep'), 'keep\n');

    await assert.rejects(cluster.stop(), (error: unknown) => error instanceof LabError && /cannot delete .*data/.test(error.message));
    assert.ok(!cluster.running(), 'the postmaster was stopped first');
    assert.equal(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'keep\n', 'the link target outside survives');
    assert.ok(fs.existsSync(path.join(rootOnly, 'keep')), 'what postgres may not delete, root did not delete for it');
    assert.ok(!fs.existsSync(path.join(cluster.dataDir, 'escape')) && !fs.existsSync(path.join(cluster.dataDir, 'sub')), 'what postgres owned is gone');
    // Clean up what the test planted, then the folder.
    fs.rmSync(rootOnly, { recursive: true });
    await removeTree(cluster.folder, postgres);
    assert.ok(!fs.existsSync(cluster.folder));
  });
});
