/**
 * Deterministic generator of grid telemetry readings (SPEC §5.2 message) for the load
 * generator and the demo: same seed and options ⇒ byte-identical sequence.
 *
 * Every meter emits one reading per `intervalMs` of event time from `startTime` (tick k,
 * meters in order), so each meter's readings have distinct timestamps and distinct message
 * ids. Late and out-of-order readings are real readings of the stream held back and
 * delivered after newer ones, never extra readings, so window counts stay exact. Invalid
 * messages are extra: a garbled copy of the next reading, which still comes afterwards.
 *
 * Rates: `invalidRate` is a share of all messages; `anomalyRate`, `lateRate` and
 * `outOfOrderRate` are shares of readings (each reading has at most one of those kinds).
 */
import { createRandom } from './random.ts';

export const GRID_MESSAGE_KINDS = ['valid', 'spike', 'drop', 'outage', 'out-of-order', 'late', 'undecodable', 'schema-invalid'] as const;
export type GridMessageKind = (typeof GRID_MESSAGE_KINDS)[number];

export const GRID_REGIONS = ['north', 'south', 'east', 'west', 'central'] as const;

export interface GridMessage {
  /** meter_id: the Kafka key, so one meter stays on one partition. */
  readonly key: string;
  /** The message id the worker derives (`meter_id@epoch ms`); for invalid ones, the one it would have had. */
  readonly id: string;
  readonly body: Buffer;
  readonly kind: GridMessageKind;
}

export interface GridMessageGenerator {
  next(): GridMessage;
}

export interface GridTelemetryOptions {
  readonly seed: number;
  readonly meters: number;
  /** Event time of the first tick, epoch ms. */
  readonly startTime: number;
  /** Event time between two readings of a meter, ms. */
  readonly intervalMs: number;
  /** Share of readings that are a spike (×3–5), a drop (×0.2–0.4) or an outage (0–0.05 kW). */
  readonly anomalyRate?: number;
  /** Share of readings delivered 1–5 s of event time behind the newest one. */
  readonly outOfOrderRate?: number;
  /** Share of readings delivered 2–10 min of event time behind the newest one. */
  readonly lateRate?: number;
  /** Share of messages that fail decoding: ~30% not JSON / not UTF-8, the rest fail the schema. */
  readonly invalidRate?: number;
}

const DAY_MS = 86_400_000;
const UNDECODABLE_SHARE = 0.3;
const OUT_OF_ORDER_MS: readonly [number, number] = [1000, 5000];
const LATE_MS: readonly [number, number] = [120_000, 600_000];
/** Offsets some producers write instead of `Z`: [suffix, minutes east of UTC]. */
const OFFSETS: ReadonlyArray<readonly [string, number]> = [['+01:00', 60], ['-05:00', -300], ['+05:30', 330]];
const P2: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));
const P3: readonly string[] = Array.from({ length: 1000 }, (_, i) => `${i}`.padStart(3, '0'));

interface Meter {
  readonly id: string;
  readonly region: string;
  /** `{"meter_id":"…","region":"…","timestamp":` */
  readonly head: string;
  /** Typical power, kW; anomalies are multiples of it. */
  readonly basePower: number;
}

/** `M-0001`, `M-0002`, … (more digits past 9999). */
export const gridMeterId = (index: number): string => `M-${String(index + 1).padStart(4, '0')}`;

/** A reading held back for late delivery, released once the stream passes `releaseAt`. */
interface Held {
  readonly releaseAt: number;
  /** Tie-break, so equal release times keep generation order (determinism). */
  readonly order: number;
  readonly message: GridMessage;
}

const before = (a: Held, b: Held): boolean => a.releaseAt < b.releaseAt || (a.releaseAt === b.releaseAt && a.order < b.order);

/** Binary min-heap on (releaseAt, order). */
class HeldQueue {
  private readonly items: Held[] = [];

  peek(): Held | undefined {
    return this.items[0];
  }

