import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { DEFAULT_ROLLING, type SeriesState } from '../../processors/anomaly/western-electric.ts';
import type { Decoded } from '../types.ts';
import type { AnalyticsMessage } from './decode.ts';
import { detectAnomalies } from './detect.ts';
import type { AnalyticsEvent, Measurement } from './records.ts';
import type { AnalyticsSettings } from './settings.ts';
import { AnalyticsState } from './state.ts';
import { AnalyticsStore, eventLine, measurementLine, specKey } from './store.ts';

const settings = { rolling: DEFAULT_ROLLING, windowsS: [60, 3600], upStatuses: ['online'] } as unknown as AnalyticsSettings;
const T0 = Date.parse('2026-03-01T00:00:00Z');

/** A pool that answers the specification and series reads from maps and counts them. */
function fakePool(specs: Record<string, { lsl: number | null; usl: number | null; target: number | null; sigma: number | null }>, series: Record<string, SeriesState> = {}) {
  const asked = { specs: 0, series: 0 };
  const pool = {
    query: async (sql: string, params: string[][]) => {
      if (sql.includes('analytics_spec_limits')) {
        asked.specs++;
        const [tenants, metrics] = params as [string[], string[]];
        return { rows: tenants.flatMap((t, i) => { const s = specs[specKey(t, metrics[i]!)]; return s === undefined ? [] : [{ tenant_id: t, metric: metrics[i], ...s }]; }) };
      }
      if (sql.includes('analytics_series_state')) {
        asked.series++;
        const [t, f, m, se, me] = params as [string[], string[], string[], string[], string[]];
        return { rows: t.flatMap((_, i) => { const s = series[[t[i], f[i], m[i], se[i], me[i]].join('\u0000')]; return s === undefined ? [] : [{ tenant_id: t[i], factory_id: f[i], machine_id: m[i], sensor_id: se[i], metric: me[i], ...s }]; }) };
      }
      throw new Error(`unexpected query: ${sql}`);
    },
  } as unknown as pg.Pool;
  return { pool, asked };
}

const measurement = (machineId: string, seconds: number, value: number): Measurement => ({
  kind: 'measurement', time: T0 + seconds * 1000, tenantId: 't1', factoryId: 'f1', machineId, sensorId: 's1', metric: 'temp', unit: 'C', value, sampleId: null,
});
const msg = (m: Measurement): Decoded<AnalyticsMessage> => {
  const id = `${m.machineId}-${m.time}`;
  return { index: 0, delivery: undefined as never, messageId: id, value: { subDomain: 'sensor', records: [{ id, record: m }] } };
};
const health = (machineId: string, seconds: number, status: string): Decoded<AnalyticsMessage> => {
  const e: AnalyticsEvent = { kind: 'event', time: T0 + seconds * 1000, tenantId: 't1', factoryId: 'f1', entityType: 'machine', entityId: machineId, eventType: `health.${status}`, value: null, discriminator: '', payload: { status } };
  const id = `e-${machineId}-${seconds}`;
  return { index: 0, delivery: undefined as never, messageId: id, value: { subDomain: 'device', records: [{ id, record: e }] } };
};

const newState = (pool: pg.Pool) => new AnalyticsState({ pool, store: new AnalyticsStore('analytics'), settings, anomalyMessage: () => { throw new Error('unused'); } });

type Delta = ReturnType<AnalyticsState['take']>;

test('a delta holds each series, aggregate, rollup and KPI row once, however many records moved it', async () => {
  const { pool, asked } = fakePool({ [specKey('t1', 'temp')]: { lsl: 0, usl: 100, target: 50, sigma: 10 } });
  const state = newState(pool);
  await state.absorb([msg(measurement('A', 0, 50)), msg(measurement('A', 1, 51)), msg(measurement('B', 0, 49)), health('A', 0, 'online')], '0');
  await state.absorb([msg(measurement('A', 2, 52)), msg(measurement('B', 61, 50)), health('A', 1, 'offline')], '0');
  const d: Delta = state.take(['0']);
  assert.equal(d.messages, 7);
  assert.equal(d.records, 7);
  assert.equal(d.measurements.join('').split('\n').length - 1, 5);
  assert.equal(d.events.join('').split('\n').length - 1, 2);
  assert.deepEqual([...d.series.keys()].map((k) => k.split('\u0000')[2]).sort(), ['A', 'B']);
  // 60 s: A@0, B@0, B@60; 3600 s: A@0, B@0.
  assert.deepEqual([...d.aggregates.values()].map((a) => `${a.machineId}/${a.windowS}@${(a.bucketStart - T0) / 1000}:${a.count}`).sort(),
    ['A/3600@0:3', 'A/60@0:3', 'B/3600@0:2', 'B/60@0:1', 'B/60@60:1']);
  assert.deepEqual([...d.rollups.values()].map((r) => `${r.eventType}/${r.windowS}:${r.count}`).sort(), ['health.offline/3600:1', 'health.offline/60:1', 'health.online/3600:1', 'health.online/60:1']);
  const availability = [...d.kpis.values()].filter((k) => k.kpi === 'availability' && k.windowS === 60)[0]!;
  assert.deepEqual([availability.numerator, availability.denominator], [1, 2]);
  const inSpec = [...d.kpis.values()].filter((k) => k.kpi === 'in_spec_rate' && k.windowS === 3600).map((k) => k.denominator).sort();
  assert.deepEqual(inSpec, [2, 3]);
  assert.deepEqual(asked, { specs: 1, series: 1 }, 'specifications and stored series are read once, not per batch');
  assert.equal(state.take(['0']).messages, 0, 'take() detaches: the next delta starts empty');
});

