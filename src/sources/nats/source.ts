import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSettings } from '../../config/index.ts';
import { deadLetterHeaders } from '../../runtime/dead-letter.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';
import { NatsConnectionHolder } from './connection.ts';
import { ensureStream } from './streams.ts';
import { dlqSubject, durableName } from './subjects.ts';

interface Held {
  readonly msg: JsMsg;
  readonly receivedAt: number;
}

/**
 * JetStream pull consumption (SPEC §4): the stream and its DLQ stream are created if
 * missing, one durable pull consumer per subject filter, explicit ack after commit.
 * Deliveries wait in a buffer bounded by the consumers' MaxAckPending. While a batch is
 * being committed (retries included) its messages are kept in progress, so AckWait and
 * MaxDeliver count crashes, not slow commits. Dead letters are published to
 * `dlq.<subject>` (stream acknowledgement awaited) before the original is terminated.
 */
export class NatsSource implements Source {
  readonly name: string;
  readonly kind = 'nats';
  readonly #s: NatsSettings;
  readonly #subjects: ReadonlyArray<string>;
  readonly #streamSubjects: ReadonlyArray<string>;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #conn: NatsConnectionHolder;
  readonly #bell = new Doorbell();
  readonly #stopping = new AbortController();
  #js: JetStreamClient | undefined;
  #buffer: Held[] = [];
  #consuming = false;

  constructor(options: { settings: NatsSettings; subjects: ReadonlyArray<string>; streamSubjects?: ReadonlyArray<string>; log: Logger; maxBatch: number }) {
    this.#s = options.settings;
    this.#subjects = options.subjects;
    this.#streamSubjects = options.streamSubjects ?? options.subjects;
    this.#log = options.log;
    this.#maxBatch = options.maxBatch;
    this.name = `nats:${this.#s.stream}`;
    this.#conn = new NatsConnectionHolder(this.#s, `${this.#s.durable}-consumer`, this.#log);
  }

  async start(): Promise<void> {
    const nc = await this.#conn.open(this.#stopping.signal);
    await this.#setup(nc);
  }

  async #setup(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, this.#s.stream, this.#streamSubjects);
    await ensureStream(jsm, this.#s.dlqStream, this.#streamSubjects.map(dlqSubject));
    this.#js = jetstream(nc);
    for (const subject of this.#subjects) {
      const durable = durableName(this.#s.durable, subject);
      const config = {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
        ack_wait: nanos(this.#s.ackWaitMs),
        max_deliver: this.#s.maxDeliver,
        max_ack_pending: this.#s.maxAckPending,
        ...(this.#s.backoffMs.length > 0 ? { backoff: this.#s.backoffMs.map(nanos) } : {}),
      };
      try {
        await jsm.consumers.info(this.#s.stream, durable);
        await jsm.consumers.update(this.#s.stream, durable, config);
      } catch (err) {
        if ((err as { name?: string }).name !== 'ConsumerNotFoundError' && !/consumer not found/i.test((err as Error).message)) throw err;
        await jsm.consumers.add(this.#s.stream, config);
      }
      void this.#consume(durable);
    }
    this.#consuming = true;
  }

  /** Pulls forever into the buffer; the consume iterator survives reconnects. */
  async #consume(durable: string): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      try {
        const consumer = await this.#js!.consumers.get(this.#s.stream, durable);
        const messages = await consumer.consume({ max_messages: Math.min(this.#maxBatch, this.#s.maxAckPending), expires: 5000 });
        this.#stopping.signal.addEventListener('abort', () => void messages.close(), { once: true });
        for await (const msg of messages) {
          this.#buffer.push({ msg, receivedAt: Date.now() });
          this.#bell.ring();
        }
      } catch (err) {
        if (this.#stopping.signal.aborted) return;
        this.#log.warn({ durable, err: (err as Error).message }, 'jetstream consume ended; resuming');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  status(): SourceStatus {
    return this.#conn.connected && this.#consuming ? { connected: true } : { connected: false, detail: `nats: ${this.#conn.lastError}` };
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const held of batchesOf(() => this.#buffer, this.#maxBatch, this.#bell, signal)) yield this.#batch(held);
  }

  #batch(held: Held[]): DeliveryBatch {
    const deliveries: Delivery[] = held.map(({ msg, receivedAt }) => {
      const headers: Record<string, string> = {};
      if (msg.headers !== undefined) for (const k of msg.headers.keys()) headers[k] = msg.headers.get(k);
      const replayed = Number(headers['x-attempts']);
      const origin: { offset: string; attempts: number; firstFailedAt?: string } = {
        offset: String(msg.seq),
        attempts: (Number.isFinite(replayed) ? replayed : 0) + msg.info.deliveryCount,
      };
      if (headers['x-first-failed-at'] !== undefined) origin.firstFailedAt = headers['x-first-failed-at'];
      return { id: headers['Nats-Msg-Id'], route: msg.subject, body: Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength), headers, receivedAt, origin };
    });
    // In progress while it commits, retries included (a paused pipeline holds its batch).
    const keepAlive = setInterval(() => { for (const h of held) h.msg.working(); }, Math.max(1000, Math.floor(this.#s.ackWaitMs / 3)));
    keepAlive.unref();
    return {
      deliveries,
      settle: async (outcome) => {
        clearInterval(keepAlive);
        await this.#settle(held, deliveries, outcome);
      },
    };
  }

  async #settle(held: Held[], deliveries: ReadonlyArray<Delivery>, outcome: Outcome): Promise<void> {
    if (outcome.kind === 'release') {
      for (const { msg } of held) msg.nak();
      return;
    }
    const dead = new Set<number>();
    const unsettled = new Set<number>();
    await Promise.all(outcome.deadLetter.map(async ({ index, error }) => {
      dead.add(index);
      const { msg } = held[index]!;
      const h = natsHeaders();
      for (const [k, v] of Object.entries({ ...deliveries[index]!.headers, ...deadLetterHeaders(deliveries[index]!, error) })) {
        if (k !== 'Nats-Msg-Id' && !k.startsWith('Nats-Expected')) h.set(k, v);
      }
      try {
        await this.#js!.publish(dlqSubject(msg.subject), msg.data, { headers: h, msgID: `dlq:${this.#s.stream}:${msg.seq}` });
      } catch (err) {
        // The copy did not reach the DLQ stream (server down): leave the original unacknowledged;
        // JetStream redelivers it after AckWait and it is dead-lettered then.
        unsettled.add(index);
        this.#log.warn({ subject: msg.subject, seq: msg.seq, err: (err as Error).message }, 'dead letter not published; left for redelivery');
      }
    }));
    held.forEach(({ msg }, i) => {
      if (unsettled.has(i)) return;
      // Acks are fire-and-forget: one lost while the server restarts means a redelivery, which the database dedupes.
      // No reason text: servers before 2.10 ignore `+TERM <reason>` and redeliver forever.
      if (dead.has(i)) msg.term();
      else msg.ack();
    });
  }

  async close(): Promise<void> {
    this.#stopping.abort();
    await this.#conn.close();
  }
}
