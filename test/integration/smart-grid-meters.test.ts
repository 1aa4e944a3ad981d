import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Transaction } from '../../src/domains/smart-grid/decode.ts';
import { planMeters } from '../../src/domains/smart-grid/status.ts';
import { lockMeters, writeMeters } from '../../src/domains/smart-grid/store.ts';
import { classifyDbError } from '../../src/sinks/postgres/classify.ts';
import { createTestDatabase } from '../helpers/db.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const T0 = Date.parse('2026-11-23T10:00:00Z');
const tx = (id: string, meter: string, ms: number, status: Transaction['status']): Transaction => ({
  transactionId: id, meterId: meter, region: 'north', status, buildingType: 'residential', consumptionKwh: 1, latitude: 52, longitude: 5, peakLoad: 1, timestampMs: T0 + ms,
});

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** One batch's meter step against the database: lock, plan, write. */
async function step(c: pg.PoolClient, txs: ReadonlyArray<Transaction>) {
  const heads = await lockMeters(c, [...new Set(txs.map((t) => t.meterId))]);
  const plan = planMeters(heads, txs);
  await writeMeters(c, plan.rows, new Set(heads.keys()));
  return plan;
}

test('smart-grid meter rows: concurrent batches of the same meter take turns, and a lost race on a new meter retries', async () => {
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  await promisify(execFile)(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url, DOMAINS_ENABLED: 'smart-grid', LOG_LEVEL: 'warn' } });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanups.push(() => pool.end());
  const [a, b] = [await pool.connect(), await pool.connect()];
  cleanups.push(async () => {
    a.release();
    b.release();
  });

  // Both batches see SM-1 absent; the second insert waits for the first, then is a unique
  // violation: transient, so the pipeline retries that batch against the stored row.
  await a.query('BEGIN');
  await b.query('BEGIN');
  await step(a, [tx('a1', 'SM-1', 100, 'active')]);
  const late = step(b, [tx('b1', 'SM-1', 200, 'fault')]).then(() => null, (err: unknown) => err);
  await new Promise((r) => setTimeout(r, 200));
  await a.query('COMMIT');
  const err = await late;
  await b.query('ROLLBACK');
  assert.equal((err as { code?: string } | null)?.code, '23505');
  assert.equal(classifyDbError(err).errorClass, 'transient');

  // The retry, and a concurrent batch of the now stored meter: the second waits for the
  // first's lock and plans from its committed row.
  await a.query('BEGIN');
  const first = await step(a, [tx('b1', 'SM-1', 200, 'fault')]);
  await b.query('BEGIN');
  const second = step(b, [tx('c1', 'SM-1', 300, 'fault'), tx('c2', 'SM-1', 400, 'offline')]);
  await new Promise((r) => setTimeout(r, 200));
  await a.query('COMMIT');
  const next = await second;
  await b.query('COMMIT');
  assert.deepEqual(first.alerts.map((x) => [x.type, x.previousStatus]), [['fault', 'active']]);
  // From the stored fault: still in fault at 300 (no alert), offline at 400.
  assert.deepEqual(next.alerts.map((x) => [x.type, x.previousStatus, x.timestampMs - T0]), [['offline', 'fault', 400]]);
  const { rows } = await a.query<{ status: string; previous_status: string; since: string }>(
    `SELECT status, previous_status, (extract(epoch FROM status_since) * 1000)::bigint::text AS since FROM smart_grid_meters WHERE meter_id = 'SM-1'`);
  assert.deepEqual(rows.map((r) => [r.status, r.previous_status, Number(r.since) - T0]), [['offline', 'fault', 400]]);
});
