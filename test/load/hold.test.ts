/**
 * The hold model (C10K/C100K labs): open N connections, keep them, send nothing; and
 * --local-address spreading client sockets over several source addresses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAILURE, runLoad } from '../../src/load/index.js';
import { waitFor } from '../support/wait.js';
import { startTestServer, type TestServer } from './servers.js';

describe('hold model and source addresses', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it('opens N connections with bounded concurrency and holds them all until the end', async () => {
    const connections = 400;
    const running = runLoad({ url: server.url, connections, connectConcurrency: 50, durationMs: 1500 });
    await waitFor('the server to hold every connection', () => server.open === connections);
    const result = await running;
    const s = result.summary;
    assert.equal(s.connects, connections);
    assert.equal(s.connected, connections);
    assert.equal(s.openAtEnd, connections);
    assert.equal(s.vusMax, connections);
    assert.equal(s.requests, 0);
    assert.equal(s.failed, 0);
    assert.equal(s.latency.connect.count, connections);
    assert.equal(server.requests, 0);
    await waitFor('the generator to close them', () => server.open === 0);
  });

  it('a held connection the server drops is counted as closed_early', async () => {
    const dropping = await startTestServer();
    try {
      const running = runLoad({ url: dropping.url, connections: 20, durationMs: 1200 });
      await waitFor('20 held connections', () => dropping.open === 20);
      await dropping.close();
      const result = await running;
      assert.equal(result.summary.failures[FAILURE.CLOSED_EARLY], 20);
      assert.equal(result.summary.openAtEnd, 0);
    } finally {
      await dropping.close().catch(() => undefined);
    }
  });

  it('--local-address binds client sockets to each source address in turn', async () => {
    // All of 127.0.0.0/8 is loopback on Linux: 127.0.0.2 and 127.0.0.3 need no setup.
    const result = await runLoad({ url: server.url, vus: 6, durationMs: 300, localAddresses: ['127.0.0.2', '127.0.0.3'] });
    assert.equal(result.summary.failed, 0);
    assert.ok(server.remoteAddresses.has('127.0.0.2'));
    assert.ok(server.remoteAddresses.has('127.0.0.3'));
  });
});
