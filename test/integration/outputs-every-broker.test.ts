/**
 * Every domain's outputs, consumed from every broker it can be bound to, with nothing set up
 * by the test except the broker itself.
 *
 * Per broker (kafka, amqp, nats, mqtt) ONE worker runs energy-meter, grid-telemetry, analytics
 * and smart-grid, all bound to that broker (`<NAME>_SOURCE`), every topic / subject / queue /
 * exchange / stream / client id / group unique to the run. The test publishes inputs the way a
 * producer would and reads each output destination the way a downstream consumer would:
 *
 * - kafka: a consumer that never creates topics (allowAutoTopicCreation off; the broker would
 *   auto-create them otherwise) reads each output topic from the beginning once it exists;
 * - amqp:  after the worker is ready the consumer declares its own queue and binds it to the
 *   output exchange (it never declares the exchange: the worker must have);
 * - nats:  no stream is created by the test: after the worker is ready it looks up the stream
 *   that captures the output subject (jsm.streams.find) and reads it with an ordered consumer;
 * - mqtt:  a QoS 1 subscription to the output topics made before the inputs are published.
 *
 * On kafka, amqp and nats a separate test checks that the worker declared every output
 * destination at start (right after /ready, before any input): a topic, a durable exchange, a
 * stream capturing the subject. Every domain can be bound to every broker (AVAILABLE_SOURCES in
 * src/config/index.ts lists all four), so no pair is skipped; chat-events publishes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { freePort } from '../helpers/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ChannelModel } from 'amqplib';
import { Kafka, logLevel, Partitioners, type Consumer } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { AMQP_URL } from '../helpers/amqp.ts';
import { createTestDatabase, queryRows } from '../helpers/db.ts';
import { KAFKA_BROKERS } from '../helpers/kafka.ts';
import { MQTT_URL, mqttPublish } from '../helpers/mqtt.ts';
import { NATS_URL, TestNats } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

type BrokerKind = 'kafka' | 'amqp' | 'nats' | 'mqtt';
type Body = Record<string, unknown>;

const DOMAINS = ['energy-meter', 'grid-telemetry', 'analytics', 'smart-grid'];
/** How long the outputs may take once the inputs are published (grid windows close on a 500 ms flush). */
const OUTPUT_WAIT_MS = 25_000;
const WORKER_READY_MS = 60_000;

const kafka = new Kafka({ clientId: 'ingestd-test-outputs', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });


/** Names unique to one run: every topic, subject, routing key and exchange starts with `t.<hex>.`. */
function uniqueNames() {
  const s = randomBytes(4).toString('hex');
  const p = `t.${s}`;
  return {
    s,
    p,
    // inputs
    meterRoute: `${p}.meter.reading.ingested`,
    gridInput: `${p}.grid.raw`,
    analyticsPrefix: `${p}.`,
    sensorTopic: `${p}.sensors.device.readings`,
    smartGridInput: `${p}.smart-grid.transactions`,
    // outputs
    workerExchange: `${p}.worker.events`,
    gridAggregates: `${p}.grid.aggregates`,
    gridAlerts: `${p}.grid.alerts`,
    anomalies: `${p}.analytics.anomalies`,
    smartGridAlerts: `${p}.smart-grid.alerts`,
    // ids in the messages
    fingerprint: `fp-${s}`,
    gridMeter: `G-${s}`,
    machine: `mc-${s}`,
    sgMeter: `SG-${s}`,
  };
}
type Names = ReturnType<typeof uniqueNames>;

/** One output destination of one domain, and what the test expects to read from it. */
interface Output {
  readonly domain: string;
  readonly what: string;
  /** Topic / subject / exchange. */
  readonly destination: string;
  /** RabbitMQ binding key of the consumer's queue. */
  readonly bindingKey: string;
  /** The message this test caused. */
  match(body: Body): boolean;
  /** Its key fields. */
  check(body: Body, db: string): Promise<void>;
  /** What the database says when the message is missing (to tell a lost publication from a missed detection). */
  diagnose?(db: string): Promise<string>;
}

