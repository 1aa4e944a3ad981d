/**
 * Anomalies and KPI samples of a batch's new measurements, pure: out-of-spec against the
 * tenant's specification, Western Electric rules against the specification's control limits
 * or the series' rolling statistics. Each series is advanced in the order the measurements
 * arrived, continuing from its stored state: a point is classified when it arrives (a late one
 * too), so a batch finds what the same measurements would find one batch each.
 */
import { outOfSpec, hasLimits, specControlLimits, type SpecLimits } from '../../processors/anomaly/spec-limits.ts';
import { EMPTY_SERIES, stepSeries, type RollingSettings, type SeriesState } from '../../processors/anomaly/western-electric.ts';
import { uuidV5 } from '../../lib/ids.ts';
import { seriesKey, type Measurement } from './records.ts';
import type { KpiSample } from './rollup.ts';
import { specKey, type AnomalyRow } from './store.ts';

export interface DetectResult {
  readonly anomalies: AnomalyRow[];
  /** New state of every series the batch touched, by series key. */
  readonly states: Map<string, { m: Measurement; state: SeriesState }>;
  readonly kpis: KpiSample[];
}

export function detectAnomalies(
  measurements: ReadonlyArray<{ id: string; m: Measurement }>,
  /** By specKey; absent or null: the tenant has no specification for the metric. */
  specs: ReadonlyMap<string, SpecLimits | null>,
  stored: ReadonlyMap<string, SeriesState>,
  rolling: RollingSettings,
): DetectResult {
  const anomalies: AnomalyRow[] = [];
  const kpis: KpiSample[] = [];
  const states = new Map<string, { m: Measurement; state: SeriesState }>();
  for (const { id, m } of measurements) {
    const key = seriesKey(m);
    const spec = specs.get(specKey(m.tenantId, m.metric)) ?? null;
    const control = spec === null ? null : specControlLimits(spec);
    if (spec !== null && hasLimits(spec)) {
      const oos = outOfSpec(m.value, spec);
      kpis.push({ time: m.time, tenantId: m.tenantId, factoryId: m.factoryId, machineId: m.machineId, kpi: 'in_spec_rate', metric: m.metric, good: oos === null });
      if (oos !== null) {
        anomalies.push({
          id: uuidV5(`analytics-anomaly:out_of_spec:${id}`), m, rule: 'out_of_spec', basis: 'spec',
          center: control?.center ?? null, sigma: control?.sigma ?? null, spec, points: [{ t: m.time, v: m.value }],
        });
      }
    }
    const step = stepSeries(states.get(key)?.state ?? stored.get(key) ?? EMPTY_SERIES, { t: m.time, v: m.value }, control, rolling);
    states.set(key, { m, state: step.state });
    for (const v of step.violations) {
      anomalies.push({
        id: uuidV5(`analytics-anomaly:${v.rule}:${id}`), m, rule: v.rule, basis: control === null ? 'rolling' : 'spec',
        center: v.limits.center, sigma: v.limits.sigma, spec, points: v.points.map((p) => ({ t: p.t, v: p.v })),
      });
    }
  }
  return { anomalies, states, kpis };
}
