/**
 * Kafka transport (kafkajs): the topic is created if missing (--partitions, default 4),
 * then each sender is its own idempotent producer (acks from all in-sync replicas, one
 * request in flight, so a meter's readings keep their order on its partition). Messages
 * are keyed by meter (murmur2 partitioner, like the Java client) and sent in produce
 * requests of up to --batch-size, one at a time per producer. Nothing is unroutable.
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { fixKafkajsRequestQueue } from '../../sources/kafka/request-queue-fix.ts';
import type { ICustomPartitioner, LogEntry, Message, Producer } from 'kafkajs';
import { OptionError } from '../options.ts';
import type { LoadMessage } from './generators.ts';
import type { Connection, OpenOptions, PreparedTransport, Sender, SendEvents, Transport } from './transport.ts';

export const DEFAULT_KAFKA_BROKERS = ['127.0.0.1:9092'];
export const DEFAULT_PARTITIONS = 4;
const DEFAULT_PORT = 9092;
const CLIENT_ID = 'ingestd-load';
/** A produce request failing after this many retries fails its batch (and stops the run) instead of retrying forever. */
const PRODUCE_RETRIES = 10;
/** How long closing may wait for the producers to disconnect. */
const CLOSE_TIMEOUT_MS = 5000;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;
/**
 * Broker answers kafkajs logs as errors although they are expected, its warning about bounded
 * retries, and connection errors it retries (the error that ends the run says it once).
 */
const EXPECTED = /Topic creation errors|does not host this topic-partition|Limiting retries|Connection error|Failed to connect to seed broker/i;

/** Brokers of a list such as `KAFKA_BROKERS`: comma-separated or a JSON list. */
const listOf = (value: string): string[] => {
  if (value.trim().startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // checked as a comma-separated list below, which names the bad entry
    }
  }
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
};

const checkHostPort = (entry: string, flag: string): string => {
  const m = HOST_PORT.exec(entry);
  const port = m?.[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (m === null || port < 1 || port > 65_535) throw new OptionError(flag, `"${entry}" is not host:port (e.g. 127.0.0.1:9092)`);
  return `${m[1]!}:${port}`;
};

/**
 * `kafka://host:port[,host:port…]` → `['host:port', …]` (port default 9092). A bare
 * `kafka://` means $KAFKA_BROKERS, else 127.0.0.1:9092.
 */
export const parseKafkaBrokers = (url: string, env: NodeJS.ProcessEnv): string[] => {
  const m = /^kafka:\/\/([^/?#]*)\/?$/i.exec(url.trim());
  if (m === null) throw new OptionError('--broker', 'expected kafka://host:port[,host:port…] (e.g. kafka://127.0.0.1:9092)');
  const hosts = m[1]!;
  if (hosts.includes('@')) throw new OptionError('--broker', 'credentials in a kafka:// URL are not supported');
  if (hosts === '') {
    const fromEnv = env['KAFKA_BROKERS'];
    if (fromEnv === undefined || fromEnv.trim() === '') return [...DEFAULT_KAFKA_BROKERS];
    return listOf(fromEnv).map((b) => checkHostPort(b.replace(/^kafka:\/\//i, ''), 'KAFKA_BROKERS'));
  }
  return hosts.split(',').map((b) => checkHostPort(b.trim(), '--broker'));
};

/** kafkajs warnings and errors go to stderr, one line each (stdout carries the summary); the rest is dropped. */
const logCreator = () => ({ namespace, level, log }: LogEntry): void => {
  if (level > logLevel.WARN) return;
  const error = (log as { error?: unknown }).error;
  const text = `${log.message}${error === undefined || error === log.message ? '' : `: ${String(error)}`}`;
  if (EXPECTED.test(text)) return;
  process.stderr.write(`ingestd load: kafka ${namespace}: ${text}\n`);
};

const message = (m: LoadMessage): Message => ({ key: m.key, value: m.body });

/**
 * kafkajs' DefaultPartitioner (murmur2 of the key, like the Java client), remembered per key:
 * a run has few distinct keys (meters), and murmur2 on emulated 64-bit longs is costly.
 */
const cachedDefaultPartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  const cache = new Map<string, number>();
  let topicOf = '';
  let partitionsOf = -1;
  return (args) => {
    const { topic, partitionMetadata, message: m } = args;
    if (typeof m.key !== 'string' || (m.partition !== undefined && m.partition !== null)) return partitioner(args);
    if (topic !== topicOf || partitionMetadata.length !== partitionsOf) {
      cache.clear();
      topicOf = topic;
      partitionsOf = partitionMetadata.length;
    }
    let partition = cache.get(m.key);
    if (partition === undefined) {
      partition = partitioner(args);
      cache.set(m.key, partition);
    }
    return partition;
  };
};

/**
 * Collects what is published and sends it as soon as the producer is free: one produce
 * request at a time (kafkajs' idempotent producer must not have concurrent sends), each of
 * at most batchSize messages.
 */
const producerSender = (producer: Producer, topic: string, perMessage: boolean, batchSize: number, events: SendEvents) => {
  let pending: Array<Message & { topic: string }> = [];
  let sending = false;
  let closed = false;
  const idle: Array<() => void> = [];
  const settle = (): void => {
    for (const resolve of idle.splice(0)) resolve();
  };
  const pump = async (): Promise<void> => {
    try {
      while (pending.length > 0 && !closed) {
        const batch = pending.length <= batchSize ? pending : pending.slice(0, batchSize);
        pending = pending.length <= batchSize ? [] : pending.slice(batchSize);
        try {
          // One request for the batch, grouped by topic when messages carry their own.
          const byTopic = Map.groupBy(batch, (m) => m.topic);
          await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([t, messages]) => ({ topic: t, messages })) });
          events.confirmed(batch.length);
        } catch (err) {
          events.failed(batch.length);
          if (!closed) events.error(err);
          closed = true;
        }
      }
    } finally {
      sending = false;
      settle();
    }
  };
  const sender: Sender & { close(): void } = {
    publish(m) {
      if (closed) return false;
      pending.push({ ...message(m), topic: perMessage && m.route !== undefined ? m.route : topic });
      if (!sending) {
        sending = true;
        // After the caller's synchronous run of publishes, so they go out together.
        queueMicrotask(() => void pump());
      }
      return true;
    },
    flush: () => (!sending && pending.length === 0) || closed ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve)),
    close() {
      closed = true;
      pending = [];
      settle();
    },
  };
  return sender;
};

