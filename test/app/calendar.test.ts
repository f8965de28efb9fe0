import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareDates, parseIsoDate, todayUtc, wholeYearsBetween } from '../../src/app/calendar.js';
import { matchRoute } from '../../src/app/routes.js';
import { respondAge } from '../../src/app/handlers.js';

test('parseIsoDate accepts real calendar days only', () => {
  assert.deepEqual(parseIsoDate('1993-05-01'), { year: 1993, month: 5, day: 1 });
  assert.deepEqual(parseIsoDate('2000-02-29'), { year: 2000, month: 2, day: 29 }, '2000 is a leap year (divisible by 400)');
  assert.deepEqual(parseIsoDate('2024-02-29'), { year: 2024, month: 2, day: 29 });
  for (const bad of [
    '1900-02-29',
    '2023-02-29',
    '2023-04-31',
    '2023-13-01',
    '2023-00-10',
    '2023-01-00',
    '2023-1-01',
    '93-05-01',
    '2023/05/01',
    '２０２３-05-01',
    '2023-05-1x',
    '',
  ]) {
    assert.equal(parseIsoDate(bad), null, bad);
  }
});

test('todayUtc follows the UTC day and ages count whole years', () => {
  const noonMs = Date.UTC(2026, 10, 27, 12);
  assert.deepEqual(todayUtc(noonMs), { year: 2026, month: 11, day: 27 });
  assert.deepEqual(todayUtc(Date.UTC(2026, 10, 27, 23, 59, 59, 999)), { year: 2026, month: 11, day: 27 });
  assert.deepEqual(todayUtc(Date.UTC(2026, 10, 28)), { year: 2026, month: 11, day: 28 });
  const today = { year: 2026, month: 11, day: 27 };
  assert.equal(wholeYearsBetween({ year: 1993, month: 5, day: 1 }, today), 33);
  assert.equal(wholeYearsBetween({ year: 1993, month: 11, day: 27 }, today), 33, 'the birthday itself counts');
  assert.equal(wholeYearsBetween({ year: 1993, month: 11, day: 28 }, today), 32, 'the day before does not');
  assert.equal(wholeYearsBetween({ year: 2000, month: 2, day: 29 }, { year: 2001, month: 2, day: 28 }), 0, 'a 29 February birthday comes on 1 March');
  assert.ok(compareDates({ year: 2026, month: 11, day: 28 }, today) > 0);
});

test('/age: the answer, a future date and a non-date', () => {
  const nowMs = Date.UTC(2026, 10, 27, 12);
  const call = matchRoute('GET', '/age?birthdate=1993-05-01', nowMs);
  assert.ok('route' in call && call.route === 'age');
  assert.equal(respondAge(call as Extract<typeof call, { route: 'age' }>, nowMs).body, '{"birthdate":"1993-05-01","age":33}');
  const future = matchRoute('GET', '/age?birthdate=2026-11-28', nowMs);
  assert.ok('status' in future && future.status === 400 && String(future.body).includes('in the future'));
  const notADay = matchRoute('GET', '/age?birthdate=2023-02-29', nowMs);
  assert.ok('status' in notADay && String(notADay.body).includes('not a calendar date'));
  const shape = matchRoute('GET', '/age?birthdate=May-1-1993', nowMs);
  assert.ok('status' in shape && String(shape.body).includes('must be YYYY-MM-DD'));
});
