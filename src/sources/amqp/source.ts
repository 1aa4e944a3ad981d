import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { RabbitMqSettings } from '../../config/index.ts';
import { deadLetterHeaders } from '../../runtime/dead-letter.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';
import { headersOf } from './headers.ts';
import { AmqpSession } from './session.ts';
import { declareTopology } from './topology.ts';

interface Held {
  readonly msg: ConsumeMessage;
  readonly generation: number;
  readonly receivedAt: number;
}

/**
 * Consumes the ingest queue with manual acks. Deliveries wait in a buffer bounded by
 * RABBITMQ_PREFETCH (the broker sends no more than that unacknowledged), so memory stays
 * bounded whatever the publish rate. A batch is settled on the channel that delivered it;
 * if that channel died meanwhile, the broker redelivers and the database dedupes.
 *
 * Two batches are in flight at once (each at most half the prefetch, so the broker keeps
 * sending while one commits): the next one decodes while the previous one commits, and
 * commits while the previous one settles. Their transactions run in delivery order (one
 * queue mixes every key's messages), and settles too, each after the one before it, because
 * one multiple-ack covers everything delivered up to its tag.
 */
export class AmqpSource implements Source {
  readonly name: string;
  readonly kind = 'amqp';
  readonly concurrency = 2;
  readonly orderedCommits = true;
  readonly #s: RabbitMqSettings;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #bindingKeys: ReadonlyArray<string>;
  readonly #session: AmqpSession;
  #channel: Channel | undefined;
  #dlq: ConfirmChannel | undefined;
  #buffer: Held[] = [];
  readonly #bell = new Doorbell();
  /** The settle of the last batch handed out: the next one acks only after it. */
  #previousSettle: Promise<void> = Promise.resolve();

  constructor(options: { settings: RabbitMqSettings; log: Logger; maxBatch: number; bindingKeys?: ReadonlyArray<string> }) {
    this.#s = options.settings;
    this.#bindingKeys = options.bindingKeys ?? [options.settings.ingestRoutingKey];
    this.#log = options.log;
    // Half the prefetch, so that a second batch can fill while the first one commits.
    this.#maxBatch = Math.max(1, Math.min(options.maxBatch, Math.ceil(options.settings.prefetch / 2)));
    this.name = `amqp:${this.#s.ingestQueue}`;
    this.#session = new AmqpSession({
      url: this.#s.url,
      tls: this.#s.tls,
      log: this.#log,
      setup: async (model) => {
        const ch = await model.createChannel();
        await declareTopology(ch, this.#s, this.#bindingKeys);
        const dlq = await model.createConfirmChannel();
        const generation = this.#session.generation;
        ch.on('close', () => {
          if (this.#channel === ch) {
            this.#channel = undefined;
            // Unacked deliveries go back to the queue with the channel; drop our copies.
            this.#buffer = [];
          }
        });
        ch.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'rabbitmq consumer channel error'));
        dlq.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'rabbitmq dead-letter channel error'));
        await ch.prefetch(this.#s.prefetch);
        this.#channel = ch;
        this.#dlq = dlq;
        await ch.consume(this.#s.ingestQueue, (msg) => {
          if (msg === null) return; // consumer cancelled (queue deleted): the session reconnects
          this.#buffer.push({ msg, generation, receivedAt: Date.now() });
          this.#bell.ring();
        }, { noAck: false });
      },
    });
  }

  async start(): Promise<void> {
    await this.#session.start();
  }

  status(): SourceStatus {
    return this.#session.connected && this.#channel !== undefined
      ? { connected: true }
      : { connected: false, detail: `rabbitmq: ${this.#session.lastError}` };
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const held of batchesOf(() => this.#buffer, this.#maxBatch, this.#bell, signal)) yield this.#batch(held);
  }

  #batch(held: Held[]): DeliveryBatch {
    const deliveries: Delivery[] = held.map(({ msg, receivedAt }) => {
      const headers = headersOf(msg.properties.headers);
      // Attempts survive a replay (x-attempts) and count redeliveries (quorum queues say how many).
      const replayed = Number(headers['x-attempts']);
      const deliveryCount = Number(headers['x-delivery-count']);
      const thisDelivery = Number.isFinite(deliveryCount) ? deliveryCount + 1 : msg.fields.redelivered ? 2 : 1;
      const origin: { stream: string; attempts: number; firstFailedAt?: string } = {
        stream: this.#s.ingestQueue,
        attempts: (Number.isFinite(replayed) ? replayed : 0) + thisDelivery,
      };
      if (headers['x-first-failed-at'] !== undefined) origin.firstFailedAt = headers['x-first-failed-at'];
      return {
        id: typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined,
        // The routing key picks the domain; a message sent straight to the queue (default
        // exchange) carries the queue's name and goes to the source's catch-all domain.
        route: msg.fields.routingKey,
        body: msg.content,
        headers,
        receivedAt,
        origin,
      };
    });
    const previous = this.#previousSettle;
    let settled!: () => void;
    this.#previousSettle = new Promise<void>((resolve) => (settled = resolve));
    return {
      deliveries,
      settle: async (outcome) => {
        try {
          await previous;
          await this.#settle(held, deliveries, outcome);
        } finally {
          settled();
        }
      },
    };
  }

  async #settle(held: Held[], deliveries: ReadonlyArray<Delivery>, outcome: Outcome): Promise<void> {
    const ch = this.#channel;
    const dlq = this.#dlq;
    const generation = held[0]!.generation;
    if (ch === undefined || dlq === undefined || generation !== this.#session.generation) {
      this.#log.warn({ messages: held.length }, 'channel closed before settle; the broker will redeliver (stored messages are deduplicated)');
      return;
    }
    const last = held[held.length - 1]!.msg;
    if (outcome.kind === 'release') {
      ch.nack(last, true, true);
      return;
    }
    if (outcome.deadLetter.length > 0) {
      // The copy with our headers is confirmed before the original is acknowledged: a crash
      // in between redelivers the original (it can reach the DLQ twice, never zero times).
      for (const { index, error } of outcome.deadLetter) {
        const { msg } = held[index]!;
        const { headers: _, ...properties } = msg.properties;
        dlq.sendToQueue(this.#s.dlqQueue, msg.content, {
          ...stripUndefined(properties),
          persistent: true,
          headers: { ...msg.properties.headers, ...deadLetterHeaders(deliveries[index]!, error) },
        });
      }
      await dlq.waitForConfirms();
    }
    // Batches are settled in delivery order on this channel, so one multiple-ack covers it.
    ch.ack(last, true);
  }

  async close(): Promise<void> {
    // Closing the channels first flushes the last acks (a connection close can drop them).
    await this.#channel?.close().catch(() => undefined);
    await this.#dlq?.close().catch(() => undefined);
    await this.#session.close();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
