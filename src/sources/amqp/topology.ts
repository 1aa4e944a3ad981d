import type { Channel } from 'amqplib';
import type { RabbitMqSettings } from '../../config/index.ts';

/**
 * Durable topology of SPEC §4, declared at every connect: the ingest exchange and queue,
 * the queue dead-lettering (via the default exchange) into the DLQ, and the exchange the
 * worker's events go out on.
 */
export async function declareTopology(ch: Channel, s: RabbitMqSettings): Promise<void> {
  await ch.assertExchange(s.ingestExchange, 'topic', { durable: true });
  await ch.assertQueue(s.dlqQueue, { durable: true });
  await ch.assertQueue(s.ingestQueue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s.dlqQueue },
  });
  await ch.bindQueue(s.ingestQueue, s.ingestExchange, s.ingestRoutingKey);
  await ch.assertExchange(s.workerExchange, 'topic', { durable: true });
}
