import { emaStep, type EmaSettings } from '../../processors/anomaly/ema.ts';
import { uuidV5 } from '../../lib/ids.ts';
import type { GridReading } from './decode.ts';
import type { AlertRow } from './store.ts';

export const alertIdOf = (meterId: string, timestampMs: number, type: string): string => uuidV5(`grid-alert:${meterId}:${timestampMs}:${type}`);

/** One reading against its meter's EMA baseline: the next baseline, and the alert it raises if any. */
export function detect(baseline: number | null, r: GridReading, ema: EmaSettings): { baseline: number | null; alert: AlertRow | null } {
  const step = emaStep({ baseline }, r.powerKw, ema);
  if (step.anomaly === null) return { baseline: step.next.baseline, alert: null };
  const { type, value } = step.anomaly;
  return {
    baseline: step.next.baseline,
    alert: { alertId: alertIdOf(r.meterId, r.timestampMs, type), meterId: r.meterId, region: r.region, type, value, baseline: step.anomaly.baseline, timestampMs: r.timestampMs },
  };
}
