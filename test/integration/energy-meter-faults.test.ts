import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadSummary } from '../../src/cli/load/run.ts';
import { AMQP_URL, TestBroker, uniqueTopology } from '../helpers/amqp.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const run = promisify(execFile);
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));

/** Stored messages and rows; duplicates would show as rows > 2 × messages. */
async function storedCounts(url: string): Promise<{ messages: number; rows: number; ids: number }> {
  const [r] = await queryRows<{ messages: string; rows: string; ids: string }>(
    url,
    'SELECT count(DISTINCT message_id) AS messages, count(*) AS rows, count(DISTINCT id) AS ids FROM meter_readings_raw',
  );
  return { messages: Number(r!.messages), rows: Number(r!.rows), ids: Number(r!.ids) };
}

/** Messages the worker must store: everything but the undecodable ones. */
const expectedStored = (s: LoadSummary): number => s.confirmed - (s.byKind.undecodable ?? 0);

async function load(topo: Record<string, string>, count: number, rate: number, seed: number): Promise<LoadSummary> {
  const summary = await runLoad({
    broker: AMQP_URL,
    exchange: topo.RABBITMQ_INGEST_EXCHANGE!,
    routingKey: topo.RABBITMQ_INGEST_ROUTING_KEY!,
    count,
    rate,
    seed,
    meters: 40,
    anomalyRate: 0.02,
    invalidRate: 0.01,
    progress: 'none',
  });
  assert.equal(summary.failed, 0, JSON.stringify(summary));
  assert.equal(summary.unroutable, 0, JSON.stringify(summary));
  return summary;
}

