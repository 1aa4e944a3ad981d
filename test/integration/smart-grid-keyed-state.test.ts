import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from '../../src/runtime/worker.ts';
import { createSmartGridGenerator } from '../../src/sim/smart-grid.ts';
import { MemoryPublisher } from '../../src/sources/memory/broker.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { smartGridAggregateMismatches } from '../helpers/smart-grid.ts';
import { startPartitionedWorker, type PartitionedLogSource } from '../helpers/partitioned-source.ts';

const START = Date.parse('2026-02-02T08:00:00Z');
const PARTITIONS = 4;
const TOPIC = 'smart-grid-transactions'; // SMART_GRID_TOPIC's default

interface Doc {
  transaction_id: string; meter_id: string; region: string; status: 'active' | 'fault' | 'offline'; building_type: string;
  consumption_kwh: number; latitude: number; longitude: number; peak_load: number; timestamp: string;
}

const parse = (b: Buffer): Doc | undefined => {
  try {
    const d = JSON.parse(b.toString()) as Doc;
    return d.status === 'active' || d.status === 'fault' || d.status === 'offline' ? d : undefined;
  } catch {
    return undefined;
  }
};

/** Distinct raw rows (transaction id and event time) of the valid messages. */
function distinctTransactions(bodies: Iterable<Buffer>): number {
  const keys = new Set<string>();
  for (const b of bodies) {
    const d = parse(b);
    if (d !== undefined) keys.add(`${d.transaction_id}|${Date.parse(d.timestamp)}`);
  }
  return keys.size;
}

/**
 * What the meters and alerts must be, from the partition logs in order (one meter, one
 * partition): a transaction moves its meter when newer by event time (ties by id); a meter
 * alerts on entering fault or offline, once per (meter, time, status).
 */
function expected(logs: ReadonlyArray<ReadonlyArray<Buffer>>) {
  const meters = new Map<string, { status: string; previous: string | null; since: number; seen: number; id: string }>();
  const alerts = new Set<string>();
  for (const log of logs) {
    for (const b of log) {
      const d = parse(b);
      if (d === undefined) continue;
      const ms = Date.parse(d.timestamp);
      const m = meters.get(d.meter_id);
      if (m !== undefined && !(ms > m.seen || (ms === m.seen && d.transaction_id > m.id))) continue;
      const changed = m === undefined || m.status !== d.status;
      if (changed && d.status !== 'active') alerts.add(`${d.meter_id}|${ms}|${d.status}`);
      meters.set(d.meter_id, { status: d.status, previous: m?.status ?? null, since: changed ? ms : m.since, seen: ms, id: d.transaction_id });
    }
  }
  return { meters, alerts };
}

/**
 * smart-grid's keyed state (meter heads in memory, committed at checkpoints) against a real
 * PostgreSQL: the worker's Kafka path without a broker, through partition logs keyed by meter.
 * The traffic carries late transactions, producer repeats and malformed messages. Every test
 * ends on the invariants: aggregates equal their recomputation from the raw rows, one raw row
 * per transaction, the meters table equals each meter's latest transaction, one alert per transition.
 */