const near = (a: unknown, b: number): boolean => typeof a === 'number' && Math.abs(a - b) < 1e-9;

function outputsOf(kind: BrokerKind, n: Names): Output[] {
  return [
    {
      domain: 'energy-meter', what: 'one event per stored reading', destination: n.workerExchange, bindingKey: 'meter.reading.processed',
      match: (b) => b['metric_name'] === 'power_consumption',
      check: async (b, db) => {
        const [client] = await queryRows<{ id: string }>(db, 'SELECT id FROM meter_clients WHERE client_fingerprint = $1', [n.fingerprint]);
        assert.ok(client !== undefined, 'the meter client is stored');
        assert.equal(b['client_id'], client.id);
        assert.equal(b['metric_value'], 245.5);
        assert.equal(Date.parse(String(b['reading_timestamp'])), Date.parse('2025-12-29T10:29:55Z'));
        assert.equal(b['validation_status'], 'valid');
        assert.equal(b['anomaly_reason'], null);
        assert.equal(typeof b['reading_id'], 'string');
      },
    },
    {
      domain: 'grid-telemetry', what: 'closed 1m aggregate', destination: n.gridAggregates, bindingKey: '#',
      match: (b) => b['meter_id'] === n.gridMeter && b['window'] === '1m' && Date.parse(String(b['window_start'])) === Date.parse('2026-01-05T10:00:00Z'),
      check: async (b) => {
        assert.equal(b['region'], 'north');
        assert.equal(Date.parse(String(b['window_end'])), Date.parse('2026-01-05T10:01:00Z'));
        assert.equal(b['sample_count'], 3);
        assert.ok(near(b['max_power'], 3.3) && near(b['min_power'], 0.02), `max/min power ${String(b['max_power'])}/${String(b['min_power'])}`);
        assert.ok(near(b['avg_power'], (3.2 + 0.02 + 3.3) / 3), `avg_power ${String(b['avg_power'])}`);
        assert.equal(b['revision'], 1);
      },
    },
    {
      domain: 'grid-telemetry', what: 'outage alert', destination: n.gridAlerts, bindingKey: '#',
      match: (b) => b['meter_id'] === n.gridMeter && b['type'] === 'outage',
      check: async (b) => {
        assert.equal(b['region'], 'north');
        assert.equal(b['value'], 0.02);
        assert.equal(b['baseline'], 3.2);
        assert.equal(Date.parse(String(b['timestamp'])), Date.parse('2026-01-05T10:00:02Z'));
        assert.equal(typeof b['alert_id'], 'string');
      },
    },
    {
      domain: 'analytics', what: 'anomaly (Western Electric rule 1 against rolling limits)',
      // RabbitMQ: the worker exchange, routed by the anomaly topic's name; elsewhere the topic.
      destination: kind === 'amqp' ? n.workerExchange : n.anomalies, bindingKey: n.anomalies,
      match: (b) => b['machine_id'] === n.machine && b['rule'] === 'we1',
      check: async (b) => {
        assert.equal(b['tenant_id'], 't1');
        assert.equal(b['sensor_id'], 's-001');
        assert.equal(b['metric'], 'temp');
        assert.equal(b['value'], 100);
        assert.equal(b['basis'], 'rolling');
        assert.equal(typeof b['anomaly_id'], 'string');
      },
      // The outlier only breaks rule 1 when the ten readings before it were applied first.
      diagnose: async (db) => {
        const anomalies = await queryRows(db, 'SELECT rule, value FROM analytics.analytics_anomaly WHERE machine_id = $1', [n.machine]);
        const [state] = await queryRows<{ baseline: number[] }>(db, 'SELECT baseline FROM analytics.analytics_series_state WHERE machine_id = $1', [n.machine]);
        return `stored anomalies ${JSON.stringify(anomalies)}; the series' values in the order the detector applied them ${JSON.stringify(state?.baseline ?? null)} (sent: ten of 20/21, then 100)`;
      },
    },
    {
      domain: 'smart-grid', what: 'fault alert', destination: n.smartGridAlerts, bindingKey: '#',
      match: (b) => b['meter_id'] === n.sgMeter && b['type'] === 'fault',
      check: async (b) => {
        assert.equal(b['region'], 'north');
        assert.equal(b['previous_status'], 'active');
        assert.equal(b['consumption_kwh'], 0.75);
        assert.equal(typeof b['alert_id'], 'string');
      },
    },
  ];
}

