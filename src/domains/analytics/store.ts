import type { PoolClient } from 'pg';
import { arrayLiteral, arrayParams } from '../../sinks/postgres/array-literal.ts';
import type { SpecLimits } from '../../processors/anomaly/spec-limits.ts';
import type { ClassifiedPoint, SeriesState } from '../../processors/anomaly/western-electric.ts';
import { qualified } from '../../sinks/postgres/sql-text.ts';
import type { AnalyticsEvent, Measurement } from './records.ts';
import type { AggDelta, KpiDelta, RollupDelta } from './rollup.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { insertDetections, type Detections } from '../../sinks/postgres/detections.ts';
import { copyText, encodeCopyValue } from '../../sinks/postgres/copy.ts';
import { compareText } from '../../lib/order.ts';

/** A pool or a transaction's client: reads of keyed state run on the pool, outside any transaction. */
type Queryable = { query: PoolClient['query'] };

const MEASUREMENT_COLUMNS = ['id', 'time', 'tenant_id', 'factory_id', 'machine_id', 'sensor_id', 'metric', 'unit', 'value', 'sub_domain', 'sample_id'] as const;
const EVENT_COLUMNS = ['id', 'time', 'tenant_id', 'factory_id', 'domain', 'entity_type', 'entity_id', 'event_type', 'value', 'payload'] as const;

/** A measurement as a line of COPY text (MEASUREMENT_COLUMNS), encoded when it is absorbed. */
export const measurementLine = ({ id, subDomain, m }: StoredMeasurement): string =>
  `${id}\t${isoTime(m.time)}\t${encodeCopyValue(m.tenantId)}\t${encodeCopyValue(m.factoryId)}\t${encodeCopyValue(m.machineId)}\t${encodeCopyValue(m.sensorId)}\t${encodeCopyValue(m.metric)}\t${encodeCopyValue(m.unit)}\t${encodeCopyValue(m.value)}\t${encodeCopyValue(subDomain)}\t${encodeCopyValue(m.sampleId)}\n`;

/** An event as a line of COPY text (EVENT_COLUMNS). */
export const eventLine = ({ id, subDomain, event: e }: StoredEvent): string =>
  `${id}\t${isoTime(e.time)}\t${encodeCopyValue(e.tenantId)}\t${encodeCopyValue(e.factoryId)}\t${encodeCopyValue(subDomain)}\t${encodeCopyValue(e.entityType)}\t${encodeCopyValue(e.entityId)}\t${encodeCopyValue(e.eventType)}\t${encodeCopyValue(e.value)}\t${encodeCopyValue(e.payload)}\n`;

const seriesParams = (cols: ReadonlyArray<Measurement>): string[][] =>
  [cols.map((m) => m.tenantId), cols.map((m) => m.factoryId), cols.map((m) => m.machineId), cols.map((m) => m.sensorId), cols.map((m) => m.metric)];

const K = '\u0000';

export interface StoredMeasurement {
  readonly id: string;
  readonly subDomain: string;
  readonly m: Measurement;
}

export interface StoredEvent {
  readonly id: string;
  readonly subDomain: string;
  readonly event: AnalyticsEvent;
}

export interface AnomalyRow {
  readonly id: string;
  readonly m: Measurement;
  readonly rule: 'out_of_spec' | 'we1' | 'we2' | 'we3' | 'we4';
  readonly basis: 'spec' | 'rolling';
  readonly center: number | null;
  readonly sigma: number | null;
  readonly spec: SpecLimits | null;
  readonly points: ReadonlyArray<{ t: number; v: number }>;
}

const SERIES_ROWS = 'unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[]) AS k(t, f, m, se, me, r, b)';

export const specKey = (tenantId: string, metric: string): string => `${tenantId}${K}${metric}`;

/** SQL of the analytics tables in one schema; every statement takes a whole batch. */
export class AnalyticsStore {
  readonly #t: (name: string) => string;

  constructor(schema: string) {
    this.#t = (name) => qualified(name, schema);
  }

