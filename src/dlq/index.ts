import type pg from 'pg';
import type { Config } from '../config/index.ts';
import type { Logger } from '../runtime/logger.ts';
import { createKafka } from '../sources/kafka/client.ts';
import { AmqpDeadLetters } from './amqp.ts';
import { KafkaDeadLetters } from './kafka.ts';
import { MqttDeadLetters } from './mqtt.ts';
import { NatsDeadLetters } from './nats.ts';
import type { DeadLetterQueue } from './types.ts';

/** Dead letters by source kind: one line each. */
const DLQ_KINDS: Readonly<Record<string, (config: Config, pool: pg.Pool, log: Logger, routes: ReadonlyArray<string>) => DeadLetterQueue>> = {
  amqp: (config) => new AmqpDeadLetters(config.rabbitmq),
  kafka: (config, pool, log, routes) => new KafkaDeadLetters(createKafka(config.kafka, log, 'dlq'), routes, pool),
  nats: (config) => new NatsDeadLetters(config.nats),
  mqtt: (config, pool) => new MqttDeadLetters(config.mqtt, pool),
};

/** The dead-letter queues of the configured pipelines. */
export function deadLetterQueues(config: Config, pool: pg.Pool, log: Logger): DeadLetterQueue[] {
  return config.pipelines.map((p) => DLQ_KINDS[p.source]!(config, pool, log, p.subscription));
}
