/**
 * Deterministic generator of energy-meter ingest messages (SPEC §5.1 envelope). Used by
 * the load generator and the demo simulator: same seed and options ⇒ byte-identical
 * sequence. Per-meter strings are built once; each message costs a handful of string
 * concatenations and one Buffer.
 */
import { createHash } from 'node:crypto';
import { createRandom } from './random.ts';

export const MESSAGE_KINDS = ['valid', 'anomaly', 'invalid-reading', 'undecodable'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export interface GeneratedMessage {
  /** The request_id (for undecodable messages, the id the message would have had). */
  readonly id: string;
  readonly body: Buffer;
  readonly kind: MessageKind;
}

export interface MessageGenerator {
  next(): GeneratedMessage;
}

export interface EnergyMeterOptions {
  readonly seed: number;
  /** Number of distinct meters (client fingerprints). */
  readonly meters: number;
  /** Share of messages carrying an anomalous reading (spike or negative value). */
  readonly anomalyRate: number;
  /** Share of messages that are invalid: ~80% with an invalid reading, ~20% undecodable. */
  readonly invalidRate: number;
  /** received_at of the first message, epoch ms. */
  readonly startTime: number;
  /** received_at step between consecutive messages (may be fractional). */
  readonly intervalMs: number;
  /** How a message picks its meter; default round-robin. */
  readonly selection?: 'round-robin' | 'random';
}

/** Valid power readings a meter needs before a spike is detectable (SPEC §5.1). */
const SPIKE_MIN_HISTORY = 10;
const UNDECODABLE_SHARE = 0.2;
const USER_AGENTS = ['MeterDevice/1.0', 'MeterDevice/1.1', 'MeterDevice/2.0'] as const;
const BAD_DATA = ['"abc"', '""', '"NaN"', '"12.5W"'] as const;
const BAD_NAMES = ['', '   '] as const;
/** Day/month pairs that do not exist. */
const IMPOSSIBLE_DAYS: ReadonlyArray<readonly [string, string]> = [
  ['31', '02'], ['30', '02'], ['31', '04'], ['31', '06'], ['31', '09'], ['31', '11'],
];
/** +07:00, the zone of the reference deployment, for RFC 3339 dates with an offset. */
const OFFSET_MS = 7 * 3_600_000;

const P2: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));
const P3: readonly string[] = Array.from({ length: 1000 }, (_, i) => `${i}`.padStart(3, '0'));

const R_DATE = '{"date":"';
const R_DATA = '","data":';
const R_POWER = ',"name":"power_consumption"}';
const R_VOLTAGE = ',"name":"voltage"}';
const TAIL = ']}}';

interface Meter {
  readonly fingerprint: string;
  /** `","client_fingerprint":…,"received_at":"` — everything between the id and received_at. */
  readonly middle: string;
  readonly basePower: number;
}

/** `sha256:<64 hex>` fingerprint of meter `index` (stable across runs and seeds). */
export const meterFingerprint = (index: number): string =>
  `sha256:${createHash('sha256').update(`ingestd-sim/energy-meter/${index}`).digest('hex')}`;

