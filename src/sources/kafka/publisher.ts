import type { Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { IngestError, errorMessage } from '../../runtime/errors.ts';
import { outboundBytes, type OutboundMessage, type Publisher, type SourceStatus } from '../types.ts';
import { ensureTopics } from './client.ts';

/**
 * Outbox messages to topics with the idempotent producer (acks=all, one request in flight:
 * no duplicates or reordering from producer retries). Keys keep a meter on one partition.
 */
export class KafkaPublisher implements Publisher {
  readonly name = 'kafka publisher';
  readonly kind = 'kafka';
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #topics = new Set<string>();
  #connected = false;
  #closing = false;
  #lastError = 'not connected yet';

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.#producer.on(this.#producer.events.CONNECT, () => {
      this.#connected = true;
    });
    this.#producer.on(this.#producer.events.DISCONNECT, () => {
      this.#connected = false;
    });
  }

  /** Connects, retrying in the background while the brokers are unreachable. */
  async start(): Promise<void> {
    for (let attempt = 0; !this.#closing; attempt++) {
      try {
        await this.#producer.connect();
        return;
      } catch (err) {
        this.#lastError = errorMessage(err);
        await sleep(backoffDelay(attempt, 500, 10_000));
      }
    }
  }

  status(): SourceStatus {
    return this.#connected ? { connected: true } : { connected: false, detail: `kafka producer: ${this.#lastError}` };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const byTopic = new Map<string, OutboundMessage[]>();
    for (const m of messages) byTopic.set(m.destination, [...(byTopic.get(m.destination) ?? []), m]);
    try {
      const unknown = [...byTopic.keys()].filter((t) => !this.#topics.has(t));
      if (unknown.length > 0) {
        await ensureTopics(this.#kafka, unknown);
        for (const t of unknown) this.#topics.add(t);
      }
      await this.#producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((m) => ({ key: m.key, value: outboundBytes(m), headers: { ...m.headers, 'x-message-id': m.id } })),
        })),
      });
      this.#connected = true;
    } catch (err) {
      this.#lastError = errorMessage(err);
      this.#connected = false;
      throw new IngestError('INGESTD_ERR_BROKER_UNAVAILABLE', `kafka publish failed: ${this.#lastError}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#producer.disconnect().catch(() => undefined);
  }
}
