/**
 * Parsers for command-line option values. Each takes the raw string and the flag it came
 * from, and throws an OptionError naming the flag, so the command can print one clear
 * line and exit with code 2 (bad usage).
 */
import { parseDuration as parseDurationValue } from '../config/env.ts';

export class OptionError extends Error {
  override readonly name = 'OptionError';
  readonly flag: string;
  readonly exitCode = 2;

  constructor(flag: string, message: string) {
    super(`${flag}: ${message}`);
    this.flag = flag;
  }
}

/** Milliseconds in a duration such as `500ms`, `30s`, `2m`, `1h`, `1.5s` or `1m30s`. */
export const parseDuration = (value: string, flag: string): number => {
  const text = value.trim();
  if (text.length === 0) throw new OptionError(flag, 'a duration is required (examples: 500ms, 30s, 2m, 1h)');
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new OptionError(flag, `"${value}" needs a unit (ms, s, m, h, d), e.g. ${text}s`);
  }
  const total = parseDurationValue(text, null);
  if (total === null) throw new OptionError(flag, `"${value}" is not a duration (examples: 500ms, 30s, 2m, 1h, 1m30s)`);
  if (!(total > 0)) throw new OptionError(flag, `"${value}" must be longer than 0`);
  return total;
};

const parseNumber = (value: string, flag: string, what: string): number => {
  const text = value.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new OptionError(flag, `"${value}" is not ${what}`);
  const n = Number(text);
  if (!Number.isFinite(n)) throw new OptionError(flag, `"${value}" is not ${what}`);
  return n;
};

/** A share in [0, 1]; `2%` is accepted as 0.02. */
export const parseRate = (value: string, flag: string): number => {
  const text = value.trim();
  const percent = text.endsWith('%');
  const n = parseNumber(percent ? text.slice(0, -1) : text, flag, 'a number between 0 and 1 (or a percentage)');
  const share = percent ? n / 100 : n;
  if (share < 0 || share > 1) throw new OptionError(flag, `${value} is outside [0, 1]`);
  return share;
};

/** A number >= 0 (e.g. messages per second, where 0 means unlimited). */
export const parseNonNegativeNumber = (value: string, flag: string): number => {
  const n = parseNumber(value, flag, 'a number');
  if (n < 0) throw new OptionError(flag, `${value} must not be negative`);
  return n;
};

const parseInteger = (value: string, flag: string, min: number, max: number, what: string): number => {
  const text = value.trim();
  if (!/^[+-]?\d+$/.test(text)) throw new OptionError(flag, `"${value}" is not ${what}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new OptionError(flag, `${value} is not ${what}`);
  return n;
};

export const parsePositiveInt = (value: string, flag: string): number =>
  parseInteger(value, flag, 1, Number.MAX_SAFE_INTEGER, 'a whole number >= 1');

export const parseSeed = (value: string, flag: string): number =>
  parseInteger(value, flag, 0, Number.MAX_SAFE_INTEGER, 'a whole number >= 0');

export const parsePort = (value: string, flag: string): number =>
  parseInteger(value, flag, 1, 65_535, 'a TCP port (1-65535)');

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds of an RFC 3339 timestamp such as `2025-12-29T10:30:00Z`. */
export const parseTimestamp = (value: string, flag: string): number => {
  const text = value.trim();
  const t = RFC3339.test(text) ? Date.parse(text.replace(' ', 'T')) : Number.NaN;
  if (Number.isNaN(t)) throw new OptionError(flag, `"${value}" is not an RFC 3339 timestamp (e.g. 2025-12-29T10:30:00Z)`);
  const [, month, day] = /^\d{4}-(\d{2})-(\d{2})/.exec(text)!;
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(text);
  const shifted = offset === null ? t : t + (offset[1] === '+' ? 1 : -1) * (Number(offset[2]) * 60 + Number(offset[3])) * 60_000;
  const local = new Date(shifted);
  if (local.getUTCMonth() + 1 !== Number(month) || local.getUTCDate() !== Number(day)) {
    throw new OptionError(flag, `"${value}" is not a real date`);
  }
  return t;
};

/** A broker URL with one of the given schemes (e.g. `amqp:`, `amqps:`). */
export const parseUrl = (value: string, flag: string, schemes: readonly string[]): URL => {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    // A malformed URL may still hold a password: only echo values without credentials.
    const shown = value.includes('@') ? 'the value' : `"${value}"`;
    throw new OptionError(flag, `${shown} is not a URL (e.g. amqp://guest:guest@127.0.0.1:5672)`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new OptionError(flag, `unsupported scheme "${url.protocol}" (expected ${schemes.join(' or ')})`);
  }
  return url;
};


/** One of a fixed set of names. */
export const parseChoice = <T extends string>(value: string, flag: string, choices: readonly T[]): T => {
  const found = choices.find((c) => c === value.trim());
  if (found === undefined) throw new OptionError(flag, `unknown value "${value}" (expected one of: ${choices.join(', ')})`);
  return found;
};
