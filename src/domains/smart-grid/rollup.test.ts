import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Transaction } from './decode.ts';
import { regionPoint, secondPoints, transactionPoint } from './points.ts';
import { regionMinuteDeltas, secondDeltas } from './rollup.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const tx = (id: string, meter: string, region: string, ms: number, kwh: number, status: Transaction['status'] = 'active'): Transaction => ({
  transactionId: id, meterId: meter, region, status, buildingType: 'residential', consumptionKwh: kwh, latitude: 52, longitude: 5, peakLoad: 1, timestampMs: ms,
});

describe('smart-grid roll-ups', () => {
  const batch = [
    tx('a', 'M1', 'north', T0 + 100, 1), tx('b', 'M2', 'north', T0 + 900, 3, 'fault'), tx('c', 'M1', 'north', T0 + 1000, 2),
    tx('d', 'M3', 'south', T0 + 59_999, 0.5, 'offline'), tx('e', 'M1', 'north', T0 + 60_000, 4),
  ];

  it('per second: sums, extremes and counts per status, seconds in order', () => {
    assert.deepEqual(secondDeltas(batch), [
      { bucket: T0, totalKwh: 4, count: 2, maxKwh: 3, minKwh: 1, active: 1, fault: 1, offline: 0 },
      { bucket: T0 + 1000, totalKwh: 2, count: 1, maxKwh: 2, minKwh: 2, active: 1, fault: 0, offline: 0 },
      { bucket: T0 + 59_000, totalKwh: 0.5, count: 1, maxKwh: 0.5, minKwh: 0.5, active: 0, fault: 0, offline: 1 },
      { bucket: T0 + 60_000, totalKwh: 4, count: 1, maxKwh: 4, minKwh: 4, active: 1, fault: 0, offline: 0 },
    ]);
  });

  it('per region and minute: distinct meters of the batch', () => {
    const r = regionMinuteDeltas(batch);
    assert.deepEqual(r.map((d) => [d.region, d.bucket - T0, d.totalKwh, d.count, d.maxKwh, [...d.meters].sort()]), [
      ['north', 0, 6, 3, 3, ['M1', 'M2']], ['north', 60_000, 4, 1, 4, ['M1']], ['south', 0, 0.5, 1, 0.5, ['M3']],
    ]);
  });

  it('InfluxDB points as the reference consumer wrote them', () => {
    assert.deepEqual(transactionPoint(batch[1]!), {
      measurement: 'energy_consumption', tags: { meter_id: 'M2', region: 'north', status: 'fault', building_type: 'residential' },
      fields: { consumption_kwh: 3, latitude: 52, longitude: 5, peak_load: 1 }, timeMs: T0 + 900,
    });
    const [agg, ...status] = secondPoints({ ms: String(T0), total_kwh: 4, reading_count: '2', max_kwh: 3, min_kwh: 1, active_count: '1', fault_count: '1', offline_count: '0', revision: '3' });
    assert.deepEqual(agg, { measurement: 'energy_consumption_aggregate', tags: {}, fields: { total_kwh: 4, reading_count: { int: 2 }, max_kwh: 3, min_kwh: 1, avg_kwh: 2 }, timeMs: T0 });
    assert.deepEqual(status.map((p) => [p.tags['status'], p.fields['count']]), [['active', { int: 1 }], ['fault', { int: 1 }], ['offline', { int: 0 }]]);
    assert.deepEqual(regionPoint({ region: 'north', ms: String(T0), total_kwh: 6, reading_count: '3', meter_count: 2, max_consumption: 3, revision: '1' }).fields,
      { total_kwh: 6, meter_count: { int: 2 }, average_kwh: 3, max_consumption: 3 });
  });
});
