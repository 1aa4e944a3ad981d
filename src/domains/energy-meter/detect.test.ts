import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPIKE } from '../../processors/anomaly/rolling-mean-spike.ts';
import { detectReadings, seriesKey } from './detect.ts';
import type { CheckedReading } from './validate.ts';

const reading = (value: number | null, name = 'power', reasons: string[] = []): CheckedReading => ({
  timestamp: 0, value, name, reasons: [...reasons], raw: {},
});

test('a spike gets the exact reason text and does not enter the history', () => {
  const histories = new Map([[seriesKey('c', 'power'), Array(10).fill(100)]]);
  const [r] = detectReadings('c', [reading(350)], histories, DEFAULT_SPIKE);
  assert.equal(r!.status, 'invalid');
  assert.equal(r!.reason, 'sudden spike detected: value 350.00 exceeds 3.0x rolling average 100.00');
  assert.deepEqual(histories.get(seriesKey('c', 'power')), Array(10).fill(100));
});

test('earlier readings of the same message count, in processing order', () => {
  const histories = new Map<string, number[]>();
  const readings = [...Array.from({ length: 10 }, () => reading(10)), reading(31)];
  const out = detectReadings('c', readings, histories, DEFAULT_SPIKE);
  assert.equal(out.slice(0, 10).every((r) => r.status === 'valid'), true);
  assert.equal(out[10]!.spike, true);
});

test('invalid readings do not enter the history', () => {
  const histories = new Map<string, number[]>();
  detectReadings('c', [reading(5, 'power', ['timestamp outside tolerance: 400s from received_at']), reading(-1, 'power', ['negative value detected'])], histories, DEFAULT_SPIKE);
  assert.deepEqual(histories.get(seriesKey('c', 'power')), []);
});

test('series are per client and metric', () => {
  const histories = new Map([[seriesKey('c', 'power'), Array(10).fill(100)]]);
  const out = detectReadings('c', [reading(1000, 'voltage'), reading(1000, 'power')], histories, DEFAULT_SPIKE);
  assert.equal(out[0]!.spike, false);
  assert.equal(out[1]!.spike, true);
  assert.equal(detectReadings('other', [reading(1000)], histories, DEFAULT_SPIKE)[0]!.spike, false);
});

test('other reasons and the spike reason are joined with "; "', () => {
  const histories = new Map([[seriesKey('c', 'power'), Array(10).fill(1)]]);
  const [r] = detectReadings('c', [reading(50, 'power', ['timestamp outside tolerance: 400s from received_at'])], histories, DEFAULT_SPIKE);
  assert.equal(r!.reason, 'timestamp outside tolerance: 400s from received_at; sudden spike detected: value 50.00 exceeds 3.0x rolling average 1.00');
});

test('readings without a numeric value skip spike detection', () => {
  const histories = new Map<string, number[]>();
  const [r] = detectReadings('c', [reading(null, 'power', ['invalid metric value: x'])], histories, DEFAULT_SPIKE);
  assert.equal(r!.reason, 'invalid metric value: x');
  assert.equal(histories.size, 0);
});
