/**
 * One rig per source: the worker's environment, the topology that must exist before the
 * backlog, a publisher, the raw consumer's spec and the clean-up, all with unique names
 * (`e2e.<hex>.*`, `E2E_<HEX>`, `e2e/<hex>/*`).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import mqtt from 'mqtt';
import { amqpTransport } from '../../src/cli/load/amqp.ts';
import { loadDomain, type LoadDomain } from '../../src/cli/load/generators.ts';
import { kafkaTransport } from '../../src/cli/load/kafka.ts';
import { natsTransport } from '../../src/cli/load/nats.ts';
import { declareTopology } from '../../src/sources/amqp/topology.ts';
import { ensureStream } from '../../src/sources/nats/streams.ts';
import { benchConfig } from '../lib.ts';
import { AMQP_URL, hex, INFLUX_URL, KAFKA_BROKERS, MQTT_SESSION_OPTIONS, MQTT_URL, NATS_URL, using, type E2eDomain, type SourceName } from './common.ts';
import type { RawSpec } from './raw-consume.ts';
import type { Scratch } from './scratch.ts';
import { mqttSender, transportSender, type RigSender } from './traffic.ts';
import { fixKafkajsRequestQueue } from '../../src/sources/kafka/request-queue-fix.ts';

/** One source as the worker consumes it, with unique names. */
export interface Rig {
  readonly source: SourceName;
  readonly domain: E2eDomain;
  /** The raw table whose rows are counted and timed. */
  readonly table: string;
  /** SQL giving (id, xmin) of every stored message: id as LoadMessage.id. */
  readonly idSql: string;
  /** The worker's environment (DATABASE_URL added by the caller). */
  readonly env: Record<string, string>;
  /** `<client library> raw consume` */
  readonly limitName: string;
  /**
   * Declares what must exist before publishing so that messages wait for the worker (and,
   * with `raw`, a second copy for the raw consumer: RabbitMQ queue, MQTT session).
   */
  prepare(raw: boolean): Promise<void>;
  openSender(): Promise<RigSender>;
  rawSpec(expected: number): RawSpec;
}

const gridIdSql = `SELECT meter_id || '@' || (extract(epoch FROM "timestamp") * 1000)::bigint AS id, xmin::text AS x FROM telemetry_readings`;
const meterIdSql = 'SELECT message_id AS id, min(xmin::text::bigint)::text AS x FROM meter_readings_raw GROUP BY 1';

/** fn with a connected Kafka admin client. */
export const withKafkaAdmin = <T>(fn: (admin: Admin) => Promise<T>): Promise<T> =>
  using(async () => {
    fixKafkajsRequestQueue();
    const admin = new Kafka({ clientId: 'ingestd-bench', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    return admin;
  }, (admin) => admin.disconnect(), fn);

type AmqpConnection = Awaited<ReturnType<typeof amqp.connect>>;
const withAmqp = <T>(fn: (conn: AmqpConnection) => Promise<T>): Promise<T> => using(() => amqp.connect(AMQP_URL), (conn) => conn.close(), fn);

type NatsConnection = Awaited<ReturnType<typeof natsConnect>>;
const withNats = <T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> => using(() => natsConnect({ servers: NATS_URL }), (nc) => nc.close(), fn);

let kafkajsWarningHidden = false;
/** kafkajs on Node 24 sets negative timeouts (a harmless TimeoutNegativeWarning): hidden, other warnings printed as before. */
function hideKafkajsWarning(): void {
  if (kafkajsWarningHidden) return;
  kafkajsWarningHidden = true;
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name !== 'TimeoutNegativeWarning') for (const p of printers) p(w);
  });
}

/** grid-telemetry over Kafka: a topic of `partitions` partitions; worker defaults (4 partitions at once, chunks of 2000). */
/**
 * The parts of a Kafka rig that only differ by domain: unique names under `e2e.<hex>`, the
 * clean-up of its topics and groups (`groups()` when it runs), topic creation and the sender.
 */
