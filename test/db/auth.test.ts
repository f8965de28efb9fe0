/**
 * No local user becomes superuser: an embedded cluster takes no connection without its own
 * random password (scram-sha-256, no `trust` line in pg_hba.conf), the password sits in a
 * 0600 file only the starter can read, and it appears in no URL, no command line (`ps`
 * shows every process's argv to every local user) and no log line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { lookupUser, processCommandLine } from '../../src/db/processes.js';
import { assertNoPostgresLeft, runSql } from './support.js';

const isRoot = process.getuid?.() === 0;

/** Every process on the machine whose command line mentions `text`. */
function processesMentioning(text: string): { pid: number; commandLine: string }[] {
  const found: { pid: number; commandLine: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const commandLine = processCommandLine(Number(entry));
    if (commandLine?.includes(text)) found.push({ pid: Number(entry), commandLine });
  }
  return found;
}

describe('who can connect to an embedded cluster', () => {
  let cluster: EmbeddedCluster;
  let password: string;

  before(async () => {
    cluster = await startEmbeddedCluster({ rows: 5, log: () => {} });
    password = fs.readFileSync(cluster.passfile, 'utf8').trim().split(':').pop() as string;
  });
  after(async () => {
    const pid = cluster.postmasterPid;
    await cluster.stop();
    await assertNoPostgresLeft([pid]);
  });

  test('the cluster URL works and holds no password; the password file is 0600 and ours alone', async () => {
    assert.equal((await runSql<{ n: number }>(cluster.url, 'SELECT count(*)::int AS n FROM kv'))[0]?.n, 5);
    assert.ok(password.length >= 32, 'a long random password');
    assert.ok(!cluster.url.includes(password));
    const stat = fs.statSync(cluster.passfile);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(stat.uid, process.getuid?.());
  });

  test('a connection as the superuser without the password is refused', async () => {
    // What any local user could do before: pg, no password, to 127.0.0.1:PORT.
    const client = new pg.Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', password: 'not-the-password', connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    await assert.rejects(client.connect(), /password authentication failed/);
    await client.end().catch(() => {});
  });

  test('pg_hba.conf has no trust line, and every stored secret is SCRAM', async () => {
    const rules = await runSql<{ type: string; auth_method: string }>(cluster.url, 'SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL');
    assert.ok(rules.length > 0);
    assert.deepEqual(new Set(rules.map((r) => r.auth_method)), new Set(['scram-sha-256']), JSON.stringify(rules));
    const secrets = await runSql<{ secret: string }>(cluster.url, "SELECT rolpassword AS secret FROM pg_authid WHERE rolname = 'postgres'");
    assert.match(secrets[0]?.secret ?? '', /^SCRAM-SHA-256\$4096:/);
  });

  test('no process shows the password on its command line, and the log never had it', () => {
    const mine = processesMentioning(cluster.dataDir);
    assert.ok(
      mine.some((p) => p.pid === cluster.postmasterPid),
      'the postmaster is found by its data folder',
    );
    assert.ok(cluster.keeperPid !== null && mine.some((p) => p.pid === cluster.keeperPid), 'and so is the keeper');
    for (const process of mine) assert.ok(!process.commandLine.includes(password), `pid ${process.pid}: ${process.commandLine}`);
    assert.ok(!fs.readFileSync(cluster.logFile, 'utf8').includes(password), 'postgres.log');
  });

  test('another local user can neither read the password file nor log in with psql', { skip: !isRoot && 'needs root to act as another local user' }, (t) => {
    const other = lookupUser('nobody');
    if (other === null || cluster.binaries.psql === null) {
      t.skip('no "nobody" user or no psql here');
      return;
    }
    const asOther = { uid: other.uid, gid: other.gid, encoding: 'utf8' as const, timeout: 15_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGCONNECT_TIMEOUT: '5' } };
    const read = spawnSync('cat', [cluster.passfile], asOther);
    assert.notEqual(read.status, 0, 'nobody cannot read the password file');
    assert.ok(!String(read.stdout).includes(password));
    // The attack from the issue: psql -h 127.0.0.1 -p PORT -U postgres, then COPY ... TO PROGRAM.
    const psql = spawnSync(cluster.binaries.psql, ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-w', '-c', 'SELECT 1', 'postgres'], asOther);
    assert.notEqual(psql.status, 0, `psql as nobody must fail: ${psql.stdout}`);
    assert.match(psql.stderr, /password/, psql.stderr);
    // Given the URL (it is printed, and it is in ps), still no: the file it names is unreadable.
    const withUrl = spawnSync(cluster.binaries.psql, ['-w', '-c', 'SELECT 1', cluster.url], asOther);
    assert.notEqual(withUrl.status, 0, `psql with the URL as nobody must fail: ${withUrl.stdout}`);
  });
});