/** The inputs, in order per route (a key's messages keep their order on every broker). */
function inputsOf(n: Names): Array<{ route: string; key: string; body: Buffer }> {
  const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
  const grid = (ts: string, powerKw: number) => ({ route: n.gridInput, key: n.gridMeter, body: json({ meter_id: n.gridMeter, region: 'north', timestamp: ts, power_kw: powerKw }) });
  const sensorAt = Date.parse('2026-03-01T08:00:00Z');
  const sensor = (i: number, value: number) => ({
    route: n.sensorTopic, key: n.machine,
    body: json({ time: new Date(sensorAt + i * 1000).toISOString(), tenant_id: 't1', factory_id: 'f1', machine_id: n.machine, sensor_id: 's-001', metric: 'temp', value }),
  });
  const now = Date.now();
  const txn = (i: number, status: string, ms: number, kwh: number) => ({
    route: n.smartGridInput, key: n.sgMeter,
    body: json({
      transaction_id: `tx-${n.s}-${i}`, meter_id: n.sgMeter, region: 'north', status, building_type: 'residential', consumption_kwh: kwh,
      latitude: 52.1, longitude: 4.9, peak_load: 1, timestamp: new Date(ms).toISOString(),
    }),
  });
  return [
    // energy-meter: the reference message of SPEC §5.1 (two valid readings).
    {
      route: n.meterRoute, key: n.fingerprint,
      body: json({
        request_id: randomUUID(), client_fingerprint: n.fingerprint, ip_address: '192.168.1.100', user_agent: 'MeterDevice/1.0', received_at: '2025-12-29T10:30:00Z',
        payload: { PM: [{ date: '29/12/2025 10:29:55', data: '245.5', name: 'power_consumption' }, { date: '29/12/2025 10:29:55', data: '220.3', name: 'voltage' }] },
      }),
    },
    // grid-telemetry: baseline 3.2, an outage (power_kw < 0.1), then a reading two minutes on
    // that moves the watermark past 10:01 (ALLOWED_LATENESS 0): the 10:00 window closes.
    grid('2026-01-05T10:00:01Z', 3.2), grid('2026-01-05T10:00:02Z', 0.02), grid('2026-01-05T10:00:03Z', 3.3), grid('2026-01-05T10:02:05Z', 3.1),
    // analytics: ten readings give rolling limits (mean 20.5, sigma 0.5); 100 is beyond 3 sigma.
    ...Array.from({ length: 10 }, (_, i) => sensor(i, i % 2 === 0 ? 20 : 21)), sensor(10, 100),
    // smart-grid: a meter going from active to fault.
    txn(0, 'active', now - 2_000, 0.5), txn(1, 'fault', now - 1_000, 0.75),
  ];
}

