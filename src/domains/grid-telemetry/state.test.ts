import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { DEFAULT_EMA } from '../../processors/anomaly/ema.ts';
import type { Decoded } from '../types.ts';
import type { GridReading } from './decode.ts';
import type { GridTelemetrySettings } from './settings.ts';
import { GridState } from './state.ts';

const settings = { ema: DEFAULT_EMA } as GridTelemetrySettings;
const T0 = Date.parse('2026-03-01T00:00:00Z');

/** A pool that answers the baseline lookup from a map and records what was asked. */
function fakePool(baselines: Record<string, number>) {
  const asked: string[][] = [];
  const pool = {
    query: async (_sql: string, params: [string[]]) => {
      asked.push(params[0]);
      return { rows: params[0].filter((id) => id in baselines).map((id) => ({ meter_id: id, baseline: baselines[id] })) };
    },
  } as unknown as pg.Pool;
  return { pool, asked };
}

const reading = (meterId: string, seconds: number, powerKw: number): Decoded<GridReading> => ({
  index: 0, delivery: undefined as never, messageId: `${meterId}:${seconds}`,
  value: { meterId, region: 'north', timestampMs: T0 + seconds * 1000, powerKw, voltage: 230, energyKwh: null, intervalS: 1 },
});

type Delta = ReturnType<GridState['take']> & {
  readings: number; copy: string[]; windows: Array<Array<{ meterId: string; windowStart: number; count: number; sumPower: number }>>;
  meters: Array<{ meterId: string; baseline: number | null }>; alerts: Array<{ type: string; meterId: string }>; watermarks: Map<string, number>; duplicates: number;
};

test('a delta holds each touched window and meter once, however many readings it got', async () => {
  const { pool, asked } = fakePool({});
  const state = new GridState({ pool, settings, domain: 'grid-telemetry', alertMessage: () => { throw new Error('unused'); } });
  await state.absorb([reading('A', 0, 2), reading('A', 1, 2), reading('B', 0, 3), reading('A', 61, 2)], '0');
  await state.absorb([reading('A', 62, 2), reading('B', 1, 3)], '0');
  const d = state.take(['0']) as Delta;
  assert.equal(d.readings, 6);
  assert.equal(d.copy.join("").split("\n").length - 1, 6);
  // 1 m: A@0, A@60, B@0; 15 m: A@0, B@0.
  assert.deepEqual(d.windows[0]!.map((w) => `${w.meterId}@${(w.windowStart - T0) / 1000}:${w.count}`).sort(), ['A@0:2', 'A@60:2', 'B@0:2']);
  assert.deepEqual(d.windows[1]!.map((w) => `${w.meterId}:${w.count}:${w.sumPower}`).sort(), ['A:4:8', 'B:2:6']);
  assert.deepEqual(d.meters.map((m) => m.meterId).sort(), ['A', 'B']);
  assert.equal(d.watermarks.get('0'), T0 + 62_000);
  assert.deepEqual(asked, [['A', 'B']], 'stored baselines are read once per meter, not per batch');
  assert.equal((state.take(['0']) as Delta).messages, 0, 'take() detaches: the next delta starts empty');
});

test('shards taken together give one delta: a meter whose readings came on two partitions gets each window once, summed; each shard keeps its watermark', async () => {
  const { pool } = fakePool({});
  const state = new GridState({ pool, settings, domain: 'grid-telemetry', alertMessage: () => { throw new Error('unused'); } });
  await state.absorb([reading('A', 0, 2), reading('B', 0, 3)], '0');
  await state.absorb([reading('A', 1, 4), reading('C', 5, 1)], '1');
  await state.absorb([reading('D', 9, 1)], '2');
  const d = state.take(['0', '1']) as Delta;
  assert.equal(d.readings, 4);
  assert.equal(d.messages, 4);
  assert.equal(d.copy.join('').split('\n').length - 1, 4);
  assert.deepEqual(d.windows[0]!.map((w) => `${w.meterId}:${w.count}:${w.sumPower}`).sort(), ['A:2:6', 'B:1:3', 'C:1:1']);
  assert.deepEqual(d.windows[1]!.map((w) => `${w.meterId}:${w.count}:${w.sumPower}`).sort(), ['A:2:6', 'B:1:3', 'C:1:1']);
  assert.deepEqual(d.meters.map((m) => m.meterId).sort(), ['A', 'B', 'C']);
  assert.deepEqual([...d.watermarks].sort(), [['0', T0], ['1', T0 + 5_000]]);
  assert.deepEqual((state.take(['2']) as Delta).meters.map((m) => m.meterId), ['D'], 'a shard not taken keeps its changes');
});

