import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGridReading } from './decode.ts';
import { readingEnergyKwh } from './energy.ts';

test('energy_kwh is used as sent when present', () => {
  assert.equal(readingEnergyKwh({ powerKw: 3.2, energyKwh: 0.00089, intervalS: 1 }), 0.00089);
});

test('an energy of 0 is a value, not an absence', () => {
  assert.equal(readingEnergyKwh({ powerKw: 3.2, energyKwh: 0, intervalS: 1 }), 0);
});

test('without energy_kwh it is power × interval / 3600', () => {
  assert.equal(readingEnergyKwh({ powerKw: 3.6, energyKwh: null, intervalS: 1 }), 0.001);
  assert.equal(readingEnergyKwh({ powerKw: 2, energyKwh: null, intervalS: 900 }), 0.5);
  assert.equal(readingEnergyKwh({ powerKw: -1.8, energyKwh: null, intervalS: 10 }), -0.005);
});

test('the interval defaults to the configured one when the message has none', () => {
  const body = Buffer.from('{"meter_id":"M-1","region":"north","timestamp":0,"power_kw":7.2}');
  assert.equal(readingEnergyKwh(decodeGridReading(body, { defaultIntervalS: 1 }).value), 0.002);
  assert.equal(readingEnergyKwh(decodeGridReading(body, { defaultIntervalS: 5 }).value), 0.01);
});

test('it depends on the reading only: the same reading always gives the same bits', () => {
  const r = { powerKw: 3.3333333, energyKwh: null, intervalS: 7 };
  assert.ok(Object.is(readingEnergyKwh(r), readingEnergyKwh({ ...r })));
});
