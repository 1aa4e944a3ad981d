import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Worker } from '../../src/runtime/worker.ts';
import { createGridTelemetryGenerator } from '../../src/sim/grid-telemetry.ts';
import { MemoryPublisher } from '../../src/sources/memory/broker.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { aggregateMismatches, distinctReadings, expectedAlerts, storedAlerts, storedReadings } from '../helpers/grid.ts';
import { startPartitionedWorker, type PartitionedLogSource } from '../helpers/partitioned-source.ts';

const START = Date.parse('2026-02-02T08:00:00Z');
const PARTITIONS = 4;

/**
 * Keyed state in memory, committed at checkpoints (SPEC §1), against a real PostgreSQL: the
 * worker's Kafka path without a broker, through a source of partition logs that claims and
 * rewinds as the Kafka source does. Every test ends on the SPEC §4 invariants: aggregates equal
 * their recomputation from the raw rows, one raw row per reading, one alert per anomaly.
 */
describe('keyed state between checkpoints (grid-telemetry)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let worker: Worker;
  let source: PartitionedLogSource;
  const published = new MemoryPublisher(1_000_000);
  /** Every message appended, per partition, in order (what a consumer of each partition sees). */
  const logs: Buffer[][] = Array.from({ length: PARTITIONS }, () => []);
  const gen = createGridTelemetryGenerator({ seed: 11, meters: 40, startTime: START, intervalMs: 1000, anomalyRate: 0.03, outOfOrderRate: 0.03, invalidRate: 0.01 });

  const append = (n: number): Buffer[] => {
    const bodies: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const m = gen.next();
      const p = Number(m.key.slice(2)) % PARTITIONS; // one meter, one partition
      logs[p]!.push(m.body);
      source.append(p, [m.body]);
      bodies.push(m.body);
    }
    return bodies;
  };
  const all = (): Buffer[] => logs.flat();
  const rows = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => queryRows<T>(db.url, sql, params);
  const settledAll = async (what: string): Promise<void> => {
    await eventually(async () => source.backlog === 0 && (await storedReadings(db.url)) === distinctReadings(all()), 30_000, what);
  };
  const exact = async (): Promise<void> => {
    assert.deepEqual(await aggregateMismatches(db.url, 'aggregates_1m'), []);
    assert.deepEqual(await aggregateMismatches(db.url, 'aggregates_15m'), []);
    assert.equal(await storedReadings(db.url), distinctReadings(all()));
    // Per meter, the order of its partition: the EMA rules' alerts, each stored once.
    const expected = expectedAlerts(all());
    const stored = await storedAlerts(db.url);
    assert.equal(stored.length, new Set(stored).size, 'an alert stored twice');
    assert.deepEqual(new Set(stored), expected);
  };
  const checkpointCount = async (): Promise<number> => {
    const m = await worker.metrics.registry.getSingleMetric('stream_batch_size')?.get();
    return m?.values.find((v) => (v as { metricName?: string }).metricName === 'stream_batch_size_count')?.value ?? 0;
  };

  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    ({ db, pool, source, worker, stop } = await startPartitionedWorker({
      env: {
        DOMAINS_ENABLED: 'grid-telemetry', ALLOWED_LATENESS: '0s', CHECKPOINT_INTERVAL: '300ms', OFFLINE_AFTER: '2s',
      DB_STATEMENT_TIMEOUT: '1s', RETRY_INITIAL: '50ms', RETRY_MAX: '300ms',
      },
      topic: 'raw_readings', partitions: PARTITIONS, batchSize: 250, published,
    }));
  });

  after(async () => {
    await stop?.();
  });

  test('a backlog drains in checkpoints, each holding many batches; the tables are exact', async () => {
    append(12_000);
    await settledAll('backlog stored');
    await exact();
    const batches = Math.ceil(12_000 / 250);
    const checkpoints = await checkpointCount();
    assert.ok(checkpoints > 0 && checkpoints < batches, `${checkpoints} checkpoints for ${batches} batches`);
    const [{ n }] = await rows<{ n: string }>('SELECT count(*) AS n FROM grid_meters');
    assert.equal(Number(n), 40);
  });

  test('readings stored before (a replayed stretch past the in-memory keys): the checkpoint is replayed on the careful path, nothing counts twice', async () => {
    const before = await storedReadings(db.url);
    const replayed = logs[0]!.slice(100, 700);
    logs[0]!.push(...replayed);
    source.append(0, replayed);
    append(2_000); // new readings in the same checkpoints
    await settledAll('replayed stretch settled');
    await exact();
    assert.ok((await storedReadings(db.url)) > before);
    const dup = await worker.metrics.registry.getSingleMetric('stream_duplicates_skipped_total')?.get();
    assert.ok((dup?.values.reduce((n, v) => n + v.value, 0) ?? 0) >= distinctReadings(replayed), 'the replayed readings are counted as duplicates');
  });

  test('fenced: a partition claimed by another worker is not committed; its work is dropped and redone once it is claimed back', async () => {
    // After the worker's own claim (run alone, this test would otherwise race it and fence nothing).
    await eventually(async () => (await pool.query("SELECT 1 FROM worker_checkpoints WHERE source = 'test-log' AND partition = 1")).rowCount === 1, 10_000, 'partition 1 claimed');
    const bumped = await pool.query("UPDATE worker_checkpoints SET owner_epoch = owner_epoch + 1 WHERE source = 'test-log' AND partition = 1");
    assert.equal(bumped.rowCount, 1);
    const rewindsBefore = source.rewinds;
    const before = await storedReadings(db.url);
    append(4_000);
    await eventually(() => source.rewinds > rewindsBefore, 10_000, 'fenced checkpoint dropped and the source rewound');
    // The other partitions go on; partition 1 waits for an assignment.
    await eventually(async () => source.backlog === logs[1]!.length - (await committedOffset(1)), 20_000, 'only partition 1 left');
    // Caught-up partitions commit together: the fenced checkpoint may have held theirs too, read again since.
    await eventually(async () => (await storedReadings(db.url)) > before, 20_000, 'the other partitions committed');
    const stored = await storedReadings(db.url);
    assert.ok(stored > before && stored < distinctReadings(all()), `${stored} of ${distinctReadings(all())} stored while fenced`);
    await source.reassign();
    await settledAll('partition 1 stored after the claim');
    await exact();
  });

  test('a checkpoint that times out on a lock is retried with /ready false, then commits', async () => {
    const lock = new pg.Client({ connectionString: db.url });
    await lock.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE aggregates_1m IN ACCESS EXCLUSIVE MODE');
      append(1_500);
      await eventually(() => worker.readiness.reasons().some((r) => /paused, retrying/.test(r)), 10_000, 'paused while locked');
      await lock.query('ROLLBACK');
    } finally {
      await lock.end();
    }
    await settledAll('stored after the lock');
    await eventually(() => worker.readiness.ready, 10_000, 'ready again');
    await exact();
  });

  test('a reassignment while windows are open: what was held commits, state is read back from the tables, alerts stay exact', async () => {
    append(3_000);
    await source.reassign();
    append(3_000);
    await settledAll('stored across the reassignment');
    await exact();
  });

  test('a meter heard from again closes its offline alert (meter state written at checkpoints)', async () => {
    const reading = (seconds: number): Buffer =>
      Buffer.from(JSON.stringify({ meter_id: 'Z-1', region: 'north', timestamp: new Date(Date.now() - 60_000 + seconds * 1000).toISOString(), power_kw: 2, interval_s: 1 }));
    const first = reading(0);
    logs[0]!.push(first);
    source.append(0, [first]);
    await eventually(async () => (await rows("SELECT 1 FROM grid_alerts WHERE meter_id = 'Z-1' AND type = 'offline' AND cleared_at IS NULL")).length === 1, 20_000, 'offline alert raised');
    const again = reading(1);
    logs[0]!.push(again);
    source.append(0, [again]);
    await eventually(async () => (await rows("SELECT 1 FROM grid_alerts WHERE meter_id = 'Z-1' AND type = 'offline' AND cleared_at IS NOT NULL")).length === 1, 20_000, 'offline alert cleared');
    const [meter] = await rows<{ offline_since: string | null }>("SELECT offline_since FROM grid_meters WHERE meter_id = 'Z-1'");
    assert.equal(meter!.offline_since, null);
  });

  const committedOffset = async (partition: number): Promise<number> => {
    const [r] = await rows<{ offset: string }>('SELECT "offset"::text AS offset FROM worker_checkpoints WHERE source = $1 AND partition = $2', ['test-log', partition]);
    return Math.max(0, Number(r?.offset ?? 0));
  };
});
