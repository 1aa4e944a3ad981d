import type { Channel } from 'amqplib';
import type { RabbitMqSettings } from '../../config/index.ts';

/**
 * Durable topology of SPEC §4, declared at every connect: the ingest exchange and queue
 * (bound with each routing key the worker consumes),
 * the queue dead-lettering (via the default exchange) into the DLQ, and the exchange the
 * worker's events go out on.
 */
export async function declareTopology(ch: Channel, s: RabbitMqSettings, bindingKeys: ReadonlyArray<string> = [s.ingestRoutingKey]): Promise<void> {
  await ch.assertExchange(s.ingestExchange, 'topic', { durable: true });
  await ch.assertQueue(s.dlqQueue, { durable: true });
  await ch.assertQueue(s.ingestQueue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s.dlqQueue },
  });
  // One binding per route of the domains on this source (the ingest routing key for
  // energy-meter, topic names for analytics…): deliveries are routed by their routing key.
  for (const key of bindingKeys) await ch.bindQueue(s.ingestQueue, s.ingestExchange, key);
  await ch.assertExchange(s.workerExchange, 'topic', { durable: true });
}