describe('energy-meter: crashes and outages lose nothing and double nothing', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  /** A fresh database, the test's own RabbitMQ topology and a log folder, removed after the suite. */
  const fixture = async (name: string) => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const topo = uniqueTopology();
    const broker = await TestBroker.open(topo);
    cleanups.push(() => broker.close());
    return { db, topo, broker, dir: await mkdtemp(join(tmpdir(), `ingestd-${name}-`)) };
  };

  test('a worker killed with SIGKILL mid-stream and restarted stores every message exactly once', async () => {
    const { db, topo, broker, dir } = await fixture('kill');
    const worker = new WorkerProcess({ DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '500', ...topo }, 18_601, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    worker.start();
    await worker.waitReady();

    const loading = load(topo, 30_000, 6_000, 7);
    for (let kill = 1; kill <= 2; kill++) {
      const threshold = kill * 4_000;
      await eventually(async () => (await storedCounts(db.url)).messages >= threshold, 60_000, `${threshold} messages stored`);
      assert.equal(await worker.kill('SIGKILL'), null); // killed by the signal, no exit code
      worker.start();
      await worker.waitReady();
    }
    const summary = await loading;
    const expected = expectedStored(summary);
    await eventually(async () => (await storedCounts(db.url)).messages === expected, 120_000, `${expected} messages stored`);
    await eventually(async () => (await broker.depth(topo.RABBITMQ_INGEST_QUEUE!)) === 0, 30_000, 'queue drained');
    const counts = await storedCounts(db.url);
    assert.deepEqual(counts, { messages: expected, rows: expected * 2, ids: expected * 2 });
    // The dead-letter queue holds the undecodable messages: at least once each (a kill between
    // the dead-letter confirm and the ack can redeliver one, never lose it).
    const letters = await broker.drain(topo.RABBITMQ_DLQ_QUEUE!);
    assert.ok(letters.length >= (summary.byKind.undecodable ?? 0), `${letters.length} dead letters`);
    assert.ok(letters.every((m) => m.properties.headers?.['x-error-class'] === 'structural'));
    await eventually(async () => (await queryRows(db.url, 'SELECT 1 FROM ingestd_outbox')).length === 0, 30_000, 'outbox published');
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('two workers on one queue: one consumes, the other stands by and takes over when it is killed; everything stored once', async () => {
    const { db, topo, dir } = await fixture('standby');
    const env = { DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, CHECKPOINT_INTERVAL: '300ms', ...topo };
    const first = new WorkerProcess(env, 18_604, join(dir, 'first.log'));
    const second = new WorkerProcess(env, 18_605, join(dir, 'second.log'));
    cleanups.push(() => first.kill(), () => second.kill());
    first.start();
    await first.waitReady();
    second.start();
    await second.waitReady();

    const loading = load(topo, 12_000, 3_000, 17);
    await eventually(async () => (await storedCounts(db.url)).messages >= 3_000, 60_000, '3000 messages stored');
    assert.doesNotMatch(await second.logText(), /rabbitmq queue claimed/, 'the standby consumes nothing while the first is active');
    assert.equal(await first.kill('SIGKILL'), null);
    const summary = await loading;
    const expected = expectedStored(summary);
    await eventually(async () => (await storedCounts(db.url)).messages === expected, 120_000, `${expected} messages stored`);
    assert.deepEqual(await storedCounts(db.url), { messages: expected, rows: expected * 2, ids: expected * 2 });
    assert.match(await second.logText(), /rabbitmq queue claimed/);
    // The owner epoch moved on: the first worker's connection is fenced if it ever comes back.
    const [claim] = await queryRows<{ epoch: string }>(db.url, "SELECT owner_epoch::text AS epoch FROM worker_checkpoints WHERE source = 'amqp'");
    assert.equal(claim!.epoch, '2');
    assert.equal(await second.kill('SIGTERM'), 0);
  });

  test('a queue declared without single active consumer: the worker stops and names the setting', async () => {
    const { db, topo, broker, dir } = await fixture('sac');
    // As an earlier version declared it: the same dead-lettering, no single active consumer.
    await broker.ch.assertQueue(topo.RABBITMQ_INGEST_QUEUE!, {
      durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': topo.RABBITMQ_DLQ_QUEUE! },
    });
    const worker = new WorkerProcess({ DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, ...topo }, 18_606, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    worker.start();
    const code = await new Promise<number | null>((resolve) => worker.child!.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(await worker.logText(), /RABBITMQ_SINGLE_ACTIVE_CONSUMER/);
  });

  test('PostgreSQL stopped mid-stream: readiness goes false then true, nothing is dead-lettered or lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-pgstop-'));
    await chmod(dir, 0o755); // the server runs as the postgres user
    const pgDir = join(dir, 'pg');
    const port = 55_433;
    await run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'start', pgDir, String(port)]);
    cleanups.push(() => run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'stop', pgDir]));
    const db = await createTestDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`);
    const topo = uniqueTopology();
    const broker = await TestBroker.open(topo);
    cleanups.push(() => broker.close());
    const worker = new WorkerProcess(
      { DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '200', RETRY_MAX: '1s', ...topo },
      18_602,
      join(dir, 'worker.log'),
    );
    cleanups.push(() => worker.kill());
    worker.start();
    await worker.waitReady();

    const loading = load(topo, 12_000, 2_000, 11);
    await eventually(async () => (await storedCounts(db.url)).messages >= 1_000, 30_000, 'first messages stored');
    await run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'stop', pgDir]);
    await eventually(async () => (await worker.http('/ready')).status === 503, 15_000, 'readiness false');
    const notReady = JSON.parse((await worker.http('/ready')).body) as { reasons: string[] };
    assert.ok(notReady.reasons.some((r) => /database|paused/.test(r)), notReady.reasons.join('; '));
    await new Promise((r) => setTimeout(r, 4_000));
    await run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'start', pgDir, String(port)]);
    await worker.waitReady(30_000);

    const summary = await loading;
    const expected = expectedStored(summary);
    await eventually(async () => (await storedCounts(db.url)).messages === expected, 60_000, `${expected} messages stored`);
    assert.deepEqual(await storedCounts(db.url), { messages: expected, rows: expected * 2, ids: expected * 2 });
    const letters = await broker.drain(topo.RABBITMQ_DLQ_QUEUE!);
    assert.equal(letters.length, summary.byKind.undecodable ?? 0, 'only the undecodable messages are dead letters');
    assert.ok(letters.every((m) => m.properties.headers?.['x-error-class'] === 'structural'));
    const metrics = (await worker.http('/metrics')).body;
    assert.match(metrics, /stream_batch_retries_total\{domain="energy-meter",source="amqp",reason="INGESTD_ERR_DB_UNAVAILABLE"\} [1-9]/);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('a RabbitMQ restart mid-drain: the worker reconnects and stores everything once', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const topo = uniqueTopology();
    const broker = await TestBroker.open(topo);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-mqrestart-'));
    // Declare the topology and pre-load a backlog, then let the worker drain it.
    const worker = new WorkerProcess({ DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '50', ...topo }, 18_603, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    worker.start();
    await worker.waitReady();
    await worker.kill('SIGTERM');
    const summary = await load(topo, 15_000, 0, 13);
    await broker.disconnect();
    worker.start();
    await eventually(async () => (await storedCounts(db.url)).messages >= 2_000, 60_000, 'draining');
    await run('rabbitmqctl', ['stop_app']);
    await eventually(async () => (await worker.http('/ready')).status === 503, 15_000, 'readiness false while the broker is down');
    await run('rabbitmqctl', ['start_app']);
    await run('rabbitmqctl', ['await_startup']);
    await worker.waitReady(60_000);
    const expected = expectedStored(summary);
    await eventually(async () => (await storedCounts(db.url)).messages === expected, 90_000, `${expected} messages stored`);
    assert.deepEqual(await storedCounts(db.url), { messages: expected, rows: expected * 2, ids: expected * 2 });
    const again = await TestBroker.open(topo);
    cleanups.push(() => again.close());
    assert.equal(await again.depth(topo.RABBITMQ_INGEST_QUEUE!), 0);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });
});