function envOf(kind: BrokerKind, n: Names, databaseUrl: string): Record<string, string> {
  const inputs = [n.meterRoute, n.gridInput, ...['sensors.device.readings', 'device.health', 'sensors.sweep.readings', 'lab.results'].map((t) => n.analyticsPrefix + t), n.smartGridInput];
  const upper = n.s.toUpperCase();
  return {
    DATABASE_URL: databaseUrl,
    DOMAINS_ENABLED: DOMAINS.join(','),
    ENERGY_METER_SOURCE: kind, GRID_TELEMETRY_SOURCE: kind, ANALYTICS_SOURCE: kind, SMART_GRID_SOURCE: kind,
    // energy-meter: its input route (routing key / topic / subject) and its output destination.
    RABBITMQ_URL: AMQP_URL,
    RABBITMQ_INGEST_EXCHANGE: `${n.p}.ingest.exchange`, RABBITMQ_INGEST_QUEUE: `${n.p}.ingest.queue`, RABBITMQ_DLQ_QUEUE: `${n.p}.ingest.dlq`,
    RABBITMQ_INGEST_ROUTING_KEY: n.meterRoute, RABBITMQ_WORKER_EXCHANGE: n.workerExchange,
    // grid-telemetry: KAFKA_TOPIC names its input (on any broker).
    KAFKA_TOPIC: n.gridInput, GRID_AGGREGATES_TOPIC: n.gridAggregates, GRID_ALERTS_TOPIC: n.gridAlerts,
    FLUSH_INTERVAL_1M: '500ms', FLUSH_INTERVAL_15M: '1s', ALLOWED_LATENESS: '0s',
    ANALYTICS_TOPIC_PREFIX: n.analyticsPrefix, ANALYTICS_ANOMALY_TOPIC: n.anomalies, ANALYTICS_RETENTION_MONTHS: '600',
    SMART_GRID_TOPIC: n.smartGridInput, SMART_GRID_ALERTS_TOPIC: n.smartGridAlerts,
    KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `${n.p}.group`, KAFKA_CLIENT_ID: `ingestd-${n.s}`,
    // KAFKA_TOPIC alone would replace the whole Kafka subscription: every input topic is listed.
    ...(kind === 'kafka' ? { KAFKA_TOPICS: JSON.stringify(inputs) } : {}),
    NATS_URL, NATS_STREAM: `T_${upper}`, NATS_DLQ_STREAM: `T_${upper}_DLQ`, NATS_DURABLE: `t_${n.s}`, NATS_OUTPUT_STREAM: `T_${upper}_OUT`,
    NATS_ACK_WAIT: '10s', NATS_BACKOFF: '1s,2s',
    MQTT_URL, MQTT_CLIENT_ID: `ingestd-${n.s}`, MQTT_SESSION_EXPIRY: '2m',
    RETRY_MAX: '1s', SHUTDOWN_TIMEOUT: '5s',
  };
}

/** What a downstream consumer of one output has seen. */
interface Collector {
  readonly output: Output;
  readonly bodies: Body[];
  /** Why the consumer could not attach (or is still waiting to), if so. */
  error: string | undefined;
}

const parse = (bytes: Uint8Array | Buffer | null | undefined): Body => {
  try {
    return JSON.parse(Buffer.from(bytes ?? []).toString()) as Body;
  } catch {
    return { unparsable: Buffer.from(bytes ?? []).toString() };
  }
};

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A broker as producer and downstream consumer see it. */
interface BrokerSide {
  /** Right after the worker is ready: output destinations the worker has not declared (empty: all declared). Undefined: nothing to declare (MQTT). */
  undeclared(outputs: ReadonlyArray<Output>): Promise<string[] | undefined>;
  /** Starts the downstream consumers (before the inputs are published). */
  attach(collectors: ReadonlyArray<Collector>, deadline: number): Promise<void>;
  publish(inputs: ReadonlyArray<{ route: string; key: string; body: Buffer }>): Promise<void>;
  close(): Promise<void>;
}