const ensureTopic = async (kafka: Kafka, topic: string, partitions: number): Promise<void> => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // createTopics on an existing topic logs an error and resolves false: look first.
    if (!(await admin.listTopics()).includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    }
  } catch (err) {
    throw new Error(`cannot create topic "${topic}": ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
};

const SCHEMES = ['kafka:'];

export const kafkaTransport: Transport = {
  kind: 'kafka',
  schemes: SCHEMES,
  defaultUrl: () => 'kafka://',
  prepare(url, domain, options, env): PreparedTransport {
    const brokers = parseKafkaBrokers(url, env);
    const route = domain.routes.kafka;
    if (route === undefined) throw new OptionError('--broker', `${domain.name} cannot be sent to Kafka (kafka:) yet`);
    if (options.exchange !== undefined) throw new OptionError('--exchange', 'applies to AMQP brokers only (Kafka: --topic)');
    if (options.routingKey !== undefined) throw new OptionError('--routing-key', 'applies to AMQP brokers only (Kafka: --topic)');
    const topic = options.topic ?? route.topic;
    // Domains with several topics send each message to its own, unless --topic pins one.
    const perMessage = options.topic === undefined && domain.messageRoutes !== undefined;
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic) || topic === '.' || topic === '..') {
      throw new OptionError('--topic', `"${topic}" is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)`);
    }
    const partitions = options.partitions ?? DEFAULT_PARTITIONS;
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw new OptionError('--partitions', 'must be a whole number >= 1');
    const declare = options.declare ?? true;
    const broker = `kafka://${brokers.join(',')}`;
    return {
      broker,
      destination: perMessage ? { topics: domain.messageRoutes!.join(', ') } : { topic },
      async open({ concurrency, batchSize, events }: OpenOptions): Promise<Connection> {
        fixKafkajsRequestQueue();
        const kafka = new Kafka({ clientId: CLIENT_ID, brokers, logLevel: logLevel.WARN, logCreator });
        const producers: Producer[] = [];
        const disconnect = async (): Promise<void> => {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            Promise.all(producers.map((p) => p.disconnect().catch(() => {}))),
            new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())),
          ]);
          clearTimeout(timer);
        };
        try {
          if (declare) for (const t of perMessage ? domain.messageRoutes ?? [topic] : [topic]) await ensureTopic(kafka, t, partitions);
          for (let i = 0; i < concurrency; i++) {
            const producer = kafka.producer({
              idempotent: true, // acks -1, retries without duplicates
              maxInFlightRequests: 1, // strict per-partition order, gapless sequence numbers
              createPartitioner: cachedDefaultPartitioner,
              retry: { retries: PRODUCE_RETRIES },
            });
            producers.push(producer);
            await producer.connect();
          }
        } catch (err) {
          await disconnect();
          const text = err instanceof Error ? err.message : String(err);
          throw new Error(text.startsWith('cannot ') ? text : `cannot connect to ${broker}: ${text}`, { cause: err });
        }
        const senders = producers.map((p) => producerSender(p, topic, perMessage, batchSize, events));
        return {
          senders,
          abandon() {
            for (const s of senders) s.close();
            void disconnect();
          },
          close: disconnect,
        };
      },
    };
  },
};
