import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { Decoded } from '../types.ts';
import type { Transaction } from './decode.ts';
import type { MeterHead, MeterRow, StatusAlert } from './status.ts';
import { SmartGridState } from './state.ts';
import { transactionLine, transactionsOfText } from './store.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');

/** A pool that answers the meter-head lookup from a map and records what was asked. */
function fakePool(heads: Record<string, MeterHead>) {
  const asked: string[][] = [];
  const pool = {
    query: async (_sql: string, params: [string[]]) => {
      asked.push([...params[0]]);
      return {
        rows: params[0].filter((id) => id in heads).map((id) => ({
          meter_id: id, status: heads[id]!.status, since_ms: String(heads[id]!.statusSinceMs), seen_ms: String(heads[id]!.lastSeenMs),
          last_transaction_id: heads[id]!.lastTransactionId,
        })),
      };
    },
  } as unknown as pg.Pool;
  return { pool, asked };
}

const txn = (id: string, meterId: string, ms: number, status: Transaction['status'] = 'active', kwh = 1, region = 'north'): Decoded<Transaction> => ({
  index: 0, delivery: undefined as never, messageId: id,
  value: { transactionId: id, meterId, region, status, buildingType: 'residential', consumptionKwh: kwh, latitude: 52, longitude: 5, peakLoad: 1, timestampMs: T0 + ms },
});

const alertMessage = (a: StatusAlert, detectedAt: string) => ({ id: a.alertId, destination: 'alerts', key: a.meterId, body: detectedAt, kind: 'alert' as const });

type Delta = ReturnType<SmartGridState['take']> & {
  copy: string[]; transactions: number; duplicates: number; meters: MeterRow[]; alerts: StatusAlert[];
  seconds: Array<{ bucket: number; count: number; totalKwh: number; fault: number }>; regions: Array<{ region: string; bucket: number; count: number; meters: Set<string> }>;
};

const ids = (d: Delta): string[] => transactionsOfText(d.copy).map((t) => t.transactionId);
const alerts = (d: Delta): string[] => d.alerts.map((a) => `${a.meterId}:${a.type}@${a.timestampMs - T0}<${a.previousStatus}`);

test('meter heads are read once per meter across batches; a delta holds each meter once, however many transactions moved it', async () => {
  const { pool, asked } = fakePool({ B: { status: 'active', statusSinceMs: T0 - 60_000, lastSeenMs: T0 - 1000, lastTransactionId: 'b0' } });
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0), txn('b1', 'B', 0), txn('a2', 'A', 500), txn('a3', 'A', 61_000)], '0');
  await state.absorb([txn('a4', 'A', 62_000), txn('b2', 'B', 1000)], '0');
  const d = state.take(['0']) as Delta;
  assert.deepEqual(asked, [['A', 'B']], 'stored heads are read once per meter, not per batch');
  assert.equal(d.messages, 6);
  assert.equal(d.transactions, 6);
  assert.deepEqual(ids(d), ['a1', 'b1', 'a2', 'a3', 'a4', 'b2'], 'one COPY line per transaction, in delivery order');
  assert.deepEqual(d.meters.map((m) => `${m.meterId}:${m.lastTransactionId}`), ['A:a4', 'B:b2'], 'each meter once, at its newest transaction');
  // B continues from its stored head: still active since the stored status_since.
  assert.equal(d.meters[1]!.statusSinceMs, T0 - 60_000);
  assert.equal(d.meters[1]!.previousStatus, 'active');
  assert.equal(d.meters[0]!.previousStatus, 'active', 'A was new in a1, then active');
  assert.deepEqual(d.seconds.map((s) => `${(s.bucket - T0) / 1000}:${s.count}`), ['0:3', '1:1', '61:1', '62:1']);
  assert.deepEqual(d.regions.map((r) => `${(r.bucket - T0) / 60_000}:${r.count}:${[...r.meters].sort().join(',')}`), ['0:4:A,B', '1:2:A']);
  assert.equal((state.take(['0']) as Delta).messages, 0, 'take() detaches: the next delta starts empty');
  await state.absorb([txn('a5', 'A', 63_000)], '0');
  assert.equal(asked.length, 1, 'a meter stays known after a checkpoint');
});

