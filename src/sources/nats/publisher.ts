import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { NatsSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';
import { outboundBytes, type OutboundMessage, type Publisher, type SourceStatus } from '../types.ts';
import { NatsConnectionHolder } from './connection.ts';

/**
 * Publishes to JetStream subjects, awaiting each stream acknowledgement (the confirm).
 * The message id is the JetStream `Nats-Msg-Id`, so the stream drops a re-publication
 * within its duplicate window, and consumers can dedupe on it after that.
 */
export class NatsPublisher implements Publisher {
  readonly name = 'nats';
  readonly kind = 'nats';
  readonly #conn: NatsConnectionHolder;
  #js: JetStreamClient | undefined;

  constructor(settings: NatsSettings, log: Logger) {
    this.#conn = new NatsConnectionHolder(settings, `${settings.durable}-publisher`, log);
  }

  async start(): Promise<void> {
    this.#js = jetstream(await this.#conn.open());
  }

  status(): SourceStatus {
    return this.#conn.connected ? { connected: true } : { connected: false, detail: `nats: ${this.#conn.lastError}` };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const js = this.#js;
    if (js === undefined) throw new Error('nats publisher not connected');
    await Promise.all(messages.map((m) => {
      const h = natsHeaders();
      h.set('x-message-id', m.id);
      for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
      return js.publish(m.destination, outboundBytes(m), { msgID: m.id, headers: h });
    }));
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }
}
