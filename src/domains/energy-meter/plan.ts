import { isoTime } from '../../lib/iso-time.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import { emptyStats, type ApplyResult, type Decoded } from '../types.ts';
import type { MeterMessage } from './decode.ts';
import { detectReadings, seriesKey } from './detect.ts';
import type { EnergyMeterSettings } from './settings.ts';
import type { ClientSighting, ReadingRow, SeriesRef } from './store.ts';

export const ROUTING_KEY_PROCESSED = 'meter.reading.processed';

/** The output event of SPEC §5.1, one per stored reading. */
export interface ReadingProcessedEvent {
  reading_id: string;
  client_id: string;
  metric_name: string;
  metric_value: number | null;
  reading_timestamp: string;
  validation_status: 'valid' | 'invalid';
  anomaly_reason: string | null;
}

/**
 * `JSON.stringify` of a ReadingProcessedEvent with its fields in this order, written out: one
 * per reading, and twice as fast as building the object and stringifying it. Only the free-text
 * fields need escaping; ids are UUIDs, the time is ISO 8601 and the value a finite number or null.
 */
export function processedEventJson(
  readingId: string, clientId: string, metricName: string, metricValue: number | null, readingTimestamp: string,
  status: 'valid' | 'invalid', anomalyReason: string | null,
): string {
  return `{"reading_id":"${readingId}","client_id":"${clientId}","metric_name":${JSON.stringify(metricName)},"metric_value":${metricValue === null ? 'null' : JSON.stringify(metricValue)},"reading_timestamp":"${readingTimestamp}","validation_status":"${status}","anomaly_reason":${anomalyReason === null ? 'null' : JSON.stringify(anomalyReason)}}`;
}

/** One sighting per client of the batch: earliest and latest received_at. */
export function clientSightings(batch: ReadonlyArray<Decoded<MeterMessage>>): ClientSighting[] {
  const clients = new Map<string, { id: string; fingerprint: string; firstSeen: number; lastSeen: number }>();
  for (const { value: m } of batch) {
    const c = clients.get(m.clientId);
    if (c === undefined) clients.set(m.clientId, { id: m.clientId, fingerprint: m.fingerprint, firstSeen: m.receivedAt, lastSeen: m.receivedAt });
    else {
      if (m.receivedAt < c.firstSeen) c.firstSeen = m.receivedAt;
      if (m.receivedAt > c.lastSeen) c.lastSeen = m.receivedAt;
    }
  }
  return [...clients.values()];
}

/** The (client, metric) series whose history the fresh messages need, keyed by seriesKey. */
export function seriesOf(fresh: ReadonlyArray<Decoded<MeterMessage>>): Map<string, SeriesRef> {
  const series = new Map<string, SeriesRef>();
  for (const { value: m } of fresh) {
    for (const r of m.readings) {
      if (r.value === null) continue;
      const key = seriesKey(m.clientId, r.name);
      if (!series.has(key)) series.set(key, { clientId: m.clientId, metric: r.name });
    }
  }
  return series;
}

/**
 * Rows, events and counts of the fresh (not yet stored) messages, in order: spike detection
 * advances `histories` in place, so a reading sees the earlier ones of its batch.
 */
export function planMeterBatch(
  fresh: ReadonlyArray<Decoded<MeterMessage>>,
  histories: Map<string, number[]>,
  s: EnergyMeterSettings,
): ApplyResult & { rows: ReadingRow[] } {
  const stats = emptyStats();
  const rows: ReadingRow[] = [];
  const outbound: OutboundMessage[] = [];
  for (const { messageId, value: m } of fresh) {
    const detected = detectReadings(m.clientId, m.readings, histories, s.spike);
    for (let index = 0; index < detected.length; index++) {
      const reading = detected[index]!;
      const id = m.readingIds[index]!;
      rows.push({ id, messageId, clientId: m.clientId, receivedAt: m.receivedAt, reading });
      stats.readings[reading.status]++;
      if (reading.spike) stats.anomalies.spike = (stats.anomalies.spike ?? 0) + 1;
      if (reading.value !== null && reading.value < 0) stats.anomalies.negative = (stats.anomalies.negative ?? 0) + 1;
      const body = processedEventJson(id, m.clientId, reading.name, reading.value, isoTime(reading.timestamp), reading.status, reading.reason);
      outbound.push({ id, destination: s.outputExchange, key: ROUTING_KEY_PROCESSED, body });
    }
  }
  return { rows, outbound, stats };
}
