import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { ApplyResult, Decoded, DomainHandler, DomainPlugin } from '../types.ts';
import { decodeMeterMessage, type MeterMessage } from './decode.ts';
import { seriesKey } from './detect.ts';
import { clientSightings, planMeterBatch, seriesOf } from './plan.ts';
import { insertReadings, lockHistories, storedMessages, upsertClients, writeHistories } from './store.ts';
import type { EnergyMeterSettings } from './settings.ts';
import { EnergyMeterState } from './state.ts';
import { MonthlyPartitions } from '../../sinks/postgres/partitions.ts';

export function createEnergyMeterHandler(settings: EnergyMeterSettings, partitions?: MonthlyPartitions, pool?: pg.Pool): DomainHandler<MeterMessage> {
  return {
    name: 'energy-meter',
    ...(pool === undefined ? {} : { state: new EnergyMeterState({ pool, settings }) }),
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
  // Clients first: every message counts as a sighting, redelivered or not (greatest() is idempotent).
  await upsertClients(tx, clientSightings(batch));

  // A message is stored whole or not at all, so its first reading tells whether it is a redelivery.
  const withReadings = batch.filter((d) => d.value.readings.length > 0);
  const stored = await storedMessages(tx, withReadings.map((d) => ({ id: d.value.readingIds[0]!, timestamp: d.value.readings[0]!.timestamp })));
  const fresh = stored.size === 0 ? withReadings : withReadings.filter((d) => !stored.has(d.value.readingIds[0]!));

  const series = seriesOf(fresh);
  const histories = new Map<string, number[]>();
  for (const h of await lockHistories(tx, [...series.values()])) histories.set(seriesKey(h.clientId, h.metric), h.recent);

  const { rows, outbound, stats } = planMeterBatch(fresh, histories, s);
  stats.duplicates = withReadings.length - fresh.length;
  await insertReadings(tx, rows);
  await writeHistories(tx, [...series].map(([key, ref]) => ({ ...ref, recent: histories.get(key) ?? [] })));
  return { outbound, stats };
}

export const energyMeter: DomainPlugin = {
  name: 'energy-meter',
  migrations: new URL('./sql/', import.meta.url),
  defaultSource: 'amqp',
  // On RabbitMQ the ingest routing key; elsewhere a topic or subject of the same name.
  routes: (config) => [config.rabbitmq.ingestRoutingKey],
  outputs: (config) => [{ name: config.energyMeter.outputExchange, variable: 'RABBITMQ_WORKER_EXCHANGE' }],
  catchAll: true,
  create: ({ config, pool, log }) =>
    createEnergyMeterHandler(
      config.energyMeter,
      new MonthlyPartitions(pool, log, 'meter_readings_raw', config.energyMeter.retentionMonths),
      pool,
    ),
};