function kafkaSide(n: Names): BrokerSide {
  const consumers: Consumer[] = [];
  const groups: string[] = [];
  let stopped = false;
  const topics = async (): Promise<Set<string>> => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return new Set(await admin.listTopics());
    } finally {
      await admin.disconnect();
    }
  };
  return {
    undeclared: async (outputs) => {
      const existing = await topics();
      return [...new Set(outputs.map((o) => o.destination))].filter((t) => !existing.has(t)).map((t) => `Kafka topic ${t} does not exist`);
    },
    attach: async (collectors, deadline) => {
      // One reader per output topic, from the beginning, subscribed once the topic exists (it
      // never creates one: the broker auto-creates topics for clients that allow it).
      const attachOne = async (c: Collector, i: number): Promise<void> => {
        c.error = `topic ${c.output.destination} never appeared`;
        while (!stopped && Date.now() < deadline) {
          if ((await topics().catch(() => new Set<string>())).has(c.output.destination)) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (stopped || Date.now() >= deadline) return;
        const groupId = `${n.p}.downstream.${i}`;
        const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
        consumers.push(consumer);
        groups.push(groupId);
        try {
          await consumer.connect();
          await consumer.subscribe({ topics: [c.output.destination], fromBeginning: true });
          await consumer.run({ eachMessage: async ({ message }) => { c.bodies.push(parse(message.value)); } });
          c.error = undefined;
        } catch (err) {
          c.error = `consumer of ${c.output.destination}: ${errText(err)}`;
        }
      };
      collectors.forEach((c, i) => void attachOne(c, i));
    },
    publish: async (inputs) => {
      const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        for (const m of inputs) await producer.send({ topic: m.route, acks: -1, messages: [{ key: m.key, value: m.body }] });
      } finally {
        await producer.disconnect();
      }
    },
    close: async () => {
      stopped = true;
      for (const c of consumers) await c.disconnect().catch(() => undefined);
      const admin = kafka.admin();
      await admin.connect();
      try {
        const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${n.p}.`));
        if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
        const all = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${n.p}.`));
        if (all.length > 0) await admin.deleteGroups(all).catch(() => undefined);
      } finally {
        await admin.disconnect();
      }
    },
  };
}

function amqpSide(n: Names, env: Record<string, string>): BrokerSide {
  let model: ChannelModel | undefined;
  const open = async (): Promise<ChannelModel> => (model ??= await amqp.connect(AMQP_URL));
  /** A channel of its own for each step: a 404 closes the channel it happens on. */
  const channel = async () => {
    const ch = await (await open()).createChannel();
    ch.on('error', () => undefined);
    return ch;
  };
  return {
    undeclared: async (outputs) => {
      const missing: string[] = [];
      for (const e of new Set(outputs.map((o) => o.destination))) {
        const ch = await channel();
        try {
          await ch.checkExchange(e);
          await ch.close();
        } catch (err) {
          missing.push(`RabbitMQ exchange ${e}: ${errText(err)}`);
        }
      }
      return missing;
    },
    attach: async (collectors) => {
      // The consumer's own queue, bound after the worker is ready; the exchange is the worker's.
      for (const c of collectors) {
        const ch = await channel();
        try {
          const { queue } = await ch.assertQueue('', { exclusive: true });
          await ch.bindQueue(queue, c.output.destination, c.output.bindingKey);
          await ch.consume(queue, (m) => { if (m !== null) c.bodies.push(parse(m.content)); }, { noAck: true });
        } catch (err) {
          c.error = `binding a queue to exchange ${c.output.destination} after the worker was ready: ${errText(err)}`;
        }
      }
    },
    publish: async (inputs) => {
      const ch = await (await open()).createConfirmChannel();
      for (const m of inputs) ch.publish(env['RABBITMQ_INGEST_EXCHANGE']!, m.route, m.body, { persistent: true, contentType: 'application/json' });
      await ch.waitForConfirms();
      await ch.close();
    },
    close: async () => {
      // A channel per deletion: on some RabbitMQ versions deleting what does not exist closes it.
      for (const q of [env['RABBITMQ_INGEST_QUEUE']!, env['RABBITMQ_DLQ_QUEUE']!]) {
        const ch = await channel();
        await ch.deleteQueue(q).then(() => ch.close()).catch(() => undefined);
      }
      for (const e of [env['RABBITMQ_INGEST_EXCHANGE']!, n.workerExchange, n.gridAggregates, n.gridAlerts, n.anomalies, n.smartGridAlerts]) {
        const ch = await channel();
        await ch.deleteExchange(e).then(() => ch.close()).catch(() => undefined);
      }
      await model?.close().catch(() => undefined);
    },
  };
}

