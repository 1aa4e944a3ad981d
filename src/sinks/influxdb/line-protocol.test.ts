import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePoint, escapeKey } from './line-protocol.ts';

test('a point with tags, float, integer and string fields', () => {
  assert.equal(
    encodePoint({ measurement: 'energy_consumption', tags: { region: 'north', meter_id: 'M-1' }, fields: { consumption_kwh: 2, count: { int: 3 }, note: 'a "b" \\c' }, timeMs: 1700000000123 }),
    'energy_consumption,meter_id=M-1,region=north consumption_kwh=2,count=3i,note="a \\"b\\" \\\\c" 1700000000123',
  );
});

test('commas, spaces and equals signs are escaped where the protocol needs it', () => {
  assert.equal(
    encodePoint({ measurement: 'm x,y', tags: { 'b t': 'v=1, w' }, fields: { 'f,k': 1.5 }, timeMs: 0 }),
    'm\\ x\\,y,b\\ t=v\\=1\\,\\ w f\\,k=1.5 0',
  );
  assert.equal(escapeKey('a\\b'), 'a\\\\b');
});

test('empty tag values and null fields are left out; no field at all is an error', () => {
  assert.equal(encodePoint({ measurement: 'm', tags: { a: '', b: 'x' }, fields: { f: null, g: 1 }, timeMs: 5 }), 'm,b=x g=1 5');
  assert.throws(() => encodePoint({ measurement: 'm', tags: {}, fields: { f: null }, timeMs: 5 }), /no fields/);
  assert.throws(() => encodePoint({ measurement: 'm', tags: {}, fields: { f: Number.NaN }, timeMs: 5 }), /non-finite/);
});
