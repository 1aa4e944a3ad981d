import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, queryRows } from '../helpers/db.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ADMIN = 'admin-token-0123456789';
const T1 = 't1-token-0123456789abc';
const GRID = 'grid-token-0123456789ab';
const T3 = 't3-token-0123456789abc';

describe('read API: tokens scoped to tenants, validated parameters (API-only instance)', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('401 without a valid token, 400 on bad parameters, each tenant sees its rows only', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const env = { DATABASE_URL: db.url, DOMAINS_ENABLED: 'smart-grid,analytics', API_TOKENS: `*:${ADMIN},t1:${T1},default:${GRID},t3:${T3}` };
    await promisify(execFile)(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    const now = Date.now();
    const at = (agoMs: number): string => new Date(now - agoMs).toISOString();
    await queryRows(db.url, `
      INSERT INTO smart_grid_meters (meter_id, region, status, status_since, building_type, latitude, longitude, consumption_kwh, peak_load, last_seen, last_transaction_id)
      VALUES ('SM-1', 'north', 'fault', $1, 'residential', 52.6, 4.9, 0.1, 1, $1, 'a'), ('SM-2', 'south', 'active', $1, 'commercial', 52.3, 4.8, 1.5, 3, $1, 'b')`, [at(5_000)]);
    await queryRows(db.url, `
      INSERT INTO smart_grid_consumption_1s (bucket, total_kwh, reading_count, max_kwh, min_kwh, active_count, fault_count, offline_count)
      VALUES (date_trunc('second', $1::timestamptz), 1.6, 2, 1.5, 0.1, 1, 1, 0), (date_trunc('second', $2::timestamptz), 2.0, 1, 2.0, 2.0, 1, 0, 0)`, [at(10_000), at(3 * 3_600_000)]);
    await queryRows(db.url, `
      INSERT INTO smart_grid_region_1m (region, bucket, total_kwh, reading_count, meter_count, max_consumption)
      VALUES ('north', date_trunc('minute', $1::timestamptz), 0.1, 1, 1, 0.1), ('south', date_trunc('minute', $1::timestamptz), 1.5, 1, 1, 1.5)`, [at(60_000)]);
    // The meters those minutes heard, as the worker records them with the per-minute rows.
    await queryRows(db.url, `
      INSERT INTO smart_grid_region_meters_1m (region, bucket, meter_id)
      VALUES ('north', date_trunc('minute', $1::timestamptz), 'SM-1'), ('south', date_trunc('minute', $1::timestamptz), 'SM-2')`, [at(60_000)]);
    await queryRows(db.url, `
      INSERT INTO smart_grid_alerts (alert_id, meter_id, region, type, previous_status, consumption_kwh, "timestamp")
      VALUES ('00000000-0000-5000-8000-000000000001', 'SM-1', 'north', 'fault', 'active', 0.1, $1)`, [at(5_000)]);
    for (const tenant of ['t1', 't2']) {
      await queryRows(db.url, `
        INSERT INTO analytics.analytics_anomaly (id, time, tenant_id, factory_id, machine_id, sensor_id, metric, rule, basis, value, center, sigma, points)
        VALUES (gen_random_uuid(), $1, $2, 'f1', 'mc-' || $2, 'temp-1', 'temp', 'we1', 'spec', 30, 23, 1, '[]')`, [at(20_000), tenant]);
      await queryRows(db.url, `
        INSERT INTO analytics.analytics_agg (bucket_start, window_s, tenant_id, factory_id, machine_id, sensor_id, metric, unit, count_n, sum_val, sum_sq, avg_val, min_val, max_val, last_val, last_time)
        VALUES (date_trunc('minute', $1::timestamptz), 60, $2, 'f1', 'mc-' || $2, 'temp-1', 'temp', 'C', 2, 46, 1060, 23, 22, 24, 24, $1)`, [at(120_000), tenant]);
    }

    const dir = await mkdtemp(join(tmpdir(), 'ingestd-api-'));
    const w = new WorkerProcess({ ...env, ENABLE_WORKER: 'false' }, 18_781, join(dir, 'api.log'));
    cleanups.push(() => w.kill());
    w.start();
    await w.waitReady();
    const get = async (path: string, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${w.port}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    for (const path of ['/v1/consumption/live', '/v1/consumption/trend', '/v1/meters', '/v1/regions', '/v1/alerts', '/v1/aggregates?domain=smart-grid', '/v1/pipeline']) {
      assert.equal((await get(path)).status, 401, path);
      assert.equal((await get(path, 'not-a-token-0123456789')).status, 401, path);
      assert.equal((await get(path, ADMIN)).status, 200, path);
    }
    assert.equal((await fetch(`http://127.0.0.1:${w.port}/health`)).status, 200);

    // Bad parameters: 400 with the reason.
    assert.deepEqual(await get('/v1/regions?from=yesterday', ADMIN), { status: 400, body: { error: 'from: expected an ISO-8601 date-time with a zone, e.g. 2026-11-23T10:00:00Z, got "yesterday"' } });
    assert.equal((await get('/v1/regions?from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z', ADMIN)).body['error'], 'from: must be before to');
    assert.match((await get('/v1/consumption/live?seconds=0', ADMIN)).body['error'], /seconds: expected a whole number from 1 to 86400/);
    assert.match((await get('/v1/meters?status=broken', ADMIN)).body['error'], /status: each value must be one of/);
    assert.match((await get('/v1/aggregates?domain=grid-telemetry', ADMIN)).body['error'], /grid-telemetry is not enabled/);
    assert.match((await get('/v1/aggregates?domain=analytics&window=7', ADMIN)).body['error'], /window: expected one of 60, 300, 3600/);

    // The admin token sees everything.
    const live = await get('/v1/consumption/live?seconds=60', ADMIN);
    assert.deepEqual(live.body['points'].map((p: any) => [p.total_kwh, p.reading_count, p.avg_kwh]), [[1.6, 2, 0.8]]);
    const trend = await get('/v1/consumption/trend?hours=24', ADMIN);
    assert.equal(trend.body['step_seconds'], 300);
    const [first, current] = trend.body['points'];
    assert.deepEqual([first.total_kwh, first.avg_kw], [2, 24]); // 2 kWh over a whole 300 s step
    // The step of the last reading (10 s ago): its average power is over the part of it elapsed,
    // all 300 s when a step boundary passed between the insert and the request.
    assert.equal(current.total_kwh, 1.6);
    const elapsed = Math.min(300, (Date.parse(trend.body['to']) - Date.parse(current.t)) / 1000);
    assert.ok(Math.abs(current.avg_kw - (1.6 * 3600) / elapsed) < 1e-9, `${current.avg_kw} kW over ${elapsed} s`);
    if (elapsed < 300) assert.ok(current.avg_kw > 19.2, String(current.avg_kw));
    const faulty = await get('/v1/meters', ADMIN);
    assert.deepEqual([faulty.body['total'], faulty.body['meters'].map((m: any) => m.meter_id)], [1, ['SM-1']]);
    assert.equal((await get('/v1/meters?status=all', ADMIN)).body['total'], 2);
    const regions = await get('/v1/regions', ADMIN);
    assert.deepEqual(regions.body['regions'].map((r: any) => [r.region, r.total_kwh, r.meter_count, r.latitude]), [['south', 1.5, 1, 52.3], ['north', 0.1, 1, 52.6]]);
    const all = await get('/v1/alerts', ADMIN);
    assert.deepEqual(all.body['alerts'].map((a: any) => `${a.domain}:${a.subject}`).sort(), ['analytics:mc-t1/temp', 'analytics:mc-t2/temp', 'smart-grid:SM-1']);

    // A tenant token: its analytics rows only, no rows of the domains without tenants.
    const mine = await get('/v1/alerts', T1);
    assert.deepEqual(mine.body['alerts'].map((a: any) => a.subject), ['mc-t1/temp']);
    assert.deepEqual((await get('/v1/meters?status=all', T1)).body, { total: 0, meters: [] });
    assert.deepEqual((await get('/v1/consumption/live', T1)).body['points'], []);
    assert.deepEqual((await get('/v1/regions', T1)).body['regions'], []);
    // DEFAULT_TENANT's token: the smart-grid rows, no analytics tenant's.
    assert.deepEqual((await get('/v1/alerts', GRID)).body['alerts'].map((a: any) => a.subject), ['SM-1']);
    assert.equal((await get('/v1/meters?status=all', GRID)).body['total'], 2);
    // Window aggregates: each tenant its own series; the admin token both.
    const machines = async (token: string) => (await get('/v1/aggregates?domain=analytics&window=60', token)).body['aggregates'].map((a: any) => `${a.tenant_id}/${a.machine_id}`).sort();
    assert.deepEqual(await machines(ADMIN), ['t1/mc-t1', 't2/mc-t2']);
    assert.deepEqual(await machines(T1), ['t1/mc-t1']);
    assert.deepEqual(await machines(GRID), []);
    assert.equal((await get('/v1/aggregates?domain=smart-grid&window=1s', ADMIN)).body['aggregates'].length, 1);
    assert.deepEqual((await get('/v1/aggregates?domain=smart-grid&window=1s', T1)).body['aggregates'], []);
    // A tenant with no rows anywhere: every endpoint answers, and with nothing of the others'.
    const empty: Record<string, (b: any) => unknown> = {
      '/v1/consumption/live': (b) => b.points, '/v1/consumption/trend': (b) => b.points, '/v1/meters?status=all': (b) => b.meters,
      '/v1/regions': (b) => b.regions, '/v1/alerts': (b) => b.alerts, '/v1/aggregates?domain=analytics&window=60': (b) => b.aggregates,
      '/v1/aggregates?domain=smart-grid&window=1m': (b) => b.aggregates,
    };
    for (const [path, rows] of Object.entries(empty)) {
      const res = await get(path, T3);
      assert.equal(res.status, 200, path);
      assert.deepEqual(rows(res.body), [], path);
    }
    // ?tenant= or any other parameter cannot widen a token's scope.
    assert.deepEqual((await get('/v1/alerts?tenant=t2&tenant_id=t2', T1)).body['alerts'].map((a: any) => a.subject), ['mc-t1/temp']);

    // The dashboard and its assets are served by the worker itself.
    const page = await fetch(`http://127.0.0.1:${w.port}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    for (const asset of ['/dashboard/app.js', '/dashboard/style.css', '/dashboard/uplot.js', '/dashboard/uplot.css']) {
      assert.equal((await fetch(`http://127.0.0.1:${w.port}${asset}`)).status, 200, asset);
    }
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('grid-telemetry alerts read as sentences, an outage before any baseline included', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const env = { DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', API_TOKENS: `*:${ADMIN}` };
    await promisify(execFile)(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    const at = new Date(Date.now() - 5_000).toISOString();
    await queryRows(db.url, `
      INSERT INTO grid_alerts (alert_id, meter_id, region, type, value, baseline, "timestamp") VALUES
        ('00000000-0000-5000-8000-000000000011', 'M-1', 'north', 'outage', 0.02, NULL, $1),
        ('00000000-0000-5000-8000-000000000012', 'M-2', 'north', 'spike', 9.5, 3.25, $1),
        ('00000000-0000-5000-8000-000000000013', 'M-3', 'south', 'offline', NULL, NULL, $1)`, [at]);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-api-'));
    const w = new WorkerProcess({ ...env, ENABLE_WORKER: 'false' }, 18_782, join(dir, 'api.log'));
    cleanups.push(() => w.kill());
    w.start();
    await w.waitReady();
    const res = await fetch(`http://127.0.0.1:${w.port}/v1/alerts`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const { alerts } = (await res.json()) as { alerts: Array<{ subject: string; message: string }> };
    assert.deepEqual(alerts.map((a) => [a.subject, a.message]).sort(), [
      ['M-1', 'outage: 0.02 kW (no baseline yet)'],
      ['M-2', 'spike: 9.50 kW against a baseline of 3.25 kW'],
      ['M-3', 'meter M-3 silent'],
    ]);
    assert.equal(await w.kill('SIGTERM'), 0);
  });
});
