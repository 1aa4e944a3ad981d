import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { NatsSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';
import { outboundBytes, type OutboundMessage, type OutputDestination, type Publisher, type SourceStatus } from '../types.ts';
import { NatsConnectionHolder } from './connection.ts';
import { ensureOutputs } from './streams.ts';

/**
 * Publishes to JetStream subjects, awaiting each stream acknowledgement (the confirm).
 * The message id is the JetStream `Nats-Msg-Id`, so the stream drops a re-publication
 * within its duplicate window, and consumers can dedupe on it after that. At start every
 * output subject is made to land in a stream (NATS_OUTPUT_STREAM unless one captures it).
 */
export class NatsPublisher implements Publisher {
  readonly name = 'nats';
  readonly kind = 'nats';
  readonly #s: NatsSettings;
  readonly #outputs: ReadonlyArray<OutputDestination>;
  readonly #conn: NatsConnectionHolder;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  /** Subjects known to land in a stream. */
  readonly #captured = new Set<string>();

  constructor(settings: NatsSettings, outputs: ReadonlyArray<OutputDestination>, log: Logger) {
    this.#s = settings;
    this.#outputs = outputs;
    this.#conn = new NatsConnectionHolder(settings, `${settings.durable}-publisher`, log);
  }

  async start(): Promise<void> {
    const nc = await this.#conn.open();
    this.#jsm = await jetstreamManager(nc);
    await this.#capture(this.#outputs);
    this.#js = jetstream(nc);
  }

  async #capture(outputs: ReadonlyArray<OutputDestination>): Promise<void> {
    const s = this.#s;
    await ensureOutputs(this.#jsm!, outputs, { name: s.outputStream, maxAgeMs: s.outputMaxAgeMs, maxBytes: s.outputMaxBytes });
    for (const o of outputs) this.#captured.add(o.name);
  }

  status(): SourceStatus {
    return this.#conn.connected && this.#js !== undefined ? { connected: true } : { connected: false, detail: `nats: ${this.#conn.lastError}` };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const js = this.#js;
    if (js === undefined) throw new Error('nats publisher not connected');
    // A destination no domain declared is captured before its first message (NATS dead letters go through the source).
    const undeclared = [...new Set(messages.map((m) => m.destination))].filter((d) => !this.#captured.has(d));
    if (undeclared.length > 0) await this.#capture(undeclared.map((name) => ({ name })));
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
