/**
 * Variables that look like ingestd's but that it does not read: a typo (`KAFKA_BROKER`) or a
 * setting from another version silently falls back to a default, so `check-config` and the
 * worker's start name them, with the closest real name.
 */
import { loadConfig } from './index.ts';
import type { Env } from './env.ts';

/** The names loadConfig reads for this environment and for an empty one (some are read only when others are set). */
export function knownVariables(env: Env): Set<string> {
  const read = new Set<string>();
  const recording = (e: Env): Env => new Proxy(e, { get: (t, k) => (typeof k === 'string' && read.add(k), t[k as string]) });
  loadConfig(recording(env));
  loadConfig(recording({}));
  return read;
}

/** Kubernetes service links (`KAFKA_PORT=tcp://…`, `X_SERVICE_HOST`): set by the platform, not by an operator. */
const SERVICE_LINK = /(_SERVICE_HOST|_SERVICE_PORT(_[A-Z0-9_]+)?|_PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `name`, if close enough to be a typo of it. */
export function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const distance = editDistance(name, k);
    if (distance < bestDistance) [best, bestDistance] = [k, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 6)) ? best : undefined;
}

export interface UnknownVariable {
  readonly name: string;
  readonly suggestion: string | undefined;
}

/**
 * Set variables in ingestd's families (the part before the first `_` of a name it reads:
 * `KAFKA_`, `DB_`, `MQTT_`…) that it does not read, or any set variable one typo away from a
 * name it reads.
 */
export function unknownVariables(env: Env): UnknownVariable[] {
  const known = knownVariables(env);
  const families = new Set([...known].filter((k) => k.includes('_')).map((k) => k.slice(0, k.indexOf('_') + 1)));
  const out: UnknownVariable[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || known.has(name) || SERVICE_LINK.test(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const family = name.includes('_') && families.has(name.slice(0, name.indexOf('_') + 1));
    const suggestion = closest(name, known);
    if (family || (suggestion !== undefined && editDistance(name, suggestion) <= 1)) out.push({ name, suggestion });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export const describeUnknown = (u: UnknownVariable): string =>
  `${u.name}: not a variable ingestd reads${u.suggestion === undefined ? '' : `; did you mean ${u.suggestion}?`}`;
