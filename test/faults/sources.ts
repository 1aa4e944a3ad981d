/**
 * The four sources as the fault suite drives them: the worker's environment for
 * grid-telemetry bound to the source, where `ingestd load` publishes, how the broker is
 * restarted, and what to set up and tear down around one scenario.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { AMQP_URL } from '../helpers/amqp.ts';
import { createTopic, KAFKA_BROKERS } from '../helpers/kafka.ts';
import { MQTT_URL, restartMosquitto } from '../helpers/mqtt.ts';
import { NATS_URL } from '../helpers/nats.ts';

const run = promisify(execFile);
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));

export type SourceName = 'kafka' | 'amqp' | 'nats' | 'mqtt';
export const SOURCES: readonly SourceName[] = ['kafka', 'amqp', 'nats', 'mqtt'];

export interface SourceRig {
  readonly name: SourceName;
  /** Worker environment shared by every worker of the scenario. */
  readonly env: Record<string, string>;
  /** Environment of worker `i` on top of `env` (MQTT: its own client id, so its own session). */
  workerEnv(i: number): Record<string, string>;
  /** Where `ingestd load` publishes. */
  readonly load: { broker: string; topic: string; exchange?: string; partitions?: number; declare: boolean };
  /** Creates what an operator creates before the worker starts (the Kafka input topic). */
  prepare(): Promise<void>;
  /** Stops the broker (gracefully), waits `downMs`, starts it again. */
  restartBroker(downMs: number): Promise<void>;
  /** Removes the scenario's queues, streams and topics; never throws. */
  cleanup(): Promise<void>;
  /** A killed member of a competing-consumer group keeps its share until it comes back (MQTT shared subscriptions). */
  readonly killedMemberHoldsMessages: boolean;
  /**
   * Each meter's messages reach the worker in the order they were sent, faults included (a
   * Kafka partition; a queue that requeues in place to its single active consumer). Only then
   * must the EMA alerts equal an uninterrupted run's: a redelivery that overtakes later messages
   * (JetStream after AckWait, MQTT shared subscriptions) legitimately changes them.
   */
  readonly orderedPerKey: boolean;
  /** How long a stopped member must stay stopped before the broker hands its share on (default: the scenario's pauseMs). */
  readonly takeoverMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM to the processes `pgrep ...match` finds, then waits (up to 10 s) until they are gone. */
async function terminate(...match: string[]): Promise<void> {
  await run('pkill', ['-TERM', ...match]);
  for (let i = 0; i < 100 && (await run('pgrep', match).then(() => true, () => false)); i++) await sleep(100);
}

