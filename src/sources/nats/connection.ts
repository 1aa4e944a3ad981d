import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';
import { redactText } from '../../runtime/redact.ts';

/**
 * Servers, credentials and TLS of NATS_URL / NATS_TLS_*. `tls: null` keeps the client's
 * default (TLS when the server offers it); an object requires TLS, with the CA and client
 * certificate files read by the client at each connect.
 */
export function natsConnectOptions(s: Pick<NatsSettings, 'servers' | 'auth' | 'tls'>): NodeConnectionOptions {
  const tls = s.tls === undefined ? undefined : {
    ...(s.tls.ca === undefined ? {} : { caFile: s.tls.ca }),
    ...(s.tls.cert === undefined ? {} : { certFile: s.tls.cert }),
    ...(s.tls.key === undefined ? {} : { keyFile: s.tls.key }),
  };
  return { servers: [...s.servers], ...s.auth, ...(tls === undefined ? {} : { tls }) };
}

/**
 * One NATS connection that reconnects forever (the client's own reconnect logic), with its
 * state for readiness and `nats_connected`.
 */
export class NatsConnectionHolder {
  readonly #options: NodeConnectionOptions;
  readonly #name: string;
  readonly #log: Logger;
  #nc: NatsConnection | undefined;
  #connected = false;
  lastError = 'connecting';

  constructor(settings: Pick<NatsSettings, 'servers' | 'auth' | 'tls'>, name: string, log: Logger) {
    this.#options = natsConnectOptions(settings);
    this.#name = name;
    this.#log = log;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Connects, retrying until it succeeds or `signal` aborts. */
  async open(signal?: AbortSignal): Promise<NatsConnection> {
    if (this.#nc !== undefined) return this.#nc;
    for (let attempt = 0; ; attempt++) {
      try {
        const nc = await connect({ ...this.#options, name: this.#name, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: false });
        this.#nc = nc;
        this.#connected = true;
        void this.#watch(nc);
        return nc;
      } catch (err) {
        this.lastError = redactText((err as Error).message);
        if (signal?.aborted) throw err;
        if (attempt % 10 === 0) this.#log.warn({ err: this.lastError }, 'nats unavailable; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.lastError = 'disconnected';
        this.#log.warn('nats disconnected; reconnecting');
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#log.info('nats reconnected');
      }
    }
  }

  async close(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    this.#connected = false;
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
