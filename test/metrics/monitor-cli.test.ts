/**
 * --monitor on serve and load: the series reaches the --json output, sampled from the
 * kernel while the command ran (not on a terminal here, so no panel is drawn).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startServe } from '../support/cli.js';

interface SeriesShape {
  samples: { processes: { pid: number; fds: number | null; threads: number | null }[] }[];
}

test('serve --monitor --json and load --monitor PID,:PORT --json record the sampled series', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-monitor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const serveJson = path.join(dir, 'serve.json');
  const loadJson = path.join(dir, 'load.json');
  const serve = await startServe(['--monitor', '--json', serveJson]);
  try {
    const load = await runCli(['load', `${serve.url}/healthz`, '--vus', '4', '--duration', '2500ms', '--monitor', `${serve.pid},:${serve.port}`, '--json', loadJson]);
    assert.equal(load.code, 0, load.stderr);
    const loaded = JSON.parse(readFileSync(loadJson, 'utf8')) as { summary: { ok: number }; monitor: SeriesShape };
    assert.ok(loaded.summary.ok > 0);
    // One a second from when the sampler's thread is up: a 2.5 s run on a busy machine may
    // get only one, and that one must hold the server.
    assert.ok(loaded.monitor.samples.length >= 1, `load: ${loaded.monitor.samples.length} samples`);
    const seen = loaded.monitor.samples.flatMap((s) => s.processes).filter((p) => p.pid === serve.pid);
    assert.ok(
      seen.some((p) => (p.fds ?? 0) > 0 && (p.threads ?? 0) > 0),
      'the server was sampled',
    );
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
  const served = JSON.parse(readFileSync(serveJson, 'utf8')) as { stats: { requests: { total: number } }; monitor: SeriesShape };
  assert.ok(served.stats.requests.total > 0);
  // serve sampled for its whole life, which spans the load command's start, run and exit.
  assert.ok(served.monitor.samples.length >= 2, `serve: ${served.monitor.samples.length} samples`);
});
