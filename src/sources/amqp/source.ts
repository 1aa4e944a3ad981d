import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type pg from 'pg';
import type { RabbitMqSettings } from '../../config/index.ts';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { deadLetterHeaders } from '../../runtime/dead-letter.ts';
import { errorMessage } from '../../runtime/errors.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import type { Logger } from '../../runtime/logger.ts';
import { claimPartitions, type StuckHolders } from '../../sinks/postgres/checkpoints.ts';
import type { Checkpoint, Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';
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
 *
 * With RABBITMQ_SINGLE_ACTIVE_CONSUMER (the default) the queue delivers to one consumer at a
 * time, so the worker that receives owns every key: it claims the queue's owner epoch on the
 * first delivery of each connection (fencing out a previous owner's late checkpoints) and the
 * pipeline keeps keyed state in memory. A redelivered message may be stored already: its batch
 * says so and takes the database-backed path.
 */
export class AmqpSource implements Source {
  readonly name: string;
  readonly kind = 'amqp';
  readonly concurrency = 2;
  readonly orderedCommits = true;
  readonly partitioned: boolean;
  readonly #s: RabbitMqSettings;
  readonly #pool: pg.Pool | undefined;
  readonly #stuck: StuckHolders | undefined;
  readonly #prefetch: number;
  /** The connection generation whose owner epoch is claimed, and the epoch. */
  #claimed: { generation: number; checkpoints: ReadonlyArray<Checkpoint> } | undefined;
  #lastError: string | undefined;
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

  constructor(options: {
    settings: RabbitMqSettings; log: Logger; maxBatch: number; bindingKeys?: ReadonlyArray<string>;
    /** Where the owner epoch is claimed; without it the queue is consumed as competing consumers. */
    pool?: pg.Pool; stuck?: Omit<StuckHolders, 'onEnded'>;
  }) {
    this.#s = options.settings;
    this.#bindingKeys = options.bindingKeys ?? [options.settings.ingestRoutingKey];
    this.#log = options.log;
    this.#pool = options.pool;
    this.partitioned = options.settings.singleActiveConsumer && options.pool !== undefined;
    this.#stuck = options.stuck === undefined ? undefined : {
      ...options.stuck,
      onEnded: (pid, secs) => this.#log.warn({ pid, transaction_s: Math.round(secs) }, 'ended a stuck checkpoint of the queue\'s previous owner (a stopped worker)'),
    };
    // An owner holds a checkpoint's messages unacknowledged until it commits: the prefetch is
    // what one checkpoint can cover while the previous one commits. Eight batches' worth
    // (measured, e2e-drain/rabbitmq: 2× 13.5–14.5k readings/s, 4× 16.5–17.4k, 8× 18.5–19.3k at
    // ~250 MB peak RSS, 16× 21–22.7k but 345–367 MB).
    this.#prefetch = this.partitioned ? Math.max(options.settings.prefetch, 8 * options.maxBatch) : options.settings.prefetch;
    // Half the prefetch, so that a second batch can fill while the first one commits.
    this.#maxBatch = Math.max(1, Math.min(options.maxBatch, Math.ceil(this.#prefetch / 2)));
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
        await ch.prefetch(this.#prefetch);
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
    if (this.#lastError !== undefined) return { connected: false, detail: `rabbitmq: ${this.#lastError}` };
    return this.#session.connected && this.#channel !== undefined
      ? { connected: true }
      : { connected: false, detail: `rabbitmq: ${this.#session.lastError}` };
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const held of batchesOf(() => this.#buffer, this.#maxBatch, this.#bell, signal)) {
      if (!this.partitioned) {
        yield this.#batch(held, undefined);
        continue;
      }
      const generation = held[0]!.generation;
      if (this.#claimed?.generation !== generation) {
        // A new connection: what the pipeline holds of the previous one is committed (or fenced)
        // before this one's epoch is claimed.
        if (this.#claimed !== undefined) yield { deliveries: [], reassigned: true, settle: async () => undefined };
        this.#claimed = undefined;
        const checkpoints = await this.#claim(generation, signal);
        // The connection closed meanwhile: its deliveries go back to the queue.
        if (checkpoints === undefined) continue;
        this.#claimed = { generation, checkpoints };
      }
      yield this.#batch(held, this.#claimed.checkpoints);
    }
  }

  /** Claims the queue's owner epoch for this connection; undefined once it is gone. */
  async #claim(generation: number, signal: AbortSignal): Promise<ReadonlyArray<Checkpoint> | undefined> {
    for (let attempt = 0; !signal.aborted && generation === this.#session.generation; attempt++) {
      try {
        const claims = await claimPartitions(this.#pool!, 'amqp', this.#s.ingestQueue, [0], this.#stuck);
        this.#lastError = undefined;
        const epoch = claims.get(0)!.epoch;
        this.#log.info({ queue: this.#s.ingestQueue, epoch }, 'rabbitmq queue claimed: this worker is its single active consumer');
        return [{ source: 'amqp', stream: this.#s.ingestQueue, partition: 0, offset: '0', epoch }];
      } catch (err) {
        this.#lastError = `cannot claim the queue's owner epoch: ${errorMessage(err)}`;
        this.#log.warn({ err: errorMessage(err) }, 'rabbitmq: cannot claim the queue yet; its deliveries wait');
        await sleep(backoffDelay(attempt, 500, 10_000), signal);
      }
    }
    return undefined;
  }

  #batch(held: Held[], checkpoints: ReadonlyArray<Checkpoint> | undefined): DeliveryBatch {
    let redelivered = false;
    const deliveries: Delivery[] = held.map(({ msg, receivedAt }) => {
      const headers = headersOf(msg.properties.headers);
      // Attempts survive a replay (x-attempts) and count redeliveries (quorum queues say how many).
      const replayed = Number(headers['x-attempts']);
      const deliveryCount = Number(headers['x-delivery-count']);
      const thisDelivery = Number.isFinite(deliveryCount) ? deliveryCount + 1 : msg.fields.redelivered ? 2 : 1;
      if (thisDelivery > 1) redelivered = true;
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
      ...(checkpoints === undefined ? {} : { checkpoints, redelivered }),
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