  push(h: Held): void {
    const a = this.items;
    let i = a.push(h) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Held | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

const checkOptions = (o: GridTelemetryOptions): void => {
  if (!Number.isInteger(o.meters) || o.meters < 1) throw new RangeError(`meters must be a positive integer, got ${o.meters}`);
  if (!Number.isSafeInteger(o.startTime)) throw new RangeError(`startTime must be integer epoch milliseconds, got ${o.startTime}`);
  // Integer, so a meter's readings never share a millisecond (and a message id).
  if (!Number.isSafeInteger(o.intervalMs) || o.intervalMs < 1) throw new RangeError(`intervalMs must be a positive integer, got ${o.intervalMs}`);
  for (const name of ['anomalyRate', 'outOfOrderRate', 'lateRate', 'invalidRate'] as const) {
    const v = o[name] ?? 0;
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be within [0, 1], got ${v}`);
  }
  const delayed = (o.lateRate ?? 0) + (o.outOfOrderRate ?? 0);
  // A held reading is released by newer readings going out on time: at least half must.
  if (delayed > 0.5) throw new RangeError('lateRate + outOfOrderRate must not exceed 0.5');
  if ((o.anomalyRate ?? 0) + delayed > 1) throw new RangeError('anomalyRate + lateRate + outOfOrderRate must not exceed 1');
};

export const createGridTelemetryGenerator = (options: GridTelemetryOptions): GridMessageGenerator => {
  checkOptions(options);
  const { meters: meterCount, startTime, intervalMs } = options;
  const anomalyRate = options.anomalyRate ?? 0;
  const lateRate = options.lateRate ?? 0;
  const outOfOrderRate = options.outOfOrderRate ?? 0;
  const invalidRate = options.invalidRate ?? 0;
  const rnd = createRandom(options.seed);
  const intervalS = String(intervalMs / 1000);
  const meters: Meter[] = Array.from({ length: meterCount }, (_, i) => {
    const id = gridMeterId(i);
    const region = GRID_REGIONS[i % GRID_REGIONS.length]!;
    return { id, region, head: `{"meter_id":"${id}","region":"${region}","timestamp":`, basePower: rnd.float(1, 8) };
  });
  const held = new HeldQueue();
  let heldOrder = 0;
  let seq = 0;
  /** Newest event time delivered so far: held readings wait until it passes them. */
  let maxEmitted = Number.NEGATIVE_INFINITY;
  let cachedDay = Number.NaN;
  let cachedDate = '';

  /** RFC 3339 of `t` at a fixed offset; the date part is built once per day. */
  const rfc3339 = (t: number, offsetMinutes: number, suffix: string, fraction: boolean): string => {
    const wall = t + offsetMinutes * 60_000;
    const day = Math.floor(wall / DAY_MS);
    if (day !== cachedDay) {
      cachedDay = day;
      cachedDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
    }
    const inDay = wall - day * DAY_MS;
    const sec = Math.floor(inDay / 1000);
    const ms = inDay - sec * 1000;
    const base = `${cachedDate}T${P2[Math.floor(sec / 3600)]!}:${P2[Math.floor(sec / 60) % 60]!}:${P2[sec % 60]!}`;
    return fraction || ms !== 0 ? `${base}.${P3[ms]!}${suffix}` : base + suffix;
  };

  /** The timestamp as JSON, mostly RFC 3339 UTC, sometimes with an offset or as epoch ms. */
  const timestampJson = (t: number): string => {
    const f = rnd.next();
    if (f < 0.7) return `"${rfc3339(t, 0, 'Z', f < 0.07)}"`;
    if (f < 0.8) {
      const [suffix, minutes] = rnd.pick(OFFSETS);
      return `"${rfc3339(t, minutes, suffix, false)}"`;
    }
    if (f < 0.95) return String(t);
    return `"${t}"`;
  };

  /** Power around the meter's base: higher in the evening (UTC), a few percent of noise. */
  const normalPower = (m: Meter, t: number): number => {
    const hour = ((t % DAY_MS) + DAY_MS) % DAY_MS / 3_600_000;
    const daily = 1 + 0.25 * Math.cos((2 * Math.PI * (hour - 18)) / 24);
    return Math.max(0.2, m.basePower * daily * (1 + rnd.normal(0, 0.04)));
  };

  /** The body after `"timestamp":<ts>`: power, then the optional fields (energy follows power). */
  const tail = (power: number): string => {
    const kw = power.toFixed(3);
    let s = `,"power_kw":${kw}`;
    if (rnd.chance(0.9)) s += `,"voltage":${rnd.normal(230, 2).toFixed(1)}`;
    if (rnd.chance(0.3)) {
      // From the power as written, so the message agrees with itself.
      s += `,"energy_kwh":${Number(((Number(kw) * intervalMs) / 3_600_000).toPrecision(6))}`;
      // The energy makes the interval redundant: sometimes leave it out.
      if (rnd.chance(0.5)) s += `,"interval_s":${intervalS}`;
    } else {
      // Always sent otherwise: the worker's default interval may not be ours.
      s += `,"interval_s":${intervalS}`;
    }
    return `${s}}`;
  };

  const slot = (): { meter: Meter; t: number } => {
    const meter = meters[seq % meterCount]!;
    return { meter, t: startTime + Math.floor(seq / meterCount) * intervalMs };
  };

  let invalidCount = 0;
  /** A garbled copy of the next reading; the reading itself still follows. */
  const invalid = (): GridMessage => {
    const { meter, t } = slot();
    // Not the reading's id: it must not collide with the reading that follows (a broker that
    // dedupes on message ids, as JetStream does, would drop that reading).
    const id = `${meter.id}@${t}#invalid${invalidCount++}`;
    const whole = `${meter.head}${timestampJson(t)}${tail(normalPower(meter, t))}`;
    if (rnd.chance(UNDECODABLE_SHARE)) {
      const body = rnd.chance(0.5)
        ? whole.slice(0, rnd.int(1, whole.length - 2)) // truncated in transit
        : whole.replace(`"region":"${meter.region}`, `"region":"${meter.region}\u00ff`); // latin-1 byte: not UTF-8
      return { key: meter.id, id, body: Buffer.from(body, 'latin1'), kind: 'undecodable' };
    }
    const power = normalPower(meter, t).toFixed(3);
    const ts = rfc3339(t, 0, 'Z', false);
    const dayFirst = `${ts.slice(8, 10)}/${ts.slice(5, 7)}/${ts.slice(0, 4)} ${ts.slice(11, 19)}`;
    const rest = `"region":"${meter.region}","timestamp":"${ts}"`;
    let body: string;
    switch (rnd.int(0, 7)) {
      case 0: body = `{${rest},"power_kw":${power}}`; break; // no meter_id
      case 1: body = `{"meter_id":"${meter.id}",${rest}}`; break; // no power_kw
      case 2: body = `{"meter_id":"${meter.id}",${rest},"power_kw":"${power}"}`; break; // number as string
      case 3: body = `${meter.head}"${dayFirst}","power_kw":${power}}`; break; // not RFC 3339
      case 4: body = `${meter.head}"2026-02-30T10:00:00Z","power_kw":${power}}`; break; // no such day
      case 5: body = `{"meter_id":"${meter.id}","region":"","timestamp":"${ts}","power_kw":${power}}`; break;
      case 6: body = `${meter.head}"${ts}","power_kw":${power},"energy_kwh":-0.001}`; break;
      default: body = `[${whole}]`; // not an object
    }
    return { key: meter.id, id, body: Buffer.from(body, 'latin1'), kind: 'schema-invalid' };
  };

  const next = (): GridMessage => {
    if (invalidRate > 0 && rnd.next() < invalidRate) return invalid();
    const top = held.peek();
    if (top !== undefined && top.releaseAt <= maxEmitted) {
      held.pop();
      return top.message;
    }
    for (;;) {
      const { meter, t } = slot();
      seq++;
      const id = `${meter.id}@${t}`;
      let kind: GridMessageKind = 'valid';
      let power = normalPower(meter, t);
      const roll = rnd.next();
      if (roll < anomalyRate) {
        const which = rnd.int(0, 2);
        if (which === 0) {
          kind = 'spike';
          power *= rnd.float(3, 5);
        } else if (which === 1) {
          kind = 'drop';
          power *= rnd.float(0.2, 0.4);
        } else {
          kind = 'outage';
          power = rnd.float(0, 0.05);
        }
      } else if (roll < anomalyRate + lateRate) {
        kind = 'late';
      } else if (roll < anomalyRate + lateRate + outOfOrderRate) {
        kind = 'out-of-order';
      }
      const body = Buffer.from(`${meter.head}${timestampJson(t)}${tail(power)}`, 'latin1');
      const message: GridMessage = { key: meter.id, id, body, kind };
      if (kind === 'late' || kind === 'out-of-order') {
        const [lo, hi] = kind === 'late' ? LATE_MS : OUT_OF_ORDER_MS;
        held.push({ releaseAt: t + rnd.int(lo, hi), order: heldOrder++, message });
        continue;
      }
      if (t > maxEmitted) maxEmitted = t;
      return message;
    }
  };

  return { next };
};
