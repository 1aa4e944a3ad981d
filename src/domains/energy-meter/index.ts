import type { PoolClient } from 'pg';
import type { OutboundMessage } from '../../sources/types.ts';
import { emptyStats, type ApplyResult, type Decoded, type DomainHandler, type DomainPlugin } from '../types.ts';
import { decodeMeterMessage, readingIdOf, type MeterMessage } from './decode.ts';
import { detectReadings, seriesKey } from './detect.ts';
import { insertReadings, lockHistories, saveHistories, storedMessages, upsertClients, type ClientSighting, type ReadingRow, type SeriesRef } from './store.ts';
import type { EnergyMeterSettings } from './settings.ts';
import { MonthlyPartitions } from '../../sinks/postgres/partitions.ts';

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

export function createEnergyMeterHandler(settings: EnergyMeterSettings, partitions?: MonthlyPartitions): DomainHandler<MeterMessage> {
  return {
    name: 'energy-meter',
    decode: (delivery) => decodeMeterMessage(delivery.body, settings.rules),
    apply: (tx, messages) => applyMeterBatch(tx, messages, settings),
    prepare: async (messages) => partitions?.ensure(timestampsOf(messages)),
    maintain: async () => partitions?.maintain(),
  };
}

function* timestampsOf(messages: ReadonlyArray<Decoded<MeterMessage>>): Iterable<number> {
  for (const { value } of messages) for (const r of value.readings) yield r.timestamp;
}

async function applyMeterBatch(tx: PoolClient, batch: ReadonlyArray<Decoded<MeterMessage>>, s: EnergyMeterSettings): Promise<ApplyResult> {
  const stats = emptyStats();

  // Clients first: every message counts as a sighting, redelivered or not (greatest() is idempotent).
  const clients = new Map<string, ClientSighting>();
  for (const { value: m } of batch) {
    const c = clients.get(m.clientId);
    clients.set(m.clientId, {
      id: m.clientId,
      fingerprint: m.fingerprint,
      firstSeen: Math.min(c?.firstSeen ?? m.receivedAt, m.receivedAt),
      lastSeen: Math.max(c?.lastSeen ?? m.receivedAt, m.receivedAt),
    });
  }
  await upsertClients(tx, [...clients.values()]);

  // A message is stored whole or not at all, so its first reading tells whether it is a redelivery.
  const withReadings = batch.filter((d) => d.value.readings.length > 0);
  const stored = await storedMessages(
    tx,
    withReadings.map((d) => ({ id: readingIdOf(d.messageId, 0), timestamp: d.value.readings[0]!.timestamp })),
  );
  const fresh = withReadings.filter((d) => !stored.has(readingIdOf(d.messageId, 0)));
  stats.duplicates = withReadings.length - fresh.length;

  const series = new Map<string, SeriesRef>();
  for (const { value: m } of fresh) {
    for (const r of m.readings) if (r.value !== null) series.set(seriesKey(m.clientId, r.name), { clientId: m.clientId, metric: r.name });
  }
  const histories = new Map<string, number[]>();
  for (const h of await lockHistories(tx, [...series.values()])) histories.set(seriesKey(h.clientId, h.metric), h.recent);

  const rows: ReadingRow[] = [];
  const outbound: OutboundMessage[] = [];
  for (const { messageId, value: m } of fresh) {
    const detected = detectReadings(m.clientId, m.readings, histories, s.spike);
    detected.forEach((reading, index) => {
      const id = readingIdOf(messageId, index);
      rows.push({ id, messageId, clientId: m.clientId, receivedAt: m.receivedAt, reading });
      stats.readings[reading.status]++;
      if (reading.spike) stats.anomalies.spike = (stats.anomalies.spike ?? 0) + 1;
      if (reading.value !== null && reading.value < 0) stats.anomalies.negative = (stats.anomalies.negative ?? 0) + 1;
      const event: ReadingProcessedEvent = {
        reading_id: id,
        client_id: m.clientId,
        metric_name: reading.name,
        metric_value: reading.value,
        reading_timestamp: new Date(reading.timestamp).toISOString(),
        validation_status: reading.status,
        anomaly_reason: reading.reason,
      };
      outbound.push({ id, destination: s.outputExchange, key: ROUTING_KEY_PROCESSED, body: JSON.stringify(event) });
    });
  }

  await insertReadings(tx, rows);
  await saveHistories(
    tx,
    [...series.values()].map((ref) => ({ ...ref, recent: histories.get(seriesKey(ref.clientId, ref.metric)) ?? [] })),
  );
  return { outbound, stats };
}

export const energyMeter: DomainPlugin = {
  name: 'energy-meter',
  migrations: new URL('./sql/', import.meta.url),
  defaultSource: 'amqp',
  // On RabbitMQ the ingest routing key; elsewhere a topic or subject of the same name.
  routes: (config) => [config.rabbitmq.ingestRoutingKey],
  catchAll: true,
  create: ({ config, pool, log }) =>
    createEnergyMeterHandler(
      config.energyMeter,
      new MonthlyPartitions(pool, log, 'meter_readings_raw', config.energyMeter.retentionMonths),
    ),
};
