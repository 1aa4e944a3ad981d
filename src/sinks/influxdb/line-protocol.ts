/**
 * InfluxDB line protocol (1.x): `measurement,tag=v field=1.5,n=3i 1700000000000`. Escaping
 * per the protocol: measurement names escape commas and spaces; tag keys, tag values and
 * field keys also escape `=`; string field values are double-quoted with `"` and `\`
 * escaped. Newlines cannot be expressed at all, so callers validate them away first.
 */

const MEASUREMENT = /[, ]/g;
const KEY = /[,= ]/g;
const STRING = /["\\]/g;
const NEEDS_KEY_ESCAPE = /[,= \\]/;

export const escapeMeasurement = (s: string): string => s.replace(MEASUREMENT, '\\$&');
/** Tag keys, tag values and field keys. */
export const escapeKey = (s: string): string => (NEEDS_KEY_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(KEY, '\\$&') : s);
export const quoteString = (s: string): string => `"${s.replace(STRING, '\\$&')}"`;

export type FieldValue = number | { readonly int: number } | string | boolean;

export interface Point {
  readonly measurement: string;
  /** Empty values are left out (the protocol has no empty tag value). */
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, FieldValue | null | undefined>>;
  /** Epoch ms. */
  readonly timeMs: number;
}

function fieldText(v: FieldValue): string {
  if (typeof v === 'number') {
    // A float field must stay a float: 2 is written "2", which InfluxDB reads as float.
    if (!Number.isFinite(v)) throw new RangeError(`line protocol cannot carry a non-finite number (${v})`);
    return String(v);
  }
  if (typeof v === 'string') return quoteString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (!Number.isSafeInteger(v.int)) throw new RangeError(`integer field out of range: ${v.int}`);
  return `${v.int}i`;
}

/** One point as a line (no trailing newline). Tags are sorted, as InfluxDB recommends. */
export function encodePoint(p: Point): string {
  let line = escapeMeasurement(p.measurement);
  for (const k of Object.keys(p.tags).sort()) {
    const v = p.tags[k]!;
    if (v !== '') line += `,${escapeKey(k)}=${escapeKey(v)}`;
  }
  let sep = ' ';
  for (const [k, v] of Object.entries(p.fields)) {
    if (v === null || v === undefined) continue;
    line += `${sep}${escapeKey(k)}=${fieldText(v)}`;
    sep = ',';
  }
  if (sep === ' ') throw new RangeError(`point of ${p.measurement} has no fields`);
  return `${line} ${Math.trunc(p.timeMs)}`;
}
