import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { requireConfig } from '../../src/config/index.ts';
import { alertIdOf, gridTelemetry } from '../../src/domains/grid-telemetry/index.ts';
import { insertAlerts, lockMeters, markOffline, saveMeters } from '../../src/domains/grid-telemetry/store.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { migrationSets } from '../../src/runtime/worker.ts';
import { migrate } from '../../src/sinks/postgres/migrate.ts';
import { createPool, inTransaction } from '../../src/sinks/postgres/pool.ts';
import { createTestDatabase, queryRows } from '../helpers/db.ts';

describe('grid-telemetry offline alerts in PostgreSQL: cleared_at and detected_at on one clock', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;

  before(async () => {
    db = await createTestDatabase();
    const config = requireConfig({ DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry' });
    const log = createLogger({ service: 'test', level: 'silent' });
    pool = createPool({ ...config.database, applicationName: 'test' }, log);
    await migrate(pool, migrationSets([gridTelemetry], config), log);
  });

  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  test('a batch that began before its meter went offline clears the alert after it was detected', async () => {
    const meters = new Map([['M1', 'north']]);
    await inTransaction(pool, async (tx) => saveMeters(tx, await lockMeters(tx, meters), meters));
    const batch = await pool.connect();
    try {
      // A batch of M1's readings begins (raw rows and aggregates come before the meters)…
      await batch.query('BEGIN');
      await sleep(20);
      // …while the offline task, in its own transaction, finds M1 silent and alerts.
      await inTransaction(pool, async (tx) => {
        const silent = await markOffline(tx, 0);
        await insertAlerts(tx, silent.map((m) => ({
          alertId: alertIdOf(m.meter_id, Number(m.last_ms), 'offline'), meterId: m.meter_id, region: m.region,
          type: 'offline' as const, value: null, baseline: null, timestampMs: Number(m.last_ms),
        })));
      });
      // The batch then reaches M1, sees the open alert and clears it.
      await saveMeters(batch, await lockMeters(batch, meters), meters);
      await batch.query('COMMIT');
    } finally {
      batch.release();
    }
    const alerts = await queryRows<{ detected_at: string; cleared_at: string | null; ms: number | null }>(
      db.url,
      `SELECT detected_at::text, cleared_at::text, extract(epoch FROM cleared_at - detected_at)::float8 * 1000 AS ms FROM grid_alerts WHERE type = 'offline'`,
    );
    assert.equal(alerts.length, 1);
    assert.ok(alerts[0]!.cleared_at !== null, 'the reading cleared the alert');
    assert.ok(alerts[0]!.ms! >= 0, `cleared_at ${alerts[0]!.cleared_at} is before detected_at ${alerts[0]!.detected_at}`);
  });
});
