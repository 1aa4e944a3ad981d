import type { PoolClient } from 'pg';
import type { WindowAggregate } from '../../processors/windows/tumbling.ts';
import type { GridReading } from './decode.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { insertDetections, type Detections } from '../../sinks/postgres/detections.ts';
import { arrayParams } from '../../sinks/postgres/array-literal.ts';
import { copyText, encodeCopyValue } from '../../sinks/postgres/copy.ts';
import { quoteIdent } from '../../sinks/postgres/sql-text.ts';
import { compareText } from '../../lib/order.ts';

export type ReadingRow = GridReading;

const readingKey = (meterId: string, timestampMs: number): string => `${meterId}\u0000${timestampMs}`;

/**
 * Inserts the readings and returns the keys of those that were already stored (a
 * redelivery): they conflict and are left out, so nothing downstream counts them twice.
 * Only those keys come back (usually none), not one row per inserted reading.
 */
export async function insertReadings(tx: PoolClient, rows: ReadonlyArray<ReadingRow>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: stored } = await tx.query<{ meter_id: string; ms: string }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])
         AS k(meter_id, region, "timestamp", power_kw, voltage, energy_kwh, interval_s)
     ), inserted AS (
       INSERT INTO telemetry_readings (meter_id, region, "timestamp", power_kw, voltage, energy_kwh, interval_s)
       SELECT * FROM input ON CONFLICT DO NOTHING
       RETURNING meter_id, "timestamp"
     )
     SELECT i.meter_id, (extract(epoch FROM i."timestamp") * 1000)::bigint::text AS ms FROM input i
      WHERE NOT EXISTS (SELECT 1 FROM inserted n WHERE n.meter_id = i.meter_id AND n."timestamp" = i."timestamp")`,
    [
      rows.map((r) => r.meterId),
      rows.map((r) => r.region),
      rows.map((r) => isoTime(r.timestampMs)),
      rows.map((r) => r.powerKw),
      rows.map((r) => r.voltage),
      rows.map((r) => r.energyKwh),
      rows.map((r) => r.intervalS),
    ],
  );
  return new Set(stored.map((r) => readingKey(r.meter_id, Number(r.ms))));
}

export const keyOfReading = (r: { meterId: string; timestampMs: number }): string => readingKey(r.meterId, r.timestampMs);

/** The per-window delta of a batch's new readings. */
export type AggregateDelta = WindowAggregate;

/** Types of the nine arrays an aggregate upsert takes. */
const AGGREGATE_TYPES = ['text', 'text', 'timestamptz', 'timestamptz', 'float8', 'float8', 'float8', 'float8', 'int'] as const;

/** `$first::type[], …`: bind placeholders, numbered from a constant. */
const placeholders = (first: number, types: ReadonlyArray<string>): string => types.map((t, i) => `$${first + i}::${t}[]`).join(', ');

/** The additive upsert of window sums into `table`, its arrays bound from `$first` on. */
const aggregateUpsert = (table: 'aggregates_1m' | 'aggregates_15m', first: number): string =>
  `INSERT INTO ${table} AS a (meter_id, region, window_start, window_end, avg_power, max_power, min_power, total_energy, sample_count, sum_power)
     SELECT m, r, ws, we, sp / c, mx, mn, e, c, sp
       FROM unnest(${placeholders(first, AGGREGATE_TYPES)}) AS d(m, r, ws, we, sp, mx, mn, e, c)
     ON CONFLICT (meter_id, window_start) DO UPDATE SET
       region       = excluded.region,
       sum_power    = a.sum_power + excluded.sum_power,
       sample_count = a.sample_count + excluded.sample_count,
       avg_power    = (a.sum_power + excluded.sum_power) / (a.sample_count + excluded.sample_count),
       max_power    = greatest(a.max_power, excluded.max_power),
       min_power    = least(a.min_power, excluded.min_power),
       total_energy = a.total_energy + excluded.total_energy,
       dirty        = true,
       updated_at   = now()`;

/** The nine arrays of an aggregate upsert, sorted by key so that instances never deadlock. */
function aggregateParams(deltas: ReadonlyArray<AggregateDelta>): unknown[] {
  const d = [...deltas].sort((a, b) => (a.meterId === b.meterId ? a.windowStart - b.windowStart : a.meterId < b.meterId ? -1 : 1));
  return [
    d.map((x) => x.meterId), d.map((x) => x.region), d.map((x) => isoTime(x.windowStart)), d.map((x) => isoTime(x.windowEnd)),
    d.map((x) => x.sumPower), d.map((x) => x.maxPower), d.map((x) => x.minPower), d.map((x) => x.totalEnergy), d.map((x) => x.count),
  ];
}

/** Adds per-window deltas to `table` (aggregates_1m / aggregates_15m). */
export async function addAggregates(tx: PoolClient, table: 'aggregates_1m' | 'aggregates_15m', deltas: ReadonlyArray<AggregateDelta>): Promise<void> {
  if (deltas.length === 0) return;
  await tx.query(aggregateUpsert(table, 1), aggregateParams(deltas));
}

export interface MeterState {
  readonly meterId: string;
  baseline: number | null;
  offlineSince: string | null;
}

/** Creates unseen meters, then locks every meter of the batch in key order and returns its state. */
export async function lockMeters(tx: PoolClient, meters: ReadonlyMap<string, string>): Promise<Map<string, MeterState>> {
  if (meters.size === 0) return new Map();
  const ids = [...meters.keys()].sort();
  await tx.query(
    `INSERT INTO grid_meters (meter_id, region, last_received_at)
     SELECT m, r, now() FROM unnest($1::text[], $2::text[]) AS k(m, r) ON CONFLICT DO NOTHING`,
    [ids, ids.map((m) => meters.get(m)!)],
  );
  const { rows } = await tx.query<{ meter_id: string; baseline: number | null; offline_since: string | null }>(
    `SELECT meter_id, baseline, offline_since FROM grid_meters WHERE meter_id = ANY($1::text[]) ORDER BY meter_id FOR UPDATE`,
    [ids],
  );
  return new Map(rows.map((r) => [r.meter_id, { meterId: r.meter_id, baseline: r.baseline, offlineSince: r.offline_since }]));
}

/** Saves baselines, marks the meters as heard from now, and closes their open offline alerts. */
export async function saveMeters(tx: PoolClient, meters: ReadonlyMap<string, MeterState>, regions: ReadonlyMap<string, string>): Promise<void> {
  if (meters.size === 0) return;
  const states = [...meters.values()].sort((a, b) => (a.meterId < b.meterId ? -1 : 1));
  const reopened = states.filter((s) => s.offlineSince !== null).map((s) => s.meterId);
  if (reopened.length > 0) {
    // clock_timestamp(), not now(): this transaction may have begun before the offline task's
    // transaction stamped detected_at; the clearing happens after that one committed.
    await tx.query(
      `UPDATE grid_alerts SET cleared_at = clock_timestamp() WHERE type = 'offline' AND cleared_at IS NULL AND meter_id = ANY($1::text[])`,
      [reopened],
    );
  }
  await tx.query(
    `UPDATE grid_meters g SET baseline = k.b, region = k.r, last_received_at = now(), offline_since = NULL, updated_at = now()
       FROM unnest($1::text[], $2::float8[], $3::text[]) AS k(m, b, r) WHERE g.meter_id = k.m`,
    [states.map((s) => s.meterId), states.map((s) => s.baseline), states.map((s) => regions.get(s.meterId) ?? '')],
  );
}

export interface AlertRow {
  readonly alertId: string;
  readonly meterId: string;
  readonly region: string;
  readonly type: 'spike' | 'drop' | 'outage' | 'offline';
  readonly value: number | null;
  readonly baseline: number | null;
  readonly timestampMs: number;
}

/** Stores alerts; returns the ids that were new (a redelivered reading never alerts twice). */
export async function insertAlerts(tx: PoolClient, alerts: ReadonlyArray<AlertRow>): Promise<Detections> {
  return insertDetections(
    tx,
    `INSERT INTO grid_alerts (alert_id, meter_id, region, type, value, baseline, "timestamp")
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::timestamptz[])`,
    'alert_id',
    [
      alerts.map((a) => a.alertId), alerts.map((a) => a.meterId), alerts.map((a) => a.region), alerts.map((a) => a.type),
      alerts.map((a) => a.value), alerts.map((a) => a.baseline), alerts.map((a) => isoTime(a.timestampMs)),
    ],
    alerts.length,
  );
}

/** Raises the highest event time seen by this shard (a partition: concurrent batches of others never wait on it). */
export async function advanceWatermark(tx: PoolClient, domain: string, shard: string, maxEventTimeMs: number): Promise<void> {
  await tx.query(
    `INSERT INTO stream_watermarks (domain, shard, max_event_time) VALUES ($1, $2, $3)
     ON CONFLICT (domain, shard) DO UPDATE SET max_event_time = greatest(stream_watermarks.max_event_time, excluded.max_event_time), updated_at = now()
     WHERE excluded.max_event_time > stream_watermarks.max_event_time`,
    [domain, shard, isoTime(maxEventTimeMs)],
  );
}

export interface ClosedAggregate {
  meter_id: string;
  region: string;
  window_start: string;
  window_end: string;
  avg_power: number;
  max_power: number;
  min_power: number;
  total_energy: number;
  sample_count: number;
  revision: number;
}

/**
 * Marks every changed window that the watermark has passed as published (revision + 1) and
 * returns it. Runs in the flush transaction that also writes the outbox rows, so a window
 * is published once per change, even with several instances flushing.
 */
export async function closeWindows(tx: PoolClient, table: 'aggregates_1m' | 'aggregates_15m', domain: string, allowedLatenessMs: number): Promise<ClosedAggregate[]> {
  const { rows } = await tx.query<ClosedAggregate>(
    `UPDATE ${table} a SET revision = revision + 1, dirty = false
      FROM (SELECT max(max_event_time) AS max_event_time FROM stream_watermarks WHERE domain = $1) w
      WHERE a.dirty AND a.window_end <= w.max_event_time - make_interval(secs => $2::float8 / 1000)
      RETURNING a.meter_id, a.region,
        to_char(a.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS window_start,
        to_char(a.window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS window_end,
        a.avg_power, a.max_power, a.min_power, a.total_energy, a.sample_count, a.revision`,
    [domain, allowedLatenessMs],
  );
  return rows;
}

/** Meters silent for `afterMs` (wall clock) get an open offline alert, once. */
export async function markOffline(tx: PoolClient, afterMs: number): Promise<Array<{ meter_id: string; region: string; last_ms: string }>> {
  const { rows } = await tx.query<{ meter_id: string; region: string; last_ms: string }>(
    `UPDATE grid_meters SET offline_since = now(), updated_at = now()
      WHERE offline_since IS NULL AND last_received_at < now() - make_interval(secs => $1::float8 / 1000)
      RETURNING meter_id, region, (extract(epoch FROM last_received_at) * 1000)::bigint::text AS last_ms`,
    [afterMs],
  );
  return rows;
}

/** Open windows right now (for the window gauges). */
export async function openWindowStats(client: { query: PoolClient['query'] }, table: 'aggregates_1m' | 'aggregates_15m'): Promise<{ buckets: number; readings: number }> {
  const { rows } = await client.query<{ buckets: string; readings: string | null }>(
    `SELECT count(*) AS buckets, sum(sample_count) AS readings FROM ${table} WHERE dirty`,
  );
  return { buckets: Number(rows[0]?.buckets ?? 0), readings: Number(rows[0]?.readings ?? 0) };
}

const READING_COLUMNS = ['meter_id', 'region', 'timestamp', 'power_kw', 'voltage', 'energy_kwh', 'interval_s'] as const;

const copyNumber = (v: number | null): string => (v === null ? '\\N' : encodeCopyValue(v));

/** A reading's meter and region columns of COPY text, with their tabs: the same for every reading of a meter, so kept per meter. */
export const readingKeyColumns = (meterId: string, region: string): string => `${encodeCopyValue(meterId)}\t${encodeCopyValue(region)}\t`;

/** A reading as a line of COPY text (see copyReadingText); runs for every reading, so no row array. */
export const readingLine = (r: ReadingRow, keyColumns = readingKeyColumns(r.meterId, r.region)): string =>
  `${keyColumns}${isoTime(r.timestampMs)}\t${encodeCopyValue(r.powerKw)}\t${copyNumber(r.voltage)}\t${copyNumber(r.energyKwh)}\t${encodeCopyValue(r.intervalS)}\n`;

/**
 * Raw readings by COPY, as text encoded when they arrived, for readings known to be new
 * (beyond the committed source position). A reading that is stored already fails the
 * transaction with a unique violation: the caller then takes the careful path (`insertReadings`).
 */
export async function copyReadingText(tx: PoolClient, chunks: ReadonlyArray<string>): Promise<void> {
  if (chunks.length === 0) return;
  await copyText(tx, quoteIdent('telemetry_readings'), READING_COLUMNS, chunks);
}

/** Stored EMA baselines of meters (absent: never seen). */
export async function readBaselines(client: { query: PoolClient['query'] }, meterIds: ReadonlyArray<string>): Promise<Map<string, number | null>> {
  if (meterIds.length === 0) return new Map();
  const { rows } = await client.query<{ meter_id: string; baseline: number | null }>(
    'SELECT meter_id, baseline FROM grid_meters WHERE meter_id = ANY($1::text[])',
    [meterIds],
  );
  return new Map(rows.map((r) => [r.meter_id, r.baseline]));
}

/** A meter's state as a checkpoint writes it. */
export interface MeterCheckpoint {
  readonly meterId: string;
  readonly region: string;
  readonly baseline: number | null;
}

const CHECKPOINT_STATE = `WITH
  w1 AS (${aggregateUpsert('aggregates_1m', 1)}),
  w15 AS (${aggregateUpsert('aggregates_15m', 10)}),
  m AS (INSERT INTO grid_meters AS g (meter_id, region, baseline, last_received_at)
        SELECT m, r, b, now() FROM unnest($19::text[], $20::text[], $21::float8[]) AS k(m, r, b)
        ON CONFLICT (meter_id) DO UPDATE SET baseline = excluded.baseline, region = excluded.region,
          last_received_at = now(), offline_since = NULL, updated_at = now()),
  wm AS (INSERT INTO stream_watermarks (domain, shard, max_event_time)
        SELECT $22, s, t FROM unnest($23::text[], $24::timestamptz[]) AS k(s, t)
        ON CONFLICT (domain, shard) DO UPDATE SET max_event_time = excluded.max_event_time, updated_at = now()
        WHERE excluded.max_event_time > stream_watermarks.max_event_time)
SELECT 1`;

/**
 * A checkpoint's state in one statement (one round trip): the window sums added to both window
 * tables, the meters heard from (baseline, region, heard from now, no longer offline) and the
 * shards' highest event times (never moved back). Arrays sorted by key: instances never deadlock.
 */
export async function writeCheckpointState(
  tx: PoolClient,
  s: { windows1m: ReadonlyArray<AggregateDelta>; windows15m: ReadonlyArray<AggregateDelta>; meters: ReadonlyArray<MeterCheckpoint>; domain: string; watermarks: ReadonlyMap<string, number> },
): Promise<void> {
  const meters = [...s.meters].sort((a, b) => compareText(a.meterId, b.meterId));
  const shards = [...s.watermarks.keys()].sort();
  await tx.query(CHECKPOINT_STATE, arrayParams([
    ...aggregateParams(s.windows1m), ...aggregateParams(s.windows15m),
    meters.map((m) => m.meterId), meters.map((m) => m.region), meters.map((m) => m.baseline),
    s.domain, shards, shards.map((k) => isoTime(s.watermarks.get(k)!)),
  ]));
}

/**
 * Closes the open offline alerts of meters heard from again. A statement of its own, after
 * the meters' upsert: that upsert waited on the row lock of an offline run that was
 * committing, so this one sees that run's alert.
 */
export async function clearOfflineAlerts(tx: PoolClient, meterIds: ReadonlyArray<string>): Promise<void> {
  if (meterIds.length === 0) return;
  await tx.query(
    `UPDATE grid_alerts SET cleared_at = clock_timestamp() WHERE type = 'offline' AND cleared_at IS NULL AND meter_id = ANY($1::text[])`,
    arrayParams([meterIds]),
  );
}