test('a meter alerts when it enters fault or offline, once per transition', async () => {
  const { pool } = fakePool({
    A: { status: 'active', statusSinceMs: T0 - 60_000, lastSeenMs: T0 - 1000, lastTransactionId: 'a0' },
    F: { status: 'fault', statusSinceMs: T0 - 60_000, lastSeenMs: T0 - 1000, lastTransactionId: 'f0' },
  });
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0, 'fault'), txn('a2', 'A', 1000, 'fault'), txn('f1', 'F', 0, 'fault'), txn('n1', 'N', 0, 'offline')], '1');
  await state.absorb([txn('a3', 'A', 2000, 'offline'), txn('a4', 'A', 3000, 'offline'), txn('a5', 'A', 4000, 'active')], '1');
  let d = state.take(['1']) as Delta;
  assert.deepEqual(alerts(d), ['A:fault@0<active', 'N:offline@0<null', 'A:offline@2000<fault'], 'F stays in its stored fault: no alert');
  assert.deepEqual(d.meters.map((m) => `${m.meterId}:${m.status}:${m.statusSinceMs - T0}`), ['A:active:4000', 'F:fault:-60000', 'N:offline:0']);
  assert.deepEqual(d.seconds.map((s) => s.fault), [2, 1, 0, 0, 0]);

  // The same transition (meter, time, status) reached twice in a shard's delta: one alert.
  await state.absorb([txn('x1', 'A', 5000, 'fault'), txn('x0', 'A', 5000, 'offline'), txn('x2', 'A', 5000, 'offline'), txn('x3', 'A', 5000, 'fault')], '1');
  d = state.take(['1']) as Delta;
  assert.equal(d.transactions, 4);
  assert.deepEqual(alerts(d), ['A:fault@5000<active', 'A:offline@5000<fault'], 'x0 is late (x0 < x1 at the same time); x3 is the x1 transition again: its first alert stands');
  assert.deepEqual(d.meters.map((m) => `${m.meterId}:${m.status}:${m.lastTransactionId}`), ['A:fault:x3']);
});

test('a late transaction is stored and counted but moves nothing; a repeat of a recent one is skipped', async () => {
  const { pool } = fakePool({ A: { status: 'active', statusSinceMs: T0, lastSeenMs: T0 + 10_000, lastTransactionId: 'a0' } });
  const state = new SmartGridState({ pool, alertMessage });
  // Late (older than the stored head), in fault: no alert, no meter row, but a raw row and its aggregates (as apply does).
  await state.absorb([txn('late', 'A', 5000, 'fault')], '0');
  let d = state.take(['0']) as Delta;
  assert.deepEqual(ids(d), ['late']);
  assert.deepEqual(d.meters, []);
  assert.deepEqual(d.alerts, []);
  assert.deepEqual(d.seconds.map((s) => `${(s.bucket - T0) / 1000}:${s.fault}`), ['5:1']);

  // A producer's repeats: inside a batch, across checkpoints, and of the stored head's own transaction.
  await state.absorb([txn('a1', 'A', 11_000, 'offline'), txn('a1', 'A', 11_000, 'offline'), txn('a0', 'A', 10_000)], '0');
  d = state.take(['0']) as Delta;
  assert.equal(d.messages, 3);
  assert.deepEqual(ids(d), ['a1']);
  assert.equal(d.duplicates, 2);
  assert.deepEqual(alerts(d), ['A:offline@11000<active']);
  await state.absorb([txn('a1', 'A', 11_000, 'offline'), txn('late', 'A', 5000, 'fault'), txn('a1', 'A', 12_000, 'offline')], '0');
  d = state.take(['0']) as Delta;
  assert.equal(d.duplicates, 2, 'repeats of transactions of earlier checkpoints');
  assert.deepEqual(ids(d), ['a1'], 'the same id at another time is another raw row, as its primary key says');
  assert.deepEqual(d.seconds.map((s) => (s.bucket - T0) / 1000), [12]);
  assert.deepEqual(d.alerts, [], 'still offline');
});

test('a taken delta is detached: absorbing on while a checkpoint writes does not change it', async () => {
  const { pool } = fakePool({});
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0)], '0');
  await state.absorb([txn('b1', 'B', 0)], '1');
  const d0 = state.take(['0']) as Delta;
  await state.absorb([txn('a2', 'A', 1000, 'fault')], '0');
  assert.equal(d0.meters[0]!.lastTransactionId, 'a1');
  assert.equal(d0.meters[0]!.status, 'active');
  assert.equal(d0.seconds.length, 1);
  const d1 = state.take(['1']) as Delta;
  assert.deepEqual(ids(d1), ['b1'], 'shards are taken separately');
  assert.deepEqual(ids(state.take(['0']) as Delta), ['a2']);
});

