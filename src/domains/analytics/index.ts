import type { PoolClient } from 'pg';
import { MonthlyPartitions } from '../../sinks/postgres/partitions.ts';
import type { SourceKind } from '../../sources/kinds.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import { emptyStats, type ApplyResult, type Decoded, type DomainHandler, type DomainPlugin } from '../types.ts';
import { createAnalyticsDecoder, type AnalyticsMessage } from './decode.ts';
import { detectAnomalies } from './detect.ts';
import { seriesKey, type Measurement } from './records.ts';
import { SUB_DOMAINS } from './registry.ts';
import { availabilitySamples, kpiDeltas, measurementDeltas, rollupDeltas } from './rollup.ts';
import type { AnalyticsSettings } from './settings.ts';
import { AnalyticsState } from './state.ts';
import { AnalyticsStore, type AnomalyRow, type StoredEvent, type StoredMeasurement } from './store.ts';

export const DOMAIN = 'analytics';

const TIME_TABLES = ['analytics_measurement', 'analytics_agg', 'analytics_event', 'analytics_anomaly'] as const;

/** The anomaly message published downstream (through the outbox), one per stored anomaly. */
export interface AnomalyEvent {
  anomaly_id: string;
  tenant_id: string;
  factory_id: string;
  machine_id: string;
  sensor_id: string;
  metric: string;
  rule: AnomalyRow['rule'];
  basis: AnomalyRow['basis'];
  value: number;
  center: number | null;
  sigma: number | null;
  time: string;
  points: Array<{ time: string; value: number }>;
  detected_at: string;
}

function anomalyMessage(a: AnomalyRow, detectedAt: string, s: AnalyticsSettings, source: SourceKind, exchange: string): OutboundMessage {
  const body: AnomalyEvent = {
    anomaly_id: a.id, tenant_id: a.m.tenantId, factory_id: a.m.factoryId, machine_id: a.m.machineId, sensor_id: a.m.sensorId,
    metric: a.m.metric, rule: a.rule, basis: a.basis, value: a.m.value, center: a.center, sigma: a.sigma,
    time: new Date(a.m.time).toISOString(), points: a.points.map((p) => ({ time: new Date(p.t).toISOString(), value: p.v })), detected_at: detectedAt,
  };
  // RabbitMQ: the worker exchange, routed by the topic name; brokers with topics: the topic.
  return source === 'amqp'
    ? { id: a.id, destination: exchange, key: s.anomalyTopic, body: JSON.stringify(body), kind: 'alert' }
    : { id: a.id, destination: s.anomalyTopic, key: `${a.m.tenantId}/${a.m.machineId}`, body: JSON.stringify(body), kind: 'alert' };
}

/** Records of the batch, each once (the same record in two messages of one batch counts once). */
export function collect(batch: ReadonlyArray<Decoded<AnalyticsMessage>>): { measurements: StoredMeasurement[]; events: StoredEvent[] } {
  const seen = new Set<string>();
  const measurements: StoredMeasurement[] = [];
  const events: StoredEvent[] = [];
  for (const { value } of batch) {
    for (const { id, record } of value.records) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (record.kind === 'measurement') measurements.push({ id, subDomain: value.subDomain, m: record });
      else events.push({ id, subDomain: value.subDomain, event: record });
    }
  }
  return { measurements, events };
}

