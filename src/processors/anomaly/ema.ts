/**
 * EMA baseline detector (SPEC §5.2): outage, spike and drop of a meter's power against an
 * exponential moving average of its earlier readings. Pure step function: the caller loads
 * the baseline (persisted per meter, so restarts keep it), steps every reading in the order
 * it arrives (within a batch too, so batching changes nothing) and saves `next`.
 *
 * - outage: `value < outageThreshold`; takes precedence over spike/drop and never moves the
 *   baseline (an outage says nothing about normal consumption). An outage on the very first
 *   reading is still reported, with `baseline: null`, and leaves the baseline unseeded: the
 *   threshold is absolute and needs no history, and seeding with ~0 kW would suppress
 *   spike/drop detection (baseline < minBaseline) until the average climbs back.
 * - the first non-outage reading only seeds the baseline.
 * - spike `value > spikeFactor × baseline`, drop `value < dropFactor × baseline`, both strict
 *   and only when `baseline ≥ minBaseline` (a ratio against ~0 means nothing).
 * - comparisons use the baseline before the update; spikes and drops do update it.
 */

export interface EmaSettings {
  /** Weight of the new value: `baseline = (1 − alpha)·baseline + alpha·value` (0.2). */
  readonly alpha: number;
  /** Spike when the value exceeds this multiple of the baseline (2). */
  readonly spikeFactor: number;
  /** Drop when the value is below this multiple of the baseline (0.5). */
  readonly dropFactor: number;
  /** Outage when the value is below this, in kW (0.1). */
  readonly outageThreshold: number;
  /** Spike/drop only against a baseline at least this large (0.1). */
  readonly minBaseline: number;
}

export const DEFAULT_EMA: EmaSettings = { alpha: 0.2, spikeFactor: 2, dropFactor: 0.5, outageThreshold: 0.1, minBaseline: 0.1 };

export type EmaAnomalyType = 'outage' | 'spike' | 'drop';

export interface EmaAnomaly {
  readonly type: EmaAnomalyType;
  readonly value: number;
  /** The baseline the value was compared with; null for an outage before any baseline. */
  readonly baseline: number | null;
}

export interface EmaState {
  /** null until the first non-outage reading. */
  readonly baseline: number | null;
}

export const EMPTY_EMA: EmaState = { baseline: null };

export interface EmaStep {
  readonly anomaly: EmaAnomaly | null;
  readonly next: EmaState;
}

export function emaStep(state: EmaState, powerKw: number, s: EmaSettings = DEFAULT_EMA): EmaStep {
  // A NaN would be saved as the baseline and silence the meter for good.
  if (!Number.isFinite(powerKw)) throw new RangeError(`power must be a finite number, got ${powerKw}`);
  const { baseline } = state;
  if (powerKw < s.outageThreshold) return { anomaly: { type: 'outage', value: powerKw, baseline }, next: state };
  if (baseline === null) return { anomaly: null, next: { baseline: powerKw } };

  let anomaly: EmaAnomaly | null = null;
  if (baseline >= s.minBaseline) {
    if (powerKw > s.spikeFactor * baseline) anomaly = { type: 'spike', value: powerKw, baseline };
    else if (powerKw < s.dropFactor * baseline) anomaly = { type: 'drop', value: powerKw, baseline };
  }
  return { anomaly, next: { baseline: (1 - s.alpha) * baseline + s.alpha * powerKw } };
}
