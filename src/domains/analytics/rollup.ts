/**
 * Per-window deltas of a batch's new records, pure. Every delta is additive (sums, counts,
 * min, max, latest-by-time), so the store adds it to the stored row and a redelivery,
 * which produces no new records, adds nothing: each aggregate equals its recomputation
 * from the raw rows.
 */
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

/** Groups items into deltas by key: `create` makes the empty delta, `add` folds an item in. */
function fold<T, D>(items: Iterable<T>, windowsS: ReadonlyArray<number>, time: (t: T) => number, key: (t: T) => string, create: (t: T, windowS: number, bucketStart: number) => D, add: (d: D, t: T) => void): D[] {
  const out = new Map<string, D>();
  for (const item of items) {
    // The item's key and time once, not once per window.
    const base = key(item);
    const t = time(item);
    for (const w of windowsS) {
      const bucket = windowStart(t, w * 1000);
      const k = `${base}${K}${w}${K}${bucket}`;
      let d = out.get(k);
      if (d === undefined) out.set(k, (d = create(item, w, bucket)));
      add(d, item);
    }
  }
  return [...out.values()];
}

export const measurementDeltas = (ms: Iterable<Measurement>, windowsS: ReadonlyArray<number>): AggDelta[] =>
  fold(ms, windowsS, (m) => m.time, (m) => `${m.tenantId}${K}${m.factoryId}${K}${m.machineId}${K}${m.sensorId}${K}${m.metric}`,
    (m, windowS, bucketStart) => ({
      tenantId: m.tenantId, factoryId: m.factoryId, machineId: m.machineId, sensorId: m.sensorId, metric: m.metric, windowS, bucketStart,
      unit: m.unit, count: 0, sum: 0, sumSq: 0, min: Infinity, max: -Infinity, lastTime: -Infinity, lastVal: 0,
    }),
    (d, m) => {
      d.count++;
      d.sum += m.value;
      d.sumSq += m.value * m.value;
      if (m.value < d.min) d.min = m.value;
      if (m.value > d.max) d.max = m.value;
      if (m.time > d.lastTime || (m.time === d.lastTime && m.value > d.lastVal)) {
        d.lastTime = m.time;
        d.lastVal = m.value;
        d.unit = m.unit;
      }
    });

export const rollupDeltas = (events: Iterable<{ readonly subDomain: string; readonly event: AnalyticsEvent }>, windowsS: ReadonlyArray<number>): RollupDelta[] =>
  fold(events, windowsS, (e) => e.event.time,
    ({ subDomain, event: e }) => `${e.tenantId}${K}${e.factoryId}${K}${subDomain}${K}${e.entityType}${K}${e.entityId}${K}${e.eventType}`,
    ({ subDomain, event: e }, windowS, bucketStart) => ({
      tenantId: e.tenantId, factoryId: e.factoryId, domain: subDomain, entityType: e.entityType, entityId: e.entityId, eventType: e.eventType,
      windowS, bucketStart, count: 0, sumVal: 0, valueN: 0,
    }),
    (d, { event: e }) => {
      d.count++;
      if (e.value !== null) {
        d.sumVal += e.value;
        d.valueN++;
      }
    });

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

export const kpiDeltas = (samples: Iterable<KpiSample>, windowsS: ReadonlyArray<number>): KpiDelta[] =>
  fold(samples, windowsS, (s) => s.time, (s) => `${s.tenantId}${K}${s.factoryId}${K}${s.machineId}${K}${s.kpi}${K}${s.metric}`,
    (s, windowS, bucketStart) => ({
      tenantId: s.tenantId, factoryId: s.factoryId, machineId: s.machineId, kpi: s.kpi, metric: s.metric, windowS, bucketStart, numerator: 0, denominator: 0,
    }),
    (d, s) => {
      d.denominator++;
      if (s.good) d.numerator++;
    });

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
