import type { Channel } from 'amqplib';
import type { RabbitMqSettings } from '../../config/index.ts';

/**
 * Durable topology of SPEC §4, declared at every connect: the ingest exchange and queue
 * (bound with each routing key the worker consumes),
 * the queue dead-lettering (via the default exchange) into the DLQ, single active consumer
 * unless turned off, and the exchange the worker's events go out on.
 */
export async function declareTopology(ch: Channel, s: RabbitMqSettings, bindingKeys: ReadonlyArray<string> = [s.ingestRoutingKey]): Promise<void> {
  await ch.assertExchange(s.ingestExchange, 'topic', { durable: true });
  await ch.assertQueue(s.dlqQueue, { durable: true });
  await ch.assertQueue(s.ingestQueue, {
    durable: true,
    arguments: {
      'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s.dlqQueue,
      ...(s.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
    },
  }).catch((err: unknown) => {
    // The queue exists with other arguments: RabbitMQ never changes them, so say which and how.
    if (/inequivalent arg 'x-single-active-consumer'/.test(String((err as Error).message))) {
      throw new Error(
        `RABBITMQ_SINGLE_ACTIVE_CONSUMER=${s.singleActiveConsumer}: queue "${s.ingestQueue}" was declared ${s.singleActiveConsumer ? 'without' : 'with'} ` +
        `single-active-consumer; set RABBITMQ_SINGLE_ACTIVE_CONSUMER=${!s.singleActiveConsumer} to keep it, or delete the queue (once drained) to re-declare it (PRECONDITION_FAILED)`,
        { cause: err },
      );
    }
    throw err;
  });
  // One binding per route of the domains on this source (the ingest routing key for
  // energy-meter, topic names for analytics…): deliveries are routed by their routing key.
  for (const key of bindingKeys) await ch.bindQueue(s.ingestQueue, s.ingestExchange, key);
  await ch.assertExchange(s.workerExchange, 'topic', { durable: true });
}
