/**
 * Per-window deltas of a batch's new records, pure. Every delta is additive (sums, counts,
 * min, max, latest-by-time), so the store adds it to the stored row and a redelivery,
 * which produces no new records, adds nothing: each aggregate equals its recomputation
 * from the raw rows.
 */
import { mergeMaps } from '../../lib/maps.ts';
import { windowStart } from '../../processors/windows/tumbling.ts';
import type { AnalyticsEvent, Measurement } from './records.ts';

export interface AggDelta {
  readonly tenantId: string;
  readonly factoryId: string;
  readonly machineId: string;
  readonly sensorId: string;
  readonly metric: string;
  readonly windowS: number;
  readonly bucketStart: number;
  unit: string;
  count: number;
  sum: number;
  sumSq: number;
  min: number;
  max: number;
  /** Value at the latest time (ties: the larger value), so the result does not depend on order. */
  lastTime: number;
  lastVal: number;
}

export interface RollupDelta {
  readonly tenantId: string;
  readonly factoryId: string;
  readonly domain: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly eventType: string;
  readonly windowS: number;
  readonly bucketStart: number;
  count: number;
  /** Sum and count of the events' numeric values (events without one add to count only). */
  sumVal: number;
  valueN: number;
}

export type KpiName = 'availability' | 'in_spec_rate';

export interface KpiDelta {
  readonly tenantId: string;
  readonly factoryId: string;
  readonly machineId: string;
  readonly kpi: KpiName;
  /** The metric of `in_spec_rate`; empty for availability. */
  readonly metric: string;
  readonly windowS: number;
  readonly bucketStart: number;
  numerator: number;
  denominator: number;
}

const K = '\u0000';

/**
 * How items of one kind fold into deltas: `create` makes the empty delta, `add` folds an item
 * in, `merge` adds another delta of the same key (another shard's, taken by the same checkpoint).
 */
interface Folder<T, D> {
  time(item: T): number;
  key(item: T): string;
  create(item: T, windowS: number, bucketStart: number): D;
  add(d: D, item: T): void;
  merge(d: D, other: D): void;
}

/** The value at the latest time (ties: the larger value), so the result does not depend on order. */
function keepLatest(d: AggDelta, time: number, value: number, unit: string): void {
  if (time > d.lastTime || (time === d.lastTime && value > d.lastVal)) {
    d.lastTime = time;
    d.lastVal = value;
    d.unit = unit;
  }
}

/**
 * Folds items into `into` (deltas by key) and returns it: the per-batch path folds one batch
 * into a new map, keyed state folds every batch of a checkpoint into the same one.
 */
function fold<T, D>(into: Map<string, D>, items: Iterable<T>, windowsS: ReadonlyArray<number>, f: Folder<T, D>): Map<string, D> {
  for (const item of items) {
    // The item's key and time once, not once per window.
    const base = f.key(item);
    const t = f.time(item);
    for (const w of windowsS) {
      const bucket = windowStart(t, w * 1000);
      const k = `${base}${K}${w}${K}${bucket}`;
      let d = into.get(k);
      if (d === undefined) into.set(k, (d = f.create(item, w, bucket)));
      f.add(d, item);
    }
  }
  return into;
}

const MEASUREMENTS: Folder<Measurement, AggDelta> = {
  time: (m) => m.time,
  key: (m) => `${m.tenantId}${K}${m.factoryId}${K}${m.machineId}${K}${m.sensorId}${K}${m.metric}`,
  create: (m, windowS, bucketStart) => ({
    tenantId: m.tenantId, factoryId: m.factoryId, machineId: m.machineId, sensorId: m.sensorId, metric: m.metric, windowS, bucketStart,
    unit: m.unit, count: 0, sum: 0, sumSq: 0, min: Infinity, max: -Infinity, lastTime: -Infinity, lastVal: 0,
  }),
  add: (d, m) => {
    d.count++;
    d.sum += m.value;
    d.sumSq += m.value * m.value;
    if (m.value < d.min) d.min = m.value;
    if (m.value > d.max) d.max = m.value;
    keepLatest(d, m.time, m.value, m.unit);
  },
  merge: (d, o) => {
    d.count += o.count;
    d.sum += o.sum;
    d.sumSq += o.sumSq;
    if (o.min < d.min) d.min = o.min;
    if (o.max > d.max) d.max = o.max;
    keepLatest(d, o.lastTime, o.lastVal, o.unit);
  },
};