function natsSide(n: Names, env: Record<string, string>): BrokerSide {
  let nats: TestNats | undefined;
  const open = async (): Promise<TestNats> => (nats ??= await TestNats.open());
  const stops: Array<() => void> = [];
  let stopped = false;
  return {
    undeclared: async (outputs) => {
      const jsm = await jetstreamManager((await open()).nc);
      const missing: string[] = [];
      for (const subject of new Set(outputs.map((o) => o.destination))) {
        await jsm.streams.find(subject).catch((err: unknown) => missing.push(`no JetStream stream captures ${subject}: ${errText(err)}`));
      }
      return missing;
    },
    attach: async (collectors, deadline) => {
      const nc = (await open()).nc;
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      // No stream is made here: the one that captures the subject is looked up, then read whole.
      const attachOne = async (c: Collector): Promise<void> => {
        const subject = c.output.destination;
        let stream: string | undefined;
        while (!stopped && stream === undefined && Date.now() < deadline) {
          try {
            stream = await jsm.streams.find(subject);
          } catch (err) {
            c.error = `no JetStream stream captures ${subject} (jsm.streams.find: ${errText(err)})`;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
        if (stream === undefined) return;
        try {
          // One subject as a string: filter_subject, which nats-server 2.9 understands (filter_subjects needs 2.10).
          const consumer = await js.consumers.get(stream, { filter_subjects: subject });
          const messages = await consumer.consume();
          stops.push(() => void messages.close());
          c.error = undefined;
          for await (const m of messages) c.bodies.push(parse(m.data));
        } catch (err) {
          if (!stopped) c.error = `ordered consumer of ${subject} on stream ${stream}: ${errText(err)}`;
        }
      };
      for (const c of collectors) void attachOne(c);
    },
    publish: async (inputs) => {
      await (await open()).publish(inputs.map((m) => ({ subject: m.route, body: m.body })));
    },
    close: async () => {
      stopped = true;
      for (const s of stops) s();
      const t = await open();
      await t.deleteStreamsCapturing(n.workerExchange, n.gridAggregates, n.gridAlerts, n.anomalies, n.smartGridAlerts);
      await t.deleteStreams(env['NATS_STREAM']!, env['NATS_DLQ_STREAM']!, env['NATS_OUTPUT_STREAM']!);
      await t.close();
    },
  };
}

function mqttSide(env: Record<string, string>): BrokerSide {
  let client: MqttClient | undefined;
  return {
    undeclared: async () => undefined,
    attach: async (collectors) => {
      client = await mqtt.connectAsync(MQTT_URL, { clean: true, protocolVersion: 5, clientId: `downstream-${randomBytes(4).toString('hex')}` });
      client.on('message', (topic, payload) => {
        for (const c of collectors) if (c.output.destination === topic) c.bodies.push(parse(payload));
      });
      const topics = [...new Set(collectors.map((c) => c.output.destination))];
      const granted = await client.subscribeAsync(topics, { qos: 1 });
      for (const g of granted) {
        if (g.qos !== 1) for (const c of collectors) if (c.output.destination === g.topic) c.error = `subscription to ${g.topic} granted QoS ${g.qos}`;
      }
    },
    publish: async (inputs) => {
      await mqttPublish(inputs.map((m) => ({ topic: m.route, body: m.body })));
    },
    close: async () => {
      await client?.endAsync().catch(() => undefined);
      // Ends the worker's persistent session (same client id, clean start).
      const c = await mqtt.connectAsync(MQTT_URL, { clean: true, protocolVersion: 5, clientId: env['MQTT_CLIENT_ID']! }).catch(() => undefined);
      await c?.endAsync().catch(() => undefined);
    },
  };
}

async function stopWorker(w: WorkerProcess): Promise<void> {
  const timer = setTimeout(() => void w.kill('SIGKILL'), 10_000);
  await w.kill('SIGTERM').catch(() => undefined);
  clearTimeout(timer);
  await w.kill('SIGKILL');
}

function brokerSuite(kind: BrokerKind, title: string): void {
  describe(`${title}: every domain bound to ${kind} (${DOMAINS.join(', ')}), outputs read downstream`, () => {
    const n = uniqueNames();
    const outputs = outputsOf(kind, n);
    const collectors: Collector[] = outputs.map((output) => ({ output, bodies: [], error: undefined }));
    const cleanups: Array<() => Promise<unknown>> = [];
    let dbUrl = '';
    let logFile = '';
    let undeclared: string[] | undefined;

    before(async () => {
      const db = await createTestDatabase();
      cleanups.push(db.drop);
      dbUrl = db.url;
      const env = envOf(kind, n, db.url);
      const side = kind === 'kafka' ? kafkaSide(n) : kind === 'amqp' ? amqpSide(n, env) : kind === 'nats' ? natsSide(n, env) : mqttSide(env);
      cleanups.push(() => side.close());
      const dir = await mkdtemp(join(tmpdir(), `ingestd-outputs-${kind}-`));
      logFile = join(dir, 'worker.log');
      const worker = new WorkerProcess(env, await freePort(), logFile);
      cleanups.push(() => stopWorker(worker));
      worker.start();
      await worker.waitReady(WORKER_READY_MS).catch((err: unknown) => {
        throw new Error(`${errText(err)} (worker log: ${logFile})`);
      });
      undeclared = await side.undeclared(outputs);
      const deadline = Date.now() + OUTPUT_WAIT_MS + 15_000;
      await side.attach(collectors, deadline);
      await side.publish(inputsOf(n));
      const until = Date.now() + OUTPUT_WAIT_MS;
      while (Date.now() < until && !collectors.every((c) => c.bodies.some((b) => c.output.match(b)))) await new Promise((r) => setTimeout(r, 100));
    });

    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    if (kind !== 'mqtt') {
      test('the worker declared every output destination at start (before any input)', () => {
        assert.deepEqual(undeclared, [], `output destinations missing right after /ready (worker log: ${logFile})`);
      });
    }

    for (const c of collectors) {
      const o = c.output;
      test(`${o.domain}: ${o.what} → ${o.destination}${kind === 'amqp' ? ` (binding key ${o.bindingKey})` : ''}`, async () => {
        const got = c.bodies.find((b) => o.match(b));
        if (got === undefined) {
          const seen = c.bodies.length === 0 ? 'nothing' : `${c.bodies.length} other message(s), e.g. ${JSON.stringify(c.bodies[0])}`;
          const diagnosis = o.diagnose === undefined ? '' : `; ${await o.diagnose(dbUrl).catch((err: unknown) => errText(err))}`;
          assert.fail(`no ${o.what} of ${o.domain} read from ${kind} ${o.destination} within ${OUTPUT_WAIT_MS / 1000}s: ${seen}${c.error === undefined ? '' : `; ${c.error}`}${diagnosis} (worker log: ${logFile})`);
        }
        await o.check(got, dbUrl);
      });
    }
  });
}

describe('each domain\'s outputs consumed from each broker it can be bound to', { concurrency: true }, () => {
  brokerSuite('kafka', 'Kafka');
  brokerSuite('amqp', 'RabbitMQ');
  brokerSuite('nats', 'NATS JetStream');
  brokerSuite('mqtt', 'MQTT');
});
