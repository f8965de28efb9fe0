/**
 * `socketlab db start|status|stop` through the real CLI, in a private state folder so a
 * cluster someone keeps up by hand in this checkout is never touched. The private folder is
 * made by mkdtemp (mode 0700), like a CI clone: as root, this also covers the relocation of
 * the cluster to a folder the postgres user can reach.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { isPidAlive } from '../../src/db/processes.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { readKv } from './support.js';

describe('socketlab db', () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-cli-db-'));
  const env = { SOCKETLAB_STATE_DIR: stateDir };
  // A fresh state folder pays for initdb: tens of seconds on a busy machine. The bound only
  // catches a hang.
  const db = (...args: string[]) => runCli(['db', ...args], { env, timeoutMs: 180_000 });
  let postmasterPid = 0;
  let clusterRoot: string | null = null;

  after(async () => {
    // Whatever happened above, leave no cluster running.
    await db('stop');
    if (postmasterPid !== 0) await waitFor(`postmaster ${postmasterPid} to exit`, () => !isPidAlive(postmasterPid), { timeoutMs: 15_000 });
    fs.rmSync(stateDir, { recursive: true, force: true });
    if (clusterRoot !== null && path.basename(clusterRoot).startsWith('socketlab-pg-')) fs.rmSync(clusterRoot, { recursive: true, force: true });
  });

  test('--help prints the usage and exits 0', async () => {
    const result = await db('--help');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: socketlab db start/);
    assert.match(result.stdout, /--max-connections N/);
  });

  const usageCases: { args: string[]; error: RegExp }[] = [
    { args: [], error: /say what to do: start, stop or status/ },
    { args: ['restart'], error: /unknown action "restart"/ },
    { args: ['start', 'now'], error: /unexpected argument "now"/ },
    { args: ['start', '--rows', 'many'], error: /--rows must be a whole number/ },
    { args: ['start', '--shared-buffers', '1 gig'], error: /--shared-buffers must be a size like 128MB/ },
    { args: ['stop', '--rows', '5'], error: /--rows only applies to db start/ },
    { args: ['start', '--bogus'], error: /Unknown option '--bogus'/ },
  ];
  // Each case is a process of its own that exits before touching any cluster: side by side.
  describe('usage errors', { concurrency: true }, () => {
    for (const { args, error } of usageCases) {
      test(`db ${args.join(' ') || '(no action)'} is a usage error (exit 2, one line)`, async () => {
        const result = await db(...args);
        assert.equal(result.code, 2);
        assert.match(result.stderr, error);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      });
    }
  });

  test('start keeps a cluster up after the command returns, status sees it, stop ends it', async () => {
    assert.equal((await db('status')).code, 1, 'nothing runs yet');

    const started = await db('start', '--rows', '25', '--max-connections', '50');
    assert.equal(started.code, 0, started.stderr);
    const url = /url\s+(postgresql:\/\/\S+)/.exec(started.stdout)?.[1];
    assert.ok(url !== undefined, started.stdout);
    const quoted = `'${url}'`;
    assert.ok(started.stdout.includes(`psql ${quoted}`), `a psql line with the quoted URL: ${started.stdout}`);
    assert.ok(started.stdout.includes(`socketlab serve --db ${quoted}`), started.stdout);

    const statusText = (await db('status', '--json')).stdout;
    const status = JSON.parse(statusText) as { running: boolean; url: string; postmasterPid: number; folder: string; passfile: string };
    // The password is in the 0600 file the URL names, and printed nowhere.
    const password = fs.readFileSync(status.passfile, 'utf8').trim().split(':').pop() as string;
    assert.equal(fs.statSync(status.passfile).mode & 0o777, 0o600);
    assert.match(started.stdout, new RegExp(`auth\\s+scram-sha-256; the password is in ${status.passfile.replace(/[/.]/g, '\\$&')}`));
    for (const printed of [started.stdout, started.stderr, statusText]) assert.ok(!printed.includes(password), printed);
    assert.equal(status.running, true);
    assert.equal(status.url, url);
    postmasterPid = status.postmasterPid;
    clusterRoot = path.dirname(path.dirname(status.folder));
    assert.ok(isPidAlive(postmasterPid), 'the postmaster outlives db start');
    const kv = await readKv(url, [1, 25, 26]);
    assert.equal(kv.size, 2, 'ids 1 and 25 exist, 26 does not');

    const again = await db('start');
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^already running/);
    assert.ok(again.stdout.includes(url), 'the same cluster, not a second one');

    const plainStatus = await db('status');
    assert.equal(plainStatus.code, 0);
    assert.match(plainStatus.stdout, /^running: PostgreSQL/);
    assert.ok(!plainStatus.stdout.includes(password));
    assert.ok(!fs.readFileSync(path.join(stateDir, 'db.json'), 'utf8').includes(password), 'the state file names the password file only');

    const stopped = await db('stop');
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /^stopped PostgreSQL/);
    assert.ok(!isPidAlive(postmasterPid), 'stop waited for the postmaster to exit');
    assert.ok(!fs.existsSync(status.folder), 'and deleted its folder');
    assert.equal((await db('status')).code, 1);
    assert.match((await db('stop')).stdout, /nothing to stop/);
  });
});
