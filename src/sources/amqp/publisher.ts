import type { ConfirmChannel } from 'amqplib';
import { IngestError } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { outboundBytes, type OutboundMessage, type Publisher, type SourceStatus } from '../types.ts';
import { drained } from './drained.ts';
import { AmqpSession } from './session.ts';
import type { TlsFiles } from '../../config/tls.ts';

/**
 * Publishes outbox messages to exchanges with publisher confirms, on its own connection.
 * Every exchange it publishes to is declared (durable, topic) before its first message on a
 * channel: publishing to a missing exchange would close the channel and stall the outbox.
 */
export class AmqpPublisher implements Publisher {
  readonly name = 'amqp publisher';
  readonly kind = 'amqp';
  readonly #session: AmqpSession;
  #channel: ConfirmChannel | undefined;
  /** Exchanges declared on the current channel. */
  #declared = new Set<string>();

  constructor(options: { url: string; tls?: TlsFiles | undefined; exchanges: ReadonlyArray<string>; log: Logger }) {
    this.#session = new AmqpSession({
      url: options.url,
      tls: options.tls,
      log: options.log,
      setup: async (model) => {
        const ch = await model.createConfirmChannel();
        ch.on('error', (err: Error) => options.log.warn({ err: err.message }, 'rabbitmq publisher channel error'));
        ch.on('close', () => {
          if (this.#channel === ch) this.#channel = undefined;
        });
        const declared = new Set<string>();
        for (const exchange of options.exchanges) {
          await ch.assertExchange(exchange, 'topic', { durable: true });
          declared.add(exchange);
        }
        this.#declared = declared;
        this.#channel = ch;
      },
    });
  }

  async start(): Promise<void> {
    await this.#session.start();
  }

  status(): SourceStatus {
    return this.#channel !== undefined ? { connected: true } : { connected: false, detail: `rabbitmq publisher: ${this.#session.lastError}` };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const ch = this.#channel;
    if (ch === undefined) throw new IngestError('INGESTD_ERR_BROKER_UNAVAILABLE', `rabbitmq publisher not connected: ${this.#session.lastError}`);
    const declared = this.#declared; // of this channel: setup replaces both together
    for (const m of messages) {
      if (!declared.has(m.destination)) {
        await ch.assertExchange(m.destination, 'topic', { durable: true });
        declared.add(m.destination);
      }
      const ok = ch.publish(m.destination, m.key, outboundBytes(m), {
        persistent: true,
        messageId: m.id,
        contentType: m.bodyEncoding === 'base64' ? 'application/octet-stream' : 'application/json',
        ...(m.headers === undefined ? {} : { headers: m.headers }),
      });
      if (!ok) await drained(ch);
    }
    await ch.waitForConfirms();
  }

  async close(): Promise<void> {
    await this.#session.close();
  }
}
