import amqp, { type ChannelModel } from 'amqplib';
import { coalesceWrites, socketOf } from './coalesce-writes.ts';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { errorMessage } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { redactUrl } from '../../runtime/redact.ts';
import type { TlsFiles } from '../../config/tls.ts';
import { tlsOptions } from '../tls.ts';

/**
 * One AMQP connection that comes back after the broker restarts: connect, run `setup`
 * (channels, topology, consumers), and on close do it again with backoff. Every setup is a
 * new generation; work started on an older one must not touch the new channels (delivery
 * tags are per channel).
 */
export class AmqpSession {
  readonly #url: string;
  readonly #socketOptions: ReturnType<typeof amqpSocketOptions>;
  readonly #log: Logger;
  readonly #setup: (model: ChannelModel) => Promise<void>;
  readonly #closing = new AbortController();
  #model: ChannelModel | undefined;
  #generation = 0;
  #lastError = 'not connected yet';
  #loop: Promise<void> | undefined;

  constructor(options: { url: string; tls?: TlsFiles | undefined; log: Logger; setup: (model: ChannelModel) => Promise<void> }) {
    this.#url = options.url;
    this.#socketOptions = amqpSocketOptions(options.tls, 'ingestd');
    this.#log = options.log;
    this.#setup = options.setup;
  }

  get connected(): boolean {
    return this.#model !== undefined;
  }

  get generation(): number {
    return this.#generation;
  }

  get lastError(): string {
    return this.#lastError;
  }

  /**
   * Connects in the background. Resolves after the first successful setup, or rejects
   * when setup itself fails in a way retrying cannot fix (topology mismatch, bad login).
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      this.#loop = this.#run(() => {
        if (first) resolve();
        first = false;
      }, (err) => {
        if (first) reject(err);
        first = false;
      });
    });
  }

  async #run(onUp: () => void, onFatal: (err: Error) => void): Promise<void> {
    for (let attempt = 0; !this.#closing.signal.aborted; attempt++) {
      let model: ChannelModel | undefined;
      try {
        model = await amqp.connect(withHeartbeat(this.#url), this.#socketOptions);
        const socket = socketOf(model);
        if (socket !== undefined) coalesceWrites(socket);
        const closed = new Promise<Error | undefined>((resolve) => model!.once('close', resolve));
        model.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'rabbitmq connection error'));
        this.#generation++;
        await this.#setup(model);
        this.#model = model;
        if (attempt > 0) this.#log.info({ broker: redactUrl(this.#url) }, 'rabbitmq reconnected');
        attempt = 0;
        onUp();
        const err = await closed;
        this.#model = undefined;
        if (this.#closing.signal.aborted) return;
        this.#lastError = err === undefined ? 'connection closed' : err.message;
        this.#log.warn({ err: this.#lastError }, 'rabbitmq connection lost; reconnecting');
      } catch (err) {
        this.#model = undefined;
        this.#lastError = errorMessage(err);
        // 403 ACCESS_REFUSED and 406 PRECONDITION_FAILED will not go away by retrying.
        if (/ACCESS_REFUSED|PRECONDITION_FAILED|NOT_ALLOWED/.test(this.#lastError)) {
          await model?.close().catch(() => undefined);
          onFatal(new Error(`rabbitmq: ${this.#lastError}`));
          return;
        }
        await model?.close().catch(() => undefined);
        const delay = backoffDelay(attempt, 250, 10_000);
        this.#log.warn({ broker: redactUrl(this.#url), err: this.#lastError, retry_in_ms: delay }, 'rabbitmq unavailable; retrying');
        await sleep(delay, this.#closing.signal);
      }
    }
  }

  async close(): Promise<void> {
    this.#closing.abort();
    const model = this.#model;
    this.#model = undefined;
    await model?.close().catch(() => undefined);
    await this.#loop;
  }
}

/**
 * amqplib's socket options: the connection name, and for amqps:// the CA and client
 * certificate (amqplib hands them to tls.connect, with the URL's host as servername).
 */
export function amqpSocketOptions(tls: TlsFiles | undefined, connectionName: string): Record<string, unknown> {
  return { clientProperties: { connection_name: connectionName }, ...(tls === undefined ? {} : tlsOptions(tls)) };
}

/** A dead TCP peer is noticed in ~20 s instead of the OS's minutes. */
function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '10');
  return u.toString();
}
