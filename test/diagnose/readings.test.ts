/**
 * The readings diagnose adds to src/metrics, on real text and real processes: a step's
 * share of socketlab serve's running totals, the route and qdisc rate as ip and tc print
 * them, /proc/meminfo, and each thread's run and run-queue time from schedstat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { diffServeStats, isServeStats } from '../../src/diagnose/serve-stats.js';
import { meanBetween } from '../../src/metrics/histogram.js';
import { parseQdiscRate, parseRouteGet } from '../../src/diagnose/link-watch.js';
import { diffThreadTimes } from '../../src/diagnose/host-stats.js';
import { parseMemInfo, readMachineBusyMs } from '../../src/metrics/host.js';
import { readThreadTimes } from '../../src/metrics/thread-times.js';
import { isLoopbackAddress } from '../../src/diagnose/target.js';
import { waitFor, waitForEvent } from '../support/wait.js';

test("a step's mean from two readings of a running mean", () => {
  // 10 samples of mean 1 ms, then 30 more of mean 5 ms: 40 at a mean of 4.
  assert.equal(meanBetween({ mean: 1, count: 10 }, { mean: 4, count: 40 }), 5);
  assert.equal(meanBetween({ mean: 1, count: 10 }, { mean: 1, count: 10 }), null, 'no new samples');
  assert.equal(meanBetween(null, { mean: 4, count: 40 }), 4, 'no reading before: everything is new');
});

test("socketlab serve /stats: recognised, and the step's loop delay, utilisation and pool wait recovered", () => {
  const before = {
    model: { name: 'loop' },
    eventLoop: { windowMs: 10_000, delayMs: { mean: 0.5, count: 500 }, utilization: 0.1 },
    db: { size: 2, waiting: 0, waitMs: { avgMs: 0.1, count: 1000 }, queryMs: { avgMs: 0.4, count: 1000 } },
  };
  const after = {
    model: { name: 'loop' },
    eventLoop: { windowMs: 11_000, delayMs: { mean: 1.5, count: 550 }, utilization: 0.18 },
    db: { size: 2, waiting: 14, waitMs: { avgMs: 1, count: 2000 }, queryMs: { avgMs: 0.5, count: 2000 } },
  };
  assert.equal(isServeStats(before), true);
  assert.equal(isServeStats({ status: 'ok' }), false);
  assert.equal(isServeStats(null), false);
  const step = diffServeStats(before, after)!;
  // (1.5 × 550 − 0.5 × 500) / 50 = 11.5 ms over the step's 50 timer firings.
  assert.equal(step.loopDelayMeanMs, 11.5);
  // (0.18 × 11,000 − 0.1 × 10,000) / 1,000 = 0.98 busy.
  assert.equal(step.loopUtilization, 0.98);
  assert.equal(step.poolWaitAvgMs, 1.9);
  assert.equal(step.poolQueryAvgMs, 0.6);
  assert.equal(step.poolSize, 2);
  assert.equal(step.poolWaitingAtEnd, 14);
  // The pool model keeps its pool in the workers: model.workerDb.
  const pooled = (wait: number, count: number): Record<string, unknown> => ({
    model: { name: 'pool', completed: count, waitTime: { avgMs: 0 }, workerDb: { size: 4, waitMs: { avgMs: wait, count }, queryMs: { avgMs: 0.5, count } } },
    eventLoop: null,
  });
  assert.equal(diffServeStats(pooled(0, 100), pooled(2, 200))?.poolWaitAvgMs, 4);
  assert.equal(diffServeStats(null, after), null);
});

test('ip route get: local addresses and the device a route leaves by', () => {
  assert.deepEqual(parseRouteGet('local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n'), { local: true, device: 'lo' });
  assert.deepEqual(parseRouteGet('10.254.200.1 dev sl14832n src 10.254.200.2 uid 0 \n    cache \n'), { local: false, device: 'sl14832n' });
  assert.deepEqual(parseRouteGet(''), { local: false, device: null });
});

test('tc qdisc show: the lowest rate in bits per second', () => {
  assert.equal(parseQdiscRate('qdisc tbf 8009: root refcnt 3 rate 2Mbit burst 8Kb lat 300ms \n'), 2e6);
  assert.equal(parseQdiscRate('qdisc netem 1: root refcnt 2 limit 1000 delay 20ms\nqdisc tbf 10: parent 1:1 rate 4Mbit burst 8Kb lat 300ms\n'), 4e6);
  assert.equal(parseQdiscRate('qdisc tbf 1: root rate 512Kbit burst 4Kb\nqdisc tbf 2: parent 1: rate 1.5Mbit burst 4Kb\n'), 512e3);
  assert.equal(parseQdiscRate('qdisc noqueue 0: root refcnt 2 \n'), null);
});

test('/proc/meminfo: MemTotal and MemAvailable in bytes', () => {
  assert.deepEqual(parseMemInfo('MemTotal:       24568492 kB\nMemFree:        20000000 kB\nMemAvailable:   23000000 kB\n'), {
    totalBytes: 24568492 * 1024,
    availableBytes: 23000000 * 1024,
  });
  assert.equal(parseMemInfo('MemTotal: 1 kB\n'), null);
});

test('loopback addresses', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['10.254.0.1', '192.168.1.1', '::ffff:10.0.0.1', '2001:db8::1']) assert.equal(isLoopbackAddress(a), false, a);
});

test('schedstat per thread: a spinning worker thread is the busiest, near a full core', {
  skip: process.platform === 'linux' ? false : 'schedstat is a Linux /proc file',
}, async () => {
  // The worker spins until told to stop, and is told only after the second reading: it is
  // runnable (on a CPU or queued for one) for the whole window, however busy the machine.
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    'const { workerData, parentPort } = require("node:worker_threads"); const stop = new Int32Array(workerData); parentPort.postMessage("spinning"); while (Atomics.load(stop, 0) === 0) {}',
    {
      eval: true,
      workerData: stop.buffer,
    },
  );
  try {
    await waitForEvent(worker, 'message');
    const before = readThreadTimes(process.pid);
    const machineBefore = readMachineBusyMs();
    const started = performance.now();
    assert.ok(before !== null);
    // Until some thread has run 300 ms more: on a crowded machine that takes longer, never less.
    const after = await waitFor('a thread to run 300 ms', () => {
      const now = readThreadTimes(process.pid);
      return now !== null && [...now].some(([tid, t]) => t.runNs - (before.get(tid)?.runNs ?? 0) >= 300e6) ? now : null;
    });
    const wallMs = performance.now() - started;
    const { busiest, cpuPercent } = diffThreadTimes(before, after, wallMs);
    assert.ok(busiest !== null && cpuPercent !== null);
    assert.notEqual(busiest.tid, process.pid, 'the busiest thread is the spinning worker, not the main thread');
    assert.ok(busiest.runnablePercent >= 80, `the spinning thread was runnable ${busiest.runnablePercent}% of the window`);
    // Time on a CPU is part of time runnable, also when the window's edges round it past 100%.
    assert.ok(busiest.runnablePercent >= busiest.cpuPercent, `runnable ${busiest.runnablePercent}% against on a CPU ${busiest.cpuPercent}%`);
    // The machine's busy time includes the worker's spin (10 ms ticks).
    const machineAfter = readMachineBusyMs();
    assert.ok(machineBefore !== null && machineAfter !== null && machineAfter - machineBefore >= 100, `machine busy ${machineBefore} → ${machineAfter} ms`);
  } finally {
    Atomics.store(stop, 0, 1);
    await worker.terminate();
  }
});

test('diffThreadTimes: a thread born in the window counts whole; none read gives nulls', () => {
  const before = new Map([[1, { runNs: 1e9, waitNs: 0, name: 'main' }]]);
  const after = new Map([
    [1, { runNs: 1.1e9, waitNs: 0.05e9, name: 'main' }],
    [2, { runNs: 0.6e9, waitNs: 0.3e9, name: 'worker' }],
  ]);
  const { busiest, cpuPercent } = diffThreadTimes(before, after, 1000);
  assert.deepEqual(busiest, { tid: 2, name: 'worker', cpuPercent: 60, runnablePercent: 90 });
  assert.equal(cpuPercent, 70);
  assert.deepEqual(diffThreadTimes(null, after, 1000), { busiest: null, cpuPercent: null });
});

test('diffThreadTimes: a thread that ran a little longer than the window (the reads take time) is on a CPU no more than runnable', () => {
  // 1,003 ms on a CPU and 2 ms queued in a window timed at 1,000 ms: what a spinning thread
  // reads when the two readings straddle the timed window.
  const before = new Map([[7, { runNs: 0, waitNs: 0, name: 'spin' }]]);
  const after = new Map([[7, { runNs: 1.003e9, waitNs: 0.002e9, name: 'spin' }]]);
  const { busiest } = diffThreadTimes(before, after, 1000);
  assert.deepEqual(busiest, { tid: 7, name: 'spin', cpuPercent: 100, runnablePercent: 100 });
});
