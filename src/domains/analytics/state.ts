import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { SpecLimits } from '../../processors/anomaly/spec-limits.ts';
import type { SeriesState } from '../../processors/anomaly/western-electric.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import { PerShard } from '../per-shard.ts';
import { emptyStats, type ApplyResult, type Decoded, type KeyedState, type StateDelta } from '../types.ts';
import type { AnalyticsMessage } from './decode.ts';
import { detectAnomalies } from './detect.ts';
import { seriesKey, type Measurement } from './records.ts';
import {
  availabilitySamples, kpiDeltas, measurementDeltas, mergeAggDeltas, mergeKpiDeltas, mergeRollupDeltas, rollupDeltas, type AggDelta, type KpiDelta, type RollupDelta,
} from './rollup.ts';
import type { AnalyticsSettings } from './settings.ts';
import { eventLine, measurementLine, specKey, type AnalyticsStore, type AnomalyRow, type StoredEvent, type StoredMeasurement } from './store.ts';

interface AnalyticsDelta extends StateDelta {
  /** New raw rows as COPY text, one chunk per absorbed batch. */
  readonly measurements: ReadonlyArray<string>;
  readonly events: ReadonlyArray<string>;
  /** Every series the delta advanced, as it was when taken, by series key. */
  readonly series: ReadonlyMap<string, { m: Measurement; state: SeriesState }>;
  readonly anomalies: ReadonlyArray<AnomalyRow>;
  /** Deltas by key (rollup.ts). */
  readonly aggregates: ReadonlyMap<string, AggDelta>;
  readonly rollups: ReadonlyMap<string, RollupDelta>;
  readonly kpis: ReadonlyMap<string, KpiDelta>;
  readonly records: number;
  readonly duplicates: number;
}

/** One shard's changes since its last checkpoint. */
interface Building {
  messages: number;
  readonly measurements: string[];
  readonly events: string[];
  readonly series: Set<string>;
  readonly anomalies: AnomalyRow[];
  readonly aggregates: Map<string, AggDelta>;
  readonly rollups: Map<string, RollupDelta>;
  readonly kpis: Map<string, KpiDelta>;
  records: number;
  duplicates: number;
}

const building = (): Building => ({
  messages: 0, measurements: [], events: [], series: new Set(), anomalies: [], aggregates: new Map(), rollups: new Map(), kpis: new Map(), records: 0, duplicates: 0,
});

/** Adds `from`'s changes to `into`: a row both changed (a KPI of a machine on two partitions) once, its deltas added. */
function mergeBuilding(into: Building, from: Building): void {
  into.messages += from.messages;
  into.measurements.push(...from.measurements);
  into.events.push(...from.events);
  for (const key of from.series) into.series.add(key);
  into.anomalies.push(...from.anomalies);
  mergeAggDeltas(into.aggregates, from.aggregates);
  mergeRollupDeltas(into.rollups, from.rollups);
  mergeKpiDeltas(into.kpis, from.kpis);
  into.records += from.records;
  into.duplicates += from.duplicates;
}

/** A series held in memory: its Western Electric state and the ids of its latest measurements. */
interface Series {
  /** A measurement of the series (its key columns). */
  m: Measurement;
  state: SeriesState;
  /** Latest record ids (a ring), kept across checkpoints to skip a producer's repeat. */
  readonly recent: string[];
}

/** How many of a series' (or an entity's) latest record ids are remembered to skip a repeat. */
const RECENT = 8;
/**
 * Specifications are configuration an operator edits while the worker runs; the careful path
 * reads them in every batch's transaction, keyed state at most this old.
 */
const SPEC_MAX_AGE_MS = 1_000;

/** The anomaly message published for a stored anomaly. */
export type AnomalyMessage = (a: AnomalyRow, detectedAt: string) => OutboundMessage;

/**
 * analytics' keyed state (SPEC §1): each series' Western Electric state (its last classified
 * points and rolling baseline) in memory, and the raw rows, window aggregates, event rollups,
 * KPI counts and anomalies of the records since the last checkpoint. A checkpoint writes the
 * raw rows by COPY and each touched series, aggregate, rollup and KPI row once, however many
 * records moved it. Detection is the careful path's pure `detectAnomalies`, continued from
 * the state in memory instead of the locked rows, so both paths find the same anomalies.
 */
export class AnalyticsState implements KeyedState<AnalyticsMessage> {
  readonly #pool: pg.Pool;
  readonly #store: AnalyticsStore;
  readonly #s: AnalyticsSettings;
  readonly #anomalyMessage: AnomalyMessage;
  readonly #series = new Map<string, Series>();
  /** Per event entity: its latest record ids (a ring). */
  readonly #recentEvents = new Map<string, string[]>();
  /** Specifications by specKey (null: none), read at most SPEC_MAX_AGE_MS ago. */
  #specs = new Map<string, SpecLimits | null>();
  #specsReadAt = 0;
  readonly #buildings = new PerShard(building, mergeBuilding);
  /**
   * A message held here costs about 1.3 KB (a row per window it feeds, rarely shared: each
   * series gets a point every few seconds), ten times a grid reading: 20,000 keep it near
   * 26 MB. Holding more did not raise the rate (bound by the database's upserts).
   */
  readonly maxHeldMessages = 20_000;

  constructor(o: { pool: pg.Pool; store: AnalyticsStore; settings: AnalyticsSettings; anomalyMessage: AnomalyMessage }) {
    this.#pool = o.pool;
    this.#store = o.store;
    this.#s = o.settings;
    this.#anomalyMessage = o.anomalyMessage;
  }

