import type pg from 'pg';
import type { Config } from '../config/index.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { createKafka } from './kafka/client.ts';
import { KafkaPublisher } from './kafka/publisher.ts';
import { KafkaSource } from './kafka/source.ts';
import type { Logger } from '../runtime/logger.ts';
import { AmqpPublisher } from './amqp/publisher.ts';
import { AmqpSource } from './amqp/source.ts';
import { MqttPublisher } from './mqtt/publisher.ts';
import { MqttSource } from './mqtt/source.ts';
import { NatsPublisher } from './nats/publisher.ts';
import { NatsSource } from './nats/source.ts';
import type { OutputDestination, Publisher, Source } from './types.ts';

export interface SourceContext {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: pg.Pool;
  readonly metrics: Metrics;
  /** Topics / queues of the domains bound to this source. */
  readonly routes: ReadonlyArray<string>;
  /** What the broker must capture (JetStream stream subjects), at least the routes. */
  readonly capture: ReadonlyArray<string>;
}

/** A transaction of a worker of this deployment older than this is stuck (a stopped process). */
const stuckHolders = (config: Config): { afterMs: number; applicationName: string } =>
  ({ afterMs: Math.max(5_000, config.database.statementTimeoutMs / 2), applicationName: config.serviceName });

/** Source and publisher factories by broker kind: one line each. */
export const SOURCE_KINDS: Readonly<Record<string, (ctx: SourceContext) => Source>> = {
  amqp: ({ config, log, pool, routes }) =>
    new AmqpSource({
      settings: config.rabbitmq,
      bindingKeys: routes,
      log: log.child({ source: 'amqp' }),
      maxBatch: config.batchSize,
      pool,
      stuck: stuckHolders(config),
    }),
  kafka: ({ config, log, pool, metrics, routes }) =>
    new KafkaSource({
      settings: config.kafka, kafka: createKafka(config.kafka, log, 'consumer'), topics: routes, pool, log: log.child({ source: 'kafka' }), metrics,
      stuck: stuckHolders(config),
    }),
  nats: ({ config, log, routes, capture }) =>
    new NatsSource({ settings: config.nats, subjects: routes, streamSubjects: capture, log: log.child({ source: 'nats' }), maxBatch: config.batchSize }),
  mqtt: ({ config, log, routes }) =>
    new MqttSource({ settings: config.mqtt, topics: routes, log: log.child({ source: 'mqtt' }), maxBatch: config.batchSize }),
};

export interface PublisherContext {
  readonly config: Config;
  readonly log: Logger;
  /** Destinations the bound domains publish to: declared at start (topics, streams, exchanges). */
  readonly outputs: ReadonlyArray<OutputDestination>;
}

export const PUBLISHER_KINDS: Readonly<Record<string, (ctx: PublisherContext) => Publisher>> = {
  amqp: ({ config, log, outputs }) =>
    new AmqpPublisher({
      url: config.rabbitmq.url,
      tls: config.rabbitmq.tls,
      exchanges: outputs.map((o) => o.name),
      log: log.child({ publisher: 'amqp' }),
    }),
  kafka: ({ config, log, outputs }) => new KafkaPublisher(createKafka(config.kafka, log, 'producer'), outputs),
  nats: ({ config, log, outputs }) => new NatsPublisher(config.nats, outputs, log.child({ publisher: 'nats' })),
  mqtt: ({ config, log }) => new MqttPublisher(config.mqtt, log.child({ publisher: 'mqtt' })),
};
