import type { PoolClient } from 'pg';
import type { Transaction } from './decode.ts';
import type { MeterLatest, RegionMinuteDelta, SecondDelta } from './rollup.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { insertDetections, type Detections } from '../../sinks/postgres/detections.ts';

type Query = { query: PoolClient['query'] };

/** Inserts the transactions; returns the ids of those that were new (a redelivery inserts nothing). */
export async function insertTransactions(tx: PoolClient, rows: ReadonlyArray<Transaction>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await tx.query<{ transaction_id: string }>(
    `INSERT INTO smart_grid_transactions (transaction_id, "timestamp", meter_id, region, status, building_type, consumption_kwh, latitude, longitude, peak_load)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::float8[], $10::float8[])
     ON CONFLICT DO NOTHING
     RETURNING transaction_id`,
    [
      rows.map((r) => r.transactionId), rows.map((r) => isoTime(r.timestampMs)), rows.map((r) => r.meterId), rows.map((r) => r.region),
      rows.map((r) => r.status), rows.map((r) => r.buildingType), rows.map((r) => r.consumptionKwh), rows.map((r) => r.latitude),
      rows.map((r) => r.longitude), rows.map((r) => r.peakLoad),
    ],
  );
  return new Set(inserted.map((r) => r.transaction_id));
}

export interface MeterChange {
  meter_id: string;
  region: string;
  status: string;
  previous_status: string | null;
  inserted: boolean;
  last_ms: string;
  consumption_kwh: number;
}

/**
 * Upserts each meter's newest state; an older transaction never overwrites a newer one (ties
 * by transaction id). Returns the rows that changed, with the status they had before.
 */
export async function upsertMeters(tx: PoolClient, meters: ReadonlyArray<MeterLatest>): Promise<MeterChange[]> {
  if (meters.length === 0) return [];
  const { rows } = await tx.query<MeterChange>(
    `INSERT INTO smart_grid_meters AS m (meter_id, region, status, status_since, building_type, latitude, longitude, consumption_kwh, peak_load, last_seen, last_transaction_id)
     SELECT k.m, k.r, k.s, k.t, k.b, k.lat, k.lon, k.c, k.p, k.t, k.id
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::timestamptz[], $10::text[])
         AS k(m, r, s, b, lat, lon, c, p, t, id)
     ON CONFLICT (meter_id) DO UPDATE SET
       previous_status     = m.status,
       status              = excluded.status,
       status_since        = CASE WHEN excluded.status = m.status THEN m.status_since ELSE excluded.last_seen END,
       region              = excluded.region,
       building_type       = excluded.building_type,
       latitude            = excluded.latitude,
       longitude           = excluded.longitude,
       consumption_kwh     = excluded.consumption_kwh,
       peak_load           = excluded.peak_load,
       last_seen           = excluded.last_seen,
       last_transaction_id = excluded.last_transaction_id,
       updated_at          = now()
     WHERE (excluded.last_seen, excluded.last_transaction_id) > (m.last_seen, m.last_transaction_id)
     RETURNING meter_id, region, status, previous_status, (xmax = 0) AS inserted,
       (extract(epoch FROM last_seen) * 1000)::bigint::text AS last_ms, consumption_kwh`,
    [
      meters.map((x) => x.meterId), meters.map((x) => x.region), meters.map((x) => x.status), meters.map((x) => x.buildingType),
      meters.map((x) => x.latitude), meters.map((x) => x.longitude), meters.map((x) => x.consumptionKwh), meters.map((x) => x.peakLoad),
      meters.map((x) => isoTime(x.timestampMs)), meters.map((x) => x.transactionId),
    ],
  );
  return rows;
}

export interface StatusAlert {
  readonly alertId: string;
  readonly meterId: string;
  readonly region: string;
  readonly type: 'fault' | 'offline';
  readonly previousStatus: string | null;
  readonly consumptionKwh: number;
  readonly timestampMs: number;
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
    [
      deltas.map((d) => d.region), deltas.map((d) => isoTime(d.bucket)), deltas.map((d) => d.totalKwh), deltas.map((d) => d.count),
      deltas.map((d) => d.maxKwh), pr, pb, pm,
    ],
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
    [
      deltas.map((d) => isoTime(d.bucket)), deltas.map((d) => d.totalKwh), deltas.map((d) => d.count), deltas.map((d) => d.maxKwh),
      deltas.map((d) => d.minKwh), deltas.map((d) => d.active), deltas.map((d) => d.fault), deltas.map((d) => d.offline),
    ],
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
      [regions.map((s) => s.region), regions.map((s) => s.ms), regions.map((s) => s.revision)],
    );
  }
  if (seconds.length > 0) {
    await tx.query(
      `UPDATE smart_grid_consumption_1s a SET synced_revision = k.rev
         FROM unnest($1::bigint[], $2::bigint[]) AS k(ms, rev)
        WHERE a.bucket = to_timestamp(k.ms / 1000.0) AND a.synced_revision < k.rev`,
      [seconds.map((s) => s.ms), seconds.map((s) => s.revision)],
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
