/**
 * Bytes → grid reading (SPEC §5.2). Every failure here is structural and dead-letters the
 * original bytes: not valid UTF-8, not JSON, not an object, a missing or empty `meter_id`,
 * `region`, `timestamp` or `power_kw`, a wrong type (numbers must be JSON numbers, "3.2" is
 * refused), a non-finite number, a negative `energy_kwh`, a non-positive `interval_s`, a
 * timestamp that is not a real instant (RFC 3339 with a valid calendar date, or integer epoch
 * milliseconds) between 0001-01-01 and 9999-11-30, or a NUL character in an id.
 *
 * Why no data-level class here: the raw row is keyed by (meter_id, timestamp) and every
 * derived value needs power_kw, so a reading missing any of them cannot be stored or
 * aggregated; and an optional field that is wrong would silently skew the window totals.
 * Dead-lettered, it stays inspectable and replayable after the producer is fixed.
 *
 * Epoch ms may also come as a string of digits (a leading `-` allowed): int64 fields are
 * strings in protobuf's JSON mapping and in many Kafka connectors, and the value is
 * unambiguous. Anything else in a string must be RFC 3339.
 */
import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, parseInstant, STORABLE_RANGE } from '../../processors/timestamps.ts';
import { gridReadingSchema } from './schema.ts';

export interface GridReading {
  readonly meterId: string;
  readonly region: string;
  /** Epoch ms, UTC. */
  readonly timestampMs: number;
  readonly powerKw: number;
  readonly voltage: number | null;
  /** As sent; null when absent (energy then follows from power and interval). */
  readonly energyKwh: number | null;
  /** As sent, or the configured default: stored with the raw row so a recompute agrees. */
  readonly intervalS: number;
}

export interface GridDecodeSettings {
  /** `interval_s` of a reading that carries none (GRID_READING_INTERVAL_S). */
  readonly defaultIntervalS: number;
}

export const DEFAULT_READING_INTERVAL_S = 1;
export const DEFAULT_GRID_DECODE: GridDecodeSettings = { defaultIntervalS: DEFAULT_READING_INTERVAL_S };

const checkReading = compileSchema(gridReadingSchema);

/** The message id: the raw row's key, so a resend of the same reading is the same message. */
export const gridMessageIdOf = (meterId: string, timestampMs: number): string => `${meterId}@${timestampMs}`;

/** Epoch ms of an RFC 3339 string, a digit string or an integer; null when not a valid instant. */
export const parseGridTimestamp = parseInstant;
export { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS };

interface RawReading {
  meter_id: string;
  region: string;
  timestamp: string | number;
  power_kw: number;
  voltage?: number | null;
  energy_kwh?: number | null;
  interval_s?: number | null;
}

export function decodeGridReading(body: Buffer, settings: GridDecodeSettings = DEFAULT_GRID_DECODE): { messageId: string; value: GridReading } {
  const doc = parseJsonBody(body);
  const problem = checkReading(doc);
  if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', problem);
  const msg = doc as RawReading;

  // PostgreSQL text cannot hold U+0000: caught here it is structural, not a poison batch.
  for (const field of ['meter_id', 'region'] as const) {
    if (msg[field].includes('\u0000')) throw structural('INGESTD_ERR_SCHEMA', `/${field}: must not contain U+0000`);
  }
  const timestampMs = parseGridTimestamp(msg.timestamp);
  if (timestampMs === null) {
    throw structural(
      'INGESTD_ERR_SCHEMA',
      `/timestamp: must be an RFC 3339 date-time or integer epoch milliseconds ${STORABLE_RANGE}, got ${JSON.stringify(msg.timestamp)}`,
    );
  }
  return {
    messageId: gridMessageIdOf(msg.meter_id, timestampMs),
    value: {
      meterId: msg.meter_id,
      region: msg.region,
      timestampMs,
      powerKw: msg.power_kw,
      voltage: msg.voltage ?? null,
      energyKwh: msg.energy_kwh ?? null,
      intervalS: msg.interval_s ?? settings.defaultIntervalS,
    },
  };
}
