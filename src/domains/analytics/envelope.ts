/**
 * The fields every analytics payload shares, as JSON Schema fragments. A tenant id is an
 * identifier (letters, digits, `._:-`, up to 64): it scopes every row and the Row Level
 * Security policies, so a malformed one is refused (structural) rather than stored.
 */
import { SUMMABLE_NUMBER } from '../../runtime/schema.ts';

export const TENANT_ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' } as const;

/** A non-empty identifier without control characters (PostgreSQL text cannot hold U+0000). */
export const IDENTIFIER = { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f]+$' } as const;

export const OPTIONAL_IDENTIFIER = { type: 'string', maxLength: 200, pattern: '^[^\\u0000-\\u001f]*$' } as const;

/** RFC 3339 date-time or epoch milliseconds (checked as a real instant after the schema). */
export const TIME = { type: ['string', 'integer'] } as const;

/** Every analytics value is aggregated (sums, squares, means): bounded so they stay finite. */
export const FINITE_NUMBER = SUMMABLE_NUMBER;

export const envelope = (required: string[], properties: Record<string, object>): object => ({
  type: 'object',
  required: ['time', 'tenant_id', ...required],
  properties: { time: TIME, tenant_id: TENANT_ID, ...properties },
});
