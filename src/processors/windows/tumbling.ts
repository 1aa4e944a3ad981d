/**
 * Tumbling event-time windows, aligned on the Unix epoch in UTC: a window of size S covers
 * [k·S, (k+1)·S) for an integer k, so every instance, every restart and a recompute from the
 * raw rows put a reading in the same window. Pure functions over plain records; the caller
 * owns the stored rows.
 */

export interface Window {
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive: `start + size`. */
  readonly end: number;
}

const checkSize = (sizeMs: number): void => {
  if (!Number.isSafeInteger(sizeMs) || sizeMs <= 0) throw new RangeError(`window size must be a positive integer of ms, got ${sizeMs}`);
};

/**
 * Start of the window holding `tMs`. Floors rather than truncates, so times before 1970
 * land in the window below them (−1 ms → [−S, 0)), not in the one starting at 0.
 */
export function windowStart(tMs: number, sizeMs: number): number {
  checkSize(sizeMs);
  // `+ 0` turns the −0 of Math.floor(−0 / S) · S into 0.
  return Math.floor(tMs / sizeMs) * sizeMs + 0;
}

/** The window holding `tMs`: a time exactly on a boundary belongs to the window starting there. */
export function windowOf(tMs: number, sizeMs: number): Window {
  const start = windowStart(tMs, sizeMs);
  return { start, end: start + sizeMs };
}

/**
 * Running aggregate of one meter's window. Kept as sums (not averages) so that deltas add:
 * a batch builds a delta from its new readings only, and the store adds it to the row.
 */
export interface WindowAggregate {
  readonly meterId: string;
  readonly region: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly count: number;
  readonly sumPower: number;
  /** −Infinity while empty (the identity of max). */
  readonly maxPower: number;
  /** +Infinity while empty (the identity of min). */
  readonly minPower: number;
  /** kWh. */
  readonly totalEnergy: number;
}

/** The identity of `mergeAggregates`: no readings yet. Never stored or published as is. */
export function emptyAggregate(meterId: string, region: string, window: Window): WindowAggregate {
  return {
    meterId,
    region,
    windowStart: window.start,
    windowEnd: window.end,
    count: 0,
    sumPower: 0,
    maxPower: Number.NEGATIVE_INFINITY,
    minPower: Number.POSITIVE_INFINITY,
    totalEnergy: 0,
  };
}

/** The aggregate with one more reading (the caller has put the reading in this window). */
export function addReading(agg: WindowAggregate, powerKw: number, energyKwh: number): WindowAggregate {
  const next: AggregateBuilder = { ...agg };
  accumulate(next, powerKw, energyKwh);
  return next;
}

/** A WindowAggregate a batch builds in place (one object per key, not one per reading). */
export type AggregateBuilder = { -readonly [K in keyof WindowAggregate]: WindowAggregate[K] };

/** One more reading, in place: deltas built over a whole batch allocate one object per window, not one per reading. */
export function accumulate(agg: AggregateBuilder, powerKw: number, energyKwh: number): void {
  agg.count += 1;
  agg.sumPower += powerKw;
  agg.maxPower = Math.max(agg.maxPower, powerKw);
  agg.minPower = Math.min(agg.minPower, powerKw);
  agg.totalEnergy += energyKwh;
}

/**
 * Both aggregates of the same (meter, window) as one. Associative, with `emptyAggregate`
 * as identity: count, max and min exactly; the sums up to floating-point rounding. The
 * region is the one of the later non-empty operand, so a meter that moves keeps its
 * newest region (and merging an empty aggregate changes nothing).
 */
export function mergeAggregates(a: WindowAggregate, b: WindowAggregate): WindowAggregate {
  if (a.meterId !== b.meterId || a.windowStart !== b.windowStart || a.windowEnd !== b.windowEnd) {
    throw new RangeError(
      `cannot merge aggregates of different windows: ${a.meterId}@${a.windowStart}..${a.windowEnd} and ${b.meterId}@${b.windowStart}..${b.windowEnd}`,
    );
  }
  return {
    meterId: a.meterId,
    region: b.count > 0 ? b.region : a.region,
    windowStart: a.windowStart,
    windowEnd: a.windowEnd,
    count: a.count + b.count,
    sumPower: a.sumPower + b.sumPower,
    maxPower: Math.max(a.maxPower, b.maxPower),
    minPower: Math.min(a.minPower, b.minPower),
    totalEnergy: a.totalEnergy + b.totalEnergy,
  };
}

/** Mean power of the window; null while it has no reading. */
export const avgPower = (agg: WindowAggregate): number | null => (agg.count === 0 ? null : agg.sumPower / agg.count);

/**
 * Event-time watermark: the highest event time seen minus the allowed lateness. A reading
 * with `t ≥ watermark` is on time (a lateness of exactly `allowedLatenessMs` still is, as
 * with the inclusive timestamp tolerance); one with `t < watermark` is late. Before any
 * reading, pass −Infinity and nothing is closed.
 */
export const watermark = (maxEventTimeMs: number, allowedLatenessMs: number): number => maxEventTimeMs - allowedLatenessMs;

/** True when a reading at `tMs` arrives after the watermark has passed it. */
export const isLate = (tMs: number, wm: number): boolean => tMs < wm;

/**
 * A window [start, end) is complete once no reading inside it can still arrive on time.
 * Every such reading has t < end, and on-time means t ≥ watermark, so the window closes
 * when watermark ≥ end: inclusive, a watermark exactly at the end closes it.
 */
export const isClosed = (windowEnd: number, wm: number): boolean => wm >= windowEnd;
