import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import type { RabbitMqSettings } from '../config/index.ts';
import { headersOf } from '../sources/amqp/headers.ts';
import { amqpSocketOptions } from '../sources/amqp/session.ts';
import { digestRef, recordOf, replayHeaders, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

/**
 * RABBITMQ_DLQ_QUEUE. A listing takes every message without acknowledging it; replay and
 * remove acknowledge the chosen ones, and closing returns the rest to the queue (their
 * order within the DLQ may change). A replay goes to the ingest exchange with the original
 * routing key, confirmed before the dead letter is acknowledged.
 */
export class AmqpDeadLetters implements DeadLetterQueue {
  readonly kind = 'amqp';
  readonly #s: RabbitMqSettings;
  #model: ChannelModel | undefined;
  #ch: ConfirmChannel | undefined;
  readonly #held = new Map<string, GetMessage>();

  constructor(settings: RabbitMqSettings) {
    this.#s = settings;
  }

  get name(): string {
    return this.#s.dlqQueue;
  }

  async #channel(): Promise<ConfirmChannel> {
    if (this.#ch === undefined) {
      this.#model = await amqp.connect(this.#s.url, amqpSocketOptions(this.#s.tls, 'ingestd-dlq'));
      this.#ch = await this.#model.createConfirmChannel();
      await this.#ch.assertQueue(this.#s.dlqQueue, { durable: true });
    }
    return this.#ch;
  }

  async list(): Promise<DeadLetterRecord[]> {
    const ch = await this.#channel();
    const out: DeadLetterRecord[] = [];
    const seen = new Map<string, number>();
    for (const m of this.#held.values()) out.push(this.#record(m, seen));
    for (;;) {
      const m = await ch.get(this.#s.dlqQueue, { noAck: false });
      if (m === false) break;
      const r = this.#record(m, seen);
      this.#held.set(r.ref, m);
      out.push(r);
    }
    return out;
  }

  #record(m: GetMessage, seen: Map<string, number>): DeadLetterRecord {
    const headers = headersOf(m.properties.headers);
    const base = digestRef(m.content, headers['x-first-failed-at'] ?? '', headers['x-dead-lettered-at'] ?? '', headers['x-original-routing-key'] ?? '');
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return recordOf({
      ref: `amqp:${this.#s.dlqQueue}:${base}${n > 1 ? `-${n}` : ''}`, kind: 'amqp', dlq: this.#s.dlqQueue,
      route: headers['x-original-routing-key'] ?? headers['x-original-source'] ?? this.#s.ingestRoutingKey,
      body: m.content, headers, deadLetteredAt: undefined,
    });
  }

  async publish(records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<void> {
    const ch = await this.#channel();
    for (const r of records) {
      const { headers: _, ...props } = this.#held.get(r.ref)?.properties ?? {};
      const viaQueue = r.headers['x-original-routing-key'] === undefined;
      // Older dead letters lack the routing key: send them straight to the ingest queue.
      ch.publish(viaQueue ? '' : this.#s.ingestExchange, viaQueue ? this.#s.ingestQueue : r.route, bodies?.get(r.ref) ?? r.body, {
        ...Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined)),
        persistent: true, headers: replayHeaders(r.headers),
      });
    }
    await ch.waitForConfirms();
  }

  async remove(records: ReadonlyArray<DeadLetterRecord>): Promise<number> {
    const ch = await this.#channel();
    let n = 0;
    for (const r of records) {
      const m = this.#held.get(r.ref);
      if (m === undefined) continue;
      ch.ack(m);
      this.#held.delete(r.ref);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    // Closing the channel first flushes the acks (closing only the connection can drop
    // them); unacknowledged messages go back to the queue.
    await this.#ch?.close().catch(() => undefined);
    await this.#model?.close().catch(() => undefined);
    this.#model = undefined;
    this.#ch = undefined;
    this.#held.clear();
  }
}
