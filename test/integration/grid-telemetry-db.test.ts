import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { createRuntime, startWorker, type Worker } from '../../src/runtime/worker.ts';
import { createGridTelemetryGenerator } from '../../src/sim/grid-telemetry.ts';
import { MemoryBroker, MemoryPublisher } from '../../src/sources/memory/broker.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { aggregateMismatches, distinctReadings, expectedAlerts, storedAlerts } from '../helpers/grid.ts';

const START = Date.parse('2026-01-05T10:00:00Z');

describe('grid-telemetry windows, alerts and offline detection in PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let worker: Worker;
  const broker = new MemoryBroker({ capacity: 100_000 });
  const published = new MemoryPublisher(1_000_000);
  const sent: Buffer[] = [];

  before(async () => {
    db = await createTestDatabase();
    const config = requireConfig({
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', FLUSH_INTERVAL_1M: '150ms', FLUSH_INTERVAL_15M: '200ms',
      ALLOWED_LATENESS: '0s', OFFLINE_AFTER: '3s',
    });
    worker = await startWorker(config, createLogger({ service: 'test', level: 'silent' }), createRuntime((err) => { throw err; }), {
      source: () => broker.source('memory:grid'),
      publisher: published,
    });
  });

  after(async () => {
    await worker?.stop();
    await db?.drop();
  });

  const rows = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => queryRows<T>(db.url, sql, params);
  const send = async (bodies: Buffer[]) => {
    for (const b of bodies) {
      sent.push(b);
      await broker.publish('raw_readings', b);
    }
  };
  const drained = () => eventually(() => broker.depth === 0, 30_000, 'queue drained');

  test('aggregates equal their recomputation from raw rows, redelivery included', async () => {
    const gen = createGridTelemetryGenerator({ seed: 3, meters: 20, startTime: START, intervalMs: 1000, anomalyRate: 0.03, outOfOrderRate: 0.05, lateRate: 0.01, invalidRate: 0.01 });
    const bodies = Array.from({ length: 6_000 }, () => gen.next().body);
    await send(bodies);
    await send(bodies.slice(1000, 2500)); // a redelivered stretch
    await drained();
    await eventually(async () => (await rows('SELECT 1 FROM ingestd_outbox')).length === 0, 10_000, 'outbox published');
    assert.deepEqual(await aggregateMismatches(db.url, 'aggregates_1m'), []);
    assert.deepEqual(await aggregateMismatches(db.url, 'aggregates_15m'), []);
    const [{ n }] = await rows<{ n: string }>('SELECT count(*) AS n FROM telemetry_readings');
    assert.equal(Number(n), distinctReadings(bodies));
  });

  test('exactly one alert per anomalous reading, as the EMA rules give in processing order', async () => {
    const expected = expectedAlerts(sent);
    const stored = await storedAlerts(db.url);
    assert.ok(expected.size > 50, `${expected.size} anomalies expected`);
    assert.deepEqual(new Set(stored), expected);
    assert.equal(stored.length, expected.size);
    const alertMessages = published.recent.filter((m) => m.destination === 'alerts');
    assert.equal(new Set(alertMessages.map((m) => m.id)).size, expected.size);
    const one = JSON.parse(alertMessages[0]!.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(one).sort(), ['alert_id', 'baseline', 'detected_at', 'meter_id', 'region', 'timestamp', 'type', 'value']);
  });

  test('closed windows are published once; a late reading republishes with revision + 1', async () => {
    await eventually(() => published.recent.some((m) => m.destination === 'aggregates'), 10_000, 'aggregates published');
    await eventually(async () => (await rows('SELECT 1 FROM aggregates_1m WHERE dirty')).length <= 20, 10_000, 'windows closed');
    await eventually(async () => (await rows('SELECT 1 FROM ingestd_outbox')).length === 0, 10_000, 'outbox published');
    const first = published.recent.filter((m) => m.destination === 'aggregates').map((m) => JSON.parse(m.body) as Record<string, unknown>);
    assert.deepEqual(Object.keys(first[0]!).sort(), ['avg_power', 'max_power', 'meter_id', 'min_power', 'region', 'revision', 'sample_count', 'total_energy', 'window', 'window_end', 'window_start']);
    // Each window: revisions 1, 2, … once each (a revision per change after closing), and the
    // last one published carries what the table holds.
    const byWindow = new Map<string, Array<Record<string, unknown>>>();
    for (const a of first) {
      const k = `${a.window}|${a.meter_id}|${a.window_start}`;
      byWindow.set(k, [...(byWindow.get(k) ?? []), a]);
    }
    for (const [k, list] of byWindow) {
      assert.deepEqual(list.map((a) => a.revision), list.map((_, i) => i + 1), k);
    }
    const stored = await rows<{ k: string; revision: number; sample_count: number; avg_power: number }>(
      `SELECT '1m|' || meter_id || '|' || to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS k, revision, sample_count, avg_power
         FROM aggregates_1m WHERE NOT dirty`,
    );
    assert.ok(stored.length > 50);
    for (const row of stored) {
      const last = byWindow.get(row.k)?.at(-1);
      assert.ok(last !== undefined, `${row.k} published`);
      assert.equal(last.revision, row.revision, row.k);
      assert.equal(last.sample_count, row.sample_count, row.k);
      assert.equal(last.avg_power, row.avg_power, row.k);
    }

    const target = first.find((a) => a.window === '1m' && a.revision === 1 && byWindow.get(`1m|${a.meter_id}|${a.window_start}`)!.length === 1)!;
    const lateAt = Date.parse(String(target.window_start)) + 30_500;
    await send([Buffer.from(JSON.stringify({ meter_id: target.meter_id, region: target.region, timestamp: new Date(lateAt).toISOString(), power_kw: 1.5 }))]);
    await eventually(() => published.recent.some((m) => {
      const a = JSON.parse(m.body) as Record<string, unknown>;
      return m.destination === 'aggregates' && a.window === '1m' && a.meter_id === target.meter_id && a.window_start === target.window_start && a.revision === 2;
    }), 10_000, 'revision 2 published');
    assert.deepEqual(await aggregateMismatches(db.url, 'aggregates_1m'), []);
  });

  test('a silent meter raises one offline alert, cleared by its next reading', async () => {
    await send([Buffer.from(JSON.stringify({ meter_id: 'M-QUIET', region: 'north', timestamp: new Date(START + 7_200_000).toISOString(), power_kw: 2 }))]);
    await eventually(async () => (await rows("SELECT 1 FROM grid_alerts WHERE meter_id = 'M-QUIET' AND type = 'offline'")).length === 1, 15_000, 'offline alert');
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal((await rows("SELECT 1 FROM grid_alerts WHERE meter_id = 'M-QUIET' AND type = 'offline'")).length, 1, 'raised once');
    await send([Buffer.from(JSON.stringify({ meter_id: 'M-QUIET', region: 'north', timestamp: new Date(START + 7_260_000).toISOString(), power_kw: 2 }))]);
    await eventually(async () => (await rows("SELECT 1 FROM grid_alerts WHERE meter_id = 'M-QUIET' AND type = 'offline' AND cleared_at IS NOT NULL")).length === 1, 10_000, 'offline cleared');
  });
});
