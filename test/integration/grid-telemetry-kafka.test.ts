import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createGridTelemetryGenerator } from '../../src/sim/grid-telemetry.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { aggregateMismatches, distinctReadings, expectedAlerts, storedAlerts, storedReadings } from '../helpers/grid.ts';
import { createTopic, produce, readTopic, topicSize, uniqueKafkaNames, KAFKA_BROKERS } from '../helpers/kafka.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const run = promisify(execFile);
const KAFKA_SH = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));
const START = Date.parse('2026-01-05T10:00:00Z');

function traffic(seed: number, count: number): Array<{ key: string; body: Buffer }> {
  const gen = createGridTelemetryGenerator({ seed, meters: 60, startTime: START, intervalMs: 1000, anomalyRate: 0.03, outOfOrderRate: 0.03, lateRate: 0.005, invalidRate: 0.005 });
  return Array.from({ length: count }, () => {
    const m = gen.next();
    return { key: m.key, body: m.body };
  });
}

/** After a drain: every aggregate equals its recomputation, one alert per anomaly, DLQ complete. */
async function assertExact(url: string, names: Record<string, string>, sent: ReadonlyArray<{ body: Buffer }>): Promise<void> {
  const bodies = sent.map((m) => m.body);
  await eventually(async () => (await storedReadings(url)) === distinctReadings(bodies), 120_000, 'every reading stored');
  assert.deepEqual(await aggregateMismatches(url, 'aggregates_1m'), []);
  assert.deepEqual(await aggregateMismatches(url, 'aggregates_15m'), []);
  const alerts = await storedAlerts(url);
  const expected = expectedAlerts(bodies);
  const got = new Set(alerts);
  assert.deepEqual(got, expected);
  assert.equal(alerts.length, expected.size, 'one alert per anomalous reading');
  const undecodable = sent.length - bodies.filter((b) => { try { JSON.parse(b.toString()); return true; } catch { return false; } }).length;
  await eventually(async () => (await topicSize(`${names.KAFKA_TOPIC}.dlq`)) >= undecodable, 30_000, 'dead letters published');
  await eventually(async () => (await queryRows(url, 'SELECT 1 FROM ingestd_outbox')).length === 0, 30_000, 'outbox published');
  // Each alert is published at least once, with its stable id (consumers dedupe on it).
  const published = await readTopic(names.GRID_ALERTS_TOPIC!);
  assert.equal(new Set(published.map((m) => m.headers['x-message-id'])).size, expected.size);
  const letters = await readTopic(`${names.KAFKA_TOPIC}.dlq`);
  assert.ok(letters.every((m) => m.headers['x-error-class'] === 'structural' && m.headers['x-original-source'] === names.KAFKA_TOPIC && m.headers['x-original-offset'] !== undefined));
}