/** Scenario names: unique, so that scenarios never see each other's messages. */
export function createRig(name: SourceName): SourceRig {
  const s = randomBytes(4).toString('hex');
  const topic = `f.${s}.raw`;
  const common = {
    DOMAINS_ENABLED: 'grid-telemetry',
    GRID_TELEMETRY_SOURCE: name,
    KAFKA_TOPIC: topic, // the input name of grid-telemetry, whatever the source
    GRID_AGGREGATES_TOPIC: `f.${s}.aggregates`,
    GRID_ALERTS_TOPIC: `f.${s}.alerts`,
  };
  switch (name) {
    case 'kafka':
      return {
        name,
        // 10 s: a killed member's partitions move within seconds rather than the default 30.
        // CHECKPOINT_MAX_MESSAGES below the slow-db scenario's offered backlog, so that its
        // in-flight check sees the bound hold (the default, 100,000, is more than it offers).
        env: { ...common, KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: `f.${s}.group`, KAFKA_SESSION_TIMEOUT: '10s', CHECKPOINT_MAX_MESSAGES: '5000' },
        workerEnv: () => ({}),
        load: { broker: `kafka://${KAFKA_BROKERS.join(',')}`, topic, partitions: 4, declare: false },
        prepare: () => createTopic(topic, 4),
        async restartBroker(downMs) {
          await run('bash', [`${SCRIPTS}kafka.sh`, 'stop']);
          await sleep(downMs);
          await run('bash', [`${SCRIPTS}kafka.sh`, 'start']);
        },
        cleanup: async () => undefined, // topics are cheap; `bash scripts/kafka.sh reset` clears them
        killedMemberHoldsMessages: false,
        orderedPerKey: true,
      };
    case 'amqp': {
      const topo = {
        RABBITMQ_INGEST_EXCHANGE: `f.${s}.ingest.exchange`,
        RABBITMQ_INGEST_QUEUE: `f.${s}.ingest.queue`,
        RABBITMQ_WORKER_EXCHANGE: `f.${s}.worker.events.exchange`,
        RABBITMQ_DLQ_QUEUE: `f.${s}.ingest.dlq`,
      };
      return {
        name,
        env: { ...common, ...topo, RABBITMQ_URL: AMQP_URL, RABBITMQ_PREFETCH: '1000' },
        workerEnv: () => ({}),
        load: { broker: AMQP_URL, topic, exchange: topo.RABBITMQ_INGEST_EXCHANGE, declare: true },
        prepare: async () => undefined, // the worker declares its topology
        async restartBroker(downMs) {
          await run('rabbitmqctl', ['stop_app']);
          await sleep(downMs);
          await run('rabbitmqctl', ['start_app']);
          await run('rabbitmqctl', ['await_startup']);
        },
        async cleanup() {
          const conn = await amqp.connect(AMQP_URL).catch(() => undefined);
          if (conn === undefined) return;
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          for (const q of [topo.RABBITMQ_INGEST_QUEUE, topo.RABBITMQ_DLQ_QUEUE]) await ch.deleteQueue(q).catch(() => undefined);
          for (const e of [topo.RABBITMQ_INGEST_EXCHANGE, topo.RABBITMQ_WORKER_EXCHANGE]) await ch.deleteExchange(e).catch(() => undefined);
          await conn.close().catch(() => undefined);
        },
        killedMemberHoldsMessages: false,
        orderedPerKey: true,
        // RabbitMQ drops a silent connection after two missed heartbeats (10 s each, session.ts).
        takeoverMs: 30_000,
      };
    }
    case 'nats': {
      const S = s.toUpperCase();
      const names = { NATS_STREAM: `F_${S}`, NATS_DLQ_STREAM: `F_${S}_DLQ`, NATS_DURABLE: `f_${s}` };
      const outputs = `F_${S}_OUT`;
      const withJsm = async <T>(f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> => {
        const nc = await connect({ servers: NATS_URL });
        try {
          return await f(await jetstreamManager(nc));
        } finally {
          await nc.close();
        }
      };
      return {
        name,
        env: { ...common, ...names, NATS_OUTPUT_STREAM: outputs, NATS_URL, NATS_ACK_WAIT: '10s' },
        workerEnv: () => ({}),
        load: { broker: NATS_URL, topic, declare: false }, // the worker creates the streams, its outputs' too
        prepare: async () => undefined,
        async restartBroker(downMs) {
          await terminate('-x', 'nats-server');
          await sleep(downMs);
          await run('bash', [`${SCRIPTS}services.sh`, 'nats']);
        },
        cleanup: () => withJsm(async (jsm) => {
          for (const n of [names.NATS_STREAM, names.NATS_DLQ_STREAM, outputs]) await jsm.streams.delete(n).catch(() => undefined);
        }).catch(() => undefined),
        killedMemberHoldsMessages: false,
        orderedPerKey: false,
      };
    }
    case 'mqtt':
      return {
        name,
        env: { ...common, MQTT_URL, MQTT_SHARE_GROUP: `f${s}`, MQTT_SESSION_EXPIRY: '1h' },
        workerEnv: (i) => ({ MQTT_CLIENT_ID: `f-${s}-${i}` }),
        load: { broker: MQTT_URL, topic, declare: false },
        prepare: async () => undefined,
        restartBroker: restartMosquitto,
        cleanup: async () => undefined, // sessions expire after MQTT_SESSION_EXPIRY
        killedMemberHoldsMessages: true,
        orderedPerKey: false,
      };
  }
}