test('the EMA continues from the stored baseline, and a repeat of a recent reading is skipped', async () => {
  const { pool } = fakePool({ A: 10 });
  const state = new GridState({ pool, settings, domain: 'grid-telemetry', alertMessage: () => { throw new Error('unused'); } });
  await state.absorb([reading('A', 0, 25), reading('A', 1, 10)], '2');
  let d = state.take(['2']) as Delta;
  assert.deepEqual(d.alerts.map((a) => a.type), ['spike'], '25 kW against a stored baseline of 10');
  // After one checkpoint the key is still known: a producer's repeat costs nothing.
  await state.absorb([reading('A', 1, 10), reading('A', 2, 10)], '2');
  d = state.take(['2']) as Delta;
  assert.equal(d.duplicates, 1);
  assert.equal(d.readings, 1);
  const baseline = d.meters[0]!.baseline!;
  assert.ok(Math.abs(baseline - (0.8 * (0.8 * (0.8 * 10 + 0.2 * 25) + 0.2 * 10) + 0.2 * 10)) < 1e-9);
});

test('reset forgets held meters and keys: they are read from the tables again', async () => {
  const { pool, asked } = fakePool({ A: 5 });
  const state = new GridState({ pool, settings, domain: 'grid-telemetry', alertMessage: () => { throw new Error('unused'); } });
  await state.absorb([reading('A', 0, 5)], '0');
  state.reset();
  await state.absorb([reading('A', 0, 5)], '0');
  const d = state.take(['0']) as Delta;
  assert.equal(d.readings, 1, 'after a reset the same reading is new again (its first copy was never committed)');
  assert.equal(asked.length, 2);
});

test('a reading is held as the COPY line copyRows would send for it', async () => {
  const { copyLine } = await import('../../sinks/postgres/copy.ts');
  const { isoTime } = await import('../../lib/iso-time.ts');
  const { readingLine } = await import('./store.ts');
  for (const r of [
    { meterId: 'M\t1\\x', region: 'north\nwest', timestampMs: T0 + 1234, powerKw: 1.5e-7, voltage: null, energyKwh: 0.25, intervalS: 1 },
    { meterId: 'A', region: 'b', timestampMs: T0, powerKw: 12, voltage: 229.9, energyKwh: null, intervalS: 0.5 },
  ]) {
    assert.equal(readingLine(r), copyLine([r.meterId, r.region, isoTime(r.timestampMs), r.powerKw, r.voltage, r.energyKwh, r.intervalS]));
  }
});

test("a meter's raw rows carry the region of each reading, also when it moves", async () => {
  const { pool } = fakePool({});
  const state = new GridState({ pool, settings, domain: 'grid-telemetry', alertMessage: () => { throw new Error('unused'); } });
  const moved = (r: Decoded<GridReading>, region: string): Decoded<GridReading> => ({ ...r, value: { ...r.value, region } });
  await state.absorb([reading('A', 0, 2), moved(reading('A', 1, 2), 'south')], '0');
  await state.absorb([moved(reading('A', 2, 2), 'south'), reading('A', 3, 2)], '0');
  const regions = (state.take(['0']) as Delta).copy.join('').split('\n').slice(0, -1).map((line) => line.split('\t')[1]);
  assert.deepEqual(regions, ['north', 'south', 'south', 'north']);
});
