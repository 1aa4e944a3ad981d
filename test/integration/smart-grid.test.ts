import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSmartGridGenerator } from '../../src/sim/smart-grid.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { smartGridAggregateMismatches } from '../helpers/smart-grid.ts';
import { dropInfluxDatabase, influxQuery, INFLUX_URL, killInflux, startInflux } from '../helpers/influx.ts';
import { createTopic, produce, topicSize, KAFKA_BROKERS } from '../helpers/kafka.ts';
import { WorkerProcess } from '../helpers/worker.ts';

/**
 * Recent transactions, after 200 from 200 days ago: InfluxDB drops those raw points by policy
 * (30 days) but keeps their aggregates (365 days); PostgreSQL stores them all.
 */
function traffic(seed: number, count: number) {
  const old = createSmartGridGenerator({ seed: seed + 1, meters: 300, startTime: Date.now() - 200 * 86_400_000, intervalMs: 7, faultRate: 0, invalidRate: 0 });
  const gen = createSmartGridGenerator({ seed, meters: 300, startTime: Date.now() - 600_000, intervalMs: 7, faultRate: 0.01, invalidRate: 0.004 });
  return [...Array.from({ length: OLD }, () => old.next()), ...Array.from({ length: count - OLD }, () => gen.next())];
}
const OLD = 200;
/** Transactions from this one on are produced while InfluxDB is down. */
const HELD_FROM = 32_000;

const count = async (url: string, sql: string): Promise<number> => Number((await queryRows<{ n: string }>(url, sql))[0]!.n);

/** Rows of the aggregate tables that differ from their recomputation from the raw rows. */
async function mismatches(url: string): Promise<unknown[]> {
  const { seconds, regions } = await smartGridAggregateMismatches(url);
  const meters = await queryRows(url, `
    WITH latest AS (
      SELECT DISTINCT ON (meter_id) meter_id, status, transaction_id FROM smart_grid_transactions ORDER BY meter_id, "timestamp" DESC, transaction_id DESC)
    SELECT l.meter_id FROM latest l FULL JOIN smart_grid_meters m USING (meter_id)
     WHERE m.meter_id IS NULL OR l.meter_id IS NULL OR m.status <> l.status OR m.last_transaction_id <> l.transaction_id`);
  return [...seconds, ...regions, ...meters];
}

