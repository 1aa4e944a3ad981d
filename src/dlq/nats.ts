import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSettings } from '../config/index.ts';
import { natsConnectOptions } from '../sources/nats/connection.ts';
import { recordOf, replayHeaders, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

/** NATS_DLQ_STREAM: listed by sequence; replay publishes to the original subject, then deletes. */
export class NatsDeadLetters implements DeadLetterQueue {
  readonly kind = 'nats';
  readonly #s: NatsSettings;
  #nc: NatsConnection | undefined;

  constructor(settings: NatsSettings) {
    this.#s = settings;
  }

  get name(): string {
    return this.#s.dlqStream;
  }

  async #jsm(): Promise<JetStreamManager> {
    this.#nc ??= await connect({ ...natsConnectOptions(this.#s), name: 'ingestd-dlq' });
    return jetstreamManager(this.#nc);
  }

  async list(): Promise<DeadLetterRecord[]> {
    const jsm = await this.#jsm();
    let info;
    try {
      info = await jsm.streams.info(this.#s.dlqStream);
    } catch {
      return []; // no DLQ stream yet: nothing was ever dead-lettered
    }
    const out: DeadLetterRecord[] = [];
    if (info.state.messages === 0) return out;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(this.#s.dlqStream, { seq }).catch(() => null);
      if (m === null) continue; // deleted
      const headers: Record<string, string> = {};
      if (m.header !== undefined) for (const k of m.header.keys()) headers[k] = m.header.get(k);
      out.push(recordOf({
        ref: `nats:${this.#s.dlqStream}:${seq}`, kind: 'nats', dlq: this.#s.dlqStream,
        route: headers['x-original-source'] ?? m.subject.replace(/^dlq\./, ''), body: Buffer.from(m.data), headers, deadLetteredAt: m.time.getTime(),
      }));
    }
    return out;
  }

  async publish(records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<void> {
    const js = jetstream(this.#nc ??= await connect({ ...natsConnectOptions(this.#s), name: 'ingestd-dlq' }));
    for (const r of records) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(replayHeaders(r.headers))) h.set(k, v);
      await js.publish(r.route, bodies?.get(r.ref) ?? r.body, { headers: h });
    }
  }

  async remove(records: ReadonlyArray<DeadLetterRecord>): Promise<number> {
    const jsm = await this.#jsm();
    let n = 0;
    for (const r of records) if (await jsm.streams.deleteMessage(this.#s.dlqStream, Number(r.ref.split(':').at(-1)), false).catch(() => false)) n++;
    return n;
  }

  async close(): Promise<void> {
    await this.#nc?.close();
    this.#nc = undefined;
  }
}
