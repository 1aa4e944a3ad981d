import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UTC } from '../../processors/timestamps.ts';
import { checkReading, parseMetricValue } from './validate.ts';

const rules = { toleranceMs: 300_000, zone: UTC, maxNameLength: 100 };
const received = Date.parse('2025-12-29T10:30:00Z');
const check = (entry: unknown) => checkReading(entry, received, rules);

test('a good reading has no reasons', () => {
  const r = check({ date: '29/12/2025 10:29:55', data: '245.5', name: 'power_consumption' });
  assert.deepEqual(r.reasons, []);
  assert.equal(r.value, 245.5);
  assert.equal(r.timestamp, Date.parse('2025-12-29T10:29:55Z'));
});

test('an unreadable date is reported and received_at stands in', () => {
  const r = check({ date: '31/02/2025 10:29:55', data: '1', name: 'x' });
  assert.deepEqual(r.reasons, ['invalid timestamp format: 31/02/2025 10:29:55']);
  assert.equal(r.timestamp, received);
  assert.deepEqual(check({ data: '1', name: 'x' }).reasons, ['invalid timestamp format: ']);
  assert.deepEqual(check({ date: 1735467000, data: '1', name: 'x' }).reasons, ['invalid timestamp format: 1735467000']);
});

test('tolerance: the edge is inside, one millisecond more is outside', () => {
  assert.deepEqual(check({ date: '2025-12-29T10:25:00Z', data: '1', name: 'x' }).reasons, []);
  assert.deepEqual(check({ date: '2025-12-29T10:35:00Z', data: '1', name: 'x' }).reasons, []);
  assert.deepEqual(check({ date: '2025-12-29T10:35:00.001Z', data: '1', name: 'x' }).reasons, [
    'timestamp outside tolerance: 300.001s from received_at',
  ]);
  assert.deepEqual(check({ date: '29/12/2025 10:20:00', data: '1', name: 'x' }).reasons, [
    'timestamp outside tolerance: 600s from received_at',
  ]);
});

test('values: numbers and decimal strings only', () => {
  for (const ok of ['245.5', '0', '-3', '+4', '.5', '5.', '1e3', '1E-3', 12, 0, -0.5, 1e308]) {
    assert.notEqual(parseMetricValue(ok), null, String(ok));
  }
  for (const bad of ['', ' 1', '1 ', '1.2.3', 'NaN', 'Infinity', '-Infinity', '0x10', '1e999', '12abc', 'abc', null, true, [], {}, undefined]) {
    assert.equal(parseMetricValue(bad), null, JSON.stringify(bad));
  }
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: 'abc', name: 'x' }).reasons, ['invalid metric value: abc']);
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: null, name: 'x' }).reasons, ['invalid metric value: null']);
  assert.equal(check({ date: '29/12/2025 10:29:55', data: 'abc', name: 'x' }).value, null);
});

test('names: empty after trim, and at most 100 characters', () => {
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '1', name: '   ' }).reasons, ['empty metric name']);
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '1' }).reasons, ['empty metric name']);
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '1', name: 'a'.repeat(100) }).reasons, []);
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '1', name: 'a'.repeat(101) }).reasons, ['metric name too long']);
  // Characters, not UTF-16 units: 100 emoji are 100 characters.
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '1', name: '⚡'.repeat(100) }).reasons, []);
  // The name is stored as sent.
  assert.equal(check({ date: '29/12/2025 10:29:55', data: '1', name: ' voltage ' }).name, ' voltage ');
});

test('negative values', () => {
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '-5', name: 'x' }).reasons, ['negative value detected']);
  assert.deepEqual(check({ date: '29/12/2025 10:29:55', data: '-0', name: 'x' }).reasons, []);
});

test('every failing rule is reported, in order', () => {
  const r = check({ date: '29/12/2025 09:00:00', data: '-1', name: '' });
  assert.deepEqual(r.reasons, ['timestamp outside tolerance: 5400s from received_at', 'empty metric name', 'negative value detected']);
  const all = check({ date: 'garbage', data: 'x', name: '' });
  assert.deepEqual(all.reasons, ['invalid timestamp format: garbage', 'invalid metric value: x', 'empty metric name']);
});

test('entries that are not objects are invalid readings, not crashes', () => {
  for (const entry of [42, 'text', null, [1, 2]]) {
    const r = check(entry);
    assert.equal(r.reasons.length, 3);
    assert.equal(r.raw, entry);
  }
});