describe('smart-grid over Kafka into PostgreSQL and a real InfluxDB', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('every transaction once in both stores, exact aggregates, through a worker SIGKILL and an InfluxDB crash', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const s = randomBytes(4).toString('hex');
    const topic = `t.${s}.smart-grid`;
    const influxDb = `t_${s}`;
    cleanups.push(() => dropInfluxDatabase(influxDb));
    await createTopic(topic, 8);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-smart-grid-'));
    const w = new WorkerProcess({
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'smart-grid', KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `t.${s}.group`,
      SMART_GRID_TOPIC: topic, SMART_GRID_ALERTS_TOPIC: `t.${s}.alerts`, INFLUXDB_URL: INFLUX_URL, INFLUXDB_DATABASE: influxDb,
      INFLUXDB_BATCH_TIMEOUT: '200ms', INFLUXDB_MAX_RETRIES: '1', INFLUXDB_RETRY_INTERVAL: '200ms', INFLUXDB_TIMEOUT: '2s',
      KAFKA_BATCH_SIZE: '1000', RETRY_MAX: '1s',
    }, 18_761, join(dir, 'worker.log'));
    cleanups.push(() => w.kill());
    w.start();
    await w.waitReady();

    const sent = traffic(5, 40_000);
    const valid = sent.filter((m) => m.transactionId !== null);
    const stored = () => count(db.url, 'SELECT count(*) AS n FROM smart_grid_transactions');
    // The last part is sent once InfluxDB is down: the worker may have caught up by then
    // (checkpoints drain a backlog fast), and the outage must meet transactions to write.
    const producing = produce(topic, sent.slice(0, HELD_FROM));

    // A worker crash mid-stream: redelivered batches write nothing twice, in either store.
    await eventually(async () => (await stored()) >= 8_000, 60_000, '8,000 stored');
    await w.kill('SIGKILL');
    w.start();
    await w.waitReady(60_000);

    // InfluxDB crashes: the pipeline pauses (unready, nothing more committed), then resumes.
    await eventually(async () => (await stored()) >= 16_000, 60_000, '16,000 stored');
    await killInflux();
    await producing;
    const rest = produce(topic, sent.slice(HELD_FROM));
    await eventually(async () => (await w.http('/ready')).status === 503 && /InfluxDB unavailable/.test((await w.http('/ready')).body), 30_000, 'unready while InfluxDB is down');
    const paused = await stored();
    await new Promise((r) => setTimeout(r, 2_000));
    assert.ok((await stored()) - paused <= 2_000, 'at most the batches in flight commit while InfluxDB is down');
    assert.match((await w.http('/metrics')).body, /stream_paused\{domain="smart-grid",source="kafka"\} 1/);
    await startInflux();
    await rest;

    await eventually(async () => (await stored()) === valid.length, 120_000, 'every valid transaction stored');
    await w.waitReady(60_000);
    assert.deepEqual(await mismatches(db.url), []);
    await eventually(async () => (await topicSize(`${topic}.dlq`)) >= sent.length - valid.length, 30_000, 'invalid transactions dead-lettered');

    // InfluxDB: one raw point per transaction (none lost, none doubled); aggregate points equal PostgreSQL's rows.
    const [raw] = await influxQuery(influxDb, 'SELECT count(consumption_kwh) AS n, sum(consumption_kwh) AS kwh FROM raw_data.energy_consumption');
    assert.equal(raw!['n'], valid.length - OLD);
    const [pg] = await queryRows<{ kwh: number; seconds: string; regions: string; faults: string }>(db.url, `
      SELECT (SELECT sum(total_kwh) FROM smart_grid_consumption_1s) AS kwh, (SELECT count(*) FROM smart_grid_consumption_1s) AS seconds,
             (SELECT count(*) FROM smart_grid_region_1m) AS regions, (SELECT sum(fault_count) FROM smart_grid_consumption_1s) AS faults`);
    const [recent] = await queryRows<{ kwh: number }>(db.url, `SELECT sum(consumption_kwh) AS kwh FROM smart_grid_transactions WHERE "timestamp" > now() - interval '1 day'`);
    assert.ok(Math.abs(Number(raw!['kwh']) - recent!.kwh) < 1e-6);
    let seen: unknown;
    await eventually(async () => {
      const [agg] = await influxQuery(influxDb, 'SELECT count(total_kwh) AS n, sum(total_kwh) AS kwh, sum(reading_count) AS readings FROM aggregated_data.energy_consumption_aggregate');
      const [regions] = await influxQuery(influxDb, 'SELECT count(total_kwh) AS n, sum(meter_count) AS meters FROM aggregated_data.region_consumption');
      const [faults] = await influxQuery(influxDb, `SELECT sum("count") AS n FROM aggregated_data.meter_status WHERE status = 'fault'`);
      seen = { agg, regions, faults, pg, unsynced: await queryRows(db.url, 'SELECT (SELECT count(*) FROM smart_grid_consumption_1s WHERE revision > synced_revision) AS s, (SELECT count(*) FROM smart_grid_region_1m WHERE revision > synced_revision) AS r') };
      return agg?.['n'] === Number(pg!.seconds) && agg['readings'] === valid.length && Math.abs(Number(agg['kwh']) - pg!.kwh) < 1e-6
        && regions?.['n'] === Number(pg!.regions) && faults?.['n'] === Number(pg!.faults);
    }, 30_000, 'aggregate points equal the PostgreSQL rows').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(seen)}`);
    });
    const [{ meters }] = await queryRows<{ meters: string }>(db.url, 'SELECT sum(meter_count) AS meters FROM smart_grid_region_1m') as [{ meters: string }];
    const [regions] = await influxQuery(influxDb, 'SELECT sum(meter_count) AS meters FROM aggregated_data.region_consumption');
    assert.equal(regions!['meters'], Number(meters));
    const policies = await influxQuery(influxDb, `SHOW RETENTION POLICIES ON "${influxDb}"`);
    assert.deepEqual(policies.map((p) => [p['name'], p['duration'], p['default']]).filter((p) => p[0] !== 'autogen'), [['raw_data', '720h0m0s', true], ['aggregated_data', '8760h0m0s', false]]);

    const metrics = (await w.http('/metrics')).body;
    assert.match(metrics, /^influxdb_connected 1$/m);
    assert.match(metrics, /^influxdb_points_written_total\{policy="aggregate"\} [1-9]/m);

    // Status alerts: one per meter entering fault or offline, each stored once.
    const alerts = await count(db.url, 'SELECT count(*) AS n FROM smart_grid_alerts');
    assert.ok(alerts > 0);
    assert.equal(await count(db.url, 'SELECT count(DISTINCT (meter_id, "timestamp", type)) AS n FROM smart_grid_alerts'), alerts);
    // And exactly the transitions the raw rows show, each meter in event order (this traffic is in
    // order per meter), however the transactions were batched: none lost inside a batch.
    const transitions = `
      WITH t AS (SELECT meter_id, "timestamp", status, lag(status) OVER (PARTITION BY meter_id ORDER BY "timestamp", transaction_id) AS before FROM smart_grid_transactions)
      SELECT meter_id, "timestamp", status FROM t WHERE status IN ('fault', 'offline') AND before IS DISTINCT FROM status`;
    assert.deepEqual(await queryRows(db.url, `(${transitions}) EXCEPT SELECT meter_id, "timestamp", type FROM smart_grid_alerts`), [], 'transitions without an alert');
    assert.deepEqual(await queryRows(db.url, `SELECT meter_id, "timestamp", type FROM smart_grid_alerts EXCEPT (${transitions})`), [], 'alerts without a transition');
    assert.equal(await w.kill('SIGTERM'), 0);
  });
});

/** One transaction as a producer sends it (keyed by meter: a meter's messages keep their order). */
function txn(id: string, meter: string, region: string, status: 'active' | 'fault' | 'offline', ms: number, kwh = 0.5, position: readonly [number, number] = [52.1, 4.9]) {
  const body = {
    transaction_id: id, meter_id: meter, region, status, building_type: 'residential', consumption_kwh: kwh,
    latitude: position[0], longitude: position[1], peak_load: 1, timestamp: new Date(ms).toISOString(),
  };
  return { key: meter, body: Buffer.from(JSON.stringify(body)) };
}

describe('smart-grid: status per message whatever the batching, and the read API over a past range', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  const s = randomBytes(4).toString('hex');
  const topic = `t.${s}.smart-grid`;
  let db: { url: string };
  let w: WorkerProcess;
  const stored = async (ids: ReadonlyArray<string>): Promise<boolean> =>
    Number((await queryRows<{ n: string }>(db.url, 'SELECT count(*) AS n FROM smart_grid_transactions WHERE transaction_id = ANY($1::text[])', [ids]))[0]!.n) === ids.length;

  before(async () => {
    const created = await createTestDatabase();
    cleanups.push(created.drop);
    db = created;
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-smart-grid-'));
    // The worker creates the topic itself; no InfluxDB (PostgreSQL only).
    w = new WorkerProcess({
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'smart-grid', KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `t.${s}.group`,
      SMART_GRID_TOPIC: topic, SMART_GRID_ALERTS_TOPIC: `t.${s}.alerts`, RETRY_MAX: '1s',
    }, 18_762, join(dir, 'worker.log'));
    cleanups.push(() => w.kill());
    w.start();
    await w.waitReady(60_000);
  });

  test('a fault that starts and ends inside one batch alerts and moves status_since, as one message per batch does', async () => {
    const t = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const at = (ms: number): string => new Date(t + ms).toISOString();
    // The same meter history twice: SM-ONE gets the last three in one produce request (one
    // batch), SM-EACH one message per batch. 59.700 arrives after 59.900: late, so ignored.
    const history = [['active', 1_000], ['fault', 59_600], ['active', 59_900], ['fault', 59_700]] as const;
    const one = history.map(([status, ms], i) => txn(`one-${s}-${i}`, 'SM-ONE', 'north', status, t + ms));
    // SM-NEW is first seen in the batch, and stays in fault: since its first fault, not its last message.
    const fresh = [txn(`new-${s}-0`, 'SM-NEW', 'north', 'active', t + 59_300), txn(`new-${s}-1`, 'SM-NEW', 'north', 'fault', t + 59_600), txn(`new-${s}-2`, 'SM-NEW', 'north', 'fault', t + 59_900)];
    await produce(topic, one.slice(0, 1));
    await eventually(() => stored([`one-${s}-0`]), 30_000, 'the first transaction stored');
    await produce(topic, [...one.slice(1), ...fresh]);
    for (const [i, [status, ms]] of history.entries()) {
      await produce(topic, [txn(`each-${s}-${i}`, 'SM-EACH', 'north', status, t + ms)]);
      await eventually(() => stored([`each-${s}-${i}`]), 30_000, `SM-EACH transaction ${i} stored`);
    }
    await eventually(() => stored([...history.keys()].map((i) => `one-${s}-${i}`).concat([0, 1, 2].map((i) => `new-${s}-${i}`))), 30_000, 'the batch stored');

    const alerts = async (meter: string) => (await queryRows<{ type: string; at: string; previous_status: string | null }>(db.url, `
      SELECT type, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, previous_status
        FROM smart_grid_alerts WHERE meter_id = $1 ORDER BY "timestamp"`, [meter])).map((a) => [a.type, a.at, a.previous_status]);
    const state = async (meter: string) => (await queryRows<{ status: string; since: string; previous_status: string | null; last_seen: string }>(db.url, `
      SELECT status, to_char(status_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS since, previous_status,
             to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen
        FROM smart_grid_meters WHERE meter_id = $1`, [meter])).map((m) => [m.status, m.since, m.previous_status, m.last_seen]);

    const seen = async (meter: string) => ({ alerts: await alerts(meter), state: await state(meter) });
    assert.deepEqual(await seen('SM-ONE'), { alerts: [['fault', at(59_600), 'active']], state: [['active', at(59_900), 'fault', at(59_900)]] });
    assert.deepEqual(await seen('SM-NEW'), { alerts: [['fault', at(59_600), 'active']], state: [['fault', at(59_600), 'fault', at(59_900)]] });
    // One batch or one message per batch: the same alerts and the same state.
    assert.deepEqual(await seen('SM-ONE'), await seen('SM-EACH'));
  });

  test('/v1/regions over a past range counts the meters heard in it, not the meters known today', async () => {
    const now = Date.now();
    const old = Math.floor((now - 200 * 86_400_000) / 60_000) * 60_000;
    const region = `r-${s}`;
    const sent = [
      txn(`old-${s}`, 'SM-X', region, 'active', old + 30_000, 1.25, [52.0, 4.0]),
      txn(`x-${s}`, 'SM-X', region, 'active', now - 20_000, 2, [52.0, 4.0]),
      txn(`y-${s}`, 'SM-Y', region, 'active', now - 10_000, 3, [53.0, 5.0]),
      // 2.5 hours ago: older than SMART_GRID_DISTINCT_RETENTION (2 h) behind the newest minute.
      txn(`z-${s}`, 'SM-Y', region, 'active', now - 9_000_000, 1, [53.0, 5.0]),
    ];
    await produce(topic, sent);
    await eventually(() => stored(['old', 'x', 'y', 'z'].map((p) => `${p}-${s}`)), 30_000, 'the transactions stored');

    const regions = async (from: number, to: number) => {
      const res = await w.http(`/v1/regions?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
      assert.equal(res.status, 200, res.body);
      return (JSON.parse(res.body) as { regions: Array<Record<string, unknown>> }).regions.filter((r) => r['region'] === region);
    };
    // 200 days ago only SM-X reported; its position is the region's centre.
    assert.deepEqual(await regions(old - 300_000, old + 300_000), [
      { region, total_kwh: 1.25, reading_count: 1, meter_count: 1, average_kwh: 1.25, max_consumption: 1.25, latitude: 52, longitude: 4 },
    ]);
    // In the last 10 minutes both did.
    assert.deepEqual(await regions(now - 600_000, now + 60_000), [
      { region, total_kwh: 5, reading_count: 2, meter_count: 2, average_kwh: 2.5, max_consumption: 3, latitude: 52.5, longitude: 4.5 },
    ]);
    // Over 3 hours: SM-Y heard before and after that retention bound is one meter.
    assert.deepEqual(await regions(now - 3 * 3_600_000, now + 60_000), [
      { region, total_kwh: 6, reading_count: 3, meter_count: 2, average_kwh: 3, max_consumption: 3, latitude: 52.5, longitude: 4.5 },
    ]);
  });
});
