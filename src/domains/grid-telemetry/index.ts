import type { PoolClient } from 'pg';
import { uuidV5 } from '../../lib/ids.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { MonthlyPartitions } from '../../sinks/postgres/partitions.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import { emptyStats, type ApplyResult, type Decoded, type DomainHandler, type DomainPlugin, type DomainTask } from '../types.ts';
import { decodeGridReading, type GridReading } from './decode.ts';
import type { GridTelemetrySettings } from './settings.ts';
import { windowDeltas } from './windows.ts';
import { alertIdOf, detect } from './detect.ts';
import { GridState, WINDOWS } from './state.ts';
import {
  addAggregates, advanceWatermark, closeWindows, insertAlerts, insertReadings, keyOfReading, lockMeters, markOffline,
  openWindowStats, saveMeters, type AlertRow, type ClosedAggregate,
} from './store.ts';

export { alertIdOf } from './detect.ts';

export const DOMAIN = 'grid-telemetry';

/** The alert message of SPEC §5.2. */
export interface AlertEvent {
  alert_id: string;
  meter_id: string;
  region: string;
  type: AlertRow['type'];
  value: number | null;
  baseline: number | null;
  timestamp: string;
  detected_at: string;
}

function alertMessage(a: AlertRow, detectedAt: string, topic: string): OutboundMessage {
  const event: AlertEvent = {
    alert_id: a.alertId, meter_id: a.meterId, region: a.region, type: a.type, value: a.value, baseline: a.baseline,
    timestamp: isoTime(a.timestampMs), detected_at: detectedAt,
  };
  return { id: a.alertId, destination: topic, key: a.meterId, body: JSON.stringify(event), kind: 'alert' };
}

function aggregateMessage(label: string, row: ClosedAggregate, topic: string): OutboundMessage {
  const body = {
    meter_id: row.meter_id, region: row.region, window: label, window_start: row.window_start, window_end: row.window_end,
    avg_power: row.avg_power, max_power: row.max_power, min_power: row.min_power, total_energy: row.total_energy,
    sample_count: row.sample_count, revision: row.revision,
  };
  return {
    id: uuidV5(`grid-aggregate:${label}:${row.meter_id}:${row.window_start}:${row.revision}`),
    destination: topic, key: row.meter_id, body: JSON.stringify(body), kind: 'aggregate',
  };
}

async function applyGridBatch(tx: PoolClient, batch: ReadonlyArray<Decoded<GridReading>>, s: GridTelemetrySettings): Promise<ApplyResult> {
  const stats = emptyStats();
  const readings = batch.map((d) => d.value);
  const already = await insertReadings(tx, readings);
  // Only readings inserted now move aggregates and baselines: redelivery changes nothing.
  const added = already.size === 0 ? readings : readings.filter((r) => !already.has(keyOfReading(r)));
  stats.duplicates = readings.length - added.length;
  stats.readings.valid = added.length;
  if (added.length === 0) return { outbound: [], stats };

  for (const w of WINDOWS) {
    const deltas = windowDeltas(added, w.sizeMs);
    await addAggregates(tx, w.table, deltas);
    stats.aggregatesWritten += deltas.length;
  }

  const regions = new Map<string, string>();
  let maxEventTime = -Infinity;
  for (const r of added) {
    regions.set(r.meterId, r.region);
    if (r.timestampMs > maxEventTime) maxEventTime = r.timestampMs;
  }
  const meters = await lockMeters(tx, regions);
  const alerts: AlertRow[] = [];
  for (const r of added) {
    const state = meters.get(r.meterId)!;
    const step = detect(state.baseline, r, s.ema);
    state.baseline = step.baseline;
    if (step.alert !== null) {
      alerts.push(step.alert);
      stats.anomalies[step.alert.type] = (stats.anomalies[step.alert.type] ?? 0) + 1;
    }
  }
  await saveMeters(tx, meters, regions);
  const stored = await insertAlerts(tx, alerts);
  await advanceWatermark(tx, DOMAIN, String(batch[0]!.delivery.origin.partition ?? ''), maxEventTime);
  const outbound = alerts.filter((a) => stored.ids.has(a.alertId)).map((a) => alertMessage(a, stored.detectedAt, s.topics.alerts));
  return { outbound, stats };
}

function gridTasks(s: GridTelemetrySettings, onWindows: (window: string, stats: { buckets: number; readings: number }) => void): DomainTask[] {
  const flush = (w: (typeof WINDOWS)[number], intervalMs: number): DomainTask => ({
    name: `flush-${w.label}`,
    intervalMs,
    onShutdown: true,
    run: async (tx) => ({
      outbound: (await closeWindows(tx, w.table, DOMAIN, s.allowedLatenessMs)).map((row) => aggregateMessage(w.label, row, s.topics.aggregates)),
    }),
    observe: async (pool) => onWindows(w.label, await openWindowStats(pool, w.table)),
  });
  return [
    flush(WINDOWS[0], s.flushInterval1mMs),
    flush(WINDOWS[1], s.flushInterval15mMs),
    {
      name: 'offline',
      intervalMs: Math.max(1_000, Math.min(30_000, Math.floor(s.offlineAfterMs / 4))),
      onShutdown: false,
      run: async (tx) => {
        const silent = await markOffline(tx, s.offlineAfterMs);
        const alerts: AlertRow[] = silent.map((m) => ({
          alertId: alertIdOf(m.meter_id, Number(m.last_ms), 'offline'), meterId: m.meter_id, region: m.region,
          type: 'offline', value: null, baseline: null, timestampMs: Number(m.last_ms),
        }));
        const stored = await insertAlerts(tx, alerts);
        return { outbound: alerts.filter((a) => stored.ids.has(a.alertId)).map((a) => alertMessage(a, stored.detectedAt, s.topics.alerts)) };
      },
    },
  ];
}

export const gridTelemetry: DomainPlugin = {
  name: DOMAIN,
  migrations: new URL('./sql/', import.meta.url),
  defaultSource: 'kafka',
  routes: (config) => [config.gridTelemetry.topics.input],
  outputs: (config) => [
    { name: config.gridTelemetry.topics.aggregates, variable: 'GRID_AGGREGATES_TOPIC' },
    { name: config.gridTelemetry.topics.alerts, variable: 'GRID_ALERTS_TOPIC' },
  ],
  catchAll: true,
  create: ({ config, pool, log, metrics }): DomainHandler<GridReading> => {
    const s = config.gridTelemetry;
    const partitions = new MonthlyPartitions(pool, log, 'telemetry_readings', s.retentionMonths);
    return {
      name: DOMAIN,
      state: new GridState({ pool, settings: s, domain: DOMAIN, alertMessage: (a, detectedAt) => alertMessage(a, detectedAt, s.topics.alerts) }),
      decode: (delivery) => decodeGridReading(delivery.body, s.decode),
      apply: (tx, messages) => applyGridBatch(tx, messages, s),
      prepare: async (messages) => partitions.ensure(messages.map((m) => m.value.timestampMs)),
      maintain: async () => partitions.maintain(),
      tasks: gridTasks(s, (window, w) => {
        metrics?.windowBuckets.set({ domain: DOMAIN, window }, w.buckets);
        metrics?.windowedReadings.set({ domain: DOMAIN, window }, w.readings);
      }),
    };
  },
};
