import type { PoolClient } from 'pg';
import { arrayParams } from '../../sinks/postgres/array-literal.ts';
import type { Transaction } from './decode.ts';
import type { RegionMinuteDelta, SecondDelta } from './rollup.ts';
import type { MeterStatus } from './schema.ts';
import type { MeterHead, MeterRow, StatusAlert } from './status.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { copyText, encodeCopyValue } from '../../sinks/postgres/copy.ts';
import { insertDetections, type Detections } from '../../sinks/postgres/detections.ts';
import { quoteIdent } from '../../sinks/postgres/sql-text.ts';

type Query = { query: PoolClient['query'] };

/** A raw row's primary key (transaction id and event time), as insertTransactions returns it. */
export const transactionKey = (t: Transaction): string => `${t.timestampMs}\u0000${t.transactionId}`;

/**
 * Inserts the transactions; returns the keys (transactionKey) of those that were new: a
 * redelivery inserts nothing, nor does a repeat inside the batch after its first copy.
 */
export async function insertTransactions(tx: PoolClient, rows: ReadonlyArray<Transaction>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await tx.query<{ transaction_id: string; ms: string }>(
    `INSERT INTO smart_grid_transactions (transaction_id, "timestamp", meter_id, region, status, building_type, consumption_kwh, latitude, longitude, peak_load)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::float8[], $10::float8[])
     ON CONFLICT DO NOTHING
     RETURNING transaction_id, (extract(epoch FROM "timestamp") * 1000)::bigint::text AS ms`,
    arrayParams([
      rows.map((r) => r.transactionId), rows.map((r) => isoTime(r.timestampMs)), rows.map((r) => r.meterId), rows.map((r) => r.region),
      rows.map((r) => r.status), rows.map((r) => r.buildingType), rows.map((r) => r.consumptionKwh), rows.map((r) => r.latitude),
      rows.map((r) => r.longitude), rows.map((r) => r.peakLoad),
    ]),
  );
  return new Set(inserted.map((r) => `${r.ms}\u0000${r.transaction_id}`));
}

const TRANSACTION_COLUMNS = ['transaction_id', 'timestamp', 'meter_id', 'region', 'status', 'building_type', 'consumption_kwh', 'latitude', 'longitude', 'peak_load'] as const;

/** A transaction as a line of COPY text (see copyTransactionText); runs for every transaction, so no row array. */
export const transactionLine = (t: Transaction): string =>
  `${encodeCopyValue(t.transactionId)}\t${isoTime(t.timestampMs)}\t${encodeCopyValue(t.meterId)}\t${encodeCopyValue(t.region)}\t${t.status}\t${encodeCopyValue(t.buildingType)}\t${encodeCopyValue(t.consumptionKwh)}\t${encodeCopyValue(t.latitude)}\t${encodeCopyValue(t.longitude)}\t${encodeCopyValue(t.peakLoad)}\n`;

/**
 * Raw transactions by COPY, as text encoded when they arrived, for transactions taken to be new
 * (beyond the committed source position). One that is stored already fails the transaction with
 * a unique violation (23505): the caller then takes the careful path (`insertTransactions`).
 */
export async function copyTransactionText(tx: PoolClient, chunks: ReadonlyArray<string>): Promise<void> {
  if (chunks.length === 0) return;
  await copyText(tx, quoteIdent('smart_grid_transactions'), TRANSACTION_COLUMNS, chunks);
}

const COPY_ESCAPE = /\\(.)/g;
const uncopy = (s: string): string => (s.includes('\\') ? s.replace(COPY_ESCAPE, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c)) : s);

/**
 * The transactions of COPY text written by transactionLine: the keyed state holds its new
 * transactions only as that text, and makes their InfluxDB points from it at the checkpoint.
 */
export function transactionsOfText(chunks: ReadonlyArray<string>): Transaction[] {
  const out: Transaction[] = [];
  for (const chunk of chunks) {
    for (let from = 0; from < chunk.length; ) {
      const end = chunk.indexOf('\n', from);
      const f = chunk.slice(from, end).split('\t');
      from = end + 1;
      out.push({
        transactionId: uncopy(f[0]!), timestampMs: Date.parse(f[1]!), meterId: uncopy(f[2]!), region: uncopy(f[3]!), status: f[4] as MeterStatus,
        buildingType: uncopy(f[5]!), consumptionKwh: Number(f[6]), latitude: Number(f[7]), longitude: Number(f[8]), peakLoad: Number(f[9]),
      });
    }
  }
  return out;
}