  /** Inserts the measurements; returns the ids that were new (redeliveries conflict). */
  async insertMeasurements(tx: PoolClient, rows: ReadonlyArray<StoredMeasurement>): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const { rows: inserted } = await tx.query<{ id: string }>(
      `INSERT INTO ${this.#t('analytics_measurement')} (id, time, tenant_id, factory_id, machine_id, sensor_id, metric, unit, value, sub_domain, sample_id)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::text[], $11::text[])
       ON CONFLICT DO NOTHING RETURNING id::text`,
      arrayParams([
        rows.map((r) => r.id), rows.map((r) => isoTime(r.m.time)), rows.map((r) => r.m.tenantId), rows.map((r) => r.m.factoryId),
        rows.map((r) => r.m.machineId), rows.map((r) => r.m.sensorId), rows.map((r) => r.m.metric), rows.map((r) => r.m.unit),
        rows.map((r) => r.m.value), rows.map((r) => r.subDomain), rows.map((r) => r.m.sampleId),
      ]),
    );
    return new Set(inserted.map((r) => r.id));
  }

  async insertEvents(tx: PoolClient, rows: ReadonlyArray<StoredEvent>): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const { rows: inserted } = await tx.query<{ id: string }>(
      `INSERT INTO ${this.#t('analytics_event')} (id, time, tenant_id, factory_id, domain, entity_type, entity_id, event_type, value, payload)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::jsonb[])
       ON CONFLICT DO NOTHING RETURNING id::text`,
      arrayParams([
        rows.map((r) => r.id), rows.map((r) => isoTime(r.event.time)), rows.map((r) => r.event.tenantId), rows.map((r) => r.event.factoryId),
        rows.map((r) => r.subDomain), rows.map((r) => r.event.entityType), rows.map((r) => r.event.entityId), rows.map((r) => r.event.eventType),
        rows.map((r) => r.event.value), rows.map((r) => JSON.stringify(r.event.payload)),
      ]),
    );
    return new Set(inserted.map((r) => r.id));
  }

  /** Specifications of these (tenant, metric) pairs, by `specKey`. */
  async loadSpecs(tx: Queryable, pairs: ReadonlyArray<readonly [string, string]>): Promise<Map<string, SpecLimits>> {
    if (pairs.length === 0) return new Map();
    const { rows } = await tx.query<{ tenant_id: string; metric: string; lsl: number | null; usl: number | null; target: number | null; sigma: number | null }>(
      `SELECT s.tenant_id, s.metric, s.lsl, s.usl, s.target, s.sigma
         FROM ${this.#t('analytics_spec_limits')} s JOIN unnest($1::text[], $2::text[]) AS k(t, m) ON s.tenant_id = k.t AND s.metric = k.m`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    return new Map(rows.map((r) => [specKey(r.tenant_id, r.metric), { lsl: r.lsl, usl: r.usl, target: r.target, sigma: r.sigma }]));
  }

  /** Creates unseen series, then locks every series of the batch in key order and returns its state. */
  async lockSeries(tx: PoolClient, series: ReadonlyMap<string, Measurement>): Promise<Map<string, SeriesState>> {
    if (series.size === 0) return new Map();
    const keys = [...series.keys()].sort();
    const params = seriesParams(keys.map((k) => series.get(k)!));
    await tx.query(
      `INSERT INTO ${this.#t('analytics_series_state')} (tenant_id, factory_id, machine_id, sensor_id, metric)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
      params,
    );
    return this.#selectSeries(tx, params, 'FOR UPDATE OF s');
  }

  /** Stored state of these series, unlocked (keyed state reads the series its partition owns); absent: never stored. */
  async readSeries(db: Queryable, series: ReadonlyArray<Measurement>): Promise<Map<string, SeriesState>> {
    if (series.length === 0) return new Map();
    return this.#selectSeries(db, seriesParams(series), '');
  }

  async #selectSeries(db: Queryable, params: string[][], lock: string): Promise<Map<string, SeriesState>> {
    const { rows } = await db.query<{ tenant_id: string; factory_id: string; machine_id: string; sensor_id: string; metric: string; recent: ClassifiedPoint[]; baseline: number[] }>(
      `SELECT s.tenant_id, s.factory_id, s.machine_id, s.sensor_id, s.metric, s.recent, s.baseline
         FROM ${this.#t('analytics_series_state')} s JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS k(t, f, m, se, me)
           ON s.tenant_id = k.t AND s.factory_id = k.f AND s.machine_id = k.m AND s.sensor_id = k.se AND s.metric = k.me
        ORDER BY s.tenant_id, s.factory_id, s.machine_id, s.sensor_id, s.metric ${lock}`,
      params,
    );
    return new Map(rows.map((r) => [
      `${r.tenant_id}${K}${r.factory_id}${K}${r.machine_id}${K}${r.sensor_id}${K}${r.metric}`,
      { recent: r.recent, baseline: r.baseline } satisfies SeriesState,
    ]));
  }

  /** Writes the state of series locked by lockSeries. */
  async saveSeries(tx: PoolClient, states: ReadonlyMap<string, { m: Measurement; state: SeriesState }>): Promise<void> {
    await this.#writeSeries(tx, states, `UPDATE ${this.#t('analytics_series_state')} s SET recent = k.r, baseline = k.b::float8[], updated_at = now()
         FROM ${SERIES_ROWS}
        WHERE s.tenant_id = k.t AND s.factory_id = k.f AND s.machine_id = k.m AND s.sensor_id = k.se AND s.metric = k.me`);
  }

  /** Writes the state of series held in memory (keyed state): creates those never stored. */
  async upsertSeries(tx: PoolClient, states: ReadonlyMap<string, { m: Measurement; state: SeriesState }>): Promise<void> {
    await this.#writeSeries(tx, states, `INSERT INTO ${this.#t('analytics_series_state')} AS s (tenant_id, factory_id, machine_id, sensor_id, metric, recent, baseline)
       SELECT k.t, k.f, k.m, k.se, k.me, k.r, k.b::float8[] FROM ${SERIES_ROWS}
       ON CONFLICT (tenant_id, factory_id, machine_id, sensor_id, metric) DO UPDATE SET recent = excluded.recent, baseline = excluded.baseline, updated_at = now()`);
  }

  async #writeSeries(tx: PoolClient, states: ReadonlyMap<string, { m: Measurement; state: SeriesState }>, sql: string): Promise<void> {
    if (states.size === 0) return;
    // In key order: writers of overlapping series never deadlock.
    const rows = [...states.keys()].sort().map((k) => states.get(k)!);
    await tx.query(sql, arrayParams([
      ...seriesParams(rows.map((r) => r.m)),
      rows.map((r) => JSON.stringify(r.state.recent)),
      // A float8[] per row does not fit a 2-D array parameter (rows differ in length): text literals.
      rows.map((r) => arrayLiteral(r.state.baseline)),
    ]));
  }

  /** Raw measurements and events by COPY, as text encoded when they were absorbed (known to be new). */
  async copyRecords(tx: PoolClient, measurements: ReadonlyArray<string>, events: ReadonlyArray<string>): Promise<void> {
    if (measurements.length > 0) await copyText(tx, this.#t('analytics_measurement'), MEASUREMENT_COLUMNS, measurements);
    if (events.length > 0) await copyText(tx, this.#t('analytics_event'), EVENT_COLUMNS, events);
  }

  /** Stores anomalies; returns the ids that were new, with the detection time. */
  async insertAnomalies(tx: PoolClient, rows: ReadonlyArray<AnomalyRow>): Promise<Detections> {
    return insertDetections(
      tx,
      `INSERT INTO ${this.#t('analytics_anomaly')} (id, time, tenant_id, factory_id, machine_id, sensor_id, metric, rule, basis, value, center, sigma, lsl, usl, points)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                            $10::float8[], $11::float8[], $12::float8[], $13::float8[], $14::float8[], $15::jsonb[])`,
      'id',
      [
        rows.map((r) => r.id), rows.map((r) => isoTime(r.m.time)), rows.map((r) => r.m.tenantId), rows.map((r) => r.m.factoryId),
        rows.map((r) => r.m.machineId), rows.map((r) => r.m.sensorId), rows.map((r) => r.m.metric), rows.map((r) => r.rule), rows.map((r) => r.basis),
        rows.map((r) => r.m.value), rows.map((r) => r.center), rows.map((r) => r.sigma), rows.map((r) => r.spec?.lsl ?? null), rows.map((r) => r.spec?.usl ?? null),
        rows.map((r) => JSON.stringify(r.points.map((p) => ({ time: isoTime(p.t), value: p.v })))),
      ],
      rows.length,
    );
  }

  /** Adds measurement deltas (by key, as rollup.ts folds them) to analytics_agg, in key order so instances never deadlock. */
  async addAggregates(tx: PoolClient, deltas: ReadonlyMap<string, AggDelta>): Promise<void> {
    if (deltas.size === 0) return;
    const d = inKeyOrder(deltas);
    await tx.query(
      `INSERT INTO ${this.#t('analytics_agg')} AS a
         (bucket_start, window_s, tenant_id, factory_id, machine_id, sensor_id, metric, unit, count_n, sum_val, sum_sq, avg_val, min_val, max_val, last_val, last_time)
       SELECT b, w, t, f, m, se, me, u, c, s, sq, s / c, mn, mx, lv, lt
         FROM unnest($1::timestamptz[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[],
                     $10::float8[], $11::float8[], $12::float8[], $13::float8[], $14::float8[], $15::timestamptz[])
           AS d(b, w, t, f, m, se, me, u, c, s, sq, mn, mx, lv, lt)
       ON CONFLICT (tenant_id, factory_id, machine_id, sensor_id, metric, window_s, bucket_start) DO UPDATE SET
         count_n = a.count_n + excluded.count_n,
         sum_val = a.sum_val + excluded.sum_val,
         sum_sq  = a.sum_sq + excluded.sum_sq,
         avg_val = (a.sum_val + excluded.sum_val) / (a.count_n + excluded.count_n),
         min_val = least(a.min_val, excluded.min_val),
         max_val = greatest(a.max_val, excluded.max_val),
         last_val  = CASE WHEN excluded.last_time > a.last_time OR (excluded.last_time = a.last_time AND excluded.last_val > a.last_val) THEN excluded.last_val ELSE a.last_val END,
         unit      = CASE WHEN excluded.last_time > a.last_time OR (excluded.last_time = a.last_time AND excluded.last_val > a.last_val) THEN excluded.unit ELSE a.unit END,
         last_time = greatest(a.last_time, excluded.last_time),
         updated_at = now()`,
      arrayParams([
        d.map((x) => isoTime(x.bucketStart)), d.map((x) => x.windowS), d.map((x) => x.tenantId), d.map((x) => x.factoryId), d.map((x) => x.machineId),
        d.map((x) => x.sensorId), d.map((x) => x.metric), d.map((x) => x.unit), d.map((x) => x.count), d.map((x) => x.sum), d.map((x) => x.sumSq),
        d.map((x) => x.min), d.map((x) => x.max), d.map((x) => x.lastVal), d.map((x) => isoTime(x.lastTime)),
      ]),
    );
  }

  async addRollups(tx: PoolClient, deltas: ReadonlyMap<string, RollupDelta>): Promise<void> {
    if (deltas.size === 0) return;
    const d = inKeyOrder(deltas);
    await tx.query(
      `INSERT INTO ${this.#t('analytics_event_rollup')} AS a
         (bucket_start, window_s, tenant_id, factory_id, domain, entity_type, entity_id, event_type, count_n, sum_val, value_n)
       SELECT * FROM unnest($1::timestamptz[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::float8[], $11::bigint[])
       ON CONFLICT (tenant_id, factory_id, domain, entity_type, entity_id, event_type, window_s, bucket_start) DO UPDATE SET
         count_n = a.count_n + excluded.count_n,
         sum_val = a.sum_val + excluded.sum_val,
         value_n = a.value_n + excluded.value_n,
         updated_at = now()`,
      arrayParams([
        d.map((x) => isoTime(x.bucketStart)), d.map((x) => x.windowS), d.map((x) => x.tenantId), d.map((x) => x.factoryId), d.map((x) => x.domain),
        d.map((x) => x.entityType), d.map((x) => x.entityId), d.map((x) => x.eventType), d.map((x) => x.count), d.map((x) => x.sumVal), d.map((x) => x.valueN),
      ]),
    );
  }

  async addKpis(tx: PoolClient, deltas: ReadonlyMap<string, KpiDelta>): Promise<void> {
    if (deltas.size === 0) return;
    const d = inKeyOrder(deltas);
    await tx.query(
      `INSERT INTO ${this.#t('analytics_kpi')} AS a (bucket_start, window_s, tenant_id, factory_id, machine_id, kpi, metric, numerator, denominator, value)
       SELECT b, w, t, f, m, k, me, n, dn, n::float8 / dn
         FROM unnest($1::timestamptz[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
           AS d(b, w, t, f, m, k, me, n, dn)
       ON CONFLICT (tenant_id, factory_id, machine_id, kpi, metric, window_s, bucket_start) DO UPDATE SET
         numerator   = a.numerator + excluded.numerator,
         denominator = a.denominator + excluded.denominator,
         value       = (a.numerator + excluded.numerator)::float8 / (a.denominator + excluded.denominator),
         updated_at  = now()`,
      arrayParams([
        d.map((x) => isoTime(x.bucketStart)), d.map((x) => x.windowS), d.map((x) => x.tenantId), d.map((x) => x.factoryId), d.map((x) => x.machineId),
        d.map((x) => x.kpi), d.map((x) => x.metric), d.map((x) => x.numerator), d.map((x) => x.denominator),
      ]),
    );
  }
}

/** The deltas ordered by their keys (the keys they were folded by, no new ones built). */
function inKeyOrder<D>(deltas: ReadonlyMap<string, D>): D[] {
  return [...deltas].sort((a, b) => compareText(a[0], b[0])).map((e) => e[1]);
}