describe('keyed state between checkpoints (smart-grid)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let worker: Worker;
  let source: PartitionedLogSource;
  const published = new MemoryPublisher(1_000_000);
  const logs: Buffer[][] = Array.from({ length: PARTITIONS }, () => []);
  const gen = createSmartGridGenerator({ seed: 7, meters: 60, startTime: START, intervalMs: 40, faultRate: 0.02, invalidRate: 0.01 });
  let n = 0;
  /** Valid transactions the producer sent twice in a row. */
  let repeats = 0;

  const push = (p: number, bodies: Buffer[]): void => {
    logs[p]!.push(...bodies);
    source.append(p, bodies);
  };
  /** n generated transactions; some followed by a late one of their meter (in fault), some repeated at once by the producer. */
  const append = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const m = gen.next();
      const p = Number(m.key.slice(3)) % PARTITIONS;
      const bodies = [m.body];
      const d = parse(m.body);
      n++;
      if (d !== undefined && n % 41 === 0) {
        const late = { ...d, transaction_id: `${d.transaction_id}-late`, status: 'fault', timestamp: new Date(Date.parse(d.timestamp) - 5_000).toISOString() };
        bodies.push(Buffer.from(JSON.stringify(late)));
      }
      if (n % 53 === 0) {
        bodies.push(m.body);
        if (d !== undefined) repeats++;
      }
      push(p, bodies);
    }
  };
  const all = (): Buffer[] => logs.flat();
  const rows = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => queryRows<T>(db.url, sql, params);
  const stored = async (): Promise<number> => Number((await rows<{ n: string }>('SELECT count(*) AS n FROM smart_grid_transactions'))[0]!.n);
  const settledAll = async (what: string): Promise<void> => {
    await eventually(async () => source.backlog === 0 && (await stored()) === distinctTransactions(all()), 30_000, what);
    // The last checkpoint's alerts reach the outbox publisher shortly after its commit.
    await eventually(async () => published.recent.length === Number((await rows<{ n: string }>('SELECT count(*) AS n FROM smart_grid_alerts'))[0]!.n), 10_000, `${what}: alerts published`);
  };

  const exact = async (): Promise<void> => {
    assert.equal(await stored(), distinctTransactions(all()));
    const { seconds, regions } = await smartGridAggregateMismatches(db.url);
    assert.deepEqual(seconds, [], 'per-second rows differ from the raw rows');
    assert.deepEqual(regions, [], 'per-region rows differ from the raw rows');
    // Each meter's row is its latest transaction (late ones never win), with the status history the logs give.
    const latest = await rows(`
      WITH latest AS (
        SELECT DISTINCT ON (meter_id) * FROM smart_grid_transactions ORDER BY meter_id, "timestamp" DESC, transaction_id DESC)
      SELECT coalesce(l.meter_id, m.meter_id) AS meter_id FROM latest l FULL JOIN smart_grid_meters m USING (meter_id)
       WHERE m.meter_id IS NULL OR l.meter_id IS NULL OR m.status <> l.status OR m.last_transaction_id <> l.transaction_id OR m.last_seen <> l."timestamp"
          OR m.region <> l.region OR m.consumption_kwh <> l.consumption_kwh OR m.peak_load <> l.peak_load OR m.latitude <> l.latitude`);
    assert.deepEqual(latest, [], 'meter rows that are not their latest transaction');
    const want = expected(logs);
    const meters = await rows<{ meter_id: string; status: string; previous_status: string | null; since: string; seen: string; last_transaction_id: string }>(`
      SELECT meter_id, status, previous_status, (extract(epoch FROM status_since) * 1000)::bigint::text AS since,
             (extract(epoch FROM last_seen) * 1000)::bigint::text AS seen, last_transaction_id FROM smart_grid_meters`);
    assert.deepEqual(
      new Map(meters.map((m) => [m.meter_id, { status: m.status, previous: m.previous_status, since: Number(m.since), seen: Number(m.seen), id: m.last_transaction_id }])),
      want.meters,
    );
    const alerts = await rows<{ k: string; alert_id: string }>(`SELECT meter_id || '|' || (extract(epoch FROM "timestamp") * 1000)::bigint || '|' || type AS k, alert_id::text FROM smart_grid_alerts`);
    assert.equal(alerts.length, new Set(alerts.map((a) => a.k)).size, 'an alert stored twice');
    assert.deepEqual(new Set(alerts.map((a) => a.k)), want.alerts);
    // Published once each (no crash here, so the outbox delivered every alert exactly once).
    const ids = published.recent.filter((m) => m.kind === 'alert').map((m) => m.id);
    assert.equal(ids.length, new Set(ids).size, 'an alert published twice');
    assert.deepEqual(new Set(ids), new Set(alerts.map((a) => a.alert_id)));
  };
  const metric = async (name: string, sample = name): Promise<number> => {
    const m = await worker.metrics.registry.getSingleMetric(name)?.get();
    return (m?.values ?? []).filter((v) => ((v as { metricName?: string }).metricName ?? name) === sample).reduce((s, v) => s + v.value, 0);
  };

  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    ({ db, source, worker, stop } = await startPartitionedWorker({
      env: {
        DOMAINS_ENABLED: 'smart-grid', CHECKPOINT_INTERVAL: '300ms', DB_STATEMENT_TIMEOUT: '1s', RETRY_INITIAL: '50ms', RETRY_MAX: '300ms',
      },
      topic: TOPIC, partitions: PARTITIONS, batchSize: 250, published,
    }));
  });

  after(async () => {
    await stop?.();
  });

  test('a backlog drains in checkpoints, each holding many batches; the tables are exact', async () => {
    append(12_000);
    await settledAll('backlog stored');
    await exact();
    const batches = Math.ceil(logs.reduce((s, l) => s + l.length, 0) / 250);
    const checkpoints = await metric('stream_batch_size', 'stream_batch_size_count');
    assert.ok(checkpoints > 0 && checkpoints < batches, `${checkpoints} checkpoints for ${batches} batches`);
    assert.ok(published.recent.length > 10, `${published.recent.length} alerts`);
    const duplicates = await metric('stream_duplicates_skipped_total');
    assert.equal(duplicates, repeats, 'producer repeats are counted as duplicates, once each');
  });

  test('transactions stored before (a replayed stretch past the recent ids): the checkpoint is replayed on the careful path, nothing counts twice', async () => {
    const before = await stored();
    const duplicatesBefore = await metric('stream_duplicates_skipped_total');
    const rewinds = source.rewinds;
    const replayed = logs[0]!.slice(100, 700);
    push(0, replayed);
    append(2_000); // new transactions in the same checkpoints
    await settledAll('replayed stretch settled');
    await exact();
    assert.ok((await stored()) > before);
    assert.ok(source.rewinds > rewinds, 'a checkpoint was refused and its partitions read again for the careful path');
    const skipped = (await metric('stream_duplicates_skipped_total')) - duplicatesBefore;
    assert.ok(skipped >= distinctTransactions(replayed), `${skipped} duplicates counted for ${distinctTransactions(replayed)} replayed`);
  });

  test('a reassignment: what was held commits, meter heads are read back from the table, alerts stay exact', async () => {
    append(3_000);
    await source.reassign();
    append(3_000);
    await settledAll('stored across the reassignment');
    await exact();
  });

  test('a meter entering fault inside a checkpoint and leaving it in the next alerts once; a late fault moves nothing', async () => {
    const t = START + 3_600_000;
    const txn = (id: string, status: Doc['status'], ms: number): Buffer => Buffer.from(JSON.stringify({
      transaction_id: id, meter_id: 'SM-ZZ', region: 'north', status, building_type: 'residential', consumption_kwh: 1, latitude: 52, longitude: 5, peak_load: 1,
      timestamp: new Date(t + ms).toISOString(),
    }));
    push(1, [txn('z1', 'active', 0), txn('z2', 'fault', 1000), txn('z3', 'fault', 2000)]);
    await settledAll('fault stored');
    push(1, [txn('z4', 'active', 3000), txn('z0', 'offline', 500), txn('z5', 'fault', 4000), txn('z5', 'fault', 4000)]);
    await settledAll('recovery stored');
    await exact();
    const alerts = await rows<{ type: string; ms: string; previous_status: string }>(
      `SELECT type, (extract(epoch FROM "timestamp") * 1000)::bigint - $1 AS ms, previous_status FROM smart_grid_alerts WHERE meter_id = 'SM-ZZ' ORDER BY "timestamp"`, [t]);
    assert.deepEqual(alerts.map((a) => [a.type, Number(a.ms), a.previous_status]), [['fault', 1000, 'active'], ['fault', 4000, 'active']]);
  });
});