interface HeadRow { meter_id: string; status: MeterStatus; since_ms: string; seen_ms: string; last_transaction_id: string }

const heads = (rows: ReadonlyArray<HeadRow>): Map<string, MeterHead> => new Map(rows.map((r) => [r.meter_id, {
  status: r.status, statusSinceMs: Number(r.since_ms), lastSeenMs: Number(r.seen_ms), lastTransactionId: r.last_transaction_id,
}]));

/**
 * Locks the stored rows of these meters in id order (concurrent batches of the same meters
 * take turns instead of deadlocking) and returns what planMeters needs of them. A meter not
 * stored yet is absent: writeMeters inserts it, and a concurrent batch that inserted it first
 * makes that a unique violation, which retries the batch against the stored row.
 */
export async function lockMeters(tx: PoolClient, meterIds: ReadonlyArray<string>): Promise<Map<string, MeterHead>> {
  if (meterIds.length === 0) return new Map();
  const { rows } = await tx.query<HeadRow>(
    `SELECT meter_id, status, (extract(epoch FROM status_since) * 1000)::bigint::text AS since_ms,
            (extract(epoch FROM last_seen) * 1000)::bigint::text AS seen_ms, last_transaction_id
       FROM smart_grid_meters WHERE meter_id = ANY($1::text[]) ORDER BY meter_id FOR UPDATE`,
    [meterIds],
  );
  return heads(rows);
}

/**
 * The same heads without locking, for the keyed state: it reads a meter once, when it first
 * sees it, and the owner of the meter's partition is the only writer of its row.
 */
export async function readMeterHeads(client: Query, meterIds: ReadonlyArray<string>): Promise<Map<string, MeterHead>> {
  if (meterIds.length === 0) return new Map();
  const { rows } = await client.query<HeadRow>(
    `SELECT meter_id, status, (extract(epoch FROM status_since) * 1000)::bigint::text AS since_ms,
            (extract(epoch FROM last_seen) * 1000)::bigint::text AS seen_ms, last_transaction_id
       FROM smart_grid_meters WHERE meter_id = ANY($1::text[])`,
    [meterIds],
  );
  return heads(rows);
}

/** The twelve column arrays of meter rows ($1..$12 of writeMeters and upsertMeters). */
const meterColumns = (rows: ReadonlyArray<MeterRow>): unknown[] => [
  rows.map((x) => x.meterId), rows.map((x) => x.region), rows.map((x) => x.status), rows.map((x) => x.previousStatus),
  rows.map((x) => isoTime(x.statusSinceMs)), rows.map((x) => x.buildingType), rows.map((x) => x.latitude), rows.map((x) => x.longitude),
  rows.map((x) => x.consumptionKwh), rows.map((x) => x.peakLoad), rows.map((x) => isoTime(x.lastSeenMs)), rows.map((x) => x.lastTransactionId),
];

/** Writes planned rows: updates the meters lockMeters returned (`stored`), inserts the others. */
export async function writeMeters(tx: PoolClient, rows: ReadonlyArray<MeterRow>, stored: ReadonlySet<string>): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `WITH k AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::float8[], $8::float8[],
                            $9::float8[], $10::float8[], $11::timestamptz[], $12::text[], $13::bool[])
         AS k(m, r, s, ps, since, b, lat, lon, c, p, seen, id, stored)
     ), updated AS (
       UPDATE smart_grid_meters g SET region = k.r, status = k.s, previous_status = k.ps, status_since = k.since, building_type = k.b,
              latitude = k.lat, longitude = k.lon, consumption_kwh = k.c, peak_load = k.p, last_seen = k.seen, last_transaction_id = k.id,
              updated_at = now()
         FROM k WHERE k.stored AND g.meter_id = k.m
     )
     INSERT INTO smart_grid_meters (meter_id, region, status, previous_status, status_since, building_type, latitude, longitude, consumption_kwh, peak_load, last_seen, last_transaction_id)
     SELECT m, r, s, ps, since, b, lat, lon, c, p, seen, id FROM k WHERE NOT k.stored`,
    arrayParams([...meterColumns(rows), rows.map((x) => stored.has(x.meterId))]),
  );
}

/**
 * Writes a checkpoint's meter rows (sorted by id), each once. An upsert: the keyed state
 * decided on the heads it read unlocked, and a checkpoint runs only while its partitions are
 * not claimed by another worker (fenced), so no one else writes these rows meanwhile. A row is
 * never moved back to an older transaction's state (only reachable when one meter's messages
 * come through two partitions whose checkpoints commit out of order).
 */
