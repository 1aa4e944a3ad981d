import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';
import { tlsOptions } from '../tls.ts';
import { installRecordDecoder } from './record-decoder.ts';
import { fixKafkajsRequestQueue } from './request-queue-fix.ts';

// kafkajs logs expected broker answers at ERROR (a rebalance, an existing topic, a fresh
// coordinator); they are routine and go to debug.
const EXPECTED = /rebalancing|coordinator is loading|Topic creation errors|group coordinator is not available|not the correct coordinator|does not host this topic-partition/i;

function logCreator(log: Logger) {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, timestamp: _t, logger: _l, ...extra } = entry as typeof entry & { timestamp?: string; logger?: string };
    const text = `kafka ${namespace}: ${message}`;
    const expected = EXPECTED.test(`${String(extra.error ?? '')} ${message}`);
    if (level === logLevel.ERROR && !expected) log.error(extra, text);
    else if (level <= logLevel.WARN && !expected) log.warn(extra, text);
    else log.debug(extra, text);
  };
}

/**
 * kafkajs `ssl` and `sasl` from KAFKA_SSL, KAFKA_TLS_* and KAFKA_SASL_*: `ssl: true` verifies
 * the brokers against the system CAs, a KAFKA_TLS_CA replaces them; a client certificate
 * authenticates the worker (mutual TLS).
 */
export function kafkaSecurity(s: KafkaSettings): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const ssl: KafkaConfig['ssl'] = !s.ssl ? false : s.tls === undefined ? true : tlsOptions(s.tls);
  return { ssl, ...(s.sasl === undefined ? {} : { sasl: { ...s.sasl } as SASLOptions }) };
}

/** A kafkajs client from KAFKA_* settings; its logs go to pino. */
export function createKafka(s: KafkaSettings, log: Logger, suffix: string): Kafka {
  fixKafkajsRequestQueue();
  if (!installRecordDecoder()) log.debug('kafkajs fetched before its record decoder could be replaced; it keeps its own');
  return new Kafka({
    clientId: `${s.clientId}-${suffix}`,
    brokers: [...s.brokers],
    ...kafkaSecurity(s),
    logLevel: logLevel.INFO,
    logCreator: logCreator(log.child({ component: 'kafkajs' })),
  });
}

/** Creates the topics that do not exist yet (partitions: the broker's default). */
export async function ensureTopics(kafka: Kafka, topics: ReadonlyArray<string>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
