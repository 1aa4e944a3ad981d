import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { UTC } from '../../processors/timestamps.ts';
import type { Decoded } from '../types.ts';
import { decodeMeterMessage, type MeterMessage } from './decode.ts';
import type { EnergyMeterSettings } from './settings.ts';
import { EnergyMeterState } from './state.ts';

const settings: EnergyMeterSettings = {
  rules: { toleranceMs: 300_000, zone: UTC, maxNameLength: 100 },
  spike: { factor: 3, window: 10, minHistory: 10 },
  outputExchange: 'meter.events',
  retentionMonths: 12,
};

/** A pool that answers the history lookup from a map (by metric name) and records what was asked. */
function fakePool(histories: Record<string, number[]>) {
  const asked: string[][] = [];
  const pool = {
    query: async (_sql: string, params: [string[], string[]]) => {
      asked.push(params[1]);
      return { rows: params[1].flatMap((m, i) => (m in histories ? [{ client_id: params[0][i], metric_name: m, recent: histories[m] }] : [])) };
    },
  } as unknown as pg.Pool;
  return { pool, asked };
}

/** A message of one client; `requestId` names it (its repeat carries the same one). */
function message(requestId: string, readings: Array<[name: string, value: number]>): Decoded<MeterMessage> {
  const body = Buffer.from(JSON.stringify({
    request_id: requestId, client_fingerprint: 'device-1', received_at: '2026-03-01T10:00:00Z',
    payload: { PM: readings.map(([name, value]) => ({ date: '01/03/2026 09:59:55', data: String(value), name })) },
  }));
  const { messageId, value } = decodeMeterMessage(body, settings.rules);
  return { index: 0, delivery: undefined as never, messageId, value };
}

type Delta = ReturnType<EnergyMeterState['take']> & {
  copy: string[]; clients: Array<{ id: string }>; histories: Array<{ metric: string; recent: number[] }>;
  outbound: unknown[]; stats: { readings: { valid: number; invalid: number }; duplicates: number; anomalies: Record<string, number> };
};

const lines = (d: Delta): string[] => d.copy.join('').split('\n').filter((l) => l !== '');

test('a delta holds each client and series once, however many messages advanced them; histories are read once', async () => {
  const { pool, asked } = fakePool({});
  const state = new EnergyMeterState({ pool, settings });
  await state.absorb([message('m1', [['voltage', 230], ['power', 2]]), message('m2', [['voltage', 231]])], 'q');
  await state.absorb([message('m3', [['voltage', 229], ['power', 2.1]])], 'q');
  const d = state.take(['q']) as Delta;
  assert.equal(d.messages, 3);
  assert.equal(lines(d).length, 5, 'one COPY line per reading');
  assert.equal(d.clients.length, 1);
  assert.deepEqual(d.histories.map((h) => `${h.metric}:${h.recent.join(',')}`).sort(), ['power:2,2.1', 'voltage:230,231,229']);
  assert.deepEqual(asked.map((a) => [...a].sort()), [['power', 'voltage']], 'stored histories are read once per series, not per batch');
  assert.equal((state.take(['q']) as Delta).messages, 0, 'take() detaches: the next delta starts empty');
});

test('spike detection continues from the stored history, and a producer repeat of a recent message is skipped', async () => {
  const { pool } = fakePool({ power: Array(10).fill(1) });
  const state = new EnergyMeterState({ pool, settings });
  await state.absorb([message('m1', [['power', 9]])], 'q');
  let d = state.take(['q']) as Delta;
  assert.equal(d.stats.readings.invalid, 1, '9 against a stored mean of 1 is a spike');
  assert.match(lines(d)[0]!, /sudden spike detected/);
  assert.deepEqual(d.histories[0]!.recent, Array(10).fill(1), 'a spike does not enter the history');

  await state.absorb([message('m1', [['power', 9]]), message('m2', [['power', 1.2]])], 'q');
  d = state.take(['q']) as Delta;
  assert.equal(d.stats.duplicates, 1);
  assert.equal(lines(d).length, 1, 'the repeat stores nothing');
  assert.equal(d.histories[0]!.recent.at(-1), 1.2);
});

test('a taken history is a copy: absorbing on while a checkpoint writes does not change it', async () => {
  const { pool } = fakePool({});
  const state = new EnergyMeterState({ pool, settings });
  await state.absorb([message('m1', [['power', 1]])], 'q');
  const d = state.take(['q']) as Delta;
  await state.absorb([message('m2', [['power', 1.1]])], 'q');
  assert.deepEqual(d.histories[0]!.recent, [1]);
});

test('reset forgets what was held: histories are read again when next seen', async () => {
  const { pool, asked } = fakePool({});
  const state = new EnergyMeterState({ pool, settings });
  await state.absorb([message('m1', [['power', 1]])], 'q');
  state.reset();
  await state.absorb([message('m1', [['power', 1]])], 'q');
  assert.equal(asked.length, 2);
  assert.equal((state.take(['q']) as Delta).stats.duplicates, 0, 'the repeat ring is forgotten too (the careful path decides then)');
});
