import { accumulate, emptyAggregate, windowOf, type AggregateBuilder, type WindowAggregate } from '../../processors/windows/tumbling.ts';
import type { GridReading } from './decode.ts';
import { readingEnergyKwh } from './energy.ts';

/**
 * Per-window deltas of a batch's new readings: one aggregate per (meter, window) of
 * `sizeMs`, holding the meter's latest region in the batch.
 */
export function windowDeltas(readings: ReadonlyArray<GridReading>, sizeMs: number): WindowAggregate[] {
  const byKey = new Map<string, AggregateBuilder>();
  for (const r of readings) {
    const w = windowOf(r.timestampMs, sizeMs);
    const key = `${r.meterId}\u0000${w.start}`;
    let agg = byKey.get(key);
    if (agg === undefined) byKey.set(key, (agg = emptyAggregate(r.meterId, r.region, w)));
    agg.region = r.region;
    accumulate(agg, r.powerKw, readingEnergyKwh(r));
  }
  return [...byKey.values()];
}
