import type { PoolClient } from 'pg';
import { isoTime } from '../../lib/iso-time.ts';
import { InfluxClient } from '../../sinks/influxdb/client.ts';
import { MonthlyPartitions } from '../../sinks/postgres/partitions.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import type { Logger } from '../../runtime/logger.ts';
import { emptyStats, type ApplyResult, type Decoded, type DomainHandler, type DomainPlugin, type DomainTask } from '../types.ts';
import { decodeTransaction, type Transaction } from './decode.ts';
import { regionPoint, secondPoints, transactionPoint } from './points.ts';
import { regionMinuteDeltas, secondDeltas } from './rollup.ts';
import type { SmartGridSettings } from './settings.ts';
import { planMeters, type StatusAlert } from './status.ts';
import {
  addRegionMinutes, addSeconds, insertStatusAlerts, insertTransactions, lockMeters, markSynced, pruneAggregates, transactionKey, unsyncedAggregates,
  writeMeters,
} from './store.ts';
import { SmartGridState } from './state.ts';

export const DOMAIN = 'smart-grid';

/** Rows of each aggregate table written to InfluxDB per flush. */
const FLUSH_LIMIT = 20_000;
const FLUSH_LOCK = 'ingestd:smart-grid:influx-aggregates';

function alertMessage(a: StatusAlert, detectedAt: string, topic: string): OutboundMessage {
  const body = {
    alert_id: a.alertId, meter_id: a.meterId, region: a.region, type: a.type, previous_status: a.previousStatus,
    consumption_kwh: a.consumptionKwh, timestamp: isoTime(a.timestampMs), detected_at: detectedAt,
  };
  return { id: a.alertId, destination: topic, key: a.meterId, body: JSON.stringify(body), kind: 'alert' };
}

/**
 * One batch: raw rows first (their RETURNING says which are new), the new ones to InfluxDB
 * before the transaction commits (a failed write rolls the batch back and the pipeline pauses and
 * retries; a write that succeeded before a failed COMMIT is simply written again, as points
 * are keyed by tags and time), then meter state and alerts, then the shared per-region and
 * per-second rows last, so their row locks are held for the shortest time.
 */
async function applyBatch(tx: PoolClient, batch: ReadonlyArray<Decoded<Transaction>>, s: SmartGridSettings, influx: InfluxClient | undefined): Promise<ApplyResult> {
  const stats = emptyStats();
  const all = batch.map((d) => d.value);
  const fresh = await insertTransactions(tx, all);
  // Taken out as matched: a repeat inside the batch (same id and time) counts once, as the row it stored.
  const added = fresh.size === all.length ? all : all.filter((t) => fresh.delete(transactionKey(t)));
  stats.duplicates = all.length - added.length;
  stats.readings.valid = added.length;
  if (added.length === 0) return { outbound: [], stats };

  // The InfluxDB write overlaps the PostgreSQL statements below; both finish before COMMIT.
  const written = influx === undefined ? undefined : influx.write('raw', added.map(transactionPoint));
  written?.catch(() => undefined); // awaited below; this only stops an early PostgreSQL failure leaving it unhandled
  // Status per transaction, in delivery order, from the locked stored state: a batch alerts as
  // its transactions would one batch each (a fault that ends inside the batch included).
  const heads = await lockMeters(tx, [...new Set(added.map((t) => t.meterId))]);
  const { rows, alerts } = planMeters(heads, added);
  await writeMeters(tx, rows, new Set(heads.keys()));
  const stored = await insertStatusAlerts(tx, alerts);
  for (const a of alerts) if (stored.ids.has(a.alertId)) stats.anomalies[a.type] = (stats.anomalies[a.type] ?? 0) + 1;

  const regions = regionMinuteDeltas(added);
  const seconds = secondDeltas(added);
  await addRegionMinutes(tx, regions);
  await addSeconds(tx, seconds);
  stats.aggregatesWritten = regions.length + seconds.length;
  await written;
  const outbound = alerts.filter((a) => stored.ids.has(a.alertId)).map((a) => alertMessage(a, stored.detectedAt, s.topics.alerts));
  return { outbound, stats };
}

/** Writes changed per-second and per-region rows to InfluxDB (one instance at a time). */
function influxAggregatesTask(s: SmartGridSettings, influx: InfluxClient, log: Logger): DomainTask {
  return {
    name: 'influx-aggregates',
    intervalMs: s.influxFlushIntervalMs,
    onShutdown: true,
    run: async (tx) => {
      const { rows } = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked', [FLUSH_LOCK]);
      if (rows[0]?.locked !== true) return { outbound: [] };
      const { seconds, regions } = await unsyncedAggregates(tx, FLUSH_LIMIT);
      if (seconds.length + regions.length === 0) return { outbound: [] };
      await influx.write('aggregate', [...seconds.flatMap(secondPoints), ...regions.map(regionPoint)]);
      await markSynced(tx, seconds, regions);
      log.debug({ seconds: seconds.length, regions: regions.length }, 'aggregates written to InfluxDB');
      return { outbound: [] };
    },
  };
}

function pruneTask(s: SmartGridSettings): DomainTask {
  return {
    name: 'prune',
    intervalMs: 300_000,
    onShutdown: false,
    run: async (tx) => {
      await pruneAggregates(tx, s.distinctRetentionMs, s.retentionMonths);
      return { outbound: [] };
    },
  };
}

export const smartGrid: DomainPlugin = {
  name: DOMAIN,
  migrations: new URL('./sql/', import.meta.url),
  defaultSource: 'kafka',
  routes: (config) => [config.smartGrid.topics.input],
  outputs: (config) => [{ name: config.smartGrid.topics.alerts, variable: 'SMART_GRID_ALERTS_TOPIC' }],
  catchAll: false,
  create: ({ config, pool, log, metrics }): DomainHandler<Transaction> => {
    const s = config.smartGrid;
    const influx = s.influx === undefined ? undefined : new InfluxClient(s.influx, log.child({ sink: 'influxdb' }), {
      connected: (up) => metrics?.influxdbConnected.set(up ? 1 : 0),
      written: (policy, n) => metrics?.influxdbPointsWritten.inc({ policy }, n),
      dropped: (n) => metrics?.influxdbPointsDropped.inc(n),
    });
    const partitions = new MonthlyPartitions(pool, log, 'smart_grid_transactions', s.retentionMonths);
    const tasks = [pruneTask(s)];
    if (influx !== undefined) tasks.push(influxAggregatesTask(s, influx, log));
    return {
      name: DOMAIN,
      // On a source that owns meters by partition (Kafka, keyed by meter id): meter heads in memory, written at checkpoints.
      state: new SmartGridState({ pool, influx, alertMessage: (a, detectedAt) => alertMessage(a, detectedAt, s.topics.alerts) }),
      decode: (delivery) => decodeTransaction(delivery.body),
      apply: (tx, messages) => applyBatch(tx, messages, s, influx),
      prepare: async (messages) => {
        await partitions.ensure(messages.map((m) => m.value.timestampMs));
        // Database and retention policies before the first write (a failure is retried there).
        await influx?.ensure().catch((err: unknown) => log.warn({ err: String(err) }, 'InfluxDB not ready yet'));
      },
      maintain: async () => partitions.maintain(),
      tasks,
    };
  },
};
