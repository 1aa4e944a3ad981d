/**
 * The pure calls each domain's apply() makes on a batch, in the order it makes them, with
 * the database's part replaced by in-memory state carried from batch to batch (as if every
 * message were new: what the stored rows, histories and baselines would hold). Only the
 * exported functions apply() calls are called here; glue that apply() writes inline and
 * that is not exported is named in a comment, copied only where a later call needs its
 * output, or left out.
 *
 * Each step returns a number derived from its output, so no call can be optimized away.
 */
import type { Config } from '../src/config/index.ts';
import type { Decoded } from '../src/domains/types.ts';
import { emaStep, type EmaState } from '../src/processors/anomaly/ema.ts';
import type { SeriesState } from '../src/processors/anomaly/western-electric.ts';
import type { AnalyticsMessage } from '../src/domains/analytics/decode.ts';
import { detectAnomalies } from '../src/domains/analytics/detect.ts';
import { availabilitySamples, kpiDeltas, measurementDeltas, rollupDeltas } from '../src/domains/analytics/rollup.ts';
import { collect } from '../src/domains/analytics/index.ts';
import type { SpecLimits } from '../src/processors/anomaly/spec-limits.ts';
import type { MeterMessage } from '../src/domains/energy-meter/decode.ts';
import { clientSightings, planMeterBatch, seriesOf } from '../src/domains/energy-meter/plan.ts';
import type { GridReading } from '../src/domains/grid-telemetry/decode.ts';
import { alertIdOf } from '../src/domains/grid-telemetry/index.ts';
import { windowDeltas } from '../src/domains/grid-telemetry/windows.ts';
import { keyOfReading } from '../src/domains/grid-telemetry/store.ts';
import type { Transaction } from '../src/domains/smart-grid/decode.ts';
import { regionMinuteDeltas, secondDeltas } from '../src/domains/smart-grid/rollup.ts';
import { planMeters, type MeterHead } from '../src/domains/smart-grid/status.ts';
import type { DomainName } from './messages.ts';

export interface PureSteps {
  /** Which calls run, for the README and the JSON. */
  readonly calls: string;
  /** Forgets the carried state (each timed pass starts from the same one). */
  reset(): void;
  run(batch: ReadonlyArray<Decoded<any>>): number;
}

/** The domain's pure batch steps, or null when apply() has none that are exported. */
export function pureSteps(domain: DomainName, config: Config): PureSteps | null {
  switch (domain) {
    case 'energy-meter': return energyMeter(config);
    case 'grid-telemetry': return gridTelemetry(config);
    case 'analytics': return analytics(config);
    case 'smart-grid': return smartGrid();
    // applyChatBatch: rounds() (not exported) and JSON.stringify of each item inside
    // upsertItems(), a database call. Nothing pure to call: its core path is decode alone.
    case 'chat-events': return null;
  }
}

/** applyMeterBatch (src/domains/energy-meter/index.ts): every pure call it makes. */
function energyMeter(config: Config): PureSteps {
  // Stands in for meter_metric_history (lockHistories → saveHistories).
  let histories = new Map<string, number[]>();
  return {
    calls: 'clientSightings, seriesOf, planMeterBatch (detectReadings, rows, one event per reading)',
    reset: () => (histories = new Map()),
    run(batch: ReadonlyArray<Decoded<MeterMessage>>) {
      const fresh = batch.filter((d) => d.value.readings.length > 0);
      const sightings = clientSightings(batch);
      const series = seriesOf(fresh);
      const plan = planMeterBatch(fresh, histories, config.energyMeter);
      return sightings.length + series.size + plan.rows.length + plan.outbound.length;
    },
  };
}

/** applyGridBatch (src/domains/grid-telemetry/index.ts). */
function gridTelemetry(config: Config): PureSteps {
  const s = config.gridTelemetry;
  // Stands in for grid_meters.baseline (lockMeters → saveMeters).
  let baselines = new Map<string, EmaState>();
  return {
    calls: 'windowDeltas (1m, 15m), emaStep, alertIdOf per alert',
    reset: () => (baselines = new Map()),
    run(batch: ReadonlyArray<Decoded<GridReading>>) {
      const readings = batch.map((d) => d.value);
      // insertReadings returns the keys already stored (none here: every message is new).
      const already = new Set<string>();
      const added = already.size === 0 ? readings : readings.filter((r) => !already.has(keyOfReading(r)));
      let sink = 0;
      for (const sizeMs of [60_000, 900_000]) sink += windowDeltas(added, sizeMs).length;
      for (const r of added) {
        const step = emaStep(baselines.get(r.meterId) ?? { baseline: null }, r.powerKw, s.ema);
        baselines.set(r.meterId, step.next);
        if (step.anomaly !== null) sink += alertIdOf(r.meterId, r.timestampMs, step.anomaly.type).length;
      }
      return sink;
    },
  };
}

/** applyBatch (src/domains/smart-grid/index.ts), PostgreSQL only (no InfluxDB points). */
function smartGrid(): PureSteps {
  // Stands in for smart_grid_meters (lockMeters → writeMeters).
  let meters = new Map<string, MeterHead>();
  return {
    calls: 'planMeters, regionMinuteDeltas, secondDeltas',
    reset: () => (meters = new Map()),
    run(batch: ReadonlyArray<Decoded<Transaction>>) {
      const added = batch.map((d) => d.value);
      const heads = new Map<string, MeterHead>();
      for (const t of added) {
        const h = meters.get(t.meterId);
        if (h !== undefined) heads.set(t.meterId, h);
      }
      const plan = planMeters(heads, added);
      for (const r of plan.rows) meters.set(r.meterId, r);
      return plan.rows.length + plan.alerts.length + regionMinuteDeltas(added).length + secondDeltas(added).length;
    },
  };
}

/** applyAnalyticsBatch (src/domains/analytics/index.ts), no specifications loaded (rolling limits). */
function analytics(config: Config): PureSteps {
  const s = config.analytics;
  const specs = new Map<string, SpecLimits>();
  // Stands in for the stored Western Electric state (lockSeries → saveSeries).
  let stored = new Map<string, SeriesState>();
  return {
    calls: 'collect, detectAnomalies (rolling limits), availabilitySamples, measurementDeltas, rollupDeltas, kpiDeltas',
    reset: () => (stored = new Map()),
    run(batch: ReadonlyArray<Decoded<AnalyticsMessage>>) {
      const { measurements: newM, events: newE } = collect(batch);
      const detected = detectAnomalies(newM, specs, stored, s.rolling);
      for (const [key, { state }] of detected.states) stored.set(key, state);
      const kpis = [...detected.kpis, ...availabilitySamples(newE, s.upStatuses)];
      return detected.anomalies.length + measurementDeltas(newM.map((r) => r.m), s.windowsS).size +
        rollupDeltas(newE, s.windowsS).size + kpiDeltas(kpis, s.windowsS).size;
    },
  };
}