test('shards taken together give one delta: the second and region-minute every partition touched once, summed', async () => {
  const { pool } = fakePool({});
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0, 'active', 2), txn('a2', 'A', 1000, 'fault', 1)], '0');
  await state.absorb([txn('b1', 'B', 200, 'active', 3)], '1');
  const d = state.take(['0', '1']) as Delta;
  assert.equal(d.transactions, 3);
  assert.deepEqual(ids(d).sort(), ['a1', 'a2', 'b1']);
  assert.deepEqual(d.seconds.map((s) => `${(s.bucket - T0) / 1000}:${s.count}:${s.totalKwh}:${s.fault}`), ['0:2:5:0', '1:1:1:1']);
  assert.deepEqual(d.regions.map((r) => `${r.region}:${r.count}:${[...r.meters].sort().join('+')}`), ['north:3:A+B']);
  assert.deepEqual(d.meters.map((m) => m.meterId), ['A', 'B']);
  assert.deepEqual(alerts(d), ['A:fault@1000<active']);
});

test('reset forgets meters, recent ids and pending deltas: heads are read again', async () => {
  const { pool, asked } = fakePool({});
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0, 'fault')], '0');
  state.reset();
  assert.equal((state.take(['0']) as Delta).messages, 0, 'the pending delta is gone');
  await state.absorb([txn('a1', 'A', 0, 'fault')], '0');
  const d = state.take(['0']) as Delta;
  assert.equal(d.transactions, 1, 'after a reset the same transaction is new again (its first copy was never committed)');
  assert.deepEqual(alerts(d), ['A:fault@0<null']);
  assert.deepEqual(asked, [['A'], ['A']]);
});

test("write: apply's statements in its order, stats and outbound for the alerts stored now only", async () => {
  const { pool } = fakePool({});
  const state = new SmartGridState({ pool, alertMessage });
  await state.absorb([txn('a1', 'A', 0, 'fault', 2), txn('b1', 'B', 0, 'offline', 3), txn('a1', 'A', 0, 'fault', 2), txn('b2', 'B', 1500, 'active')], '0');
  const d = state.take(['0']) as Delta;
  const statements: string[] = [];
  let copied = '';
  const tx = {
    query: (q: unknown, params?: unknown[]) => {
      if (typeof q !== 'string') {
        statements.push('COPY');
        return new Writable({ write(chunk, _enc, cb) { copied += String(chunk); cb(); } });
      }
      const table = /INSERT INTO (\w+)/.exec(q)?.[1] ?? q.slice(0, 20);
      statements.push(table);
      // B's offline alert was stored before (a replay): only A's is new.
      if (table === 'smart_grid_alerts') {
        // Bound as an array literal of plain strings: {"id1","id2"}.
        const alertIds = (params![0] as string).slice(2, -2).split('","');
        return Promise.resolve({ rows: [{ id: alertIds[0], detected_at: '2026-11-23T10:00:01.000Z' }] });
      }
      return Promise.resolve({ rows: [] });
    },
  } as unknown as PoolClient;
  const r = await state.write(tx, d);
  assert.deepEqual(statements, ['COPY', 'smart_grid_meters', 'smart_grid_alerts', 'smart_grid_region_meters_1m', 'smart_grid_consumption_1s']);
  assert.equal(copied, [txn('a1', 'A', 0, 'fault', 2), txn('b1', 'B', 0, 'offline', 3), txn('b2', 'B', 1500, 'active')].map((t) => transactionLine(t.value)).join(''));
  assert.deepEqual(r.stats, { readings: { valid: 3, invalid: 0 }, anomalies: { fault: 1 }, duplicates: 1, aggregatesWritten: 3 });
  assert.deepEqual(r.outbound.map((o) => [o.key, o.body]), [['A', '2026-11-23T10:00:01.000Z']]);

  // Only repeats: nothing written, counted as duplicates.
  await state.absorb([txn('b2', 'B', 1500, 'active')], '0');
  statements.length = 0;
  const again = await state.write(tx, state.take(['0']));
  assert.deepEqual(statements, []);
  assert.equal(again.stats.duplicates, 1);
});

test('COPY text reads back as the transactions it was made of (for their InfluxDB points)', () => {
  const odd: Transaction = {
    transactionId: 'id\t1\\x', meterId: 'M\n2', region: 'no\rrth', status: 'offline', buildingType: 'b\\\\', consumptionKwh: 1.5e-7, latitude: -33.9, longitude: 151.2,
    peakLoad: 0, timestampMs: T0 + 7,
  };
  const plain = txn('p', 'P', 123_456, 'active', 0.35).value;
  assert.deepEqual(transactionsOfText([transactionLine(odd) + transactionLine(plain), transactionLine(plain)]), [odd, plain, plain]);
});
