/**
 * Query-string validation for the read API: each helper returns the value or throws a
 * BadRequest naming the parameter, which the server answers with 400 and the message.
 */
import { parseInstant } from '../processors/timestamps.ts';

export class BadRequest extends Error {
  override readonly name = 'BadRequest';
}

export type Query = Readonly<Record<string, string | string[] | undefined>>;

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw new BadRequest(`${name}: give it once`);
  return v === undefined || v === '' ? undefined : v;
}

/** ISO-8601 instant with a zone (2026-11-23T10:00:00Z, …+01:00). */
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

export function instant(q: Query, name: string, fallback: number): number {
  const v = one(q, name);
  if (v === undefined) return fallback;
  const ms = ISO.test(v) ? (parseInstant(v) ?? NaN) : NaN; // parseInstant checks the calendar (no 30 February)
  if (!Number.isFinite(ms)) throw new BadRequest(`${name}: expected an ISO-8601 date-time with a zone, e.g. 2026-11-23T10:00:00Z, got "${v}"`);
  return ms;
}

/** from/to with from < to and a span of at most maxSpanMs. */
export function range(q: Query, defaultSpanMs: number, maxSpanMs: number, now = Date.now()): { from: number; to: number } {
  const to = instant(q, 'to', now);
  const from = instant(q, 'from', to - defaultSpanMs);
  if (from >= to) throw new BadRequest('from: must be before to');
  if (to - from > maxSpanMs) throw new BadRequest(`from/to: the range may span at most ${Math.round(maxSpanMs / 86_400_000)} days`);
  return { from, to };
}

export function integer(q: Query, name: string, fallback: number, min: number, max: number): number {
  const v = one(q, name);
  if (v === undefined) return fallback;
  const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadRequest(`${name}: expected a whole number from ${min} to ${max}, got "${v}"`);
  return n;
}

export function text(q: Query, name: string, maxLength = 255): string | undefined {
  const v = one(q, name);
  if (v !== undefined && (v.length > maxLength || /[\u0000-\u001f]/.test(v))) throw new BadRequest(`${name}: at most ${maxLength} printable characters`);
  return v;
}

export function choice<T extends string>(q: Query, name: string, allowed: ReadonlyArray<T>, fallback: T): T {
  const v = one(q, name);
  if (v === undefined) return fallback;
  if (!(allowed as ReadonlyArray<string>).includes(v)) throw new BadRequest(`${name}: expected one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

/** Comma-separated values, each from `allowed`. */
export function choices<T extends string>(q: Query, name: string, allowed: ReadonlyArray<T>, fallback: ReadonlyArray<T>): T[] {
  const v = one(q, name);
  if (v === undefined) return [...fallback];
  const out: T[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(allowed as ReadonlyArray<string>).includes(part)) throw new BadRequest(`${name}: each value must be one of ${allowed.join(', ')}, got "${part}"`);
    if (!out.includes(part as T)) out.push(part as T);
  }
  if (out.length === 0) throw new BadRequest(`${name}: give at least one of ${allowed.join(', ')}`);
  return out;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