const buildMeter = (index: number): Meter => {
  const fingerprint = meterFingerprint(index);
  const n = index + 1;
  const ip = `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  const hashWord = Number.parseInt(fingerprint.slice(7, 15), 16);
  const userAgent = USER_AGENTS[hashWord % USER_AGENTS.length]!;
  return {
    fingerprint,
    middle: `","client_fingerprint":"${fingerprint}","ip_address":"${ip}","user_agent":"${userAgent}","received_at":"`,
    basePower: 100 + (hashWord / 0x1_0000_0000) * 300,
  };
};

/** Calendar fields of an epoch-ms instant (UTC), cached per day. */
class Clock {
  y = '';
  mo = '';
  d = '';
  h = '';
  mi = '';
  s = '';
  ms = 0;
  private day = Number.NaN;

  set(epochMs: number): this {
    const day = Math.floor(epochMs / 86_400_000);
    if (day !== this.day) {
      this.day = day;
      // Civil-from-days (H. Hinnant), exact for the proleptic Gregorian calendar.
      const z = day + 719_468;
      const era = Math.floor(z / 146_097);
      const doe = z - era * 146_097;
      const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
      const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
      const mp = Math.floor((5 * doy + 2) / 153);
      const m = mp < 10 ? mp + 3 : mp - 9;
      this.y = `${yoe + era * 400 + (m <= 2 ? 1 : 0)}`.padStart(4, '0');
      this.mo = P2[m]!;
      this.d = P2[doy - Math.floor((153 * mp + 2) / 5) + 1]!;
    }
    const inDay = epochMs - day * 86_400_000;
    const sec = Math.floor(inDay / 1000);
    this.h = P2[Math.floor(sec / 3600)]!;
    this.mi = P2[Math.floor(sec / 60) % 60]!;
    this.s = P2[sec % 60]!;
    this.ms = inDay - sec * 1000;
    return this;
  }

  rfc3339(fraction: boolean, zone: string): string {
    const base = `${this.y}-${this.mo}-${this.d}T${this.h}:${this.mi}:${this.s}`;
    return fraction ? `${base}.${P3[this.ms]!}${zone}` : base + zone;
  }

  dayFirst(): string {
    return `${this.d}/${this.mo}/${this.y} ${this.h}:${this.mi}:${this.s}`;
  }

  dayTimeMonth(): string {
    return `${this.d} ${this.h}:${this.mi}:${this.s}/${this.mo}/${this.y}`;
  }
}

const checkOptions = (o: EnergyMeterOptions): void => {
  if (!Number.isInteger(o.meters) || o.meters < 1) throw new RangeError(`meters must be a positive integer, got ${o.meters}`);
  for (const [name, v] of [['anomalyRate', o.anomalyRate], ['invalidRate', o.invalidRate]] as const) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be within [0, 1], got ${v}`);
  }
  if (o.anomalyRate + o.invalidRate > 1) throw new RangeError('anomalyRate + invalidRate must not exceed 1');
  if (!Number.isFinite(o.startTime)) throw new RangeError(`startTime must be epoch milliseconds, got ${o.startTime}`);
  if (!(o.intervalMs >= 0 && Number.isFinite(o.intervalMs))) throw new RangeError(`intervalMs must be >= 0, got ${o.intervalMs}`);
};

