import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AMQP_URL, TestBroker, uniqueTopology } from '../helpers/amqp.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { createTopic, deleteRecordsBefore, dropKafkaLeftovers, endOffsets, groupIds, groupsMadeBy, KAFKA_BROKERS, produce, produceAborted } from '../helpers/kafka.ts';
import { MQTT_URL, mqttPublish } from '../helpers/mqtt.ts';
import { NATS_URL, TestNats, uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const exec = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const meter = (requestId: string, name = 'power_consumption', fingerprint = 'meter-A') =>
  JSON.stringify({ request_id: requestId, client_fingerprint: fingerprint, received_at: '2025-12-29T10:30:00Z', payload: { PM: [{ date: '2025-12-29T10:29:55Z', data: '245.5', name }] } });

describe('dead letters on every broker: ingestd dlq and the retry worker', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(port: number, env: Record<string, string>) {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-dlq-'));
    const full = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', ...env };
    const worker = new WorkerProcess(full, port, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    const cli = async (...args: string[]) => {
      try {
        const r = await exec(process.execPath, [MAIN, 'dlq', ...args], { env: { ...process.env, ...full } });
        return { code: 0, out: r.stdout, err: r.stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout, err: e.stderr };
      }
    };
    return { db, dir, worker, cli };
  }

  test('RabbitMQ: list with counts, show, replay a fixed message, purge with confirmation; poison retried then exhausted, replayed from exhausted', async () => {
    const topo = uniqueTopology();
    const { db, dir, worker, cli } = await setup(18_951, {
      ...topo, RABBITMQ_URL: AMQP_URL, DOMAINS_ENABLED: 'energy-meter', DLQ_MAX_RETRIES: '2', DLQ_RETRY_DELAY: '200ms', DLQ_RETRY_INTERVAL: '300ms',
    });
    const broker = await TestBroker.open(topo);
    cleanups.push(() => broker.close());
    worker.start();
    await worker.waitReady();
    await broker.publish(['{"request_id": "broken', meter('no-fp').replace('"client_fingerprint":"meter-A",', ''), meter('poison-1', 'bad\u0000name')]);
    // The poison one is retried twice, then leaves the queue for exhausted_events.
    await eventually(async () => (await queryRows(db.url, 'SELECT 1 FROM exhausted_events')).length === 1, 30_000, 'poison exhausted');
    const [ex] = await queryRows<{ attempts: number; error_class: string; route: string }>(db.url, 'SELECT attempts, error_class, route FROM exhausted_events');
    assert.deepEqual(ex, { attempts: 3, error_class: 'poison', route: 'meter.reading.ingested' });
    const dlqMetrics = (await worker.http('/metrics')).body.split('\n').filter((l) => l.startsWith('stream_dlq_') && !l.startsWith('stream_dlq_messages')).join('\n');
    assert.match(dlqMetrics, /stream_dlq_exhausted_total\{source="amqp"\} 1/);
    assert.match(dlqMetrics, /stream_dlq_retries_total\{source="amqp"\} 2/);
    // A scan holds the RabbitMQ DLQ's messages for a moment; the rest of the test works without it.
    assert.equal(await worker.kill('SIGTERM'), 0);
    worker.env['DLQ_RETRY_ENABLED'] = 'false';
    worker.start();
    await worker.waitReady();
    await eventually(async () => (await broker.depth(topo.RABBITMQ_DLQ_QUEUE!)) === 2, 10_000, 'two structural dead letters wait');

    const list = await cli('list', '--source', 'amqp');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, new RegExp(`amqp ${topo.RABBITMQ_DLQ_QUEUE!.replace(/\./g, '\\.')}: 2 dead letters \\(2 structural, 0 poison\\)`));
    const refs = [...list.out.matchAll(/^ {2}(amqp:\S+)/gm)].map((m) => m[1]!);
    assert.equal(refs.length, 2);
    const notJson = (await cli('list', '--source', 'amqp', '--reason', 'not JSON')).out;
    const brokenRef = /^ {2}(amqp:\S+)/m.exec(notJson)![1]!;
    assert.match((await cli('show', brokenRef)).out, /x-error-code: INGESTD_ERR_NOT_JSON[\s\S]*body \(22 bytes\):\n\{"request_id": "broken/);

    // The operator fixes the message and replays it: it is stored.
    const fixed = join(dir, 'fixed.json');
    await writeFile(fixed, meter('fixed-1'));
    const replay = await cli('replay', brokenRef, '--body', fixed);
    assert.equal(replay.code, 0, replay.err);
    assert.match(replay.out, /amqp: replayed 1 dead letter\n/);
    await eventually(async () => (await queryRows(db.url, "SELECT 1 FROM meter_readings_raw WHERE message_id = 'fixed-1'")).length === 1, 20_000, 'fixed message stored');
    assert.equal(await broker.depth(topo.RABBITMQ_DLQ_QUEUE!), 1);

    // Purge asks first: without a terminal it needs --yes.
    const refused = await cli('purge', '--all');
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--yes/);
    assert.equal(await broker.depth(topo.RABBITMQ_DLQ_QUEUE!), 1, 'nothing purged without confirmation');
    assert.match((await cli('purge', '--all', '--yes')).out, /amqp: purged 1/);
    assert.equal(await broker.depth(topo.RABBITMQ_DLQ_QUEUE!), 0);
    assert.equal((await cli('replay')).code, 2, 'replay needs refs or --all');
    assert.match((await cli('replay', 'amqp:nope')).err, /not found/);

    // The exhausted poison message, fixed, replayed from exhausted_events.
    const exList = await cli('exhausted', 'list');
    const exRef = /^ {2}(exhausted:\d+)/m.exec(exList.out)![1]!;
    await writeFile(fixed, meter('poison-1', 'power_consumption'));
    assert.match((await cli('exhausted', 'replay', exRef, '--body', fixed)).out, /replayed 1 exhausted dead letter/);
    await eventually(async () => (await queryRows(db.url, "SELECT 1 FROM meter_readings_raw WHERE message_id = 'poison-1'")).length === 1, 20_000, 'replayed from exhausted');
    assert.equal((await queryRows(db.url, 'SELECT 1 FROM exhausted_events')).length, 0);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('NATS, Kafka and MQTT: list by tenant, replay into the original route (attempts carried), purge', async () => {
    const names = uniqueNatsNames();
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    const clientId = `ingestd-dlq-${randomBytes(3).toString('hex')}`;
    const { db, worker, cli } = await setup(18_961, {
      ...names, NATS_URL, KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `${prefix}g`, MQTT_URL, MQTT_CLIENT_ID: clientId,
      DOMAINS_ENABLED: 'chat-events,analytics', ANALYTICS_TOPIC_PREFIX: prefix, ANALYTICS_RETENTION_MONTHS: '600',
      // analytics on Kafka; lab results rebound to MQTT would need a second binding, so MQTT gets its own run below
    });
    const nats = await TestNats.open();
    await nats.deleteStreamsCapturing('v1.>', 'dlq.v1.>');
    cleanups.push(async () => { await nats.deleteStreams(names.NATS_STREAM!, names.NATS_DLQ_STREAM!); await nats.close(); });
    await createTopic(`${prefix}sensors.device.readings`, 1);
    worker.start();
    await worker.waitReady();
    const chat = (company: string, data: unknown) => ({
      subject: `v1.messages.upsert.${company}`,
      body: Buffer.from(JSON.stringify({ event_id: `e-${company}`, type: 'messages.upsert', company_id: company, occurred_at: '2026-01-01T00:00:00Z', data })),
    });
    await nats.publish([chat('CompanyAAA01', { updated_at: '2026-01-01T00:00:00Z' }), chat('CompanyBBB02', { updated_at: '2026-01-01T00:00:00Z' })]);
    await produce(`${prefix}sensors.device.readings`, [{ key: 'k', body: Buffer.from('{"time":"2026-01-01T00:00:00Z","tenant_id":"t1"}') }]);
    await eventually(async () => (await nats.streamSize(names.NATS_DLQ_STREAM!)) === 2, 20_000, 'chat dead letters');

    const byTenant = await cli('list', '--source', 'nats', '--tenant', 'companyaaa01');
    assert.match(byTenant.out, /: 1 dead letters \(1 structural, 0 poison\)/);
    assert.match(byTenant.out, /\/data: must have required property 'message_id'/);
    const natsRef = /^ {2}(nats:\S+)/m.exec(byTenant.out)![1]!;
    await eventually(async () => /1 dead letters/.test((await cli('list', '--source', 'kafka')).out), 30_000, 'kafka dead letter listed');

    // Replayed unchanged, a structural message fails again: back in the DLQ with attempts 2.
    assert.match((await cli('replay', natsRef)).out, /nats: replayed 1/);
    await eventually(async () => (await cli('list', '--source', 'nats', '--tenant', 'companyaaa01')).out.includes('attempts 2'), 20_000, 'dead-lettered again with attempts 2');
    const kafkaAll = await cli('replay', '--all', '--source', 'kafka');
    assert.match(kafkaAll.out, /kafka: replayed 1/);
    await eventually(async () => (await cli('list', '--source', 'kafka')).out.includes('attempts 2'), 30_000, 'kafka: replayed one back, attempts 2');
    assert.match((await cli('list', '--source', 'kafka')).out, /1 dead letters/, 'the replayed one is no longer listed');
    assert.match((await cli('purge', '--all', '--yes', '--source', 'nats')).out, /nats: purged 2/);
    assert.equal(await nats.streamSize(names.NATS_DLQ_STREAM!), 0);
    assert.equal(await worker.kill('SIGTERM'), 0);

    // MQTT: dead letters are rows of ingestd_dead_letters.
    const mqttRun = await setup(18_971, { DOMAINS_ENABLED: 'sensor', ANALYTICS_SOURCE: 'mqtt', MQTT_URL, MQTT_CLIENT_ID: clientId, ANALYTICS_TOPIC_PREFIX: prefix });
    mqttRun.worker.start();
    await mqttRun.worker.waitReady();
    await mqttPublish([{ topic: `${prefix}sensors.device.readings`, body: Buffer.from('{"time":"2026-01-01T00:00:00Z","tenant_id":"t9"}') }]);
    await eventually(async () => (await queryRows(mqttRun.db.url, 'SELECT 1 FROM ingestd_dead_letters')).length === 1, 20_000, 'mqtt dead letter stored');
    const mlist = await mqttRun.cli('list', '--tenant', 't9');
    assert.equal(mlist.code, 0, mlist.err);
    assert.match(mlist.out, /mqtt ingestd_dead_letters: 1 dead letters \(1 structural, 0 poison\)/);
    assert.match((await mqttRun.cli('replay', '--all')).out, /mqtt: replayed 1/);
    await eventually(async () => (await mqttRun.cli('list')).out.includes('attempts 2'), 20_000, 'mqtt: dead-lettered again with attempts 2');
    assert.match((await mqttRun.cli('purge', '--all', '--yes')).out, /mqtt: purged 1/);
    assert.equal((await queryRows(mqttRun.db.url, 'SELECT 1 FROM ingestd_dead_letters')).length, 0);
    assert.equal(await mqttRun.worker.kill('SIGTERM'), 0);
    void db;
  });

  /** energy-meter bound to Kafka, on topics, group and client id of its own (removed at the end). */
  const kafkaMeterEnv = (extra: Record<string, string> = {}) => {
    const s = randomBytes(4).toString('hex');
    cleanups.push(() => dropKafkaLeftovers(`t.${s}.group`, `t.${s}.`));
    return {
      KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_TOPIC: `t.${s}.meters`, KAFKA_GROUP_ID: `t.${s}.group`, KAFKA_CLIENT_ID: `t-${s}`,
      DOMAINS_ENABLED: 'energy-meter', ENERGY_METER_SOURCE: 'kafka', ...extra,
    };
  };

  test('Kafka: dlq commands and the retry worker\'s scans leave no consumer group behind', async () => {
    const before = await groupIds();
    const env = kafkaMeterEnv({ DLQ_MAX_RETRIES: '2', DLQ_RETRY_DELAY: '200ms', DLQ_RETRY_INTERVAL: '300ms' });
    const topic = env.KAFKA_TOPIC;
    const { db, dir, worker, cli } = await setup(18_991, env);
    worker.start();
    await worker.waitReady();
    await produce(topic, [
      { key: 'a', body: Buffer.from('{"request_id": "broken') },
      { key: 'b', body: Buffer.from(meter('no-fp').replace('"client_fingerprint":"meter-A",', '')) },
      { key: 'c', body: Buffer.from(meter('poison-k', 'bad\u0000name')) },
    ]);
    // Retried twice, then exhausted: the retry worker read the dead-letter topic in three scans at least.
    await eventually(async () => (await queryRows(db.url, 'SELECT 1 FROM exhausted_events')).length === 1, 60_000, 'poison exhausted');
    assert.match((await worker.http('/metrics')).body, /stream_dlq_retries_total\{source="kafka"\} 2/);

    const list = await cli('list', '--source', 'kafka');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /: 2 dead letters \(2 structural, 0 poison\)/);
    const broken = /^ {2}(kafka:\S+).*\n.*not JSON/im.exec(list.out)?.[1];
    assert.ok(broken !== undefined, list.out);
    assert.match((await cli('show', broken)).out, /body \(22 bytes\):\n\{"request_id": "broken/);
    const fixed = join(dir, 'fixed.json');
    await writeFile(fixed, meter('fixed-k'));
    assert.match((await cli('replay', broken, '--body', fixed)).out, /kafka: replayed 1 dead letter\n/);
    await eventually(async () => (await queryRows(db.url, "SELECT 1 FROM meter_readings_raw WHERE message_id = 'fixed-k'")).length === 1, 20_000, 'fixed message stored');
    assert.match((await cli('purge', '--all', '--yes', '--source', 'kafka')).out, /kafka: purged 1/);
    assert.match((await cli('list', '--json')).out, /^\[\]\n$/);
    assert.match((await cli('exhausted', 'list')).out, /1 dead letters/);
    assert.equal(await worker.kill('SIGTERM'), 0);

    // Only the worker's own group is new, with offsets on the topic it consumes and none on its dead letters.
    assert.deepEqual(await groupsMadeBy(before, env.KAFKA_CLIENT_ID, [topic, `${topic}.dlq`]), [{ groupId: env.KAFKA_GROUP_ID, topics: [topic] }]);
  });

  test('Kafka: a scan reads from each partition\'s log start to its end and finishes past deleted records, an aborted transaction and empty partitions', async () => {
    const env = kafkaMeterEnv({ DLQ_RETRY_ENABLED: 'false' });
    const dlqTopic = `${env.KAFKA_TOPIC}.dlq`;
    const { worker, cli } = await setup(18_992, env);
    worker.start();
    await worker.waitReady();
    await produce(env.KAFKA_TOPIC, ['a', 'b', 'c'].map((key) => ({ key, body: Buffer.from(`not json ${key}`) })));
    await eventually(async () => /: 3 dead letters/.test((await cli('list', '--source', 'kafka')).out), 30_000, 'three dead letters');
    assert.equal(await worker.kill('SIGTERM'), 0);

    // Three dead letters, four partitions (the test broker's num.partitions): one at least is empty.
    // Retention takes the first dead letter of the fullest partition; an aborted transaction ends another.
    const ends = [...(await endOffsets(dlqTopic))].sort((x, y) => y[1] - x[1]);
    assert.ok(ends.some(([, end]) => end === 0), 'a partition without dead letters');
    await deleteRecordsBefore(dlqTopic, ends[0]![0], 1);
    await produceAborted(dlqTopic, ends[1]![0], Buffer.from('aborted'));
    // A scan that waited for records past the end would time out and fail the command.
    const list = await cli('list', '--source', 'kafka', '--json');
    assert.equal(list.code, 0, list.err);
    const bodies = (JSON.parse(list.out) as Array<{ body: string }>).map((r) => Buffer.from(r.body, 'base64').toString()).sort();
    assert.equal(bodies.length, 2, list.out);
    assert.ok(bodies.every((b) => b.startsWith('not json ')), list.out);
  });
});
