/**
 * Reading environment variables with every problem collected (one line per variable),
 * so a bad deployment fails at start with the whole list instead of one error at a time.
 */
export type Env = Readonly<Record<string, string | undefined>>;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;
const BARE = /^\d+(?:\.\d+)?$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Milliseconds in `500ms`, `30s`, `5m`, `1h`, `7d` or `1m30s`. A bare number is read in
 * `bareUnit`, or refused when it is null. Returns null when unreadable.
 */
export function parseDuration(raw: string, bareUnit: DurationUnit | null): number | null {
  const text = raw.trim();
  if (BARE.test(text)) return bareUnit === null ? null : Math.round(Number(text) * UNIT_MS[bareUnit]);
  if (text === '') return null;
  let total = 0;
  for (let pos = 0; pos < text.length; pos = PART.lastIndex) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (m === null) return null;
    total += Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
  }
  return Math.round(total);
}

export class EnvReader {
  readonly problems: string[] = [];
  readonly #env: Env;

  constructor(env: Env) {
    this.#env = env;
  }

  /** The first of these names that is set (aliases of one setting). */
  raw(...names: string[]): { name: string; value: string } | undefined {
    for (const name of names) {
      const value = this.#env[name];
      if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
    }
    return undefined;
  }

  string(names: string | string[], fallback: string): string {
    return this.raw(...[names].flat())?.value ?? fallback;
  }

  optionalString(names: string | string[]): string | undefined {
    return this.raw(...[names].flat())?.value;
  }

  int(names: string | string[], fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const r = this.raw(...[names].flat());
    if (r === undefined) return fallback;
    const n = Number(r.value);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${r.name}: must be an integer between ${min} and ${max}, got "${r.value}"`);
      return fallback;
    }
    return n;
  }

  number(names: string | string[], fallback: number, min = -Infinity, max = Infinity): number {
    const r = this.raw(...[names].flat());
    if (r === undefined) return fallback;
    const n = Number(r.value);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(`${r.name}: must be a number between ${min} and ${max}, got "${r.value}"`);
      return fallback;
    }
    return n;
  }

  /** Duration in ms; a bare number is read in `bareUnit`. */
  duration(names: string | string[], fallbackMs: number, bareUnit: DurationUnit): number {
    const r = this.raw(...[names].flat());
    if (r === undefined) return fallbackMs;
    const ms = parseDuration(r.value, bareUnit);
    if (ms === null) {
      this.problems.push(`${r.name}: must be a duration such as 500ms, 30s, 5m or 1h (a bare number is in ${bareUnit}), got "${r.value}"`);
      return fallbackMs;
    }
    return ms;
  }

  bool(names: string | string[], fallback: boolean): boolean {
    const r = this.raw(...[names].flat());
    if (r === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(r.value)) return true;
    if (/^(0|false|no|off)$/i.test(r.value)) return false;
    this.problems.push(`${r.name}: must be true or false, got "${r.value}"`);
    return fallback;
  }

  /** A JSON list (`["a","b"]`) or a comma-separated list. */
  list(names: string | string[], fallback: string[]): string[] {
    const r = this.raw(...[names].flat());
    if (r === undefined) return fallback;
    if (r.value.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(r.value);
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string' || typeof x === 'number')) return parsed.map(String);
      } catch {
        // reported below
      }
      this.problems.push(`${r.name}: must be a JSON list of strings or a comma-separated list, got "${r.value}"`);
      return fallback;
    }
    return r.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }

  url(names: string | string[], fallback: string, protocols: string[]): string {
    const r = this.raw(...[names].flat());
    const value = r?.value ?? fallback;
    try {
      const u = new URL(value);
      if (!protocols.includes(u.protocol.replace(/:$/, ''))) {
        this.problems.push(`${r?.name ?? [names].flat()[0]}: must be a ${protocols.join('/')} URL, got protocol "${u.protocol}"`);
      }
    } catch {
      this.problems.push(`${r?.name ?? [names].flat()[0]}: not a valid URL`);
    }
    return value;
  }

  problem(message: string): void {
    this.problems.push(message);
  }
}