async function applyAnalyticsBatch(
  tx: PoolClient, batch: ReadonlyArray<Decoded<AnalyticsMessage>>, store: AnalyticsStore, s: AnalyticsSettings, out: (a: AnomalyRow, detectedAt: string) => OutboundMessage,
): Promise<ApplyResult> {
  const stats = emptyStats();
  const { measurements, events } = collect(batch);
  const freshM = await store.insertMeasurements(tx, measurements);
  const freshE = await store.insertEvents(tx, events);
  // Only rows inserted now move aggregates, KPIs and detectors: a redelivery changes nothing.
  const newM = measurements.filter((r) => freshM.has(r.id));
  const newE = events.filter((r) => freshE.has(r.id));
  stats.duplicates = measurements.length - newM.length + events.length - newE.length;
  stats.readings.valid = newM.length + newE.length;

  const pairs = new Map<string, readonly [string, string]>();
  const series = new Map<string, Measurement>();
  for (const { m } of newM) {
    pairs.set(`${m.tenantId}\u0000${m.metric}`, [m.tenantId, m.metric]);
    series.set(seriesKey(m), m);
  }
  const specs = await store.loadSpecs(tx, [...pairs.values()]);
  const detected = detectAnomalies(newM, specs, await store.lockSeries(tx, series), s.rolling);
  await store.saveSeries(tx, detected.states);
  const stored = await store.insertAnomalies(tx, detected.anomalies);
  for (const a of detected.anomalies) if (stored.ids.has(a.id)) stats.anomalies[a.rule] = (stats.anomalies[a.rule] ?? 0) + 1;

  const kpis = [...detected.kpis, ...availabilitySamples(newE, s.upStatuses)];
  const aggs = measurementDeltas(newM.map((r) => r.m), s.windowsS);
  await store.addAggregates(tx, aggs);
  await store.addRollups(tx, rollupDeltas(newE, s.windowsS));
  await store.addKpis(tx, kpiDeltas(kpis, s.windowsS));
  stats.aggregatesWritten = aggs.size;

  return { outbound: detected.anomalies.filter((a) => stored.ids.has(a.id)).map((a) => out(a, stored.detectedAt)), stats };
}

function* timesOf(messages: ReadonlyArray<Decoded<AnalyticsMessage>>, windowsS: ReadonlyArray<number>): Iterable<number> {
  const widest = Math.max(...windowsS) * 1000;
  for (const { value } of messages) {
    for (const { record } of value.records) {
      yield record.time;
      // The bucket of the widest window may start in the month before.
      yield Math.floor(record.time / widest) * widest;
    }
  }
}

export const analytics: DomainPlugin = {
  name: DOMAIN,
  migrations: new URL('./sql/', import.meta.url),
  schema: (config) => config.analytics.schema,
  defaultSource: 'kafka',
  parts: SUB_DOMAINS.map((d) => d.name),
  routes: (config) => SUB_DOMAINS.filter((d) => config.analytics.subDomains.includes(d.name)).map((d) => config.analytics.topicPrefix + d.topic),
  outputs: (config, source) => [source === 'amqp'
    ? { name: config.rabbitmq.workerExchange, variable: 'RABBITMQ_WORKER_EXCHANGE' }
    : { name: config.analytics.anomalyTopic, variable: 'ANALYTICS_ANOMALY_TOPIC' }],
  catchAll: false,
  create: ({ config, pool, log, source }): DomainHandler<AnalyticsMessage> => {
    const s = config.analytics;
    const decoder = createAnalyticsDecoder(SUB_DOMAINS.filter((d) => s.subDomains.includes(d.name)), s.topicPrefix);
    const store = new AnalyticsStore(s.schema);
    const partitions = TIME_TABLES.map((t) => new MonthlyPartitions(pool, log, t, s.retentionMonths, s.schema));
    const out = (a: AnomalyRow, detectedAt: string): OutboundMessage => anomalyMessage(a, detectedAt, s, source, config.rabbitmq.workerExchange);
    return {
      name: DOMAIN,
      state: new AnalyticsState({ pool, store, settings: s, anomalyMessage: out }),
      decode: (delivery) => decoder.decode(delivery.route, delivery.body),
      apply: (tx, messages) => applyAnalyticsBatch(tx, messages, store, s, out),
      prepare: async (messages) => {
        const times = [...timesOf(messages, s.windowsS)];
        for (const p of partitions) await p.ensure(times);
      },
      maintain: async () => {
        for (const p of partitions) await p.maintain();
      },
    };
  },
};
