import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAnalyticsGenerator, SIM_SPECS } from '../../src/sim/analytics.ts';
import { analyticsAggMismatches, analyticsRollupMismatches, availabilityMismatches, snapshot } from '../helpers/analytics.ts';
import { AMQP_URL, TestBroker, uniqueTopology } from '../helpers/amqp.ts';
import { ADMIN_URL, createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { createTopic, KAFKA_BROKERS, produce, readTopic, topicSize } from '../helpers/kafka.ts';
import { MQTT_URL, mqttPublish } from '../helpers/mqtt.ts';
import { NATS_URL, TestNats, uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const exec = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const WINDOWS = [60, 300, 3600];
const TOPICS = ['sensors.device.readings', 'device.health', 'sensors.sweep.readings', 'lab.results'];

/** The payloads of the README's worked example (the reference payloads of SPEC §5.3). */
const README_EXAMPLE: Record<string, object[]> = {
  'sensors.device.readings': [{ time: '2025-08-20T03:12:00Z', tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', sensor_id: 's-001', metric: 'temp', value: 23.7 }],
  'device.health': [
    { time: '2025-08-20T03:12:00Z', tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', status: 'online', level: 'ok' },
    { time: '2025-08-20T03:12:00Z', tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', health_score: 0.96 },
  ],
  'sensors.sweep.readings': [{ time: '2025-08-20T03:20:00Z', tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', metric: 'temp', readings: [{ value: 23.1 }, { value: 22.9 }, { value: 23.6 }] }],
  'lab.results': [{ time: '2025-08-20T03:25:00Z', tenant_id: 't1', factory_id: 'f1', station_id: 'lab-01', sample_id: 'S-8892', analyte: 'Moisture', value: 12.4, unit: '%' }],
};

const count = async (url: string, table: string): Promise<number> => Number((await queryRows<{ n: string }>(url, `SELECT count(*) AS n FROM analytics.${table}`))[0]!.n);

describe('analytics end to end against real Kafka, RabbitMQ and PostgreSQL', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(port: number, extra: Record<string, string> = {}) {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-analytics-'));
    const env: Record<string, string> = {
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'analytics', KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `${prefix}group`,
      ANALYTICS_TOPIC_PREFIX: prefix, ANALYTICS_ANOMALY_TOPIC: `${prefix}anomalies`, ANALYTICS_RETENTION_MONTHS: '600', KAFKA_BATCH_SIZE: '500', ...extra,
    };
    const worker = new WorkerProcess(env, port, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    return { db, prefix, env, worker, dir };
  }

  test("the README's worked example: each topic over Kafka lands in its tables, bad payloads in the DLQ", async () => {
    const { db, prefix, worker } = await setup(18_801);
    for (const t of TOPICS) await createTopic(prefix + t, 2);
    worker.start();
    await worker.waitReady();
    for (const [topic, docs] of Object.entries(README_EXAMPLE)) {
      await produce(prefix + topic, [...docs.map((d) => ({ key: 'mc-01', body: Buffer.from(JSON.stringify(d)) }))]);
    }
    await produce(`${prefix}lab.results`, [{ key: 'x', body: Buffer.from('{"time":"2025-08-20T03:25:00Z","tenant_id":"t1"}') }]);
    await produce(`${prefix}device.health`, [{ key: 'x', body: Buffer.from('{"time":"2025-08-20T03:25:00Z","tenant_id":"t1","factory_id":"f1","machine_id":"m"}') }]);
    await eventually(async () => (await count(db.url, 'analytics_measurement')) === 3 && (await count(db.url, 'analytics_event')) === 2, 30_000, 'records stored');

    const agg = await queryRows<{ window_s: number; machine_id: string; metric: string; avg_val: number; count_n: string; bucket_start: Date }>(db.url,
      'SELECT window_s, machine_id, metric, avg_val, count_n, bucket_start FROM analytics.analytics_agg ORDER BY metric, window_s');
    assert.equal(agg.length, 9, 'three series × three windows');
    const temp = agg.filter((r) => r.metric === 'temp');
    assert.deepEqual(temp.map((r) => [r.window_s, r.bucket_start.toISOString(), r.avg_val, r.count_n]), [
      [60, '2025-08-20T03:12:00.000Z', 23.7, '1'], [300, '2025-08-20T03:10:00.000Z', 23.7, '1'], [3600, '2025-08-20T03:00:00.000Z', 23.7, '1'],
    ]);
    assert.deepEqual(agg.filter((r) => r.metric === 'Moisture').map((r) => r.machine_id), ['lab-01', 'lab-01', 'lab-01']);
    assert.deepEqual(agg.filter((r) => r.metric === 'health_score').map((r) => r.avg_val), [0.96, 0.96, 0.96]);
    const [sample] = await queryRows<{ sample_id: string; unit: string }>(db.url, "SELECT sample_id, unit FROM analytics.analytics_measurement WHERE metric = 'Moisture'");
    assert.deepEqual(sample, { sample_id: 'S-8892', unit: '%' });

    const sweep = await queryRows<{ n: string; min_val: number; max_val: number; mean_val: number; std_val: number }>(db.url, 'SELECT n, min_val, max_val, mean_val, std_val FROM analytics.analytics_sweep_v');
    assert.equal(sweep.length, 1);
    assert.equal(sweep[0]!.n, '3');
    assert.deepEqual([sweep[0]!.min_val, sweep[0]!.max_val], [22.9, 23.6]);
    assert.ok(Math.abs(sweep[0]!.mean_val - 23.2) < 1e-9);
    const events = await queryRows<{ domain: string; event_type: string }>(db.url, 'SELECT domain, event_type FROM analytics.analytics_event ORDER BY domain');
    assert.deepEqual(events.map((e) => `${e.domain}/${e.event_type}`), ['device/health.online', 'sweep/sweep']);
    assert.equal(await count(db.url, 'analytics_event_rollup'), 6, 'two event types × three windows');
    const kpi = await queryRows<{ value: number }>(db.url, "SELECT value FROM analytics.analytics_kpi WHERE kpi = 'availability'");
    assert.deepEqual(kpi.map((k) => k.value), [1, 1, 1]);
    const [status] = await queryRows<{ status: string; level: string }>(db.url, 'SELECT status, level FROM analytics.analytics_machine_status_v');
    assert.deepEqual(status, { status: 'online', level: 'ok' });

    await eventually(async () => (await topicSize(`${prefix}lab.results.dlq`)) === 1 && (await topicSize(`${prefix}device.health.dlq`)) === 1, 30_000, 'dead letters');
    const [lab] = await readTopic(`${prefix}lab.results.dlq`);
    assert.equal(lab!.headers['x-error-class'], 'structural');
    assert.equal(lab!.headers['x-error-reason'], "lab: /: must have required property 'factory_id'");
    const [dev] = await readTopic(`${prefix}device.health.dlq`);
    assert.equal(dev!.headers['x-error-reason'], "device: /: must have at least one of the properties 'status', 'health_score'");
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('simulated factory traffic, delivered twice: exact aggregates, rollups and KPIs, each anomaly once and published', async () => {
    const { db, prefix, worker } = await setup(18_811);
    for (const t of TOPICS) await createTopic(prefix + t, 3);
    // Specifications must exist before the readings they judge.
    await exec(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, DATABASE_URL: db.url, DOMAINS_ENABLED: 'analytics', LOG_LEVEL: 'warn' } });
    for (const tenant of ['t1', 't2']) {
      for (const s of SIM_SPECS) {
        await queryRows(db.url, 'INSERT INTO analytics.analytics_spec_limits (tenant_id, metric, lsl, usl, target, sigma, unit) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [tenant, s.metric, s.lsl, s.usl, s.target, s.sigma, s.unit]);
      }
    }
    worker.start();
    await worker.waitReady();
    const gen = createAnalyticsGenerator({ seed: 7, machines: 6, startTime: Date.parse('2026-03-01T00:00:00Z'), intervalMs: 1000, anomalyRate: 0.05, invalidRate: 0.01 });
    const sent = Array.from({ length: 6000 }, () => gen.next());
    const byTopic = (msgs: typeof sent) => {
      const out = new Map<string, Array<{ key: string; body: Buffer }>>();
      for (const m of msgs) out.set(m.topic, [...(out.get(m.topic) ?? []), { key: m.key, body: m.body }]);
      return out;
    };
    for (const [topic, msgs] of byTopic(sent)) await produce(prefix + topic, msgs);
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    const records = sent.length - invalid; // every valid message is one record
    await eventually(async () => (await count(db.url, 'analytics_measurement')) + (await count(db.url, 'analytics_event')) === records, 60_000, 'every record stored');
    await eventually(async () => (await queryRows(db.url, 'SELECT 1 FROM ingestd_outbox')).length === 0, 30_000, 'outbox published');
    const before = { agg: await snapshot(db.url, 'analytics_agg'), anomalies: await snapshot(db.url, 'analytics_anomaly'), kpi: await snapshot(db.url, 'analytics_kpi'), rollup: await snapshot(db.url, 'analytics_event_rollup') };
    const anomalies = await queryRows<{ rule: string; n: string }>(db.url, 'SELECT rule, count(*) AS n FROM analytics.analytics_anomaly GROUP BY rule ORDER BY rule');
    const rules = new Set(anomalies.map((a) => a.rule));
    for (const r of ['out_of_spec', 'we1', 'we2', 'we3', 'we4']) assert.ok(rules.has(r), `the simulated drifts and excursions trip ${r} (got ${JSON.stringify(anomalies)})`);

    // Everything again (a producer retry storm, or a replay): no table may change.
    for (const [topic, msgs] of byTopic(sent)) await produce(prefix + topic, msgs);
    await eventually(async () => (await topicSize(`${prefix}sensors.device.readings.dlq`)) + (await topicSize(`${prefix}lab.results.dlq`)) === 2 * invalid, 60_000, 'second pass consumed');
    await eventually(async () => {
      const m = (await worker.http('/metrics')).body;
      const dup = [...m.matchAll(/^stream_duplicates_skipped_total\{[^}]*\} (\d+)/gm)].reduce((n, x) => n + Number(x[1]), 0);
      return dup === records;
    }, 60_000, 'every record of the second pass skipped as a duplicate');
    assert.equal(await snapshot(db.url, 'analytics_agg'), before.agg);
    assert.equal(await snapshot(db.url, 'analytics_anomaly'), before.anomalies);
    assert.equal(await snapshot(db.url, 'analytics_kpi'), before.kpi);
    assert.equal(await snapshot(db.url, 'analytics_event_rollup'), before.rollup);
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    assert.deepEqual(await analyticsRollupMismatches(db.url, WINDOWS), []);
    assert.deepEqual(await availabilityMismatches(db.url, WINDOWS, ['online', 'running', 'up', 'ok']), []);

    // Each stored anomaly published with its id (at least once; consumers dedupe on the id).
    const total = anomalies.reduce((n, a) => n + Number(a.n), 0);
    const published = await readTopic(`${prefix}anomalies`);
    assert.equal(new Set(published.map((m) => m.headers['x-message-id'])).size, total);
    const one = JSON.parse(published[0]!.value.toString()) as { rule: string; points: unknown[]; tenant_id: string };
    assert.ok(one.points.length >= 1 && ['t1', 't2'].includes(one.tenant_id));
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('ingestd backfill: the same handlers, and a second run changes nothing', async () => {
    const { db, env, dir } = await setup(18_821);
    const gen = createAnalyticsGenerator({ seed: 9, machines: 4, startTime: Date.parse('2026-02-01T00:00:00Z'), intervalMs: 5000, anomalyRate: 0.05, invalidRate: 0.02 });
    const lines = Array.from({ length: 3000 }, () => gen.next()).filter((m) => m.topic === 'sensors.device.readings');
    const file = join(dir, 'history.ndjson');
    await writeFile(file, `${lines.map((m) => m.body.toString()).join('\n')}\n`);
    const backfill = () => exec(process.execPath, [MAIN, 'backfill', file, '--topic', `${env.ANALYTICS_TOPIC_PREFIX}sensors.device.readings`, '--progress', 'none'],
      { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    const first = await backfill();
    const invalid = lines.filter((m) => m.kind === 'invalid').length;
    assert.match(first.stdout, new RegExp(`new records stored\\s+${lines.length - invalid}\\n`));
    assert.match(first.stdout, new RegExp(`rejected lines\\s+${invalid}\\s`));
    const rejected = (await readFile(`${file}.rejected.ndjson`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string });
    assert.equal(rejected.length, invalid);
    assert.ok(rejected.every((r) => r.line >= 1 && /not JSON/.test(r.reason)));
    const before = { agg: await snapshot(db.url, 'analytics_agg'), raw: await snapshot(db.url, 'analytics_measurement'), anomalies: await snapshot(db.url, 'analytics_anomaly') };
    assert.ok(before.anomalies.length > 0, 'the history holds anomalies');
    const second = await backfill();
    assert.match(second.stdout, /new records stored\s+0\n/);
    assert.match(second.stdout, new RegExp(`already stored\\s+${lines.length - invalid}\\s`));
    assert.equal(await snapshot(db.url, 'analytics_agg'), before.agg);
    assert.equal(await snapshot(db.url, 'analytics_measurement'), before.raw);
    assert.equal(await snapshot(db.url, 'analytics_anomaly'), before.anomalies);
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    // A topic no enabled handler serves is a usage error.
    await assert.rejects(exec(process.execPath, [MAIN, 'backfill', file, '--topic', 'nope'], { env: { ...process.env, ...env } }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /no enabled handler is registered for topic "nope"/);
      return true;
    });
  });

  test('Row Level Security: a reader scoped to one tenant sees none of another tenant\'s rows', async () => {
    const { db, env } = await setup(18_831);
    await exec(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    const s = randomBytes(3).toString('hex');
    const [readerA, readerB, nobody, writer] = [`reader_a_${s}`, `reader_b_${s}`, `reader_none_${s}`, `writer_${s}`];
    const admin = (sql: string, params: unknown[] = []) => queryRows(db.url, sql, params);
    for (const r of [readerA, readerB, nobody]) await admin(`CREATE ROLE ${r} LOGIN IN ROLE analytics_reader`);
    await admin(`CREATE ROLE ${writer} LOGIN IN ROLE analytics_writer`);
    cleanups.push(async () => {
      for (const r of [readerA, readerB, nobody, writer]) await queryRows(ADMIN_URL, `DROP ROLE IF EXISTS ${r}`);
    });
    await admin("INSERT INTO analytics.analytics_tenant_grants VALUES ($1, 't1'), ($2, 't2')", [readerA, readerB]);
    const as = (role: string) => { const u = new URL(db.url); u.username = role; return u.toString(); };
    // The write role stores rows for both tenants (it is what the worker runs as).
    for (const [tenant, v] of [['t1', 1], ['t2', 2], ['t2', 3]] as const) {
      await queryRows(as(writer), `INSERT INTO analytics.analytics_agg (bucket_start, window_s, tenant_id, factory_id, machine_id, sensor_id, metric, unit, count_n, sum_val, sum_sq, avg_val, min_val, max_val, last_val, last_time)
        VALUES (now(), 60, $1, 'f', 'm${v}', 's', 'temp', 'C', 1, $2::float8, $2::float8 * $2::float8, $2::float8, $2::float8, $2::float8, $2::float8, now())`, [tenant, v]);
    }
    const tenantsSeen = async (role: string, table: string) => (await queryRows<{ tenant_id: string }>(as(role), `SELECT DISTINCT tenant_id FROM analytics.${table} ORDER BY 1`)).map((r) => r.tenant_id);
    assert.deepEqual(await tenantsSeen(readerA, 'analytics_agg'), ['t1']);
    assert.deepEqual(await tenantsSeen(readerB, 'analytics_agg'), ['t2']);
    assert.deepEqual(await tenantsSeen(nobody, 'analytics_agg'), []);
    assert.deepEqual(await tenantsSeen(readerA, 'analytics_agg_v'), ['t1'], 'views obey the policies too');
    assert.deepEqual((await queryRows<{ n: string }>(as(readerB), "SELECT count(*) AS n FROM analytics.analytics_agg WHERE tenant_id = 't1'"))[0]!.n, '0');
    // Read-only: no writes, and no way around the policy through the grants table.
    await assert.rejects(queryRows(as(readerA), "INSERT INTO analytics.analytics_spec_limits (tenant_id, metric) VALUES ('t2', 'x')"), /permission denied/);
    await assert.rejects(queryRows(as(readerA), `INSERT INTO analytics.analytics_tenant_grants VALUES ('${readerA}', 't2')`), /permission denied/);
    // Partitions are not granted: reading one directly would bypass the parent's policy.
    await assert.rejects(queryRows(as(readerA), "SELECT * FROM analytics.analytics_agg_default"), /permission denied/);
  });

  test('bound to RabbitMQ by configuration alone (ANALYTICS_SOURCE=amqp)', async () => {
    const topo = uniqueTopology();
    const { db, prefix, worker } = await setup(18_841, { ...topo, ANALYTICS_SOURCE: 'amqp', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '200' });
    const broker = await TestBroker.open(topo);
    cleanups.push(() => broker.close());
    const events = await broker.captureEvents();
    worker.start();
    await worker.waitReady();
    const gen = createAnalyticsGenerator({ seed: 11, machines: 4, startTime: Date.parse('2026-04-01T00:00:00Z'), intervalMs: 1000, anomalyRate: 0.05, invalidRate: 0.02 });
    const sent = Array.from({ length: 800 }, () => gen.next());
    for (const m of sent) broker.ch.publish(topo.RABBITMQ_INGEST_EXCHANGE!, prefix + m.topic, m.body, { persistent: true });
    await broker.ch.waitForConfirms();
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await count(db.url, 'analytics_measurement')) + (await count(db.url, 'analytics_event')) === sent.length - invalid, 60_000, 'records stored');
    await eventually(async () => (await broker.depth(topo.RABBITMQ_DLQ_QUEUE!)) === invalid, 30_000, 'invalid messages dead-lettered');
    const [letter] = await broker.drain(topo.RABBITMQ_DLQ_QUEUE!);
    assert.equal(letter!.properties.headers!['x-original-source'], topo.RABBITMQ_INGEST_QUEUE);
    assert.match(String(letter!.properties.headers!['x-original-routing-key']), new RegExp(`^${prefix.replace('.', '\\.')}(sensors\\.device\\.readings|lab\\.results)$`));
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    const anomalies = await count(db.url, 'analytics_anomaly');
    await eventually(async () => (await broker.depth(events)) === anomalies, 30_000, 'anomalies published on the worker exchange');
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('bound to NATS JetStream by configuration alone; SIGKILL twice mid-stream loses and duplicates nothing', async () => {
    const names = uniqueNatsNames();
    const { db, prefix, worker } = await setup(18_851, { ...names, ANALYTICS_SOURCE: 'nats', NATS_URL, NATS_ACK_WAIT: '5s', NATS_BACKOFF: '1s,2s', BATCH_SIZE: '500' });
    const nats = await TestNats.open();
    cleanups.push(async () => { await nats.deleteStreams(names.NATS_STREAM!, names.NATS_DLQ_STREAM!); await nats.close(); });
    worker.start();
    await worker.waitReady(); // the worker creates the streams and durable consumers
    const gen = createAnalyticsGenerator({ seed: 13, machines: 12, startTime: Date.parse('2026-05-01T00:00:00Z'), intervalMs: 1000, anomalyRate: 0.03, invalidRate: 0.01 });
    const sent = Array.from({ length: 20_000 }, () => gen.next());
    const publishing = nats.publish(sent.map((m) => ({ subject: prefix + m.topic, body: m.body })));
    const stored = async () => (await count(db.url, 'analytics_measurement')) + (await count(db.url, 'analytics_event'));
    for (const threshold of [4_000, 10_000]) {
      await eventually(async () => (await stored()) >= threshold, 60_000, `${threshold} stored`);
      await worker.kill('SIGKILL');
      worker.start();
      await worker.waitReady(60_000);
    }
    await publishing;
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await stored()) === sent.length - invalid, 90_000, 'every record stored once');
    await eventually(async () => (await nats.streamSize(names.NATS_DLQ_STREAM!)) >= invalid, 30_000, 'dead letters in the DLQ stream');
    const letters = await nats.readStream(names.NATS_DLQ_STREAM!);
    assert.equal(new Set(letters.map((l) => l.headers['x-original-offset'])).size, invalid, 'each invalid message dead-lettered (a crash between copy and term may copy one twice, never zero times)');
    assert.ok(letters.every((l) => l.subject.startsWith(`dlq.${prefix}`) && l.headers['x-error-class'] === 'structural' && l.headers['x-original-source'] === l.subject.slice(4)));
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    assert.deepEqual(await analyticsRollupMismatches(db.url, WINDOWS), []);
    await eventually(async () => (await worker.http('/metrics')).body.includes('nats_connected{role="consumer"} 1'), 10_000, 'nats_connected gauge');
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('bound to MQTT by configuration alone: PUBACK after commit; SIGKILL twice mid-stream loses and duplicates nothing', async () => {
    const clientId = `ingestd-t-${randomBytes(4).toString('hex')}`;
    const { db, prefix, worker } = await setup(18_861, { ANALYTICS_SOURCE: 'mqtt', MQTT_URL, MQTT_CLIENT_ID: clientId, MQTT_RECEIVE_MAXIMUM: '500', MQTT_SESSION_EXPIRY: '10m' });
    worker.start();
    await worker.waitReady(); // connected and subscribed: the persistent session now queues for it
    const gen = createAnalyticsGenerator({ seed: 17, machines: 12, startTime: Date.parse('2026-06-01T00:00:00Z'), intervalMs: 1000, anomalyRate: 0.03, invalidRate: 0.01 });
    const sent = Array.from({ length: 12_000 }, () => gen.next());
    const publishing = mqttPublish(sent.map((m) => ({ topic: prefix + m.topic, body: m.body })));
    const stored = async () => (await count(db.url, 'analytics_measurement')) + (await count(db.url, 'analytics_event'));
    for (const threshold of [2_500, 6_000]) {
      await eventually(async () => (await stored()) >= threshold, 60_000, `${threshold} stored`);
      await worker.kill('SIGKILL');
      worker.start();
      await worker.waitReady(60_000);
    }
    await publishing;
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await stored()) === sent.length - invalid, 90_000, 'every record stored once');
    const letters = await queryRows<{ route: string; body: Buffer; error_class: string; headers: Record<string, string> }>(db.url, 'SELECT route, body, error_class, headers FROM ingestd_dead_letters');
    // Every invalid message has a row, identical payloads each their own. Beyond that, only a
    // batch committed but not yet PUBACKed when a worker was killed comes back as copies.
    const tally = (keys: string[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
    const wanted = tally(sent.filter((m) => m.kind === 'invalid').map((m) => `${prefix}${m.topic}\u0000${m.body.toString()}`));
    const have = tally(letters.map((l) => `${l.route}\u0000${l.body.toString()}`));
    assert.ok(wanted.size < invalid, 'the traffic holds identical invalid payloads');
    const missing = [...wanted].filter(([k, n]) => (have.get(k) ?? 0) < n);
    assert.deepEqual(missing, [], 'invalid messages without a dead letter');
    assert.ok(letters.length - invalid <= 2 * 500, `${letters.length - invalid} copies: at most the two killed workers' last batches (MQTT_RECEIVE_MAXIMUM 500)`);
    assert.ok(letters.every((l) => l.error_class === 'structural' && l.headers['x-original-source'] === l.route && l.route.startsWith(prefix)));
    assert.deepEqual(await analyticsAggMismatches(db.url, WINDOWS), []);
    assert.deepEqual(await analyticsRollupMismatches(db.url, WINDOWS), []);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });
});
