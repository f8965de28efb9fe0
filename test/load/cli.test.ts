/**
 * `socketlab load` as a user runs it: help, bad input, exit codes, --json and --k6-script.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeHistogram } from '../../src/metrics/histogram.js';
import { FAILURE_KINDS, LOAD_RESULT_SCHEMA, type LoadResult } from '../../src/load/index.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from './servers.js';

describe('socketlab load (CLI)', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    server = await startTestServer();
    dir = await mkdtemp(path.join(os.tmpdir(), 'socketlab-load-cli-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--help documents every flag it accepts', async () => {
    const { code, stdout } = await runCli(['load', '--help']);
    assert.equal(code, 0);
    for (const flag of [
      '--vus',
      '--duration',
      '--stages',
      '--think',
      '--rate',
      '--max-vus',
      '--hold',
      '--connect-concurrency',
      '--no-keepalive',
      '--close-by',
      '--connect-timeout',
      '--timeout',
      '--graceful-stop',
      '--local-address',
      '--path-template',
      '--method',
      '--header',
      '--body',
      '--workers',
      '--threshold',
      '--json',
      '--k6-script',
      '--dry-run',
    ]) {
      assert.ok(stdout.includes(flag), `--help mentions ${flag}`);
    }
  });

  const usageErrors: [string[], RegExp][] = [
    [['load', 'https://example.com/'], /http:\/\/ URLs only/],
    [['load', 'ftp://x/'], /http:\/\/ URLs only/],
    [['load', 'not a url'], /is not a URL/],
    [['load'], /needs a URL/],
    [['load', 'http://127.0.0.1:1/', '--threshold', 'p90<5'], /Accepted forms/],
    [['load', 'http://127.0.0.1:1/', '--vus', '5', '--rate', '10/s'], /closed model/],
    [['load', 'http://127.0.0.1:1/', '--stages', '10s'], /--stages must be/],
    [['load', 'http://127.0.0.1:1/', '--path-template', '/uuid/{1-9}'], /--path-template/],
    [['load', 'http://127.0.0.1:1/', '--local-address', 'nowhere'], /--local-address takes IP addresses/],
    [['load', 'http://127.0.0.1:1/', '--vuz', '5'], /Unknown option/],
  ];
  // Each case is a process of its own that exits at once: run side by side, they take the
  // time of a few rather than of all of them.
  describe('usage errors', { concurrency: true }, () => {
    for (const [args, message] of usageErrors) {
      it(`${args.slice(1).join(' ') || '(no URL)'} → exit 2 with a clear message, no stack`, async () => {
        const { code, stderr } = await runCli(args);
        assert.equal(code, 2, stderr);
        assert.match(stderr, message);
        assert.doesNotMatch(stderr, /\n\s+at /);
      });
    }
  });

  it('writes the full result with --json and exits 99 when a threshold fails', async () => {
    const jsonFile = path.join(dir, 'nested', 'result.json');
    const { code, stdout, stderr } = await runCli([
      'load',
      server.url,
      '--vus',
      '3',
      '--duration',
      '500ms',
      '--json',
      jsonFile,
      '--threshold',
      'p(90)<60s',
      '--threshold',
      'rps>100000000',
    ]);
    assert.equal(code, 99, stderr);
    assert.match(stdout, /✓ p\(90\)<60s/);
    assert.match(stdout, /✗ rps>100000000/);
    assert.match(stdout, /latency \(ms\)/);
    const result = JSON.parse(await readFile(jsonFile, 'utf8')) as LoadResult;
    assert.equal(result.schema, LOAD_RESULT_SCHEMA);
    assert.equal(result.plan.model, 'closed');
    assert.equal(result.plan.vus, 3);
    assert.deepEqual(Object.keys(result.summary.failures), [...FAILURE_KINDS]);
    assert.ok(result.series.length >= 1);
    for (const key of ['second', 'lengthMs', 'responses', 'rps', 'ok', 'failed', 'failures', 'dropped', 'vus', 'inFlight', 'bytesReceived', 'latency']) {
      assert.ok(key in (result.series[0] as object), `series entries have ${key}`);
    }
    assert.equal(decodeHistogram(result.histograms.total).totalCount, result.summary.responses);
    assert.equal(result.thresholdsPassed, false);
    assert.deepEqual(
      result.thresholds.map((t) => t.passed),
      [true, false],
    );
  });

  it('exits 0 when every threshold passes', async () => {
    // Thresholds no machine's speed can fail: a minute for p90 on loopback, and no failures.
    const { code, stderr } = await runCli(['load', server.url, '--vus', '2', '--duration', '300ms', '--threshold', 'p(90)<60s', '--threshold', 'failures<0.1%']);
    assert.equal(code, 0, stderr);
  });

  it('--k6-script --dry-run writes a k6 script for the same scenario and sends nothing', async () => {
    const file = path.join(dir, 'scenario.js');
    const before = server.requests;
    const { code, stdout, stderr } = await runCli([
      'load',
      `${server.url}`,
      '--path-template',
      '/uuid/{1..1000}',
      '--stages',
      '10s:100,30s:1000,10s:0',
      '--no-keepalive',
      '--threshold',
      'p(90)<500',
      '--threshold',
      'failures<0.1%',
      '--think',
      '100',
      '--k6-script',
      file,
      '--dry-run',
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /dry run/);
    assert.equal(server.requests, before);
    const script = await readFile(file, 'utf8');
    assert.match(script, /import http from 'k6\/http';/);
    assert.match(script, /executor: "ramping-vus"/);
    assert.match(script, /duration: "30s",\s*target: 1000/);
    assert.match(script, /noConnectionReuse: true/);
    assert.match(script, /http_req_duration: \[\s*"p\(90\)<500"\s*\]/);
    assert.match(script, /http_req_failed: \[\s*"rate<0.001"\s*\]/);
    assert.match(script, /\/uuid\/\$\{randInt\(1, 1000\)\}/);
    assert.match(script, /sleep\(0\.1\)/);
    // It is valid JavaScript (an ES module; k6's imports are resolved only by k6).
    const check = spawnSync(process.execPath, ['--check', '--input-type=module'], { input: script, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  it('--k6-script for the open model uses constant-arrival-rate with the same pool bound', async () => {
    const file = path.join(dir, 'open.js');
    const { code, stderr } = await runCli(['load', server.url, '--rate', '250/s', '--max-vus', '40', '--duration', '20s', '--k6-script', file, '--dry-run']);
    assert.equal(code, 0, stderr);
    const script = await readFile(file, 'utf8');
    assert.match(script, /executor: "constant-arrival-rate"/);
    assert.match(script, /rate: 250,\s*timeUnit: "1s"/);
    assert.match(script, /preAllocatedVUs: 40,\s*maxVUs: 40/);
  });
});
