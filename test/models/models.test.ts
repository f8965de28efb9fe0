/**
 * The three concurrency models behind the same routes: same answers, and each model's
 * character visible for real (threads that follow connections, an event loop that stalls
 * under CPU work while a pool's does not).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { startServe, type ServerProcess } from '../support/cli.js';
import { connectRaw, type RawConnection } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { runLoad } from '../../src/load/index.js';

const MODELS = ['loop', 'pool', 'thread'] as const;
let cluster: EmbeddedCluster;

before(async () => {
  cluster = await startEmbeddedCluster({ rows: 1000 });
});
after(async () => {
  await cluster.stop();
});

/** One request on its own connection; status and body. */
async function get(port: number, target: string, method = 'GET'): Promise<{ status: number; headers: string; body: string }> {
  const c = await connectRaw(port);
  await c.write(`${method} ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  const text = await c.closed;
  const split = text.indexOf('\r\n\r\n');
  return { status: Number(text.slice(9, 12)), headers: text.slice(0, split), body: text.slice(split + 4) };
}

async function stats(port: number): Promise<Record<string, any>> {
  return JSON.parse((await get(port, '/stats')).body) as Record<string, any>;
}

const TARGETS: [string, string][] = [
  ['GET', '/healthz'],
  ['GET', '/age?birthdate=1993-05-01'],
  ['HEAD', '/age?birthdate=1993-05-01'],
  ['GET', '/age?birthdate=1993-02-30'],
  ['GET', '/uuid/1'],
  ['GET', '/uuid/42'],
  ['GET', '/uuid/1000'],
  ['GET', '/uuid/1001'],
  ['GET', '/uuid/x'],
  ['GET', '/work?ms=9999'],
  ['POST', '/work?ms=1'],
  ['GET', '/missing'],
];

test('every route answers the same under each model, /uuid included', async () => {
  const answers = new Map<string, string[]>();
  for (const model of MODELS) {
    const serve = await startServe(['--model', model, '--db', cluster.url, '--pool', '4']);
    try {
      const list: string[] = [];
      for (const [method, target] of TARGETS) {
        const { status, headers, body } = await get(serve.port, target, method);
        const contentType = /Content-Type: ([^\r]+)/i.exec(headers)?.[1] ?? '';
        list.push(`${method} ${target} → ${status} ${contentType} ${body}`);
      }
      const work = await get(serve.port, '/work?ms=5');
      assert.equal(work.status, 200, `${model}: /work`);
      assert.ok(Number(/"tookMs":([\d.]+)/.exec(work.body)?.[1]) >= 5, `${model}: /work burnt less than 5 ms`);
      answers.set(model, list);
    } finally {
      assert.equal((await serve.stop()).code, 0, `${model} did not exit 0`);
    }
  }
  const loop = answers.get('loop') as string[];
  assert.match(loop[5] as string, /→ 200 application\/json \{"id":42,"uuid":"[0-9a-f-]{36}"\}/);
  for (const model of ['pool', 'thread'] as const) assert.deepEqual(answers.get(model), loop, `${model} differs from loop`);
});

function taskCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

test('thread model: one thread per open connection, up and back down', async () => {
  const serve = await startServe(['--model', 'thread']);
  const connections: RawConnection[] = [];
  try {
    const baseTasks = taskCount(serve.pid);
    for (let i = 0; i < 20; i++) connections.push(await connectRaw(serve.port));
    // Each connection answers once: its thread exists and works.
    await Promise.all(
      connections.map(async (c) => {
        await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
        await c.until((text) => text.endsWith('ok'));
      }),
    );
    const up = await stats(serve.port);
    // 20 connections plus the one asking for /stats.
    assert.equal(up.model.connectionThreads, 21);
    assert.ok(taskCount(serve.pid) >= baseTasks + 20, `kernel tasks ${taskCount(serve.pid)} vs ${baseTasks} before`);
    for (const c of connections.splice(0, 15)) c.end();
    await waitFor('threads to exit with their connections', async () => (await stats(serve.port)).model.connectionThreads <= 6, { timeoutMs: 20_000 });
    await waitFor('kernel task count to fall', () => taskCount(serve.pid) <= baseTasks + 8, { timeoutMs: 20_000 });
  } finally {
    for (const c of connections) c.end();
    assert.equal((await serve.stop()).code, 0);
  }
});

test('thread model: beyond --max-threads a connection gets 503 and is counted as refused', async () => {
  const serve = await startServe(['--model', 'thread', '--max-threads', '2']);
  try {
    const a = await connectRaw(serve.port);
    const b = await connectRaw(serve.port);
    const over = await connectRaw(serve.port);
    const text = await over.closed;
    assert.match(text, /^HTTP\/1\.1 503 /);
    assert.match(text, /LAB_ERR_MODEL_NO_THREAD/);
    a.end();
    await a.closed;
    // /stats needs a thread too: wait until a's has gone.
    const s = await waitFor('a thread to free up', async () => {
      const answer = await get(serve.port, '/stats');
      return answer.status === 200 ? (JSON.parse(answer.body) as Record<string, any>) : null;
    });
    assert.ok(s.model.refused >= 1);
    b.end();
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});

test('under /work load the loop model\'s event loop stalls; the pool model\'s does not', async () => {
  const delays: Record<string, number> = {};
  for (const model of ['loop', 'pool'] as const) {
    const serve = await startServe(['--model', model, ...(model === 'pool' ? ['--workers', '2'] : [])]);
    try {
      const result = await runLoad({ url: `http://127.0.0.1:${serve.port}/work?ms=20`, vus: 4, durationMs: 1500 });
      assert.ok(result.summary.ok > 10, `${model}: only ${result.summary.ok} requests`);
      const s = await stats(serve.port);
      delays[model] = s.eventLoop.delayMs.p99 as number;
    } finally {
      assert.equal((await serve.stop()).code, 0);
    }
  }
  // /work?ms=20 runs on the loop: the loop is blocked ~20 ms at a time.
  assert.ok((delays.loop as number) >= 15, `loop model p99 loop delay ${delays.loop} ms`);
  assert.ok((delays.pool as number) < (delays.loop as number) / 2, `pool ${delays.pool} ms vs loop ${delays.loop} ms`);
});
