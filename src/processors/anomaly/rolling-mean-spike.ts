/**
 * Rolling-mean spike detector: a value is a spike when it exceeds `factor` × the mean of
 * the previous `window` valid values of the same series. Pure: the caller owns the history
 * (loaded from and saved to the database) and decides which values enter it.
 */
export interface SpikeSettings {
  /** Multiple of the rolling mean above which a value is a spike (3.0). */
  readonly factor: number;
  /** How many previous valid values make the mean (10). */
  readonly window: number;
  /** Fewer values than this: no verdict (10). */
  readonly minHistory: number;
}

export const DEFAULT_SPIKE: SpikeSettings = { factor: 3, window: 10, minHistory: 10 };

export interface SpikeVerdict {
  readonly mean: number;
}

/** The mean the value exceeds, or null when it is no spike or there is no verdict. */
export function detectSpike(value: number, history: ReadonlyArray<number>, s: SpikeSettings): SpikeVerdict | null {
  if (history.length < s.minHistory || history.length === 0) return null;
  const from = Math.max(0, history.length - s.window);
  let sum = 0;
  for (let i = from; i < history.length; i++) sum += history[i]!;
  const mean = sum / (history.length - from);
  if (!(mean > 0)) return null;
  return value > s.factor * mean ? { mean } : null;
}

/** Appends a valid value, keeping the last `window` values (oldest first). */
export function remember(history: number[], value: number, window: number): void {
  history.push(value);
  if (history.length > window) history.splice(0, history.length - window);
}
