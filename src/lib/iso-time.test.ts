import assert from 'node:assert/strict';
import test from 'node:test';
import { isoTime } from './iso-time.ts';

test('isoTime equals toISOString: every millisecond shape, both sides of cached seconds', () => {
  const base = Date.UTC(2026, 0, 5, 10, 0, 0);
  for (const ms of [0, 1, 9, 10, 99, 100, 999, 1000, base, base + 7, base + 42, base + 999, base + 1000, base - 1, 253_402_300_799_999]) {
    assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  }
  // Interleaved seconds, repeated: the cache answers the same as Date.
  for (let i = 0; i < 20_000; i++) {
    const ms = base + ((i * 7919) % 5000) * 13;
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }
});

test('isoTime falls back to Date outside what the cache holds: negative, far future, fractional, invalid', () => {
  for (const ms of [-1, -86_400_001, 253_402_300_800_000, 8.64e15, 1.5, Date.UTC(2026, 0, 1) + 0.25]) {
    assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  }
  assert.throws(() => isoTime(Number.NaN), RangeError);
  assert.throws(() => isoTime(8.64e15 + 1), RangeError);
});
