/**
 * `socketlab inspect` as a user runs it: a live server by PID and by port, and the errors
 * for a malformed target (exit 2), a port nothing listens on and a PID that does not exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startServe } from '../support/cli.js';
import { connectRaw } from '../support/raw-client.js';

test('inspect PID and :PORT on a live server, with --json', async () => {
  // The held connection sends nothing: the default 5 s idle timeout would close it while a
  // busy machine still starts the inspect commands.
  const serve = await startServe(['--keep-alive-timeout', '120000']);
  const held = await connectRaw(serve.port);
  try {
    const byPid = await runCli(['inspect', String(serve.pid), '--json']);
    assert.equal(byPid.code, 0, byPid.stderr);
    const processView = JSON.parse(byPid.stdout) as Record<string, unknown>;
    const text = JSON.stringify(processView);
    assert.match(text, new RegExp(`"pid":${serve.pid}`));
    assert.match(text, /"socket":\d+/, 'descriptors counted by kind');
    const byPort = await runCli(['inspect', `:${serve.port}`]);
    assert.equal(byPort.code, 0, byPort.stderr);
    assert.match(byPort.stdout, /accept queue/i);
    assert.match(byPort.stdout, /ESTABLISHED/, 'the held connection shows by state');
    assert.ok(byPort.stdout.includes(String(serve.pid)), 'the process holding the listener is named');
  } finally {
    held.end();
    assert.equal((await serve.stop()).code, 0);
  }
});

test('inspect errors: malformed target exit 2, nothing listening or no such PID exit 1, one line each', async () => {
  const malformed = await runCli(['inspect', 'abc']);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /expected a PID \(1234\) or a listening port \(:3000\)/);
  const nobody = await runCli(['inspect', ':1']);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /nothing listens on port 1/);
  const gone = await runCli(['inspect', '4194304']);
  assert.equal(gone.code, 1);
  for (const result of [malformed, nobody, gone]) {
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});
