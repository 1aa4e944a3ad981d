/**
 * The domains `ingestd load` can generate traffic for: each one's message kinds, the
 * brokers it can be sent to with its default destination there, and its generator.
 * Every generated message carries the meter as its key (Kafka partitioning) and the id the
 * worker derives for it (written to --ids-file).
 */
import { ANALYTICS_TOPICS, createAnalyticsGenerator } from '../../sim/analytics.ts';
import { CHAT_SUBJECTS, createChatGenerator } from '../../sim/chat-events.ts';
import { createEnergyMeterGenerator, meterFingerprint, MESSAGE_KINDS } from '../../sim/energy-meter.ts';
import { createGridTelemetryGenerator, GRID_MESSAGE_KINDS } from '../../sim/grid-telemetry.ts';
import { createSmartGridGenerator } from '../../sim/smart-grid.ts';
import { OptionError } from '../options.ts';

export interface LoadMessage {
  /** The meter: Kafka key, so one meter stays on one partition. */
  readonly key: string;
  /** Message id as the worker derives it (energy-meter: request_id; grid-telemetry: `meter@ms`). */
  readonly id: string;
  readonly body: Buffer;
  readonly kind: string;
  /** Where this message goes (topic, routing key, subject) when the domain has several; else the run's destination. */
  readonly route?: string;
}

export interface LoadGenerator {
  next(): LoadMessage;
}

export interface GeneratorOptions {
  readonly seed: number;
  readonly meters: number;
  /** First received_at (energy-meter) or event time (grid-telemetry), epoch ms. */
  readonly startTime: number;
  /** Step between messages (energy-meter), or between two readings of one meter (grid-telemetry); undefined = the domain's default. */
  readonly intervalMs: number | undefined;
  /** Target rate, msgs/s (0 = full speed): energy-meter's default step is 1/rate. */
  readonly rate: number;
  readonly anomalyRate: number;
  readonly invalidRate: number;
  readonly outOfOrderRate: number;
  readonly lateRate: number;
  /** chat-events: base subjects to draw from (`v1.messages.upsert`…). */
  readonly subjects?: ReadonlyArray<string>;
  /** chat-events: companies. */
  readonly companyIds?: ReadonlyArray<string>;
  /** chat-events: items per history batch. */
  readonly historyCount?: number;
}

export type BrokerKind = 'amqp' | 'kafka' | 'nats' | 'mqtt';

export interface LoadDomain {
  readonly name: string;
  /** Message kinds, in the order the summary lists them. */
  readonly kinds: readonly string[];
  /** Broker used when --broker is not given. */
  readonly defaultBroker: BrokerKind;
  /**
   * Default destination on each broker kind the domain can be sent to (absent = not supported).
   * AMQP `routingKey: null` means the worker's ingest routing key ($RABBITMQ_INGEST_ROUTING_KEY).
   */
  readonly routes: {
    readonly amqp?: { readonly routingKey: string | null };
    readonly kafka?: { readonly topic: string };
    readonly nats?: { readonly subject: string };
    readonly mqtt?: { readonly topic: string };
  };
  /** Every route its messages may carry (topics to create, subjects a stream must capture); absent = the one destination. */
  readonly messageRoutes?: ReadonlyArray<string>;
  /** Throws an OptionError naming the flag if the options do not suit this domain. */
  check(o: GeneratorOptions): void;
  /** The generator, for options that passed `check`. */
  create(o: GeneratorOptions): LoadGenerator;
}

const analytics: LoadDomain = {
  name: 'analytics',
  kinds: ['valid', 'out-of-spec', 'drift', 'invalid'],
  defaultBroker: 'kafka',
  // Each message goes to its sub-domain's topic (or routing key, subject).
  routes: { amqp: { routingKey: 'sensors.device.readings' }, kafka: { topic: 'sensors.device.readings' }, nats: { subject: 'sensors.device.readings' }, mqtt: { topic: 'sensors.device.readings' } },
  messageRoutes: ANALYTICS_TOPICS,
  check(o) {
    if (o.outOfOrderRate > 0 || o.lateRate > 0) throw new OptionError('--late-rate', 'applies to grid-telemetry only');
  },
  create(o) {
    const gen = createAnalyticsGenerator({ seed: o.seed, machines: o.meters, startTime: o.startTime, intervalMs: o.intervalMs ?? 100, anomalyRate: o.anomalyRate, invalidRate: o.invalidRate });
    let seq = 0;
    return {
      next() {
        const m = gen.next();
        return { key: m.key, id: `${m.topic}#${seq++}`, body: m.body, kind: m.kind, route: m.topic };
      },
    };
  },
};

