import mqtt, { type MqttClient } from 'mqtt';
import type { MqttSettings } from '../../config/index.ts';
import type { Logger } from '../../runtime/logger.ts';
import { redactText } from '../../runtime/redact.ts';
import { mqttConnection } from './connection.ts';
import { outboundBytes, type OutboundMessage, type Publisher, type SourceStatus } from '../types.ts';

/** Publishes derived messages with QoS 1: each publish resolves on the broker's PUBACK. */
export class MqttPublisher implements Publisher {
  readonly name = 'mqtt';
  readonly kind = 'mqtt';
  readonly #s: MqttSettings;
  readonly #log: Logger;
  #client: MqttClient | undefined;
  #lastError = 'connecting';

  constructor(settings: MqttSettings, log: Logger) {
    this.#s = settings;
    this.#log = log;
  }

  async start(): Promise<void> {
    const { url, options } = mqttConnection(this.#s);
    const client = mqtt.connect(url, { ...options, clientId: `${this.#s.clientId}-pub`, clean: true, protocolVersion: 5, reconnectPeriod: 1000 });
    client.on('connect', () => (this.#lastError = ''));
    client.on('error', (err) => {
      this.#lastError = redactText(err.message);
      this.#log.warn({ err: this.#lastError }, 'mqtt publisher error');
    });
    client.on('offline', () => (this.#lastError ||= 'disconnected'));
    this.#client = client;
  }

  status(): SourceStatus {
    return this.#client?.connected === true ? { connected: true } : { connected: false, detail: `mqtt: ${this.#lastError}` };
  }

  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    const client = this.#client;
    if (client === undefined || !client.connected) throw new Error('mqtt publisher not connected');
    await Promise.all(messages.map((m) =>
      client.publishAsync(m.destination, outboundBytes(m), { qos: 1, properties: { userProperties: { 'x-message-id': m.id, ...(m.headers ?? {}) } } })));
  }

  async close(): Promise<void> {
    await this.#client?.endAsync().catch(() => undefined);
  }
}
