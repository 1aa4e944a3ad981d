import type { Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { IngestError, errorMessage } from '../../runtime/errors.ts';
import { describeOutputs, outboundBytes, type OutboundMessage, type OutputDestination, type Publisher, type SourceStatus } from '../types.ts';
import { ensureTopics } from './client.ts';

/** Broker answers to a topic creation that waiting will not change (ACLs, policies, names). */
const REFUSALS = new Set([
  'TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION', 'POLICY_VIOLATION',
  'INVALID_REPLICATION_FACTOR', 'INVALID_PARTITIONS', 'INVALID_CONFIG',
]);

/** The kafkajs error types in `err` (an aggregate carries one per topic). */
const errorTypes = (err: unknown): string[] => {
  const e = err as { type?: string; errors?: unknown[] };
  return [...(e.type === undefined ? [] : [e.type]), ...(e.errors ?? []).flatMap(errorTypes)];
};

/**
 * Outbox messages to topics with the idempotent producer (acks=all, one request in flight:
 * no duplicates or reordering from producer retries). Keys keep a meter on one partition.
 * The output topics are created at start; one the broker refuses to create stops the worker
 * with the variable that names it, rather than leaving its messages in the outbox.
 */
export class KafkaPublisher implements Publisher {
  readonly name = 'kafka publisher';
  readonly kind = 'kafka';
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #outputs: ReadonlyArray<OutputDestination>;
  readonly #topics = new Set<string>();
  #connected = false;
  /** The output topics exist: until then the worker is not ready (a consumer could not find them). */
  #declared = false;
  #closing = false;
  #lastError = 'not connected yet';

  constructor(kafka: Kafka, outputs: ReadonlyArray<OutputDestination> = []) {
    this.#kafka = kafka;
    this.#outputs = outputs;
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.#producer.on(this.#producer.events.CONNECT, () => {
      this.#connected = true;
    });
    this.#producer.on(this.#producer.events.DISCONNECT, () => {
      this.#connected = false;
    });
  }

  /** Connects and creates the output topics, retrying in the background while the brokers are unreachable. */
  async start(): Promise<void> {
    for (let attempt = 0; !this.#closing; attempt++) {
      try {
        await this.#producer.connect();
        await this.#ensure(this.#outputs.map((o) => o.name));
        this.#declared = true;
        return;
      } catch (err) {
        if (errorTypes(err).some((t) => REFUSALS.has(t))) {
          const hint = 'create them beforehand, or grant the worker the right to create topics';
          throw new Error(`kafka: cannot create the output topics ${describeOutputs(this.#outputs)}: ${errorMessage(err)}; ${hint}`, { cause: err });
        }
        this.#lastError = errorMessage(err);
        await sleep(backoffDelay(attempt, 500, 10_000));
      }
    }
  }

  async #ensure(topics: ReadonlyArray<string>): Promise<void> {
    const unknown = topics.filter((t) => !this.#topics.has(t));
    if (unknown.length === 0) return;
    await ensureTopics(this.#kafka, unknown);
    for (const t of unknown) this.#topics.add(t);
  }

  status(): SourceStatus {
    if (!this.#connected) return { connected: false, detail: `kafka producer: ${this.#lastError}` };
    return this.#declared ? { connected: true } : { connected: false, detail: 'kafka producer: creating the output topics' };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const byTopic = Map.groupBy(messages, (m) => m.destination);
    try {
      await this.#ensure([...byTopic.keys()]); // dead-letter topics, named by each input topic
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