describe('grid-telemetry over a real Kafka broker: exact aggregates and alerts through faults', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(port: number, partitions = 4, extra: Record<string, string> = {}) {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const names = uniqueKafkaNames();
    await createTopic(names.KAFKA_TOPIC!, partitions);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-kafka-'));
    const env = {
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', KAFKA_BROKERS: KAFKA_BROKERS.join(','), ...names,
      KAFKA_BATCH_SIZE: '500', FLUSH_INTERVAL_1M: '1s', FLUSH_INTERVAL_15M: '2s', ALLOWED_LATENESS: '0s',
      // A killed worker's partitions move once its session expires: 10 s instead of the default 30 s.
      KAFKA_SESSION_TIMEOUT: '10s', ...extra,
    };
    const worker = (n: number) => {
      const w = new WorkerProcess(env, port + n, join(dir, `worker-${n}.log`));
      cleanups.push(() => w.kill());
      return w;
    };
    return { db, names, worker };
  }

  test('clean run, then a worker killed with SIGKILL twice mid-stream and restarted', async () => {
    const { db, names, worker } = await setup(18_701);
    const w = worker(0);
    w.start();
    await w.waitReady();
    const sent = traffic(21, 60_000);
    await produce(names.KAFKA_TOPIC!, sent.slice(0, 10_000));
    await eventually(async () => (await storedReadings(db.url)) >= 9_900, 60_000, 'first part stored');
    await assertExact(db.url, names, sent.slice(0, 10_000));

    const producing = produce(names.KAFKA_TOPIC!, sent.slice(10_000));
    for (const threshold of [20_000, 35_000]) {
      await eventually(async () => (await storedReadings(db.url)) >= threshold, 90_000, `${threshold} stored`);
      await w.kill('SIGKILL');
      w.start();
      await w.waitReady(60_000);
    }
    await producing;
    await assertExact(db.url, names, sent);
    const checkpoints = await queryRows<{ partition: number; offset: string }>(db.url, 'SELECT partition, "offset"::text AS offset FROM worker_checkpoints');
    assert.equal(checkpoints.reduce((n, c) => n + Number(c.offset), 0), sent.length, 'checkpoints at the end of every partition');
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('two workers in one group, one killed: the other takes its partitions over', async () => {
    const { db, names, worker } = await setup(18_711);
    const a = worker(0);
    const b = worker(1);
    const lagSeries = async (): Promise<number> => (await a.http('/metrics')).body.split('\n').filter((l) => l.startsWith('kafka_consumer_lag_messages{')).length;
    a.start();
    await a.waitReady();
    const sent = traffic(22, 40_000);
    const producing = produce(names.KAFKA_TOPIC!, sent.slice(0, 20_000));
    await eventually(async () => (await lagSeries()) === 4, 60_000, 'worker a reporting the lag of all 4 partitions');
    b.start();
    await b.waitReady(60_000);
    await producing;
    await eventually(async () => (await storedReadings(db.url)) >= 12_000, 90_000, 'both consuming');
    // Half the partitions moved to b: a reports the lag of its own only.
    await eventually(async () => (await lagSeries()) === 2, 30_000, 'worker a reporting the lag of its 2 partitions');
    await b.kill('SIGKILL');
    // The second half lands on b's partitions too: stored only once a has taken them over.
    await produce(names.KAFKA_TOPIC!, sent.slice(20_000));
    await assertExact(db.url, names, sent);
    assert.equal(await a.kill('SIGTERM'), 0);
  });

  test('readings sent again long after (a producer retrying): stored once, through a replay of the checkpoint on the careful path', async () => {
    const { db, names, worker } = await setup(18_741);
    const w = worker(0);
    w.start();
    await w.waitReady();
    const all = traffic(25, 25_000);
    const first = all.slice(0, 20_000);
    await produce(names.KAFKA_TOPIC!, first);
    await assertExact(db.url, names, first);
    // Well past what the worker remembers of each meter (its 16 latest readings): only the
    // primary key can tell, so the checkpoint is refused and replayed from the source.
    const again = first.slice(0, 2_000);
    const more = all.slice(20_000);
    await produce(names.KAFKA_TOPIC!, [...again, ...more]);
    await assertExact(db.url, names, [...first, ...again, ...more]);
    assert.match(await w.logText(), /checkpoint refused/);
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('a broker restart mid-stream: the worker reconnects and stays exact', async () => {
    const { db, names, worker } = await setup(18_721);
    const w = worker(0);
    w.start();
    await w.waitReady();
    const sent = traffic(23, 40_000);
    await produce(names.KAFKA_TOPIC!, sent);
    await eventually(async () => (await storedReadings(db.url)) >= 8_000, 90_000, 'consuming');
    await run('bash', [KAFKA_SH, 'stop']);
    cleanups.push(() => run('bash', [KAFKA_SH, 'start'])); // never leave the broker down
    await eventually(async () => (await w.http('/ready')).status === 503, 60_000, 'readiness false while the broker is down');
    await run('bash', [KAFKA_SH, 'start']);
    await w.waitReady(120_000);
    await assertExact(db.url, names, sent);
    assert.equal(await w.kill('SIGTERM'), 0);
  });
});
