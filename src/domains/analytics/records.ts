/**
 * What analytics handlers return: plain records, no I/O. A measurement is a numeric value
 * of a series (→ analytics_agg); an event is a discrete occurrence (→ analytics_event and
 * its rollup). Both carry the tenant they belong to.
 */

export interface Measurement {
  readonly kind: 'measurement';
  /** Epoch ms, UTC. */
  readonly time: number;
  readonly tenantId: string;
  readonly factoryId: string;
  readonly machineId: string;
  readonly sensorId: string;
  readonly metric: string;
  readonly unit: string;
  readonly value: number;
  /** Lab results: the sample measured (part of the identity: two samples can share a time). */
  readonly sampleId: string | null;
}

export interface AnalyticsEvent {
  readonly kind: 'event';
  readonly time: number;
  readonly tenantId: string;
  readonly factoryId: string;
  readonly entityType: string;
  readonly entityId: string;
  /** e.g. `health.online`, `sweep`. */
  readonly eventType: string;
  /** A number the event carries (a sweep's mean), or null. */
  readonly value: number | null;
  /** Distinguishes events of the same type, entity and time (a sweep's metric). */
  readonly discriminator: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

export type AnalyticsRecord = Measurement | AnalyticsEvent;

/** The identity of a record: a redelivered or re-sent record has the same one. */
export function recordKey(subDomain: string, r: AnalyticsRecord): string {
  return r.kind === 'measurement'
    ? `m\u0000${r.tenantId}\u0000${r.factoryId}\u0000${r.machineId}\u0000${r.sensorId}\u0000${r.metric}\u0000${r.sampleId ?? ''}\u0000${r.time}`
    : `e\u0000${subDomain}\u0000${r.tenantId}\u0000${r.factoryId}\u0000${r.entityType}\u0000${r.entityId}\u0000${r.eventType}\u0000${r.discriminator}\u0000${r.time}`;
}

/** The series a measurement belongs to (one state for the Western Electric rules). */
export const seriesKey = (m: Measurement): string =>
  `${m.tenantId}\u0000${m.factoryId}\u0000${m.machineId}\u0000${m.sensorId}\u0000${m.metric}`;
