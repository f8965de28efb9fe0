import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLabQuick } from './run-lab.js';
import { hasCommand } from '../../src/labs/kit.js';

const hasStrace = hasCommand('strace');

test('request-cycle: every stage of one real request is timed, and syscalls are counted per request', async () => {
  const { result, cli } = await runLabQuick('request-cycle');
  assert.equal(cli.code, 0, cli.stderr);
  const stages = result.findings.stages as Record<string, number>;
  assert.ok(stages !== null && typeof stages === 'object');
  for (const [name, msValue] of Object.entries(stages)) assert.ok(msValue >= 0, `${name}: ${msValue}`);
  const total = stages['total (first byte → flushed)'] as number;
  assert.ok(total > 0 && total >= (stages.handler as number), 'the handler is part of the total');
  if (hasStrace) {
    const perRequest = result.findings.syscallsPerRequest as number;
    // At least a read and a write per request, and not hundreds.
    assert.ok(perRequest >= 2 && perRequest < 50, `syscalls per request: ${perRequest}`);
  } else {
    assert.equal(result.findings.syscallsPerRequest, null);
    assert.match(String(result.findings.syscallsPerRequestReason), /strace/);
  }
  const fdStep = result.steps.find((s) => s.title.startsWith('One request'));
  const during = (fdStep?.measurements?.client as { during: { fds: number } }).during.fds;
  const before = result.steps[0]?.measurements?.fds as number;
  assert.equal(during, before + 1, 'one connection is one more descriptor in the server');
});
