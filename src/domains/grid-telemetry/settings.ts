import type { EmaSettings } from '../../processors/anomaly/ema.ts';
import type { GridDecodeSettings } from './decode.ts';

export interface GridTelemetrySettings {
  readonly decode: GridDecodeSettings;
  readonly ema: EmaSettings;
  /** How far behind the highest event time a window still waits for readings. */
  readonly allowedLatenessMs: number;
  readonly flushInterval1mMs: number;
  readonly flushInterval15mMs: number;
  /** A meter silent this long (wall clock) raises an offline alert. */
  readonly offlineAfterMs: number;
  readonly topics: { readonly input: string; readonly aggregates: string; readonly alerts: string };
  readonly retentionMonths: number;
}
