/**
 * No credential in an answer: every way a connection string can carry a password is masked
 * before it reaches /stats, a 503 body or a log line. Checked on the masking itself (every
 * form libpq accepts) and end to end, through `socketlab serve` given a real password in
 * `?password=` (the form the old masking missed) against a real cluster.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { redactUrl, startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { startServe } from '../support/cli.js';
import { connectRaw } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';
import { assertNoPostgresLeft } from './support.js';

describe('redactUrl', () => {
  const cases: { input: string; secret: string; keeps: string[] }[] = [
    { input: 'postgresql://u:hunter2@h:5432/db', secret: 'hunter2', keeps: ['postgresql://u:***@h:5432/db'] },
    { input: 'postgresql://u@h/db?password=hunter2', secret: 'hunter2', keeps: ['postgresql://u@h/db?', 'password=***'] },
    { input: 'postgresql://u@h/db?sslmode=require&password=hunter2&application_name=x', secret: 'hunter2', keeps: ['sslmode=require', 'application_name=x'] },
    { input: 'postgresql://u@h/db?pass%77ord=hunter2', secret: 'hunter2', keeps: ['password=***'] },
    { input: 'postgresql://u@h/db?sslpassword=hunter2', secret: 'hunter2', keeps: ['sslpassword=***'] },
    { input: 'postgresql://u@h/db?PASSWORD=hunter2', secret: 'hunter2', keeps: [] },
    { input: 'postgresql://u:a%3Ab@h/db?password=c%20d', secret: 'c%20d', keeps: [] },
    { input: 'postgresql://u@h/db?passfile=%2Fhome%2Fu%2Fpgpass', secret: 'never-there', keeps: ['passfile=%2Fhome%2Fu%2Fpgpass'] },
    { input: 'host=h port=5432 user=u password=hunter2 dbname=db', secret: 'hunter2', keeps: ['host=h', 'dbname=db', 'password=***'] },
    { input: "host=h password='hunter 2' dbname=db", secret: 'hunter 2', keeps: ['dbname=db'] },
    { input: 'host=h sslpassword = hunter2', secret: 'hunter2', keeps: [] },
    { input: '//u:hunter2@h', secret: 'hunter2', keeps: [] },
  ];
  for (const { input, secret, keeps } of cases) {
    test(`${input} → no "${secret}"`, () => {
      const masked = redactUrl(input);
      assert.ok(!masked.includes(secret), masked);
      assert.ok(!masked.includes('hunter'), masked);
      for (const kept of keeps) assert.ok(masked.includes(kept), `${masked} keeps ${kept}`);
    });
  }
});

describe('serve given a password in ?password=', () => {
  let cluster: EmbeddedCluster;
  let password: string;
  let url: string;

  before(async () => {
    cluster = await startEmbeddedCluster({ rows: 10, log: () => {} });
    password = fs.readFileSync(cluster.passfile, 'utf8').trim().split(':').pop() as string;
    // The cluster's real password, in the query: serve can log in, and must show it nowhere.
    url = `postgresql://postgres@127.0.0.1:${cluster.port}/postgres?password=${password}`;
  });
  after(async () => {
    const pids = [cluster.postmasterPid];
    await cluster.stop();
    await assertNoPostgresLeft(pids);
  });

  async function get(port: number, target: string): Promise<{ status: number; body: string }> {
    const c = await connectRaw(port);
    await c.write(`GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    const text = await c.closed;
    return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
  }

  test('/stats, a 503 body while Postgres is down, and the log show no password', async () => {
    // Through the environment, not argv: a test must not show the password in ps either.
    const serve = await startServe(['--pool', '2'], { env: { DATABASE_URL: url } });
    try {
      assert.equal((await get(serve.port, '/uuid/3')).status, 200, 'serve logged in with the password from the query');
      const stats = await get(serve.port, '/stats');
      assert.ok(!stats.body.includes(password), `/stats: ${stats.body}`);
      assert.doesNotMatch(stats.body, /postgres(ql)?:\/\//, '/stats names no database URL at all, redacted or not');
      assert.equal((JSON.parse(stats.body) as { db: { size: number } }).db.size, 2, '/stats still shows the pool');
      await cluster.halt('fast');
      const down = await waitFor('/uuid to answer 503', async () => {
        const answer = await get(serve.port, '/uuid/3');
        return answer.status === 503 ? answer : null;
      });
      assert.ok(!down.body.includes(password), `503 body: ${down.body}`);
    } finally {
      await cluster.resume();
      assert.equal((await serve.stop()).code, 0);
    }
    const { stdout, stderr } = serve.output();
    assert.ok(!stdout.includes(password) && !stderr.includes(password), `serve's output: ${stderr}`);
  });
});
