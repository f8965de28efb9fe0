/**
 * Proof: a busy thread raises involuntary context switches. A thread that never blocks
 * never gives up the CPU itself (no voluntary switch); when another thread is runnable on
 * the same CPU, the scheduler takes the CPU away at the end of each time slice, and each
 * of those is an involuntary switch.
 *
 * To make that competition certain rather than depend on the machine's background load,
 * the child runs pinned to one CPU (taskset) with two spinning worker threads. Without
 * taskset it runs one more spinning thread than there are CPUs. The spin is bounded (4 s).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { after, it } from 'node:test';
import { readThreads } from '../../src/metrics/process-stats.js';
import { diffSnapshots, takeSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/wait.js';
import { spawnNodeScript, type Child } from './child.js';

const MIN_INVOLUNTARY = 50;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const pinned = hasTaskset();
const SPINNERS = pinned ? 2 : os.availableParallelism() + 1;

const CHILD_SCRIPT = `
const fs = require('node:fs');
const { Worker } = require('node:worker_threads');
process.stdin.once('data', () => {
  const spin = 'const end = Date.now() + 4000; while (Date.now() < end) {}';
  for (let i = 0; i < ${SPINNERS}; i++) new Worker(spin, { eval: true });
  fs.writeSync(1, 'busy\\n');
});
fs.writeSync(1, 'ready\\n');
`;

let child: Child | undefined;

after(async () => {
  await child?.kill();
});

it('counts involuntary context switches for a busy thread', async (t) => {
  child = spawnNodeScript(CHILD_SCRIPT, pinned ? ['taskset', '-c', '0'] : []);
  await child.line('ready');
  const pid = child.pid;
  const before = await takeSnapshot({ pids: [pid], tcpCensus: false });
  assert.equal(before.processes[0]?.ctxSwitches?.scope, 'all-threads');
  const idleThreads = new Set((readThreads(pid) ?? []).map((thread) => thread.tid));

  child.send('go\n');
  await child.line('busy');

  // The spinning threads are the new ones (the main thread may have used more CPU starting
  // up); wait until the busiest of them has been preempted enough.
  const busiest = await waitFor(`a busy thread to be preempted ${MIN_INVOLUNTARY} times`, () => {
    const spinning = (readThreads(pid) ?? []).filter((thread) => !idleThreads.has(thread.tid));
    const top = spinning.sort((a, b) => (b.cpuTimeMs ?? 0) - (a.cpuTimeMs ?? 0))[0];
    return top !== undefined && (top.involuntary ?? 0) >= MIN_INVOLUNTARY ? top : null;
  });
  const diff = diffSnapshots(before, await takeSnapshot({ pids: [pid], tcpCensus: false }));
  const processDelta = diff.processes[0];
  t.diagnostic(
    `${pinned ? 'pinned to CPU 0' : 'unpinned'}, ${SPINNERS} spinning threads; busiest thread ${busiest.tid}: ` +
      `${busiest.cpuTimeMs} ms CPU, involuntary ${busiest.involuntary}, voluntary ${busiest.voluntary}; ` +
      `process: involuntary +${processDelta?.involuntaryCtxSwitches}, voluntary +${processDelta?.voluntaryCtxSwitches}`,
  );
  // A spinning thread is switched out by the scheduler, not by itself.
  assert.ok((busiest.involuntary ?? 0) > (busiest.voluntary ?? 0), 'the busy thread is preempted more often than it yields');
  assert.ok((processDelta?.involuntaryCtxSwitches ?? 0) >= MIN_INVOLUNTARY, 'the process total (summed over threads) rose too');

  await child.kill();
});
