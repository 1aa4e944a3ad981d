import { formatSeconds, parseMeterTimestamp, withinTolerance, type WallClockZone } from '../../processors/timestamps.ts';

export interface ReadingRules {
  readonly toleranceMs: number;
  readonly zone: WallClockZone;
  readonly maxNameLength: number;
}

/** One PM entry after the per-reading rules, before anomaly detection. */
export interface CheckedReading {
  /** Epoch ms; `received_at` when the date could not be read. */
  readonly timestamp: number;
  /** null when `data` is not a finite number. */
  readonly value: number | null;
  /** The name as sent (verbatim); '' when absent or not a string. */
  readonly name: string;
  readonly reasons: string[];
  readonly raw: unknown;
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `data` as a finite number, or null: a JSON number or a string that is only a decimal. */
export function parseMetricValue(data: unknown): number | null {
  if (typeof data === 'number') return Number.isFinite(data) ? data : null;
  if (typeof data !== 'string' || !DECIMAL.test(data)) return null;
  const v = Number(data);
  return Number.isFinite(v) ? v : null;
}

/**
 * How a raw field appears in a reason: strings as they are, numbers as numbers (`1e400` parses
 * to Infinity, which JSON would write as `null`), anything else as JSON.
 */
const show = (raw: unknown): string =>
  typeof raw === 'string' ? raw : typeof raw === 'number' ? String(raw) : raw === undefined ? '' : JSON.stringify(raw);

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** Every rule of SPEC §5.1 that needs no history; each failure adds its reason. */
export function checkReading(raw: unknown, receivedAt: number, rules: ReadingRules): CheckedReading {
  const entry = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const reasons: string[] = [];

  const parsed = typeof entry.date === 'string' ? parseMeterTimestamp(entry.date, rules.zone) : null;
  let timestamp = receivedAt;
  if (parsed === null) {
    reasons.push(`invalid timestamp format: ${show(entry.date)}`);
  } else {
    timestamp = parsed;
    if (!withinTolerance(parsed, receivedAt, rules.toleranceMs)) {
      reasons.push(`timestamp outside tolerance: ${formatSeconds(Math.abs(parsed - receivedAt))}s from received_at`);
    }
  }

  const value = parseMetricValue(entry.data);
  if (value === null) reasons.push(`invalid metric value: ${show(entry.data)}`);

  const name = typeof entry.name === 'string' ? entry.name : '';
  const trimmed = name.trim();
  if (trimmed === '') reasons.push('empty metric name');
  else if (codePoints(trimmed) > rules.maxNameLength) reasons.push('metric name too long');

  if (value !== null && value < 0) reasons.push('negative value detected');

  return { timestamp, value, name, reasons, raw };
}