export async function upsertMeters(tx: PoolClient, rows: ReadonlyArray<MeterRow>): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO smart_grid_meters AS g (meter_id, region, status, previous_status, status_since, building_type, latitude, longitude, consumption_kwh, peak_load, last_seen, last_transaction_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::float8[], $8::float8[],
                          $9::float8[], $10::float8[], $11::timestamptz[], $12::text[])
     ON CONFLICT (meter_id) DO UPDATE SET region = excluded.region, status = excluded.status, previous_status = excluded.previous_status,
            status_since = excluded.status_since, building_type = excluded.building_type, latitude = excluded.latitude, longitude = excluded.longitude,
            consumption_kwh = excluded.consumption_kwh, peak_load = excluded.peak_load, last_seen = excluded.last_seen,
            last_transaction_id = excluded.last_transaction_id, updated_at = now()
      WHERE g.last_seen <= excluded.last_seen`,
    meterColumns(rows),
  );
}

/** Stores alerts; returns the ids that were new. */
export async function insertStatusAlerts(tx: PoolClient, alerts: ReadonlyArray<StatusAlert>): Promise<Detections> {
  return insertDetections(
    tx,
    `INSERT INTO smart_grid_alerts (alert_id, meter_id, region, type, previous_status, consumption_kwh, "timestamp")
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::timestamptz[])`,
    'alert_id',
    [
      alerts.map((a) => a.alertId), alerts.map((a) => a.meterId), alerts.map((a) => a.region), alerts.map((a) => a.type),
      alerts.map((a) => a.previousStatus), alerts.map((a) => a.consumptionKwh), alerts.map((a) => isoTime(a.timestampMs)),
    ],
    alerts.length,
  );
}

/**
 * Adds per-region per-minute deltas. Meters are counted once per region and minute across
 * batches and instances: the (region, minute, meter) pairs that were new to the database are
 * what meter_count grows by, in the same statement.
 */
export async function addRegionMinutes(tx: PoolClient, deltas: ReadonlyArray<RegionMinuteDelta>): Promise<void> {
  if (deltas.length === 0) return;
  const pr: string[] = [];
  const pb: string[] = [];
  const pm: string[] = [];
  for (const d of deltas) {
    const b = isoTime(d.bucket);
    for (const m of [...d.meters].sort()) {
      pr.push(d.region);
      pb.push(b);
      pm.push(m);
    }
  }
  await tx.query(
    `WITH fresh AS (
       INSERT INTO smart_grid_region_meters_1m (region, bucket, meter_id)
       SELECT * FROM unnest($6::text[], $7::timestamptz[], $8::text[])
       ON CONFLICT DO NOTHING
       RETURNING region, bucket
     ), counted AS (
       SELECT region, bucket, count(*)::int AS meters FROM fresh GROUP BY region, bucket
     )
     INSERT INTO smart_grid_region_1m AS a (region, bucket, total_kwh, reading_count, meter_count, max_consumption)
     SELECT d.region, d.bucket, d.kwh, d.n, coalesce(c.meters, 0), d.mx
       FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::bigint[], $5::float8[]) WITH ORDINALITY AS d(region, bucket, kwh, n, mx, ord)
       LEFT JOIN counted c USING (region, bucket)
      ORDER BY d.ord
     ON CONFLICT (region, bucket) DO UPDATE SET
       total_kwh       = a.total_kwh + excluded.total_kwh,
       reading_count   = a.reading_count + excluded.reading_count,
       meter_count     = a.meter_count + excluded.meter_count,
       max_consumption = greatest(a.max_consumption, excluded.max_consumption),
       revision        = a.revision + 1,
       updated_at      = now()`,
    arrayParams([
      deltas.map((d) => d.region), deltas.map((d) => isoTime(d.bucket)), deltas.map((d) => d.totalKwh), deltas.map((d) => d.count),
      deltas.map((d) => d.maxKwh), pr, pb, pm,
    ]),
  );
}

/** Adds per-second deltas (sorted by second, so concurrent batches lock rows in one order). */
export async function addSeconds(tx: PoolClient, deltas: ReadonlyArray<SecondDelta>): Promise<void> {
  if (deltas.length === 0) return;
  await tx.query(
    `INSERT INTO smart_grid_consumption_1s AS a (bucket, total_kwh, reading_count, max_kwh, min_kwh, active_count, fault_count, offline_count)
     SELECT * FROM unnest($1::timestamptz[], $2::float8[], $3::bigint[], $4::float8[], $5::float8[], $6::bigint[], $7::bigint[], $8::bigint[])
     ON CONFLICT (bucket) DO UPDATE SET
       total_kwh     = a.total_kwh + excluded.total_kwh,
       reading_count = a.reading_count + excluded.reading_count,
       max_kwh       = greatest(a.max_kwh, excluded.max_kwh),
       min_kwh       = least(a.min_kwh, excluded.min_kwh),
       active_count  = a.active_count + excluded.active_count,
       fault_count   = a.fault_count + excluded.fault_count,
       offline_count = a.offline_count + excluded.offline_count,
       revision      = a.revision + 1,
       updated_at    = now()`,
    arrayParams([
      deltas.map((d) => isoTime(d.bucket)), deltas.map((d) => d.totalKwh), deltas.map((d) => d.count), deltas.map((d) => d.maxKwh),
      deltas.map((d) => d.minKwh), deltas.map((d) => d.active), deltas.map((d) => d.fault), deltas.map((d) => d.offline),
    ]),
  );
}

export interface UnsyncedSecond {
  ms: string; total_kwh: number; reading_count: string; max_kwh: number; min_kwh: number;
  active_count: string; fault_count: string; offline_count: string; revision: string;
}
export interface UnsyncedRegion {
  region: string; ms: string; total_kwh: number; reading_count: string; meter_count: number; max_consumption: number; revision: string;
}

/** Aggregate rows changed since they were last written to InfluxDB, oldest first. */
export async function unsyncedAggregates(tx: Query, limit: number): Promise<{ seconds: UnsyncedSecond[]; regions: UnsyncedRegion[] }> {
  const seconds = await tx.query<UnsyncedSecond>(
    `SELECT (extract(epoch FROM bucket) * 1000)::bigint::text AS ms, total_kwh, reading_count, max_kwh, min_kwh, active_count, fault_count, offline_count, revision
       FROM smart_grid_consumption_1s WHERE revision > synced_revision ORDER BY bucket LIMIT $1`,
    [limit],
  );
  const regions = await tx.query<UnsyncedRegion>(
    `SELECT region, (extract(epoch FROM bucket) * 1000)::bigint::text AS ms, total_kwh, reading_count, meter_count, max_consumption, revision
       FROM smart_grid_region_1m WHERE revision > synced_revision ORDER BY bucket, region LIMIT $1`,
    [limit],
  );
  return { seconds: seconds.rows, regions: regions.rows };
}

/** Records what was written; a row changed meanwhile keeps its higher revision and is written again. */
export async function markSynced(tx: PoolClient, seconds: ReadonlyArray<UnsyncedSecond>, regions: ReadonlyArray<UnsyncedRegion>): Promise<void> {
  // Regions before seconds: the order batches lock them in, so the two never deadlock.
  if (regions.length > 0) {
    await tx.query(
      `UPDATE smart_grid_region_1m a SET synced_revision = k.rev
         FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(region, ms, rev)
        WHERE a.region = k.region AND a.bucket = to_timestamp(k.ms / 1000.0) AND a.synced_revision < k.rev`,
      arrayParams([regions.map((s) => s.region), regions.map((s) => s.ms), regions.map((s) => s.revision)]),
    );
  }
  if (seconds.length > 0) {
    await tx.query(
      `UPDATE smart_grid_consumption_1s a SET synced_revision = k.rev
         FROM unnest($1::bigint[], $2::bigint[]) AS k(ms, rev)
        WHERE a.bucket = to_timestamp(k.ms / 1000.0) AND a.synced_revision < k.rev`,
      arrayParams([seconds.map((s) => s.ms), seconds.map((s) => s.revision)]),
    );
  }
}

/**
 * Forgets which meters were counted in minutes older than `keepMs` before the newest minute
 * (event time, so a backfill of old months is not cut short by the wall clock), and drops
 * aggregate rows past retention.
 */
export async function pruneAggregates(q: Query, keepDistinctMs: number, retentionMonths: number): Promise<void> {
  await q.query(
    `DELETE FROM smart_grid_region_meters_1m
      WHERE bucket < (SELECT max(bucket) FROM smart_grid_region_1m) - make_interval(secs => $1::float8 / 1000)`,
    [keepDistinctMs],
  );
  for (const table of ['smart_grid_consumption_1s', 'smart_grid_region_1m'] as const) {
    await q.query(`DELETE FROM ${table} WHERE bucket < now() - make_interval(months => $1::int)`, [retentionMonths]);
  }
}
