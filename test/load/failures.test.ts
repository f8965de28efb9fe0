/**
 * Every failure kind produced for real and classified on its own: nothing listening, a
 * server that resets, one that never answers, one that sends garbage, one that closes
 * mid-response, a full accept queue (connect timeout), a source address that is not on this
 * machine (EADDRNOTAVAIL at bind) and a process out of file descriptors (EMFILE).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FAILURE, runLoad, type FailureKind, type LoadResult } from '../../src/load/index.js';
import { CLI_PATH } from '../support/cli.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { runUntilServed } from './run-until.js';
import { closedPort, startTestServer, type Behaviour } from './servers.js';

/** Every failure is of `kind` and there is at least `min` of them. */
function assertOnly(result: LoadResult, kind: FailureKind, min = 1): void {
  const { failures, failed } = result.summary;
  assert.ok(failures[kind] >= min, `expected at least ${min} ${kind}, got ${JSON.stringify(failures)}`);
  assert.equal(failed, failures[kind], `only ${kind} expected: ${JSON.stringify(failures)}`);
}

describe('failure kinds', () => {
  const cases: { name: string; behaviour: Behaviour; kind: FailureKind; timeoutMs?: number }[] = [
    { name: 'a server that resets → reset', behaviour: { kind: 'reset' }, kind: FAILURE.RESET },
    { name: 'a server that never answers → response_timeout', behaviour: { kind: 'silent' }, kind: FAILURE.RESPONSE_TIMEOUT, timeoutMs: 150 },
    { name: 'a malformed status line → malformed', behaviour: { kind: 'malformed' }, kind: FAILURE.MALFORMED },
    { name: 'a close before the body is complete → closed_early', behaviour: { kind: 'close-early' }, kind: FAILURE.CLOSED_EARLY },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const server = await startTestServer(c.behaviour);
      try {
        const options = { url: server.url, vus: 3, ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }) };
        // Until the server has seen 3 requests: each fails, in flight ones included (drained).
        const result = await runUntilServed(server, options, 3);
        assertOnly(result, c.kind, 3);
        assert.equal(result.summary.responses, 0);
        assert.equal(result.summary.requests, result.summary.failed);
        // The per-second series carries the same kinds.
        const seriesCount = result.series.reduce((n, s) => n + (s.failures[c.kind] ?? 0), 0);
        assert.equal(seriesCount, result.summary.failures[c.kind]);
      } finally {
        await server.close();
      }
    });
  }

  it('nothing listening → refused', async () => {
    const port = await closedPort();
    const result = await runLoad({ url: `http://127.0.0.1:${port}/`, vus: 2, durationMs: 300 });
    assertOnly(result, FAILURE.REFUSED, 2);
    assert.equal(result.summary.connected, 0);
  });

  it('status >= 400 → http_status, by status; 3xx counted but not failures', async () => {
    const failing = await startTestServer({ kind: 'ok', status: 503, body: 'busy' });
    const redirecting = await startTestServer({ kind: 'ok', status: 301, body: '' });
    try {
      const bad = await runUntilServed(failing, { url: failing.url, vus: 2 }, 10);
      assertOnly(bad, FAILURE.HTTP_STATUS, 10);
      assert.equal(bad.summary.failures.http_status, bad.summary.responses);
      assert.deepEqual(bad.summary.non2xx, { '503': bad.summary.responses });
      const moved = await runUntilServed(redirecting, { url: redirecting.url, vus: 2 }, 10);
      assert.ok(moved.summary.responses >= 10);
      assert.equal(moved.summary.failed, 0);
      assert.equal(moved.summary.ok, moved.summary.responses);
      assert.deepEqual(moved.summary.non2xx, { '301': moved.summary.responses });
    } finally {
      await failing.close();
      await redirecting.close();
    }
  });

  it('a full accept queue → connect_timeout', async () => {
    // A listener whose process is stopped accepts nothing; once its accept queue (backlog 1,
    // so 2 connections) is full, the kernel drops further SYNs and connects hang.
    const child = spawn(
      process.execPath,
      ['-e', "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));"],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: net.Socket[] = [];
    try {
      const [line] = (await waitForEvent(child.stdout, 'data')) as [Buffer];
      const port = Number(line.toString().trim());
      process.kill(child.pid as number, 'SIGSTOP');
      let connected = 0;
      for (let i = 0; i < 2; i++) {
        const socket = net.connect({ port, host: '127.0.0.1' });
        socket.on('error', () => {});
        socket.on('connect', () => (connected += 1));
        fillers.push(socket);
      }
      await waitFor('the accept queue to fill', () => connected === 2);
      const result = await runLoad({ url: `http://127.0.0.1:${port}/`, vus: 3, durationMs: 400, connectTimeoutMs: 150 });
      assertOnly(result, FAILURE.CONNECT_TIMEOUT, 3);
      assert.equal(result.summary.connected, 0);
    } finally {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
      await waitForEvent(child, 'exit').catch(() => undefined);
    }
  });

  it('a --local-address not on this machine → eaddrnotavail (at bind)', async () => {
    const server = await startTestServer();
    try {
      // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a real host.
      const result = await runLoad({ url: server.url, vus: 2, durationMs: 300, localAddresses: ['192.0.2.1'] });
      assertOnly(result, FAILURE.EADDRNOTAVAIL, 2);
      assert.equal(server.connections, 0);
    } finally {
      await server.close();
    }
  });

  it('too few file descriptors → emfile (the CLI in a process with ulimit -n 64)', async () => {
    const server = await startTestServer();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'socketlab-load-'));
    try {
      const jsonFile = path.join(dir, 'result.json');
      const child = spawn(
        'bash',
        ['-c', 'ulimit -n 64 && exec "$@"', 'bash', process.execPath, CLI_PATH, 'load', server.url, '--vus', '120', '--duration', '400ms', '--json', jsonFile],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.stdout.resume();
      const [code] = (await waitForEvent(child, 'exit', 20_000)) as [number | null];
      assert.equal(code, 0, stderr);
      const result = JSON.parse(await readFile(jsonFile, 'utf8')) as LoadResult;
      assert.ok(result.summary.failures.emfile > 0, JSON.stringify(result.summary.failures));
      // The VUs that did get a descriptor kept working.
      assert.ok(result.summary.responses > 0);
      assert.equal(result.summary.failed, result.summary.failures.emfile);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
