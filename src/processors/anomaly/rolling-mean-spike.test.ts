import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPIKE, detectSpike, remember } from './rolling-mean-spike.ts';

const tens = Array.from({ length: 10 }, () => 10);

test('a normal value is no spike', () => {
  assert.equal(detectSpike(25, tens, DEFAULT_SPIKE), null);
});

test('a value above 3x the mean is a spike and reports the mean', () => {
  assert.deepEqual(detectSpike(31, tens, DEFAULT_SPIKE), { mean: 10 });
});

test('exactly 3x the mean is not a spike', () => {
  assert.equal(detectSpike(30, tens, DEFAULT_SPIKE), null);
});

test('fewer than the minimum history gives no verdict', () => {
  assert.equal(detectSpike(1000, tens.slice(0, 9), DEFAULT_SPIKE), null);
  assert.equal(detectSpike(1000, [], DEFAULT_SPIKE), null);
});

test('a zero or negative mean gives no verdict', () => {
  assert.equal(detectSpike(5, Array(10).fill(0), DEFAULT_SPIKE), null);
  assert.equal(detectSpike(5, [...Array(9).fill(1), -20], DEFAULT_SPIKE), null);
});

test('a negative value is never a spike', () => {
  assert.equal(detectSpike(-500, tens, DEFAULT_SPIKE), null);
});

test('only the last `window` values count', () => {
  const history = [...Array(5).fill(1000), ...tens];
  assert.deepEqual(detectSpike(31, history, DEFAULT_SPIKE), { mean: 10 });
});

test('factor, window and minimum history are configurable', () => {
  const s = { factor: 2, window: 3, minHistory: 3 };
  assert.deepEqual(detectSpike(21, [10, 10, 10], s), { mean: 10 });
  assert.equal(detectSpike(20, [10, 10, 10], s), null);
  assert.equal(detectSpike(21, [10, 10], s), null);
});

test('remember keeps the newest values only', () => {
  const h: number[] = [];
  for (let i = 1; i <= 12; i++) remember(h, i, 10);
  assert.deepEqual(h, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});
