/**
 * JSON Schema of a grid telemetry reading (SPEC §5.2). The timestamp's content (RFC 3339,
 * calendar, range) and NUL characters are checked by the decoder; everything the schema
 * can say is said here. Unknown properties are allowed: producers may add fields first.
 * `null` in an optional field means absent, as most JSON encoders write it.
 */
import { SUMMABLE_NUMBER } from '../../runtime/schema.ts';

const text = { type: 'string', minLength: 1, maxLength: 255, pattern: '\\S' } as const;

export const gridReadingSchema = {
  $id: 'https://ingestd.dev/schemas/grid-telemetry/reading.json',
  type: 'object',
  required: ['meter_id', 'region', 'timestamp', 'power_kw'],
  properties: {
    meter_id: text,
    region: text,
    /** RFC 3339 string, a string of digits, or an integer: epoch ms. */
    timestamp: { type: ['string', 'integer'] },
    /** Summed into windows, so bounded (SUMMABLE_NUMBER). May be negative (export). */
    power_kw: SUMMABLE_NUMBER,
    voltage: { type: ['number', 'null'] },
    /** Summed into window totals: a negative value would make them lie. */
    energy_kwh: { ...SUMMABLE_NUMBER, type: ['number', 'null'], minimum: 0 },
    /** Multiplies power_kw into the window's energy. */
    interval_s: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: SUMMABLE_NUMBER.maximum },
  },
} as const;
