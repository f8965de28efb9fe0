/**
 * The ramp's pure parts: the users of each step, the finer sweep, the stop rule in the
 * issue's order, and the knee.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStop, findKnee, growthOver, orderSteps, planConfirmVus, planRampVus, stepsBelow, sweepRefutesPlateau } from '../../src/diagnose/plan.js';
import { STOP } from '../../src/diagnose/constants.js';
import type { Evidence } from '../../src/diagnose/types.js';
import { step } from './steps.js';

test('the ramp multiplies users by 4 and ends at --max-vus', () => {
  assert.deepEqual(planRampVus(4096), [1, 4, 16, 64, 256, 1024, 4096]);
  assert.deepEqual(planRampVus(256), [1, 4, 16, 64, 256]);
  assert.deepEqual(planRampVus(100), [1, 4, 16, 64, 100]);
  assert.deepEqual(planRampVus(1), [1]);
  assert.deepEqual(planRampVus(2), [1, 2]);
});

test('the finer sweep sits strictly between two ramp steps, evenly on a log scale', () => {
  assert.deepEqual(planConfirmVus(16, 64), [23, 32, 45]);
  assert.deepEqual(planConfirmVus(256, 1024), [362, 512, 724]);
  assert.deepEqual(planConfirmVus(1, 4), [2, 3]);
  assert.deepEqual(planConfirmVus(4, 5), []);
});

test('steps are compared in order of users, confirm steps placed among the ramp', () => {
  const steps = [step(16), step(64), step(23, { phase: 'confirm' }), step(32, { phase: 'confirm' })];
  assert.deepEqual(
    orderSteps(steps).map((s) => s.vus),
    [16, 23, 32, 64],
  );
  assert.deepEqual(
    stepsBelow(steps, steps[3]!).map((s) => s.vus),
    [16, 23],
  );
});

test('the stop rule, in the issue order: generator, failures, rule, plateau', () => {
  const below = [step(1, { rps: 1000 }), step(4, { rps: 3800 })];
  const evidence: Evidence[] = [{ layer: 'load-generator', signal: 'failures.emfile', vus: 16, value: 3, threshold: 0, unit: 'failures', text: 'EMFILE 3 times' }];
  const failing = step(16, { rps: 3810, load: { failed: 300, failureRate: 0.02, failures: { reset: 300 } } });
  assert.equal(decideStop(failing, below, evidence)?.reason, STOP.GENERATOR);
  assert.equal(decideStop(failing, below, null)?.reason, STOP.FAILURES);
  assert.match(decideStop(failing, below, null)?.text ?? '', /^2% of the requests at 16 VUs failed \(reset 300\), at least 1%$/);
  const broken = step(16, { rps: 9000, load: { thresholds: [{ expression: 'p(90)<500', metric: 'total', actual: 812, passed: false }], thresholdsPassed: false } });
  assert.equal(decideStop(broken, below, null)?.reason, STOP.RULE);
  assert.match(decideStop(broken, below, null)?.text ?? '', /p\(90\)<500 \(measured 812\) broke at 16 VUs/);
  const flat = step(16, { rps: 3950 });
  assert.equal(decideStop(flat, below, null)?.reason, STOP.PLATEAU);
  assert.match(decideStop(flat, below, null)?.text ?? '', /16 VUs made 3,950 req\/s, 3\.9% more than the 3,800 req\/s of 4 VUs/);
  // 5.3% more is growth, not a plateau.
  assert.equal(decideStop(step(16, { rps: 4001 }), below, null), null);
  // A failure rate under 1% does not stop the ramp.
  assert.equal(decideStop(step(16, { rps: 9000, load: { failed: 5, failureRate: 0.005, failures: { reset: 5 } } }), below, null), null);
});

test('throughput that fell counts as flat; the first step never does', () => {
  const below = [step(1, { rps: 1000 }), step(4, { rps: 3800 })];
  assert.equal(decideStop(step(16, { rps: 2000 }), below, null)?.reason, STOP.PLATEAU);
  assert.equal(decideStop(step(1, { rps: 10 }), [], null), null);
  assert.equal(growthOver(step(1), []), null);
});

test('the knee: the best step before the first flat one', () => {
  assert.deepEqual(findKnee([step(1, { rps: 1000 }), step(4, { rps: 3800 }), step(16, { rps: 3900 }), step(64, { rps: 3000 })]), {
    lastGrowingVus: 4,
    lastGrowingRps: 3800,
    flatVus: 16,
    flatRps: 3900,
  });
  assert.equal(findKnee([step(1), step(4), step(16)]), null);
  // A confirm step between two ramp steps can place the flat point earlier.
  const knee = findKnee([step(16, { rps: 4000 }), step(64, { rps: 4100 }), step(23, { phase: 'confirm', rps: 4050 })]);
  assert.equal(knee?.flatVus, 23);
});

test('a dip that later steps beat is no knee; the sweep that beats a plateau refutes it', () => {
  // 4 users dipped on a busy moment; 2 and 16 users made more: the knee is at 64.
  const steps = [
    step(1, { rps: 996 }),
    step(4, { rps: 604 }),
    step(2, { phase: 'confirm', rps: 2049 }),
    step(3, { phase: 'confirm', rps: 1190 }),
    step(16, { rps: 3000 }),
    step(64, { rps: 3050 }),
  ];
  assert.deepEqual(findKnee(steps), { lastGrowingVus: 16, lastGrowingRps: 3000, flatVus: 64, flatRps: 3050 });
  assert.equal(sweepRefutesPlateau([step(1, { rps: 996 })], [step(2, { phase: 'confirm', rps: 2049 }), step(3, { phase: 'confirm', rps: 1190 })])?.vus, 2);
  // A sweep within 5% of the best ramp step confirms the plateau.
  assert.equal(sweepRefutesPlateau([step(1, { rps: 1000 }), step(4, { rps: 3800 })], [step(6, { phase: 'confirm', rps: 3950 })]), null);
});