function kafkaTopic(scratch: Scratch, suffix: string, domain: E2eDomain, partitions: number, groups: (p: string) => string[]) {
  hideKafkajsWarning();
  const p = `e2e.${hex(4)}`;
  const topic = `${p}.${suffix}`;
  scratch.defer(`kafka topics and groups ${p}.*`, () => withKafkaAdmin(async (admin) => {
    await admin.deleteGroups([`${p}.group`, ...groups(p)]).catch(() => undefined);
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${p}.`));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  }));
  return {
    p, topic, group: `${p}.group`,
    prepare: () => withKafkaAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    }),
    openSender: () => transportSender((events) =>
      kafkaTransport.prepare(`kafka://${KAFKA_BROKERS.join(',')}`, loadDomain(domain), { topic, declare: false }, {}).open({ concurrency: 1, batchSize: 2000, events })),
  };
}

export function kafkaRig(scratch: Scratch, partitions = 8, extraEnv: Record<string, string> = {}): Rig {
  let rawGroups = 0;
  const { p, topic, group, prepare, openSender } = kafkaTopic(scratch, 'raw', 'grid-telemetry', partitions, (p) => Array.from({ length: rawGroups }, (_, i) => `${p}.raw-${i}`));
  return {
    source: 'kafka',
    domain: 'grid-telemetry',
    table: 'telemetry_readings',
    idSql: gridIdSql,
    env: {
      DOMAINS_ENABLED: 'grid-telemetry', KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group,
      GRID_AGGREGATES_TOPIC: `${p}.aggregates`, GRID_ALERTS_TOPIC: `${p}.alerts`, ...extraEnv,
    },
    limitName: 'kafkajs raw consume',
    prepare,
    openSender,
    rawSpec: (expected) => ({ kind: 'kafka', brokers: KAFKA_BROKERS, topic, groupId: `${p}.raw-${rawGroups++}`, expected, concurrency: 4 }),
  };
}

/**
 * smart-grid over Kafka (its own source), `partitions` partitions (SPEC: 32), with InfluxDB:
 * a database of its own, dropped afterwards.
 */
export function smartGridRig(scratch: Scratch, partitions = 32): Rig & { readonly influxDatabase: string } {
  const { p, topic, group, prepare, openSender } = kafkaTopic(scratch, 'transactions', 'smart-grid', partitions, (p) => [`${p}.raw`]);
  const influxDatabase = `e2e_${p.slice(4)}`;
  scratch.defer(`InfluxDB database ${influxDatabase}`, () => influxQuery(`DROP DATABASE "${influxDatabase}"`));
  return {
    source: 'kafka',
    domain: 'smart-grid',
    table: 'smart_grid_transactions',
    idSql: 'SELECT transaction_id AS id, xmin::text AS x FROM smart_grid_transactions',
    env: {
      DOMAINS_ENABLED: 'smart-grid', KAFKA_BROKERS: KAFKA_BROKERS.join(','), SMART_GRID_TOPIC: topic, KAFKA_GROUP_ID: group,
      SMART_GRID_ALERTS_TOPIC: `${p}.alerts`, INFLUXDB_URL: INFLUX_URL, INFLUXDB_DATABASE: influxDatabase,
    },
    limitName: 'InfluxDB line-protocol writes of the same points',
    influxDatabase,
    prepare,
    openSender,
    rawSpec: (expected) => ({ kind: 'kafka', brokers: KAFKA_BROKERS, topic, groupId: `${p}.raw`, expected, concurrency: 4 }),
  };
}

/** InfluxQL against the benchmark's InfluxDB (POST: also for statements that change things). */
export async function influxQuery(q: string, db?: string): Promise<Array<{ series?: Array<{ values: unknown[][] }>; error?: string }>> {
  const res = await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: new URLSearchParams({ q, ...(db === undefined ? {} : { db }) }) });
  if (!res.ok) throw new Error(`InfluxDB ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { results?: Array<{ series?: Array<{ values: unknown[][] }>; error?: string }> };
  const failed = body.results?.find((r) => r.error !== undefined)?.error;
  if (failed !== undefined) throw new Error(`InfluxDB: ${failed} (in: ${q})`);
  return body.results ?? [];
}

/** energy-meter over RabbitMQ (its own source), RABBITMQ_PREFETCH=1000. */
export function rabbitRig(scratch: Scratch, prefetch = 1000): Rig {
  const p = `e2e.${hex(4)}`;
  const env = {
    DOMAINS_ENABLED: 'energy-meter', RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: String(prefetch),
    RABBITMQ_INGEST_EXCHANGE: `${p}.ingest.exchange`, RABBITMQ_INGEST_QUEUE: `${p}.ingest.queue`, RABBITMQ_INGEST_ROUTING_KEY: 'meter.reading.ingested',
    RABBITMQ_DLQ_QUEUE: `${p}.ingest.dlq`, RABBITMQ_WORKER_EXCHANGE: `${p}.worker.events.exchange`,
  };
  const rawQueue = `${p}.raw.queue`;
  scratch.defer(`rabbitmq queues and exchanges ${p}.*`, () => withAmqp(async (conn) => {
    conn.on('error', () => undefined);
    // A channel per object: a failed delete closes its channel.
    const each = async (fn: (ch: amqp.Channel) => Promise<unknown>): Promise<void> => {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await fn(ch).then(() => ch.close()).catch(() => undefined);
    };
    for (const q of [env.RABBITMQ_INGEST_QUEUE, env.RABBITMQ_DLQ_QUEUE, rawQueue]) await each((ch) => ch.deleteQueue(q));
    for (const e of [env.RABBITMQ_INGEST_EXCHANGE, env.RABBITMQ_WORKER_EXCHANGE]) await each((ch) => ch.deleteExchange(e));
  }));
  return {
    source: 'rabbitmq',
    domain: 'energy-meter',
    table: 'meter_readings_raw',
    idSql: meterIdSql,
    env,
    limitName: `amqplib raw consume (prefetch ${prefetch}, multiple acks)`,
    prepare: (raw) => withAmqp(async (conn) => {
      const ch = await conn.createChannel();
      // The worker's own topology (as `ingestd run` declares it), so the queue exists before the backlog.
      await declareTopology(ch, benchConfig({ ...env }).rabbitmq);
      if (raw) {
        // A second queue on the same binding: the very same backlog, for the raw consumer.
        await ch.assertQueue(rawQueue, { durable: true });
        await ch.bindQueue(rawQueue, env.RABBITMQ_INGEST_EXCHANGE, env.RABBITMQ_INGEST_ROUTING_KEY);
      }
    }),
    openSender: () => transportSender((events) =>
      amqpTransport.prepare(AMQP_URL, loadDomain('energy-meter'), { exchange: env.RABBITMQ_INGEST_EXCHANGE, routingKey: env.RABBITMQ_INGEST_ROUTING_KEY, declare: false }, {})
        .open({ concurrency: 1, batchSize: 500, events })),
    rawSpec: (expected) => ({ kind: 'rabbitmq', url: AMQP_URL, queue: rawQueue, prefetch, ackEvery: 100, expected }),
  };
}

/** grid-telemetry bound to NATS JetStream (GRID_TELEMETRY_SOURCE=nats): one durable pull consumer. */
export function natsRig(scratch: Scratch): Rig {
  const s = hex(4);
  const stream = `E2E_${s.toUpperCase()}`;
  const subject = `e2e.${s}.raw`;
  const outputs = [`e2e.${s}.aggregates`, `e2e.${s}.alerts`];
  const env = {
    DOMAINS_ENABLED: 'grid-telemetry', GRID_TELEMETRY_SOURCE: 'nats', NATS_URL, NATS_STREAM: stream, NATS_DLQ_STREAM: `${stream}_DLQ`, NATS_OUTPUT_STREAM: `${stream}_OUT`,
    NATS_DURABLE: `e2e_${s}`, KAFKA_TOPIC: subject, GRID_AGGREGATES_TOPIC: outputs[0]!, GRID_ALERTS_TOPIC: outputs[1]!,
  };
  let rawConsumers = 0;
  scratch.defer(`nats streams ${stream}, ${stream}_DLQ, ${stream}_OUT`, () => withNats(async (nc) => {
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, `${stream}_DLQ`, `${stream}_OUT`]) await jsm.streams.delete(name).catch(() => undefined);
  }));
  // The load command's NATS transport, for a domain it does not route to NATS itself.
  const gridOnNats: LoadDomain = { ...loadDomain('grid-telemetry'), routes: { nats: { subject } } };
  return {
    source: 'nats',
    domain: 'grid-telemetry',
    table: 'telemetry_readings',
    idSql: gridIdSql,
    env,
    limitName: '@nats-io/jetstream raw pull (fetch + ack)',
    // The input stream, so that the backlog can be loaded before the worker starts; the worker
    // declares its output stream itself.
    prepare: () => withNats(async (nc) => {
      await ensureStream(await jetstreamManager(nc), stream, [subject]);
    }),
    // The transport sends each id as Nats-Msg-Id; a garbled grid message carries the id of the
    // reading after it, so JetStream's duplicate window would drop that reading: no id for those.
    openSender: () => transportSender(
      (events) => natsTransport.prepare(NATS_URL, gridOnNats, { topic: subject, declare: false }, { NATS_STREAM: stream }).open({ concurrency: 1, batchSize: 1000, events }),
      (m) => (m.kind === 'undecodable' || m.kind === 'schema-invalid' ? { ...m, id: '' } : m),
    ),
    rawSpec: (expected) => ({ kind: 'nats', url: NATS_URL, stream, subject, durable: `e2e_raw_${s}_${rawConsumers++}`, batch: 1000, maxAckPending: 5000, expected }),
  };
}

/** grid-telemetry bound to MQTT (GRID_TELEMETRY_SOURCE=mqtt) on the tests' Mosquitto: persistent session, QoS 1. */
export function mqttRig(scratch: Scratch): Rig {
  const s = hex(4);
  const topic = `e2e/${s}/raw`;
  const workerId = `e2e-worker-${s}`;
  const rawId = `e2e-raw-${s}`;
  const env = {
    DOMAINS_ENABLED: 'grid-telemetry', GRID_TELEMETRY_SOURCE: 'mqtt', MQTT_URL, MQTT_CLIENT_ID: workerId, KAFKA_TOPIC: topic,
    GRID_AGGREGATES_TOPIC: `e2e/${s}/aggregates`, GRID_ALERTS_TOPIC: `e2e/${s}/alerts`,
  };
  scratch.defer(`mqtt sessions ${workerId}, ${rawId}`, async () => {
    for (const clientId of [workerId, rawId]) await endMqttSession(clientId);
  });
  return {
    source: 'mqtt',
    domain: 'grid-telemetry',
    table: 'telemetry_readings',
    idSql: gridIdSql,
    env,
    limitName: 'mqtt.js raw consume (QoS 1, persistent session)',
    async prepare(raw) {
      // Persistent sessions subscribed before the backlog, so the broker queues it for them:
      // the worker's own (it resumes it with MQTT_CLIENT_ID) and the raw consumer's.
      for (const clientId of raw ? [workerId, rawId] : [workerId]) await openMqttSession(clientId, topic);
    },
    openSender: () => mqttSender(topic),
    rawSpec: (expected) => ({ kind: 'mqtt', url: MQTT_URL, clientId: rawId, topic, receiveMaximum: 1000, expected }),
  };
}

export function rigFor(source: SourceName, scratch: Scratch): Rig {
  switch (source) {
    case 'kafka': return kafkaRig(scratch, Number(process.env['BENCH_KAFKA_PARTITIONS'] ?? 8));
    case 'rabbitmq': return rabbitRig(scratch);
    case 'nats': return natsRig(scratch);
    case 'mqtt': return mqttRig(scratch);
  }
}

async function openMqttSession(clientId: string, topic: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { ...MQTT_SESSION_OPTIONS, clientId });
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
}

/** Removes a persistent session and what the broker still queues for it. */
async function endMqttSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, protocolVersion: 5, reconnectPeriod: 0, properties: { sessionExpiryInterval: 0 } });
  await c.endAsync();
}
