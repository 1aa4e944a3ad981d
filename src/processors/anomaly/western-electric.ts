/**
 * Western Electric rules 1–4 over one series, against control limits (a centre line and
 * sigma): from a specification when one exists, otherwise from the rolling statistics of the
 * series' previous values. Pure: the caller keeps the state (plain data) between batches.
 *
 * Each point is classified once, when it arrives, against the limits of that moment: its
 * side of the centre line and how many sigmas it lies beyond (0–3). The rules then read the
 * recent classified points:
 *   1. one point beyond 3σ;
 *   2. two of three consecutive points beyond 2σ on the same side;
 *   3. four of five consecutive points beyond 1σ on the same side;
 *   4. eight consecutive points on the same side of the centre line.
 * Rule 1 fires for every such point. Rules 2–4 fire when their condition becomes true, not
 * again while the same run continues, so one excursion is one anomaly.
 */

export type WesternElectricRule = 'we1' | 'we2' | 'we3' | 'we4';

export interface ControlLimits {
  readonly center: number;
  /** > 0. */
  readonly sigma: number;
}

export interface Point {
  /** Epoch ms. */
  readonly t: number;
  readonly v: number;
}

export interface ClassifiedPoint extends Point {
  /** −1 below the centre, 1 above, 0 on it or when no limits were known. */
  readonly side: -1 | 0 | 1;
  /** Whole sigmas the point lies beyond the centre (strictly), capped at 3. */
  readonly level: 0 | 1 | 2 | 3;
}

export interface SeriesState {
  /** The last classified points, oldest first (at most HISTORY). */
  readonly recent: ReadonlyArray<ClassifiedPoint>;
  /** The last values for rolling limits, oldest first (at most the baseline window). */
  readonly baseline: ReadonlyArray<number>;
}

export const EMPTY_SERIES: SeriesState = { recent: [], baseline: [] };

export interface RuleViolation {
  readonly rule: WesternElectricRule;
  readonly limits: ControlLimits;
  /** The points that make the rule true, the newest last (the point that completed it). */
  readonly points: ReadonlyArray<ClassifiedPoint>;
}

export interface RollingSettings {
  /** Values kept for rolling limits. */
  readonly window: number;
  /** Values needed before rolling limits apply. */
  readonly minHistory: number;
}

export const DEFAULT_ROLLING: RollingSettings = { window: 30, minHistory: 10 };

/** Rule 4 needs 8 points, and whether it already held one point earlier needs a 9th. */
export const HISTORY = 9;

export function classify(p: Point, limits: ControlLimits | null): ClassifiedPoint {
  if (limits === null || !(limits.sigma > 0)) return { t: p.t, v: p.v, side: 0, level: 0 };
  const d = p.v - limits.center;
  const side = d > 0 ? 1 : d < 0 ? -1 : 0;
  const k = Math.abs(d) / limits.sigma;
  const level = k > 3 ? 3 : k > 2 ? 2 : k > 1 ? 1 : 0;
  return { t: p.t, v: p.v, side, level };
}

/** Mean and population standard deviation of the values (null below minHistory or flat). */
export function rollingLimits(values: ReadonlyArray<number>, minHistory: number): ControlLimits | null {
  if (values.length < minHistory || values.length === 0) return null;
  let mean = 0;
  let m2 = 0;
  values.forEach((v, i) => {
    const delta = v - mean;
    mean += delta / (i + 1);
    m2 += delta * (v - mean);
  });
  const sigma = Math.sqrt(m2 / values.length);
  return sigma > 0 ? { center: mean, sigma } : null;
}


/** The points of `window` beyond `minLevel` on `side`. */
const RULES = { we2: { size: 3, need: 2, minLevel: 2 }, we3: { size: 5, need: 4, minLevel: 1 }, we4: { size: 8, need: 8, minLevel: 0 } } as const;

/** The points that make rules 2–4 true for the history ending at `end` (exclusive), or null. */
function ruleHolds(rule: 'we2' | 'we3' | 'we4', points: ReadonlyArray<ClassifiedPoint>, end: number): ClassifiedPoint[] | null {
  const { size, need, minLevel } = RULES[rule];
  if (end < (rule === 'we4' ? size : need)) return null;
  const from = Math.max(0, end - size);
  if (rule === 'we4' && end - from !== size) return null;
  for (const side of [1, -1] as const) {
    // Counted first; the list is built only when the rule holds (rarely: runs for every point).
    let hits = 0;
    for (let i = from; i < end; i++) if (points[i]!.side === side && points[i]!.level >= minLevel) hits++;
    if (hits < need) continue;
    const out: ClassifiedPoint[] = [];
    for (let i = from; i < end; i++) if (points[i]!.side === side && points[i]!.level >= minLevel) out.push(points[i]!);
    return out;
  }
  return null;
}

/**
 * Adds one point to the series: returns the new state and the rules it violates. `spec`
 * gives the limits when there is a specification; otherwise they come from the baseline.
 */
export function stepSeries(
  state: SeriesState,
  point: Point,
  spec: ControlLimits | null,
  rolling: RollingSettings = DEFAULT_ROLLING,
): { state: SeriesState; violations: RuleViolation[] } {
  const limits = spec ?? rollingLimits(state.baseline, rolling.minHistory);
  const current = classify(point, limits);
  const recent = [...state.recent, current].slice(-HISTORY);
  const baseline = [...state.baseline, point.v].slice(-rolling.window);
  const violations: RuleViolation[] = [];
  if (limits !== null && current.side !== 0) {
    if (current.level >= 3) violations.push({ rule: 'we1', limits, points: [current] });
    for (const rule of ['we2', 'we3', 'we4'] as const) {
      const now = ruleHolds(rule, recent, recent.length);
      // Only the point that makes the rule true reports it, and only if it is part of it.
      if (now !== null && now.includes(current) && ruleHolds(rule, recent, recent.length - 1) === null) {
        violations.push({ rule, limits, points: now });
      }
    }
  }
  return { state: { recent, baseline }, violations };
}
