/**
 * JSON Schema of a smart-grid transaction (SPEC §5.5). Every field is required: the
 * reference consumer writes each of them to InfluxDB, and a transaction without one cannot
 * be placed on the map, counted per status or summed per region. Text fields refuse control
 * characters (line protocol cannot carry a newline in a tag) and NUL (PostgreSQL text).
 */
import { SUMMABLE_NUMBER } from '../../runtime/schema.ts';

const text = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]*\\S[^\\u0000-\\u001f\\u007f]*$' } as const;

export const SMART_GRID_STATUSES = ['active', 'fault', 'offline'] as const;
export type MeterStatus = (typeof SMART_GRID_STATUSES)[number];

export const smartGridTransactionSchema = {
  $id: 'https://ingestd.dev/schemas/smart-grid/transaction.json',
  type: 'object',
  required: ['transaction_id', 'meter_id', 'region', 'status', 'building_type', 'consumption_kwh', 'latitude', 'longitude', 'peak_load', 'timestamp'],
  properties: {
    transaction_id: text,
    meter_id: text,
    region: text,
    status: { enum: SMART_GRID_STATUSES },
    building_type: text,
    /** Energy of this transaction. Summed per second and region: a negative value would make totals lie. */
    consumption_kwh: { ...SUMMABLE_NUMBER, minimum: 0 },
    latitude: { type: 'number', minimum: -90, maximum: 90 },
    longitude: { type: 'number', minimum: -180, maximum: 180 },
    peak_load: { type: 'number', minimum: 0 },
    /** RFC 3339, or epoch milliseconds (integer or string of digits). */
    timestamp: { type: ['string', 'integer'] },
  },
} as const;
