import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addReading, avgPower, emptyAggregate, isClosed, isLate, mergeAggregates, watermark, windowOf, windowStart,
  type WindowAggregate,
} from './tumbling.ts';

const MINUTE = 60_000;
const QUARTER = 15 * MINUTE;
const T = Date.parse('2026-01-05T10:00:00Z');

const aggOf = (readings: ReadonlyArray<readonly [number, number]>, region = 'north'): WindowAggregate =>
  readings.reduce((a, [p, e]) => addReading(a, p, e), emptyAggregate('M-0001', region, windowOf(T, MINUTE)));

test('a time exactly on a boundary belongs to the window starting there', () => {
  assert.deepEqual(windowOf(T, MINUTE), { start: T, end: T + MINUTE });
  assert.deepEqual(windowOf(T - 1, MINUTE), { start: T - MINUTE, end: T });
  assert.deepEqual(windowOf(T + MINUTE - 1, MINUTE), { start: T, end: T + MINUTE });
  assert.equal(windowStart(0, MINUTE), 0);
});

test('1m and 15m windows are aligned on the epoch, in UTC', () => {
  const t = Date.parse('2026-01-05T10:07:31.250Z');
  assert.equal(new Date(windowStart(t, MINUTE)).toISOString(), '2026-01-05T10:07:00.000Z');
  assert.equal(new Date(windowStart(t, QUARTER)).toISOString(), '2026-01-05T10:00:00.000Z');
  assert.equal(new Date(windowOf(Date.parse('2026-01-05T10:59:59.999Z'), QUARTER).end).toISOString(), '2026-01-05T11:00:00.000Z');
  // An offset in the input changes nothing: windows are instants, not wall clocks.
  assert.equal(windowStart(Date.parse('2026-01-05T11:37:00+05:30'), QUARTER), Date.parse('2026-01-05T06:00:00Z'));
  for (let i = 0; i < 1000; i++) {
    const s = windowStart(T + i * 7919, QUARTER);
    assert.equal(s % QUARTER, 0);
  }
});

test('times before 1970 floor into the window below them', () => {
  assert.deepEqual(windowOf(-1, MINUTE), { start: -MINUTE, end: 0 });
  assert.deepEqual(windowOf(-MINUTE, MINUTE), { start: -MINUTE, end: 0 });
  assert.deepEqual(windowOf(-MINUTE - 1, MINUTE), { start: -2 * MINUTE, end: -MINUTE });
  assert.equal(new Date(windowStart(Date.parse('1969-12-31T23:52:30Z'), QUARTER)).toISOString(), '1969-12-31T23:45:00.000Z');
  assert.ok(Object.is(windowStart(-0, MINUTE), 0), 'no negative zero');
});

test('a window size must be a positive integer', () => {
  for (const bad of [0, -60_000, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => windowStart(T, bad), RangeError);
  }
});

test('an aggregate counts, sums and keeps the extremes', () => {
  const a = aggOf([[3, 0.001], [5, 0.002], [1, 0.0005]]);
  assert.equal(a.count, 3);
  assert.equal(a.sumPower, 9);
  assert.equal(a.maxPower, 5);
  assert.equal(a.minPower, 1);
  assert.equal(a.totalEnergy, 0.001 + 0.002 + 0.0005);
  assert.equal(avgPower(a), 3);
  assert.equal(avgPower(aggOf([])), null);
});

test('merge is associative and the empty aggregate is its identity', () => {
  // Values exact in binary, so the sums compare with ===.
  const a = aggOf([[1.5, 0.25], [4, 0.5]], 'north');
  const b = aggOf([[0.5, 0.125]], 'south');
  const c = aggOf([[8, 1], [2.25, 0.75]], 'east');
  assert.deepEqual(mergeAggregates(mergeAggregates(a, b), c), mergeAggregates(a, mergeAggregates(b, c)));
  const e = aggOf([]);
  assert.deepEqual(mergeAggregates(e, a), a);
  assert.deepEqual(mergeAggregates(a, { ...e, region: 'elsewhere' }), a);
  assert.deepEqual(mergeAggregates(e, e), e);
});

test('a merge of deltas equals the aggregate of all readings', () => {
  const readings: Array<[number, number]> = Array.from({ length: 12 }, (_, i) => [i * 0.5, i * 0.125]);
  const whole = aggOf(readings);
  const stored = aggOf(readings.slice(0, 5));
  const delta = aggOf(readings.slice(5));
  assert.deepEqual(mergeAggregates(stored, delta), whole);
});

test('the later non-empty region wins', () => {
  assert.equal(mergeAggregates(aggOf([[1, 0]], 'north'), aggOf([[1, 0]], 'south')).region, 'south');
});

test('merging aggregates of different windows or meters is refused', () => {
  const a = aggOf([[1, 0]]);
  assert.throws(() => mergeAggregates(a, { ...a, windowStart: a.windowStart + MINUTE, windowEnd: a.windowEnd + MINUTE }), RangeError);
  assert.throws(() => mergeAggregates(a, { ...a, meterId: 'M-0002' }), RangeError);
});

test('the watermark is the highest event time minus the allowed lateness', () => {
  assert.equal(watermark(T + 90_000, 30_000), T + 60_000);
  assert.equal(watermark(Number.NEGATIVE_INFINITY, 30_000), Number.NEGATIVE_INFINITY);
  assert.equal(isLate(T + 59_999, watermark(T + 90_000, 30_000)), true);
  assert.equal(isLate(T + 60_000, watermark(T + 90_000, 30_000)), false, 'exactly the allowed lateness is on time');
});

test('a window closes when the watermark reaches its end (inclusive)', () => {
  const { end } = windowOf(T, MINUTE);
  assert.equal(isClosed(end, end - 1), false);
  assert.equal(isClosed(end, end), true);
  assert.equal(isClosed(end, end + 1), true);
  assert.equal(isClosed(end, Number.NEGATIVE_INFINITY), false);
  // With 30 s lateness, [10:00, 10:01) closes once a reading at 10:01:30 has been seen.
  assert.equal(isClosed(end, watermark(T + MINUTE + 29_999, 30_000)), false);
  assert.equal(isClosed(end, watermark(T + MINUTE + 30_000, 30_000)), true);
  // And at that point no reading of the window can still be on time.
  assert.equal(isLate(end - 1, watermark(T + MINUTE + 30_000, 30_000)), true);
});
