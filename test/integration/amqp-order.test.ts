/**
 * One RabbitMQ queue mixes every key's messages, and the source keeps two batches in flight:
 * per-key state must still see each key's messages in delivery order, or what is detected
 * depends on which transaction took a lock first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { AMQP_URL } from '../helpers/amqp.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { WorkerProcess } from '../helpers/worker.ts';

test('RabbitMQ: every series sees its readings in delivery order across concurrent batches (10 normal readings, then an outlier: one anomaly per series)', async () => {
  const db = await createTestDatabase();
  const p = `o.${randomBytes(4).toString('hex')}`;
  const env = {
    DATABASE_URL: db.url, DOMAINS_ENABLED: 'analytics', ANALYTICS_SOURCE: 'amqp', RABBITMQ_URL: AMQP_URL,
    RABBITMQ_INGEST_EXCHANGE: `${p}.in`, RABBITMQ_INGEST_QUEUE: `${p}.q`, RABBITMQ_DLQ_QUEUE: `${p}.dlq`, RABBITMQ_WORKER_EXCHANGE: `${p}.out`,
    ANALYTICS_TOPIC_PREFIX: `${p}.`, ANALYTICS_ANOMALY_TOPIC: `${p}.anomalies`, ANALYTICS_RETENTION_MONTHS: '600',
  };
  const worker = new WorkerProcess(env, 18_984, join(await mkdtemp(join(tmpdir(), 'ingestd-order-')), 'worker.log'));
  worker.start();
  const conn = await amqp.connect(AMQP_URL);
  try {
    await worker.waitReady(60_000);
    const ch = await conn.createConfirmChannel();
    const machines = 150;
    const at = Date.parse('2026-03-01T08:00:00Z');
    // Machine by machine: a batch (5 messages at the default prefetch) holds the end of one
    // series and the start of the next, so consecutive batches share keys.
    for (let m = 0; m < machines; m++) {
      for (let i = 0; i <= 10; i++) {
        const body = { time: new Date(at + i * 1000).toISOString(), tenant_id: 't1', factory_id: 'f1', machine_id: `m${m}`, sensor_id: 's', metric: 'temp', value: i === 10 ? 100 : 20 + (i % 2) };
        ch.publish(env.RABBITMQ_INGEST_EXCHANGE, `${p}.sensors.device.readings`, Buffer.from(JSON.stringify(body)), { persistent: true });
      }
    }
    await ch.waitForConfirms();
    const stored = async () => Number((await queryRows<{ n: string }>(db.url, 'SELECT count(*) AS n FROM analytics.analytics_measurement'))[0]!.n);
    await eventually(async () => (await stored()) === machines * 11, 60_000, 'every reading stored');
    const states = await queryRows<{ machine_id: string; baseline: number[] }>(db.url, 'SELECT machine_id, baseline FROM analytics.analytics_series_state');
    const outOfOrder = states.filter((r) => r.baseline.indexOf(100) !== r.baseline.length - 1).map((r) => `${r.machine_id}: ${JSON.stringify(r.baseline)}`);
    assert.deepEqual(outOfOrder, [], 'series whose outlier was not applied last');
    const anomalies = await queryRows<{ machine_id: string }>(db.url, "SELECT machine_id FROM analytics.analytics_anomaly WHERE rule = 'we1' AND value = 100");
    assert.equal(anomalies.length, machines);
    assert.equal(await worker.kill('SIGTERM'), 0);
  } finally {
    await conn.close().catch(() => undefined);
    await worker.kill('SIGKILL');
    const admin = await amqp.connect(AMQP_URL);
    const ch = await admin.createChannel();
    for (const q of [env.RABBITMQ_INGEST_QUEUE, env.RABBITMQ_DLQ_QUEUE]) await ch.deleteQueue(q).catch(() => undefined);
    for (const e of [env.RABBITMQ_INGEST_EXCHANGE, env.RABBITMQ_WORKER_EXCHANGE]) await ch.deleteExchange(e).catch(() => undefined);
    await admin.close();
    await db.drop();
  }
});