const chatEvents: LoadDomain = {
  name: 'chat-events',
  kinds: ['realtime', 'stale', 'history', 'invalid'],
  defaultBroker: 'nats',
  routes: { nats: { subject: 'v1.>' } },
  messageRoutes: ['v1.>'],
  check(o) {
    for (const s of o.subjects ?? []) {
      if (!(CHAT_SUBJECTS as readonly string[]).includes(s)) throw new OptionError('--subjects', `unknown subject "${s}" (expected some of ${CHAT_SUBJECTS.join(', ')})`);
    }
    for (const c of o.companyIds ?? []) {
      if (!/^[A-Za-z0-9_]{1,48}$/.test(c)) throw new OptionError('--company-ids', `"${c}" is not a company id (letters, digits, _; at most 48)`);
    }
    if (o.historyCount !== undefined && !(Number.isSafeInteger(o.historyCount) && o.historyCount >= 1)) throw new OptionError('--history-count', 'must be a whole number >= 1');
  },
  create(o) {
    const gen = createChatGenerator({
      seed: o.seed, companies: o.companyIds ?? ['CompanyAAA01', 'CompanyBBB02'], ...(o.subjects === undefined ? {} : { subjects: o.subjects }),
      historyCount: o.historyCount ?? 10, startTime: o.startTime, invalidRate: o.invalidRate, staleRate: o.anomalyRate,
    });
    return {
      next() {
        const m = gen.next();
        const id = /"event_id":"([^"]*)"/.exec(m.body.toString())?.[1] ?? '';
        return { key: m.subject.split('.')[3] ?? '', id, body: m.body, kind: m.kind, route: m.subject };
      },
    };
  },
};

const energyMeter: LoadDomain = {
  name: 'energy-meter',
  kinds: MESSAGE_KINDS,
  defaultBroker: 'amqp',
  routes: { amqp: { routingKey: null }, kafka: { topic: 'meter.reading.ingested' } },
  check(o) {
    if (o.outOfOrderRate > 0) throw new OptionError('--out-of-order-rate', 'applies to grid-telemetry only');
    if (o.lateRate > 0) throw new OptionError('--late-rate', 'applies to grid-telemetry only');
    if (o.anomalyRate + o.invalidRate > 1) throw new OptionError('--anomaly-rate', '--anomaly-rate plus --invalid-rate must not exceed 1');
  },
  create(o) {
    const intervalMs = o.intervalMs ?? (o.rate > 0 ? 1000 / o.rate : 1);
    const generator = createEnergyMeterGenerator({
      seed: o.seed, meters: o.meters, startTime: o.startTime, intervalMs, anomalyRate: o.anomalyRate, invalidRate: o.invalidRate,
    });
    // The generator takes meters round-robin: message n belongs to meter n % meters.
    const keys = Array.from({ length: o.meters }, (_, i) => meterFingerprint(i));
    let seq = 0;
    return {
      next() {
        const m = generator.next();
        const key = keys[seq % keys.length]!;
        seq++;
        return { key, id: m.id, body: m.body, kind: m.kind };
      },
    };
  },
};