test('detection continues from the stored state and finds what the per-batch path finds in one batch', async () => {
  // A run of points above the centre line: the Western Electric rules fire as it builds up.
  const values = [50, 50, 50, 71, 72, 73, 61, 62, 63, 64, 65, 66, 67, 68, 69, 95, 50, 40];
  const all = values.map((v, i) => measurement('A', i, v));
  const stored: SeriesState = { recent: [], baseline: [] };
  const spec = { lsl: 0, usl: 120, target: 50, sigma: 7 };
  const { pool } = fakePool({ [specKey('t1', 'temp')]: spec }, { [['t1', 'f1', 'A', 's1', 'temp'].join('\u0000')]: stored });
  const state = newState(pool);
  // Split unevenly over three batches and two checkpoints.
  await state.absorb(all.slice(0, 4).map(msg), '0');
  const first = state.take(['0']);
  await state.absorb(all.slice(4, 11).map(msg), '0');
  await state.absorb(all.slice(11).map(msg), '0');
  const second = state.take(['0']);
  const oneBatch = detectAnomalies(all.map((m) => ({ id: `${m.machineId}-${m.time}`, m })), new Map([[specKey('t1', 'temp'), spec]]), new Map(), DEFAULT_ROLLING);
  assert.ok(oneBatch.anomalies.length >= 3, 'the series is meant to raise several anomalies');
  assert.deepEqual([...first.anomalies, ...second.anomalies].map((a) => `${a.rule}:${a.id}`), oneBatch.anomalies.map((a) => `${a.rule}:${a.id}`));
  assert.deepEqual([...second.series.values()][0]!.state, [...oneBatch.states.values()][0]!.state);
});

test('a repeat of a recent record is skipped, across checkpoints too; reset forgets and reads again', async () => {
  const { pool, asked } = fakePool({});
  const state = newState(pool);
  await state.absorb([msg(measurement('A', 0, 1)), msg(measurement('A', 0, 1)), health('A', 0, 'online'), health('A', 0, 'online')], '0');
  let d = state.take(['0']);
  assert.equal(d.records, 2);
  assert.equal(d.duplicates, 2);
  await state.absorb([msg(measurement('A', 0, 1)), msg(measurement('A', 1, 1))], '0');
  d = state.take(['0']);
  assert.equal(d.records, 1);
  assert.equal(d.duplicates, 1);
  state.reset();
  await state.absorb([msg(measurement('A', 0, 1))], '0');
  assert.equal(state.take(['0']).records, 1, 'after a reset the same record is new again (its first copy was never committed)');
  assert.equal(asked.series, 2);
});

test('records are held as the COPY lines copyRows would send for them', async () => {
  const { copyLine } = await import('../../sinks/postgres/copy.ts');
  const { isoTime } = await import('../../lib/iso-time.ts');
  const m: Measurement = { ...measurement('M\t1\\x', 1.5, 1.5e-7), sampleId: 'S\n1' };
  assert.equal(measurementLine({ id: 'u1', subDomain: 'lab', m }),
    copyLine(['u1', isoTime(m.time), m.tenantId, m.factoryId, m.machineId, m.sensorId, m.metric, m.unit, m.value, 'lab', m.sampleId]));
  const e: AnalyticsEvent = { kind: 'event', time: T0, tenantId: 't', factoryId: 'f', entityType: 'machine', entityId: 'm', eventType: 'sweep', value: null, discriminator: '', payload: { note: 'a\tb\\c' } };
  assert.equal(eventLine({ id: 'u2', subDomain: 'sweep', event: e }), copyLine(['u2', isoTime(e.time), 't', 'f', 'sweep', 'machine', 'm', 'sweep', null, e.payload]));
});