  async absorb(messages: ReadonlyArray<Decoded<AnalyticsMessage>>, shard: string): Promise<void> {
    await this.#readUnknown(messages);
    const b = this.#buildings.of(shard);
    b.messages += messages.length;
    const newM: StoredMeasurement[] = [];
    const newE: StoredEvent[] = [];
    for (const { value } of messages) {
      for (const { id, record } of value.records) {
        if (record.kind === 'measurement') {
          if (!remember(this.#series.get(seriesKey(record))!.recent, id)) b.duplicates++;
          else newM.push({ id, subDomain: value.subDomain, m: record });
        } else {
          const entity = `${value.subDomain}\u0000${record.tenantId}\u0000${record.factoryId}\u0000${record.entityType}\u0000${record.entityId}`;
          let ring = this.#recentEvents.get(entity);
          if (ring === undefined) this.#recentEvents.set(entity, (ring = []));
          if (!remember(ring, id)) b.duplicates++;
          else newE.push({ id, subDomain: value.subDomain, event: record });
        }
      }
    }
    b.records += newM.length + newE.length;
    if (newM.length > 0) b.measurements.push(newM.map(measurementLine).join(''));
    if (newE.length > 0) b.events.push(newE.map(eventLine).join(''));

    const held = new Map<string, SeriesState>();
    for (const { m } of newM) {
      const key = seriesKey(m);
      if (!held.has(key)) held.set(key, this.#series.get(key)!.state);
    }
    const detected = detectAnomalies(newM, this.#specs, held, this.#s.rolling);
    for (const [key, { m, state }] of detected.states) {
      const series = this.#series.get(key)!;
      series.m = m;
      series.state = state;
      b.series.add(key);
    }
    for (const a of detected.anomalies) b.anomalies.push(a);
    measurementDeltas(newM.map((r) => r.m), this.#s.windowsS, b.aggregates);
    rollupDeltas(newE, this.#s.windowsS, b.rollups);
    kpiDeltas([...detected.kpis, ...availabilitySamples(newE, this.#s.upStatuses)], this.#s.windowsS, b.kpis);
  }

  /** Reads the stored state of series not held yet, and specifications not read lately. */
  async #readUnknown(messages: ReadonlyArray<Decoded<AnalyticsMessage>>): Promise<void> {
    if (Date.now() - this.#specsReadAt > SPEC_MAX_AGE_MS) {
      this.#specs = new Map();
      this.#specsReadAt = Date.now();
    }
    const unknownSeries = new Map<string, Measurement>();
    const unknownSpecs = new Map<string, readonly [string, string]>();
    for (const { value } of messages) {
      for (const { record: m } of value.records) {
        if (m.kind !== 'measurement') continue;
        const key = seriesKey(m);
        if (!this.#series.has(key)) unknownSeries.set(key, m);
        const spec = specKey(m.tenantId, m.metric);
        if (!this.#specs.has(spec)) unknownSpecs.set(spec, [m.tenantId, m.metric]);
      }
    }
    if (unknownSpecs.size > 0) {
      const found = await this.#store.loadSpecs(this.#pool, [...unknownSpecs.values()]);
      for (const key of unknownSpecs.keys()) this.#specs.set(key, found.get(key) ?? null);
    }
    if (unknownSeries.size > 0) {
      const stored = await this.#store.readSeries(this.#pool, [...unknownSeries.values()]);
      for (const [key, m] of unknownSeries) {
        if (!this.#series.has(key)) this.#series.set(key, { m, state: stored.get(key) ?? { recent: [], baseline: [] }, recent: [] });
      }
    }
  }

  take(shards: ReadonlyArray<string>): AnalyticsDelta {
    const b = this.#buildings.take(shards);
    const series = new Map<string, { m: Measurement; state: SeriesState }>();
    // A state is never changed in place (stepSeries returns a new one): the reference is the snapshot.
    for (const key of b.series) {
      const s = this.#series.get(key)!;
      series.set(key, { m: s.m, state: s.state });
    }
    return {
      messages: b.messages, measurements: b.measurements, events: b.events, series, anomalies: b.anomalies,
      aggregates: b.aggregates, rollups: b.rollups, kpis: b.kpis, records: b.records, duplicates: b.duplicates,
    };
  }

  async write(tx: PoolClient, delta: StateDelta): Promise<ApplyResult> {
    const d = delta as AnalyticsDelta;
    const stats = emptyStats();
    stats.readings.valid = d.records;
    stats.duplicates = d.duplicates;
    stats.aggregatesWritten = d.aggregates.size;
    await this.#store.copyRecords(tx, d.measurements, d.events);
    await this.#store.upsertSeries(tx, d.series);
    const stored = await this.#store.insertAnomalies(tx, d.anomalies);
    await this.#store.addAggregates(tx, d.aggregates);
    await this.#store.addRollups(tx, d.rollups);
    await this.#store.addKpis(tx, d.kpis);
    const outbound: OutboundMessage[] = [];
    for (const a of d.anomalies) {
      if (!stored.ids.has(a.id)) continue;
      stats.anomalies[a.rule] = (stats.anomalies[a.rule] ?? 0) + 1;
      outbound.push(this.#anomalyMessage(a, stored.detectedAt));
    }
    return { outbound, stats };
  }

  reset(): void {
    this.#series.clear();
    this.#recentEvents.clear();
    this.#specs = new Map();
    this.#specsReadAt = 0;
    this.#buildings.clear();
  }
}

/** Adds an id to a ring of the latest; false when it is in there already (a repeat). */
function remember(ring: string[], id: string): boolean {
  if (ring.includes(id)) return false;
  if (ring.length >= RECENT) ring.shift();
  ring.push(id);
  return true;
}
