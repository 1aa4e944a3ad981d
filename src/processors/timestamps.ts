/**
 * Timestamp parsing shared by the domains. Every parser validates the calendar (no 31/02,
 * no hour 24) instead of letting Date roll the value over to another day.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

export const daysInMonth = (year: number, month: number): number =>
  month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);

/** Wall-clock fields to epoch ms (UTC), or null when a field is out of range. */
export function utcFromFields(y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): number | null {
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear puts them back. From 2000, a leap
  // year like year 0 (1900 is not one: its 29 February would roll over to 1 March).
  if (y < 100) return new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms)).setUTCFullYear(y);
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

/** Digits of `s` from `at` to `at + n` as a number; -1 when one is not an ASCII digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * RFC 3339 date-time (offset or Z, optional fraction of 1–9 digits) to epoch ms; null when
 * invalid. Read character by character: it runs for every message of most domains, and a
 * regular expression's match array was a twentieth of everything a grid drain allocated.
 */
export function parseRfc3339(raw: string): number | null {
  // YYYY-MM-DDTHH:MM:SS, then .fraction, then Z or ±HH:MM
  if (raw.length < 20 || raw.charCodeAt(4) !== 45 || raw.charCodeAt(7) !== 45 || raw.charCodeAt(13) !== 58 || raw.charCodeAt(16) !== 58) return null;
  const sep = raw.charCodeAt(10);
  if (sep !== 84 && sep !== 116) return null; // T or t
  const y = digits(raw, 0, 4);
  const mo = digits(raw, 5, 2);
  const d = digits(raw, 8, 2);
  const h = digits(raw, 11, 2);
  const mi = digits(raw, 14, 2);
  const sec = digits(raw, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return null;
  let i = 19;
  let ms = 0;
  if (raw.charCodeAt(i) === 46) {
    const from = ++i;
    while (i < raw.length && i - from < 9) {
      const c = raw.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (i - from < 3) ms = ms * 10 + c;
      i++;
    }
    const n = i - from;
    if (n === 0) return null;
    for (let k = n; k < 3; k++) ms *= 10;
  }
  const t = utcFromFields(y, mo, d, h, mi, sec, ms);
  if (t === null) return null;
  const zone = raw.charCodeAt(i);
  if (zone === 90 || zone === 122) return i + 1 === raw.length ? t : null; // Z or z
  if ((zone !== 43 && zone !== 45) || i + 6 !== raw.length || raw.charCodeAt(i + 3) !== 58) return null;
  const oh = digits(raw, i + 1, 2);
  const om = digits(raw, i + 4, 2);
  if (oh < 0 || om < 0 || oh > 23 || om > 59) return null;
  const offset = (oh * 60 + om) * 60_000;
  return zone === 45 ? t + offset : t - offset;
}

/** Zone of the formats that carry none: a fixed offset or an IANA zone name. */
export type WallClockZone = { readonly offsetMinutes: number } | { readonly iana: string };

export const UTC: WallClockZone = { offsetMinutes: 0 };

/** `UTC`, `+07:00`, `-0330` or an IANA name such as `Asia/Jakarta`; null when unknown. */
export function parseZone(raw: string): WallClockZone | null {
  const s = raw.trim();
  if (s === '' || /^(utc|z|gmt)$/i.test(s)) return UTC;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(s);
  if (m !== null) {
    const minutes = +m[2]! * 60 + +m[3]!;
    if (+m[2]! > 23 || +m[3]! > 59) return null;
    return { offsetMinutes: m[1] === '-' ? -minutes : minutes };
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s });
    return { iana: s };
  } catch {
    return null;
  }
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of an IANA zone at a UTC instant, in minutes east of UTC. */
function ianaOffsetMinutes(zone: string, utcMs: number): number {
  let f = zoneFormatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    zoneFormatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(utcMs)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

function wallClockToUtc(wall: number, zone: WallClockZone): number {
  if ('offsetMinutes' in zone) return wall - zone.offsetMinutes * 60_000;
  // Two passes settle the offset across a DST change.
  let t = wall - ianaOffsetMinutes(zone.iana, wall) * 60_000;
  t = wall - ianaOffsetMinutes(zone.iana, t) * 60_000;
  return t;
}

const DMY = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})$/;
const D_TIME_MY = /^(\d{2}) (\d{2}):(\d{2}):(\d{2})\/(\d{2})\/(\d{4})$/;

/**
 * The meter formats: `DD/MM/YYYY HH:mm:ss`, `DD HH:mm:ss/MM/YYYY` (both in `zone`) and
 * RFC 3339. Returns epoch ms, or null when unreadable or outside MIN/MAX_TIMESTAMP_MS.
 */
export function parseMeterTimestamp(raw: string, zone: WallClockZone = UTC): number | null {
  let m = DMY.exec(raw);
  if (m !== null) {
    const wall = utcFromFields(+m[3]!, +m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
    return wall === null ? null : storableInstant(wallClockToUtc(wall, zone));
  }
  m = D_TIME_MY.exec(raw);
  if (m !== null) {
    const wall = utcFromFields(+m[6]!, +m[5]!, +m[1]!, +m[2]!, +m[3]!, +m[4]!);
    return wall === null ? null : storableInstant(wallClockToUtc(wall, zone));
  }
  return storableInstant(parseRfc3339(raw));
}

/** `|t − reference| ≤ toleranceMs`, inclusive at the edge. */
export const withinTolerance = (t: number, reference: number, toleranceMs: number): boolean =>
  Math.abs(t - reference) <= toleranceMs;

/** Seconds for messages: whole numbers stay whole, fractions keep up to 3 decimals. */
export const formatSeconds = (ms: number): string => String(Math.round(ms) / 1000);

/**
 * 0001-01-01T00:00:00.000Z and 9999-11-30T23:59:59.999Z: instants PostgreSQL stores as they
 * are written. Year 0000 is valid RFC 3339 but PostgreSQL's timestamptz refuses it; and
 * toISOString writes year 10000 as `+010000-…`, which it refuses too, so December 9999 is left
 * out: its monthly partition, and a window of up to 31 days holding such an instant, would
 * end in year 10000. Either would make the database reject the whole batch.
 */
export const MIN_TIMESTAMP_MS = -62_135_596_800_000;
export const MAX_TIMESTAMP_MS = 253_399_622_399_999;

/** MIN/MAX_TIMESTAMP_MS as reasons state them. */
export const STORABLE_RANGE = 'between 0001-01-01 and 9999-11-30';

/** The instant when it is within MIN/MAX_TIMESTAMP_MS, else null. */
export const storableInstant = (t: number | null): number | null =>
  t !== null && t >= MIN_TIMESTAMP_MS && t <= MAX_TIMESTAMP_MS ? t : null;

const EPOCH_DIGITS = /^-?\d{1,16}$/;

/**
 * Epoch ms of an event time: an RFC 3339 string, an integer of epoch ms, or a string of
 * digits (int64 fields are strings in protobuf's JSON mapping and many connectors). Null
 * when it is not a real instant within MIN/MAX_TIMESTAMP_MS.
 */
export function parseInstant(raw: string | number): number | null {
  let t: number | null;
  if (typeof raw === 'number') t = Number.isSafeInteger(raw) ? raw : null;
  else if (EPOCH_DIGITS.test(raw)) t = Number(raw);
  else t = parseRfc3339(raw);
  // `+ 0` normalizes "-0" so ids never read `M@0` for one and `M@-0` for another.
  t = storableInstant(t);
  return t === null ? null : t + 0;
}
