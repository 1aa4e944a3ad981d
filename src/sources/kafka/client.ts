import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';

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

/** A kafkajs client from KAFKA_* settings; its logs go to pino. */
export function createKafka(s: KafkaSettings, log: Logger, suffix: string): Kafka {
  const sasl: SASLOptions | undefined = s.sasl === undefined ? undefined : { ...s.sasl } as SASLOptions;
  return new Kafka({
    clientId: `${s.clientId}-${suffix}`,
    brokers: [...s.brokers],
    ssl: s.ssl,
    ...(sasl === undefined ? {} : { sasl }),
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