const gridTelemetry: LoadDomain = {
  name: 'grid-telemetry',
  kinds: GRID_MESSAGE_KINDS,
  defaultBroker: 'kafka',
  routes: { amqp: { routingKey: 'raw_readings' }, kafka: { topic: 'raw_readings' }, nats: { subject: 'raw_readings' }, mqtt: { topic: 'raw_readings' } },
  check(o) {
    const intervalMs = o.intervalMs ?? 1000;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
      throw new OptionError('--interval', 'for grid-telemetry, a whole number of milliseconds >= 1ms (event time between two readings of a meter)');
    }
    if (o.lateRate + o.outOfOrderRate > 0.5) {
      throw new OptionError('--late-rate', '--late-rate plus --out-of-order-rate must not exceed 0.5 (held readings are released by newer ones)');
    }
    if (o.anomalyRate + o.lateRate + o.outOfOrderRate > 1) {
      throw new OptionError('--anomaly-rate', '--anomaly-rate plus --late-rate plus --out-of-order-rate must not exceed 1');
    }
    if (!Number.isSafeInteger(o.startTime)) throw new OptionError('--start-time', 'must be a whole number of epoch milliseconds');
  },
  create(o) {
    return createGridTelemetryGenerator({
      seed: o.seed, meters: o.meters, startTime: o.startTime, intervalMs: o.intervalMs ?? 1000,
      anomalyRate: o.anomalyRate, invalidRate: o.invalidRate, outOfOrderRate: o.outOfOrderRate, lateRate: o.lateRate,
    });
  },
};

const smartGrid: LoadDomain = {
  name: 'smart-grid',
  kinds: ['valid', 'fault', 'offline', 'invalid'],
  defaultBroker: 'kafka',
  routes: { amqp: { routingKey: 'smart-grid-transactions' }, kafka: { topic: 'smart-grid-transactions' }, nats: { subject: 'smart-grid-transactions' }, mqtt: { topic: 'smart-grid-transactions' } },
  check(o) {
    if (o.outOfOrderRate > 0 || o.lateRate > 0) throw new OptionError('--late-rate', 'applies to grid-telemetry only');
  },
  create(o) {
    // --anomaly-rate: chance that a healthy meter goes into fault or offline for a while.
    const gen = createSmartGridGenerator({
      seed: o.seed, meters: o.meters, startTime: o.startTime, intervalMs: o.intervalMs ?? (o.rate > 0 ? 1000 / o.rate : 1),
      faultRate: o.anomalyRate, invalidRate: o.invalidRate,
    });
    let seq = 0;
    return {
      next() {
        const m = gen.next();
        return { key: m.key, id: m.transactionId ?? `invalid#${seq++}`, body: m.body, kind: m.kind };
      },
    };
  },
};

export const LOAD_DOMAINS: readonly LoadDomain[] = [energyMeter, gridTelemetry, analytics, chatEvents, smartGrid];

export const loadDomain = (name: string): LoadDomain => {
  const wanted = name.trim();
  const found = LOAD_DOMAINS.find((d) => d.name === wanted);
  if (found !== undefined) return found;
  const supported = LOAD_DOMAINS.map((d) => d.name).join(', ');
  throw new OptionError('--domain', `unknown value "${name}" (expected one of: ${supported})`);
};

const checkShare = (value: number, flag: string): void => {
  if (!(value >= 0 && value <= 1)) throw new OptionError(flag, `${value} is outside [0, 1]`);
};

/** Throws an OptionError naming the flag when the options are bad or do not apply to the domain. */
export const checkGeneratorOptions = (domain: LoadDomain, o: GeneratorOptions): void => {
  if (!Number.isSafeInteger(o.meters) || o.meters < 1) throw new OptionError('--meters', 'must be a whole number >= 1');
  checkShare(o.anomalyRate, '--anomaly-rate');
  checkShare(o.invalidRate, '--invalid-rate');
  checkShare(o.outOfOrderRate, '--out-of-order-rate');
  checkShare(o.lateRate, '--late-rate');
  if (o.intervalMs !== undefined && !(o.intervalMs >= 0 && Number.isFinite(o.intervalMs))) throw new OptionError('--interval', 'must be >= 0');
  if (!Number.isFinite(o.startTime)) throw new OptionError('--start-time', 'must be epoch milliseconds');
  domain.check(o);
};

/** The domain's generator; bad or inapplicable options throw an OptionError naming the flag. */
export const createLoadGenerator = (domain: LoadDomain, o: GeneratorOptions): LoadGenerator => {
  checkGeneratorOptions(domain, o);
  return domain.create(o);
};
