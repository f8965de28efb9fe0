import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { runCli, startServe } from '../support/cli.js';
import { connectRaw } from '../support/raw-client.js';
import { waitFor } from '../support/wait.js';

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

test('serve prints one listening line with pid and effective backlog', async () => {
  const serve = await startServe(['--backlog', String(somaxconn * 4)]);
  try {
    assert.match(
      serve.banner,
      new RegExp(`^listening on http://127\\.0\\.0\\.1:${serve.port} pid=${serve.pid} backlog=${somaxconn} \\(asked ${somaxconn * 4}, somaxconn ${somaxconn}\\) model=loop$`),
    );
  } finally {
    assert.equal((await serve.stop('SIGINT')).code, 0);
  }
});

test('a port in use: one clear line, exit 2, no stack trace', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const result = await runCli(['serve', '--port', String(port)]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`port ${port} .*in use: pass --port`));
  } finally {
    blocker.close();
  }
});

// Each case is a process of its own that exits at once: side by side.
describe('serve rejects bad flags', { concurrency: true }, () => {
  for (const [args, pattern] of [
    [['--port', 'http'], /--port must be a whole number/],
    [['--port', '70000'], /--port must be between 0 and 65535/],
    [['--backlog', '-1'], /--backlog/],
    [['--accept-rate', 'fast'], /--accept-rate must be a rate/],
    [['--keep-alive-timeout', 'soon'], /--keep-alive-timeout must be a duration/],
    [['--model', 'fork'], /--model must be one of/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--linger-timeout', 'never'], /--linger-timeout must be a duration/],
    [['--max-queue', '5'], /--max-queue applies to --model pool/],
    [['--pool-queue', '5'], /--pool-queue needs a database/],
    [['--reuse-port'], /--reuse-port spreads connections over the workers of a cluster/],
  ] as const) {
    test(`serve rejects ${args.join(' ')} with exit 2`, async () => {
      const result = await runCli(['serve', ...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});

test('--help lists every flag the command accepts', async () => {
  const result = await runCli(['serve', '--help']);
  assert.equal(result.code, 0);
  for (const flag of [
    '--host',
    '--port',
    '--backlog',
    '--accept-rate',
    '--max-connections',
    '--headers-timeout',
    '--keep-alive-timeout',
    '--model',
    '--workers',
    '--max-threads',
    '--db',
    '--pool',
    '--pool-timeout',
  ]) {
    assert.ok(result.stdout.includes(flag), `--help does not mention ${flag}`);
  }
  // Issue 14: every limit on what clients hold, with its default (and "off" where it can be off).
  for (const flag of [
    '--max-connections N|off',
    '--request-timeout MS|off',
    '--response-timeout MS|off',
    '--write-timeout MS|off',
    '--linger-timeout MS|off',
    '--max-pipeline N',
    '--max-queue N|off',
  ]) {
    const line = result.stdout.split('\n').findIndex((l) => l.includes(flag));
    assert.ok(line >= 0, `--help does not mention ${flag}`);
    assert.match(
      result.stdout
        .split('\n')
        .slice(line, line + 4)
        .join(' '),
      /default/,
      `${flag} shows no default`,
    );
  }
  const top = await runCli(['--help']);
  assert.match(top.stdout, /serve\s+run the hand-written/);
});

/** The accept-queue length of a listening port, read from /proc/net/tcp (rx_queue of the LISTEN row). */
function acceptQueueLength(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') return parseInt((fields[4] as string).split(':')[1] as string, 16);
  }
  return -1;
}

test('--accept-rate: connections wait in the kernel accept queue and are taken at the given rate', async () => {
  const serve = await startServe(['--backlog', '16', '--accept-rate', '5/s']);
  const clients: net.Socket[] = [];
  try {
    assert.match(serve.banner, /accept-rate=5\/s/);
    for (let i = 0; i < 10; i++) {
      const socket = net.connect(serve.port, '127.0.0.1');
      socket.on('error', () => {});
      clients.push(socket);
    }
    // The handshake completes in the kernel, so the queue fills although nobody accepts.
    const queued = await waitFor('the accept queue to fill', () => {
      const length = acceptQueueLength(serve.port);
      return length >= 5 ? length : 0;
    });
    assert.ok(queued >= 5, `accept queue ${queued}`);
    // One request on the first client: answered once its connection is accepted.
    const c = await connectRaw(serve.port);
    await c.write('GET /stats HTTP/1.1\r\nHost: t\r\n\r\n');
    const text = await c.until((t2) => t2.endsWith('}'), 15_000);
    const stats = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { uptimeMs: number; connections: { total: number } };
    // Never faster than the rate: one at start plus one per 200 ms since.
    assert.ok(stats.connections.total <= 1 + Math.ceil(stats.uptimeMs / 200) + 1, JSON.stringify(stats.connections));
    c.end();
  } finally {
    for (const socket of clients) socket.destroy();
    assert.equal((await serve.stop()).code, 0);
  }
});

test('limits can be turned off explicitly, and /stats shows what is in force', async () => {
  const serve = await startServe(['--max-connections', 'off', '--linger-timeout', 'off', '--write-timeout', '2s', '--max-pipeline', '4']);
  try {
    const c = await connectRaw(serve.port);
    await c.write('GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    const text = await c.closed;
    const stats = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { limits: Record<string, number | null> };
    assert.equal(stats.limits.maxConnections, null);
    assert.equal(stats.limits.lingerTimeoutMs, null);
    assert.equal(stats.limits.writeTimeoutMs, 2000);
    assert.equal(stats.limits.maxPipelineDepth, 4);
    assert.equal(stats.limits.responseTimeoutMs, 60_000);
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});
