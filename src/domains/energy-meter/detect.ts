import { detectSpike, remember, type SpikeSettings } from '../../processors/anomaly/rolling-mean-spike.ts';
import type { CheckedReading } from './validate.ts';

/** Key of a (client, metric) series. */
export const seriesKey = (clientId: string, metric: string): string => `${clientId}\u0000${metric}`;

export interface DetectedReading extends CheckedReading {
  readonly status: 'valid' | 'invalid';
  readonly reason: string | null;
  readonly spike: boolean;
}

/**
 * Spike detection in processing order. `histories` holds the previous valid values per
 * series (oldest first) and is advanced in place by every reading that ends up valid, so a
 * reading sees the earlier readings of its own message and batch.
 */
export function detectReadings(
  clientId: string,
  readings: ReadonlyArray<CheckedReading>,
  histories: Map<string, number[]>,
  spike: SpikeSettings,
): DetectedReading[] {
  const out: DetectedReading[] = [];
  for (const r of readings) {
    let reasons = r.reasons;
    let spiked = false;
    if (r.value !== null) {
      const key = seriesKey(clientId, r.name);
      let history = histories.get(key);
      if (history === undefined) histories.set(key, (history = []));
      const verdict = detectSpike(r.value, history, spike);
      if (verdict !== null) {
        spiked = true;
        reasons = [
          ...reasons,
          `sudden spike detected: value ${r.value.toFixed(2)} exceeds ${spike.factor.toFixed(1)}x rolling average ${verdict.mean.toFixed(2)}`,
        ];
      }
      if (reasons.length === 0) remember(history, r.value, spike.window);
    }
    // Fields written out rather than spread: this runs for every reading.
    out.push({
      timestamp: r.timestamp,
      value: r.value,
      name: r.name,
      raw: r.raw,
      reasons,
      spike: spiked,
      status: reasons.length === 0 ? 'valid' : 'invalid',
      reason: reasons.length === 0 ? null : reasons.join('; '),
    });
  }
  return out;
}
