import type { ControlLimits } from './western-electric.ts';

/** A specification of one metric: lower and upper limits, target, and optionally sigma. */
export interface SpecLimits {
  readonly lsl: number | null;
  readonly usl: number | null;
  readonly target: number | null;
  readonly sigma: number | null;
}

/** Out of spec: below the lower or above the upper limit (a value on a limit is in spec). */
export function outOfSpec(value: number, spec: SpecLimits): 'below_lsl' | 'above_usl' | null {
  if (spec.lsl !== null && value < spec.lsl) return 'below_lsl';
  if (spec.usl !== null && value > spec.usl) return 'above_usl';
  return null;
}

/** Whether a specification can judge conformance at all (it has a limit). */
export const hasLimits = (spec: SpecLimits): boolean => spec.lsl !== null || spec.usl !== null;

/**
 * Control limits a specification implies: centre = target, else the middle of the limits;
 * sigma as given, else a sixth of the tolerance (a capable process spans ±3σ within it).
 * Null when the specification does not say enough; the caller then uses rolling statistics.
 */
export function specControlLimits(spec: SpecLimits): ControlLimits | null {
  const both = spec.lsl !== null && spec.usl !== null && spec.usl > spec.lsl;
  const center = spec.target ?? (both ? (spec.lsl! + spec.usl!) / 2 : null);
  const sigma = spec.sigma ?? (both ? (spec.usl! - spec.lsl!) / 6 : null);
  return center !== null && sigma !== null && sigma > 0 ? { center, sigma } : null;
}
