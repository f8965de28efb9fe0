/**
 * The three concurrency models behind the same routes: same answers, and each model's
 * character visible for real (threads that follow connections, an event loop that stalls
 * under CPU work while a pool's does not).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startServe } from '../support/cli.js';
import { askOn, connectRaw, type RawConnection } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../src/db/index.js';
import { parseProcStat, ticksToMs } from '../../src/metrics/process-stats.js';
import type { LoopStats } from '../../src/metrics/loop-monitor.js';
import type { ServerStats } from '../../src/server/server.js';

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

/** The parts of /stats (src/serve.ts) these tests read, from a server with the default loop monitor. */
interface StatsView {
  model: { connectionThreads: number; exited: number; refused: number };
  eventLoop: LoopStats;
  requests: ServerStats['requests'];
}

function parseStats(body: string): StatsView {
  return JSON.parse(body) as StatsView;
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
      // One kept-alive connection (a new one only after an answer that closes it): in the
      // thread model that is one thread for every route, not a thread started per request.
      let c = await connectRaw(serve.port);
      for (const [method, target] of TARGETS) {
        const { status, head, body } = await askOn(c, `${method} ${target} HTTP/1.1\r\nHost: t\r\n\r\n`);
        const contentType = /Content-Type: ([^\r]+)/i.exec(head)?.[1] ?? '';
        list.push(`${method} ${target} → ${status} ${contentType} ${body}`);
        if (/\r\nConnection: close/i.test(head)) {
          await c.closed;
          c = await connectRaw(serve.port);
        }
      }
      c.end();
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
  // Idle connections stay open for the whole test, however slowly its threads start: the
  // server's default closes them after 5 s, which would take their threads with them.
  const serve = await startServe(['--model', 'thread', '--keep-alive-timeout', '120000']);
  // Every /stats below goes over this one kept-alive connection, which holds one thread for
  // all of them. A connection per poll would start a thread per poll, and each outlives its
  // connection by the time the thread takes to start and exit: polled every few ms on a slow
  // machine, those threads alone kept the count above what it waited for.
  const statsConnection = await connectRaw(serve.port);
  const readStats = async (): Promise<StatsView> => parseStats((await askOn(statsConnection, 'GET /stats HTTP/1.1\r\nHost: t\r\n\r\n')).body);
  const connections: RawConnection[] = [];
  try {
    assert.equal((await readStats()).model.connectionThreads, 1, 'the stats connection has its thread');
    const baseTasks = taskCount(serve.pid);
    for (let i = 0; i < 20; i++) connections.push(await connectRaw(serve.port));
    // Each connection answers once: its thread exists and works. Twenty isolates starting at
    // once can take tens of seconds on a busy 2-core machine.
    await Promise.all(
      connections.map(async (c) => {
        await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
        await c.until((text) => text.endsWith('ok'), 60_000);
      }),
    );
    const up = await readStats();
    // 20 connections plus the one asking for /stats.
    assert.equal(up.model.connectionThreads, 21);
    const upTasks = taskCount(serve.pid);
    assert.ok(upTasks >= baseTasks + 20, `kernel tasks ${upTasks} vs ${baseTasks} before`);
    for (const c of connections.splice(0, 15)) c.end();
    const down = await waitFor(
      'threads to exit with their connections',
      async () => {
        const now = await readStats();
        return now.model.connectionThreads === 6 ? now : null;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(down.model.exited - up.model.exited, 15, "exactly the closed connections' threads exited");
    await waitFor('kernel task count to fall by the 15 threads', () => taskCount(serve.pid) <= upTasks - 15, { timeoutMs: 20_000 });
  } finally {
    for (const c of [...connections, statsConnection]) c.end();
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
      return answer.status === 200 ? parseStats(answer.body) : null;
    });
    assert.ok(s.model.refused >= 1);
    b.end();
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});

/** CPU time the process has used so far (all threads), from /proc/PID/stat. */
function cpuMs(pid: number): number {
  const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  assert.ok(stat !== null, `/proc/${pid}/stat`);
  return ticksToMs(stat.utimeTicks + stat.stimeTicks);
}

test('while /work burns CPU the loop model answers nothing else; the pool model answers /stats meanwhile', async () => {
  const WORK_MS = 1000;
  for (const model of ['loop', 'pool'] as const) {
    const serve = await startServe(['--model', model, ...(model === 'pool' ? ['--workers', '2'] : [])]);
    try {
      // Node's loop-delay histogram drops its first timer interval (it has nothing to measure
      // from yet): a stall before that first tick would never be recorded, so wait for it.
      let polls = 0;
      if (model === 'loop') {
        await waitFor('the loop-delay monitor to take its first sample', async () => {
          polls += 1;
          return parseStats((await get(serve.port, '/stats')).body).eventLoop.delayMs.count > 0;
        });
      }
      const cpuBefore = cpuMs(serve.pid);
      const work = await connectRaw(serve.port);
      await work.write(`GET /work?ms=${WORK_MS} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      // The server has started on /work once it has burnt CPU that an idle server does not:
      // from here on, /stats arrives while the work runs (on the loop or on a worker).
      await waitFor('the server to be busy on /work', () => cpuMs(serve.pid) - cpuBefore >= 100, { intervalMs: 5 });
      const { status, body } = await get(serve.port, '/stats');
      assert.equal(status, 200);
      const s = parseStats(body);
      const answer = await work.closed;
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/, `${model}: /work`);
      assert.equal(s.requests.total, polls + 2, `${model}: both /work and /stats were read when /stats was answered`);
      if (model === 'loop') {
        // The one thread answered /stats only once /work was done: its loop was blocked.
        assert.deepEqual(s.requests.byStatus, { '200': polls + 1 }, 'loop: /work was answered before /stats');
        // The loop-delay timer records the stall when it fires, which can be just after the
        // /stats it held back was answered: ask again until that reading has landed.
        const stalled = await waitFor('the event-loop delay to record the stall', async () => {
          const again = parseStats((await get(serve.port, '/stats')).body);
          return again.eventLoop.delayMs.max >= WORK_MS / 2 ? again : null;
        });
        assert.ok(stalled.eventLoop.delayMs.max < 10 * WORK_MS, `loop: the longest delay ${stalled.eventLoop.delayMs.max} ms is the work's, not something else's`);
      } else {
        // The worker was still burning when the main thread answered /stats.
        assert.deepEqual(s.requests.byStatus, {}, 'pool: /stats was answered while /work was still running');
      }
    } finally {
      assert.equal((await serve.stop()).code, 0);
    }
  }
});
