import type { Config } from '../config/index.ts';
import type { Logger } from '../runtime/logger.ts';
import { AmqpPublisher } from './amqp/publisher.ts';
import { AmqpSource } from './amqp/source.ts';
import type { Publisher, Source } from './types.ts';

export interface SourceContext {
  readonly config: Config;
  readonly log: Logger;
  /** Topics / queues of the domains bound to this source. */
  readonly routes: ReadonlyArray<string>;
}

/** Source and publisher factories by broker kind: one line each. */
export const SOURCE_KINDS: Readonly<Record<string, (ctx: SourceContext) => Source>> = {
  amqp: ({ config, log }) =>
    new AmqpSource({
      settings: config.rabbitmq,
      log: log.child({ source: 'amqp' }),
      maxBatch: Math.min(config.batchSize, config.rabbitmq.prefetch),
    }),
};

export const PUBLISHER_KINDS: Readonly<Record<string, (ctx: Omit<SourceContext, 'routes'>) => Publisher>> = {
  amqp: ({ config, log }) =>
    new AmqpPublisher({
      url: config.rabbitmq.url,
      exchanges: [config.rabbitmq.workerExchange],
      log: log.child({ publisher: 'amqp' }),
    }),
};