export const createEnergyMeterGenerator = (options: EnergyMeterOptions): MessageGenerator => {
  checkOptions(options);
  const { meters: meterCount, anomalyRate, invalidRate, startTime, intervalMs } = options;
  const random = options.selection === 'random';
  const rnd = createRandom(options.seed);
  // Ids also depend on the start time: a rerun with the same seed but another start sends
  // other readings, and a request_id must never name two different messages.
  const idRnd = createRandom(Number((BigInt(options.seed) * 1_000_003n + BigInt(Math.floor(startTime))) % 0x7fff_ffffn) + 1);
  const meters: Meter[] = Array.from({ length: meterCount }, (_, i) => buildMeter(i));
  /** Valid power readings emitted so far per meter (the worker's spike history). */
  const history = new Uint32Array(meterCount);
  const clock = new Clock();
  let seq = 0;

  /** A valid reading date a few seconds before received_at, in one of the three formats. */
  const readingDate = (receivedMs: number): string => {
    const at = receivedMs - rnd.int(1000, 10_000);
    const f = rnd.next();
    if (f < 0.55) return clock.set(at).dayFirst();
    if (f < 0.8) return clock.set(at).dayTimeMonth();
    if (f < 0.9) return clock.set(at).rfc3339(false, 'Z');
    if (f < 0.95) return clock.set(at).rfc3339(true, 'Z');
    return clock.set(at + OFFSET_MS).rfc3339(rnd.chance(0.5), '+07:00');
  };

  /** Value as a JSON string literal mostly, sometimes as a bare JSON number. */
  const dataJson = (value: number): string => {
    const text = value.toFixed(1);
    return rnd.next() < 0.85 ? `"${text}"` : text;
  };

  const invalidDate = (receivedMs: number): string => {
    if (rnd.chance(0.5)) {
      // Parseable but 10 minutes away from received_at (tolerance is 5).
      const off = receivedMs + (rnd.chance(0.5) ? -600_000 : 600_000);
      return rnd.chance(0.5) ? clock.set(off).dayFirst() : clock.set(off).rfc3339(false, 'Z');
    }
    const [d, mo] = rnd.pick(IMPOSSIBLE_DAYS);
    clock.set(receivedMs);
    return rnd.chance(0.5)
      ? `${d}/${mo}/${clock.y} ${clock.h}:${clock.mi}:${clock.s}`
      : `${d} ${clock.h}:${clock.mi}:${clock.s}/${mo}/${clock.y}`;
  };

  const next = (): GeneratedMessage => {
    const index = random ? Math.floor(rnd.next() * meterCount) : seq % meterCount;
    const meter = meters[index]!;
    const receivedMs = Math.floor(startTime + seq * intervalMs);
    seq++;
    const id = idRnd.uuid();
    const receivedAt = clock.set(receivedMs).rfc3339(clock.ms !== 0, 'Z');

    let kind: MessageKind = 'valid';
    const roll = rnd.next();
    if (roll < invalidRate) kind = rnd.next() < UNDECODABLE_SHARE ? 'undecodable' : 'invalid-reading';
    else if (roll < invalidRate + anomalyRate) kind = 'anomaly';

    const date = readingDate(receivedMs);
    let power = Math.max(1, rnd.normal(meter.basePower, meter.basePower * 0.03));
    let voltage = rnd.normal(230, 2);
    let powerDate = date;
    let voltageDate = date;
    let powerData = '';
    let voltageData = '';
    let powerTail = R_POWER;
    let voltageTail = R_VOLTAGE;
    let powerValid = true;

    if (kind === 'anomaly') {
      if (history[index] >= SPIKE_MIN_HISTORY && rnd.chance(0.6)) {
        power = meter.basePower * rnd.float(5, 10);
        powerValid = false;
      } else if (rnd.chance(0.5)) {
        power = -power;
        powerValid = false;
      } else {
        voltage = -voltage;
      }
    } else if (kind === 'invalid-reading') {
      const onPower = rnd.chance(0.5);
      powerValid = !onPower;
      const what = rnd.int(0, 2);
      if (what === 0) {
        if (onPower) powerDate = invalidDate(receivedMs);
        else voltageDate = invalidDate(receivedMs);
      } else if (what === 1) {
        if (onPower) powerData = rnd.pick(BAD_DATA);
        else voltageData = rnd.pick(BAD_DATA);
      } else {
        const tail = `,"name":"${rnd.pick(BAD_NAMES)}"}`;
        if (onPower) powerTail = tail;
        else voltageTail = tail;
      }
    }
    if (powerData === '') powerData = dataJson(power);
    if (voltageData === '') voltageData = dataJson(voltage);

    const head = `{"request_id":"${id}${meter.middle}${receivedAt}","payload":{"PM":[`;
    const readings = `${R_DATE}${powerDate}${R_DATA}${powerData}${powerTail},${R_DATE}${voltageDate}${R_DATA}${voltageData}${voltageTail}`;

    if (kind === 'undecodable') return { id, body: Buffer.from(undecodable(head, readings, meter), 'latin1'), kind };
    if (powerValid) history[index]++;
    return { id, body: Buffer.from(head + readings + TAIL, 'latin1'), kind };
  };

  const undecodable = (head: string, readings: string, meter: Meter): string => {
    const variant = rnd.int(0, 2);
    if (variant === 0) {
      // Truncated in transit: not JSON.
      const whole = head + readings + TAIL;
      return whole.slice(0, rnd.int(1, whole.length - 2));
    }
    if (variant === 1) {
      return (head + readings + TAIL).replace(`"client_fingerprint":"${meter.fingerprint}",`, '');
    }
    const notArray = rnd.pick([`{"0":${readings.slice(0, readings.indexOf('},') + 1)}}`, '"power_consumption"', 'null']);
    return `${head.slice(0, -1)}${notArray}}}`;
  };

  return { next };
};
