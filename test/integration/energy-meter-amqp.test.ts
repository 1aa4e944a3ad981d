import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import SAMPLE from '../fixtures/energy-meter/reference.json' with { type: 'json' };
import { requireConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { createRuntime, startWorker, type Worker } from '../../src/runtime/worker.ts';
import { clientIdOf, readingIdOf } from '../../src/domains/energy-meter/decode.ts';
import { AMQP_URL, TestBroker, uniqueTopology } from '../helpers/amqp.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';


const message = (requestId: string, pm: unknown[], fingerprint = 'meter-A') =>
  JSON.stringify({ request_id: requestId, client_fingerprint: fingerprint, received_at: '2025-12-29T10:30:00Z', payload: { PM: pm } });

describe('energy-meter over RabbitMQ into PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let broker: TestBroker;
  let worker: Worker;
  let events: string;
  const topo = uniqueTopology();

  before(async () => {
    db = await createTestDatabase();
    broker = await TestBroker.open(topo);
    events = await broker.captureEvents();
    const config = requireConfig({ DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '50', ...topo });
    const runtime = createRuntime((err) => { throw err; });
    worker = await startWorker(config, createLogger({ service: 'test', level: 'silent' }), runtime);
    await eventually(() => worker.readiness.ready, 20_000, 'worker ready');
  });

  after(async () => {
    await worker?.stop();
    await broker?.close();
    await db?.drop();
  });

  const rows = (sql: string, params: unknown[] = []) => queryRows<Record<string, unknown>>(db.url, sql, params);

  test('the reference message gives two valid rows and two output events', async () => {
    await broker.publish([JSON.stringify(SAMPLE)]);
    await eventually(async () => (await rows('SELECT 1 FROM meter_readings_raw WHERE message_id = $1', [SAMPLE.request_id])).length === 2);
    const stored = await rows(
      `SELECT id::text, client_id::text, metric_name, metric_value, reading_timestamp, validation_status, anomaly_reason
         FROM meter_readings_raw WHERE message_id = $1 ORDER BY metric_name`, [SAMPLE.request_id]);
    assert.deepEqual(stored.map((r) => [r.metric_name, r.metric_value, r.validation_status, r.anomaly_reason]), [
      ['power_consumption', 245.5, 'valid', null],
      ['voltage', 220.3, 'valid', null],
    ]);
    assert.equal(stored[0]!.client_id, clientIdOf('sha256_hash_of_device'));
    assert.equal(stored[0]!.id, readingIdOf(SAMPLE.request_id, 0));
    const [client] = await rows('SELECT last_seen_at FROM meter_clients WHERE client_fingerprint = $1', ['sha256_hash_of_device']);
    assert.equal(client!.last_seen_at, '2025-12-29 10:30:00+00');

    let got: Array<Record<string, unknown>> = [];
    await eventually(async () => {
      got.push(...(await broker.drain(events)).map((m) => JSON.parse(m.content.toString()) as Record<string, unknown>));
      return got.length >= 2;
    });
    got = got.filter((e) => e.client_id === clientIdOf('sha256_hash_of_device'));
    assert.deepEqual(got.map((e) => e.metric_name).sort(), ['power_consumption', 'voltage']);
    const power = got.find((e) => e.metric_name === 'power_consumption')!;
    assert.deepEqual(power, {
      reading_id: readingIdOf(SAMPLE.request_id, 0),
      client_id: clientIdOf('sha256_hash_of_device'),
      metric_name: 'power_consumption',
      metric_value: 245.5,
      reading_timestamp: '2025-12-29T10:29:55.000Z',
      validation_status: 'valid',
      anomaly_reason: null,
    });
  });

  test('invalid JSON and a missing fingerprint land in the DLQ with the error headers', async () => {
    const { client_fingerprint: _, ...noFingerprint } = SAMPLE;
    await broker.publish(['{"not": json', JSON.stringify({ ...noFingerprint, request_id: 'no-fp' })]);
    const dlq = topo.RABBITMQ_DLQ_QUEUE!;
    await eventually(async () => (await broker.depth(dlq)) === 2, 20_000, 'two dead letters');
    const letters = await broker.drain(dlq);
    const byBody = new Map(letters.map((m) => [m.content.toString(), m.properties.headers ?? {}]));
    const bad = byBody.get('{"not": json')!;
    assert.equal(bad['x-error-class'], 'structural');
    assert.match(String(bad['x-error-reason']), /^not JSON/);
    assert.equal(bad['x-original-source'], topo.RABBITMQ_INGEST_QUEUE);
    assert.equal(bad['x-attempts'], '1');
    assert.match(String(bad['x-first-failed-at']), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const missing = [...byBody.entries()].find(([body]) => body.includes('no-fp'))![1];
    assert.equal(missing['x-error-class'], 'structural');
    assert.equal(missing['x-error-reason'], "/: must have required property 'client_fingerprint'");
    assert.equal(await broker.depth(topo.RABBITMQ_INGEST_QUEUE!), 0);
  });

  test('invalid readings are stored with their reasons and acknowledged', async () => {
    await broker.publish([message('bad-readings', [
      { date: '31/02/2025 10:00:00', data: '1', name: 'voltage' },
      { date: '29/12/2025 10:29:55', data: 'abc', name: '' },
      { date: '29/12/2025 10:10:00', data: '-4', name: 'power' },
    ])]);
    await eventually(async () => (await rows('SELECT 1 FROM meter_readings_raw WHERE message_id = $1', ['bad-readings'])).length === 3);
    const stored = await rows(
      `SELECT metric_value, reading_timestamp, validation_status, anomaly_reason FROM meter_readings_raw
        WHERE message_id = 'bad-readings' ORDER BY id`);
    const reasons = stored.map((r) => r.anomaly_reason).sort();
    assert.deepEqual(reasons, [
      'invalid metric value: abc; empty metric name',
      'invalid timestamp format: 31/02/2025 10:00:00',
      'timestamp outside tolerance: 1200s from received_at; negative value detected',
    ]);
    assert.ok(stored.every((r) => r.validation_status === 'invalid'));
    const unreadable = stored.find((r) => String(r.anomaly_reason).startsWith('invalid timestamp'))!;
    assert.equal(unreadable.reading_timestamp, '2025-12-29 10:30:00+00');
    assert.equal(stored.find((r) => String(r.anomaly_reason).startsWith('invalid metric'))!.metric_value, null);
    await eventually(async () => (await broker.depth(topo.RABBITMQ_INGEST_QUEUE!)) === 0);
    assert.equal(await broker.depth(topo.RABBITMQ_DLQ_QUEUE!), 0);
  });

  test('spikes use the previous ten valid readings across messages', async () => {
    const pm = (v: number) => [{ date: '2025-12-29T10:30:00Z', data: String(v), name: 'power' }];
    const bodies = Array.from({ length: 10 }, (_, i) => message(`s-${i}`, pm(100), 'meter-spiky'));
    bodies.push(message('s-10', pm(300), 'meter-spiky'), message('s-11', pm(400), 'meter-spiky'));
    await broker.publish(bodies);
    await eventually(async () => (await rows("SELECT 1 FROM meter_readings_raw WHERE message_id LIKE 's-%'")).length === 12);
    const [exactly3x] = await rows("SELECT validation_status FROM meter_readings_raw WHERE message_id = 's-10'");
    assert.equal(exactly3x!.validation_status, 'valid');
    const [spike] = await rows("SELECT anomaly_reason FROM meter_readings_raw WHERE message_id = 's-11'");
    // history: nine 100s and the valid 300 → mean 120
    assert.equal(spike!.anomaly_reason, 'sudden spike detected: value 400.00 exceeds 3.0x rolling average 120.00');
  });

  test('a redelivered message is stored once and publishes nothing new', async () => {
    const body = message('dup-1', [{ date: '2025-12-29T10:30:00Z', data: '7', name: 'power' }], 'meter-dup');
    await broker.publish([body]);
    await eventually(async () => (await rows("SELECT 1 FROM meter_readings_raw WHERE message_id = 'dup-1'")).length === 1);
    await broker.publish([body, body]);
    await eventually(async () => (await broker.depth(topo.RABBITMQ_INGEST_QUEUE!)) === 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rows("SELECT 1 FROM meter_readings_raw WHERE message_id = 'dup-1'")).length, 1);
    const dupEvents = (await broker.drain(events)).filter((m) => m.content.toString().includes(clientIdOf('meter-dup')));
    assert.equal(dupEvents.length, 1);
  });

  test('a message the database rejects is isolated by bisection; the rest of its batch commits', async () => {
    // PostgreSQL text cannot hold NUL: this message is poison, its neighbours are fine.
    const good = Array.from({ length: 6 }, (_, i) => message(`p-${i}`, [{ date: '2025-12-29T10:30:00Z', data: '1', name: 'power' }], 'meter-p'));
    const poison = message('p-poison', [{ date: '2025-12-29T10:30:00Z', data: '1', name: 'bad\u0000name' }], 'meter-p');
    await broker.publish([...good.slice(0, 3), poison, ...good.slice(3)]);
    const dlq = topo.RABBITMQ_DLQ_QUEUE!;
    await eventually(async () => (await broker.depth(dlq)) === 1, 20_000, 'poison dead-lettered');
    await eventually(async () => (await rows("SELECT 1 FROM meter_readings_raw WHERE message_id LIKE 'p-%'")).length === 6);
    const [letter] = await broker.drain(dlq);
    assert.equal(letter!.content.toString(), poison);
    assert.equal(letter!.properties.headers?.['x-error-class'], 'poison');
    assert.match(String(letter!.properties.headers?.['x-error-reason']), /database rejected the data/);
  });

  test('an empty PM array is acknowledged and stores nothing but the client sighting', async () => {
    await broker.publish([message('empty-pm', [], 'meter-empty')]);
    await eventually(async () => (await rows("SELECT 1 FROM meter_clients WHERE client_fingerprint = 'meter-empty'")).length === 1);
    assert.equal((await rows("SELECT 1 FROM meter_readings_raw WHERE message_id = 'empty-pm'")).length, 0);
    assert.equal(await broker.depth(topo.RABBITMQ_DLQ_QUEUE!), 0);
  });

  test('readiness and metrics are served', async () => {
    const text = await worker.metrics.registry.metrics();
    assert.match(text, /stream_readings_total\{domain="energy-meter",source="amqp",status="valid"\} \d+/);
    assert.match(text, /stream_dlq_messages_total\{domain="energy-meter",source="amqp"\} [1-9]/);
    assert.match(text, /rabbitmq_connected\{role="consumer"\} 1/);
    assert.equal(worker.readiness.ready, true);
  });
});
