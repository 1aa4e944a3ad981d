import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_EMA, EMPTY_EMA, emaStep, type EmaState } from './ema.ts';

const at = (baseline: number): EmaState => ({ baseline });
const close = (actual: number | null, expected: number): void =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);

test('the first reading only seeds the baseline', () => {
  assert.deepEqual(emaStep(EMPTY_EMA, 50), { anomaly: null, next: { baseline: 50 } });
});

test('an outage on the first reading is reported and leaves the baseline unseeded', () => {
  assert.deepEqual(emaStep(EMPTY_EMA, 0.05), { anomaly: { type: 'outage', value: 0.05, baseline: null }, next: { baseline: null } });
  // The next normal reading seeds it.
  assert.deepEqual(emaStep(EMPTY_EMA, 3).next, { baseline: 3 });
});

test('exactly 2x the baseline is no spike; just above is', () => {
  assert.equal(emaStep(at(10), 20).anomaly, null);
  assert.deepEqual(emaStep(at(10), 20.000001).anomaly, { type: 'spike', value: 20.000001, baseline: 10 });
});

test('exactly 0.5x the baseline is no drop; just below is', () => {
  assert.equal(emaStep(at(10), 5).anomaly, null);
  assert.deepEqual(emaStep(at(10), 4.999999).anomaly, { type: 'drop', value: 4.999999, baseline: 10 });
});

test('an outage takes precedence over a drop', () => {
  assert.deepEqual(emaStep(at(10), 0.05).anomaly, { type: 'outage', value: 0.05, baseline: 10 });
  assert.equal(emaStep(at(10), 0).anomaly?.type, 'outage');
  assert.equal(emaStep(at(10), -1).anomaly?.type, 'outage');
  assert.equal(emaStep(at(10), 0.1).anomaly?.type, 'drop', '0.1 is not below the outage threshold');
});

test('an outage does not move the baseline', () => {
  const state = at(7.5);
  assert.equal(emaStep(state, 0.01).next, state);
});

test('a baseline below 0.1 suppresses spike and drop', () => {
  assert.equal(emaStep(at(0.09), 50).anomaly, null);
  assert.equal(emaStep(at(0.099999), 0.1).anomaly, null);
  assert.equal(emaStep(at(0.1), 0.21).anomaly?.type, 'spike', 'exactly 0.1 is enough');
  // Drops are not reachable below 0.2: half the baseline is under the outage threshold.
  assert.equal(emaStep(at(0.3), 0.12).anomaly?.type, 'drop');
});

test('comparisons use the baseline before the update, and spikes and drops update it', () => {
  const { anomaly, next } = emaStep(at(10), 25);
  assert.deepEqual(anomaly, { type: 'spike', value: 25, baseline: 10 });
  close(next.baseline, 13);
});

test('a sequence moves the baseline as 0.8·baseline + 0.2·value', () => {
  const values = [10, 12, 30, 0.05, 5, 12.456];
  const expected: Array<[string | null, number | null]> = [
    [null, 10],
    [null, 10.4],
    ['spike', 14.32],
    ['outage', 14.32],
    ['drop', 12.456],
    [null, 12.456],
  ];
  let state = EMPTY_EMA;
  values.forEach((v, i) => {
    const step = emaStep(state, v);
    assert.equal(step.anomaly?.type ?? null, expected[i]![0], `reading ${i}`);
    close(step.next.baseline, expected[i]![1]!);
    state = step.next;
  });
});

test('the settings are configurable', () => {
  const s = { ...DEFAULT_EMA, alpha: 0.5, spikeFactor: 1.5, dropFactor: 0.9, outageThreshold: 1, minBaseline: 5 };
  assert.equal(emaStep(at(10), 15.1, s).anomaly?.type, 'spike');
  assert.equal(emaStep(at(10), 8.9, s).anomaly?.type, 'drop');
  assert.equal(emaStep(at(10), 0.9, s).anomaly?.type, 'outage');
  assert.equal(emaStep(at(4), 100, s).anomaly, null);
  close(emaStep(at(10), 14, s).next.baseline, 12);
});

test('a non-finite value is refused rather than poisoning the baseline', () => {
  assert.throws(() => emaStep(at(10), Number.NaN), RangeError);
  assert.throws(() => emaStep(at(10), Number.POSITIVE_INFINITY), RangeError);
});