type SubDomainEvent = { readonly subDomain: string; readonly event: AnalyticsEvent };

const EVENTS: Folder<SubDomainEvent, RollupDelta> = {
  time: (e) => e.event.time,
  key: ({ subDomain, event: e }) => `${e.tenantId}${K}${e.factoryId}${K}${subDomain}${K}${e.entityType}${K}${e.entityId}${K}${e.eventType}`,
  create: ({ subDomain, event: e }, windowS, bucketStart) => ({
    tenantId: e.tenantId, factoryId: e.factoryId, domain: subDomain, entityType: e.entityType, entityId: e.entityId, eventType: e.eventType,
    windowS, bucketStart, count: 0, sumVal: 0, valueN: 0,
  }),
  add: (d, { event: e }) => {
    d.count++;
    if (e.value !== null) {
      d.sumVal += e.value;
      d.valueN++;
    }
  },
  merge: (d, o) => {
    d.count += o.count;
    d.sumVal += o.sumVal;
    d.valueN += o.valueN;
  },
};

/**
 * Deltas by key (tenant, …, window, bucket start; writers sort by it), folded into `into`
 * when given: keyed state folds every batch of a checkpoint into one map.
 */
export const measurementDeltas = (ms: Iterable<Measurement>, windowsS: ReadonlyArray<number>, into = new Map<string, AggDelta>()): Map<string, AggDelta> =>
  fold(into, ms, windowsS, MEASUREMENTS);

export const rollupDeltas = (events: Iterable<SubDomainEvent>, windowsS: ReadonlyArray<number>, into = new Map<string, RollupDelta>()): Map<string, RollupDelta> =>
  fold(into, events, windowsS, EVENTS);

/** One observation a KPI counts: `good` adds to the numerator, every one to the denominator. */
export interface KpiSample {
  readonly time: number;
  readonly tenantId: string;
  readonly factoryId: string;
  readonly machineId: string;
  readonly kpi: KpiName;
  readonly metric: string;
  readonly good: boolean;
}

const KPI_SAMPLES: Folder<KpiSample, KpiDelta> = {
  time: (s) => s.time,
  key: (s) => `${s.tenantId}${K}${s.factoryId}${K}${s.machineId}${K}${s.kpi}${K}${s.metric}`,
  create: (s, windowS, bucketStart) => ({
    tenantId: s.tenantId, factoryId: s.factoryId, machineId: s.machineId, kpi: s.kpi, metric: s.metric, windowS, bucketStart, numerator: 0, denominator: 0,
  }),
  add: (d, s) => {
    d.denominator++;
    if (s.good) d.numerator++;
  },
  merge: (d, o) => {
    d.numerator += o.numerator;
    d.denominator += o.denominator;
  },
};

export const kpiDeltas = (samples: Iterable<KpiSample>, windowsS: ReadonlyArray<number>, into = new Map<string, KpiDelta>()): Map<string, KpiDelta> =>
  fold(into, samples, windowsS, KPI_SAMPLES);

/** Deltas of several shards as one: each key once, its deltas added. */
export const mergeAggDeltas = (into: Map<string, AggDelta>, from: ReadonlyMap<string, AggDelta>): void => mergeMaps(into, from, MEASUREMENTS.merge);
export const mergeRollupDeltas = (into: Map<string, RollupDelta>, from: ReadonlyMap<string, RollupDelta>): void => mergeMaps(into, from, EVENTS.merge);
export const mergeKpiDeltas = (into: Map<string, KpiDelta>, from: ReadonlyMap<string, KpiDelta>): void => mergeMaps(into, from, KPI_SAMPLES.merge);

/** The status of a health event (`health.online` → `online`), or null for other events. */
export const healthStatus = (e: AnalyticsEvent): string | null => (e.eventType.startsWith('health.') ? e.eventType.slice(7) : null);

/** An availability sample per health event: good when its status is one of `upStatuses`. */
export function availabilitySamples(events: Iterable<{ readonly event: AnalyticsEvent }>, upStatuses: ReadonlyArray<string>): KpiSample[] {
  const out: KpiSample[] = [];
  for (const { event } of events) {
    const status = healthStatus(event);
    if (status !== null) {
      out.push({ time: event.time, tenantId: event.tenantId, factoryId: event.factoryId, machineId: event.entityId, kpi: 'availability', metric: '', good: upStatuses.includes(status) });
    }
  }
  return out;
}
