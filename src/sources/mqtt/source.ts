import mqtt, { type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttSettings } from '../../config/index.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import type { Logger } from '../../runtime/logger.ts';
import { redactText } from '../../runtime/redact.ts';
import { mqttConnection } from './connection.ts';
import type { DeadLetterTarget, Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';

interface Held {
  readonly headers: Readonly<Record<string, string>>;
  readonly topic: string;
  readonly payload: Buffer;
  readonly messageId: number;
  readonly dup: boolean;
  readonly generation: number;
  readonly receivedAt: number;
}

type SendPacket = (packet: { cmd: string; messageId?: number; reasonCode?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/**
 * MQTT subscriber with a persistent session (clean start off, session kept), QoS 1, and the
 * PUBACK of each message sent only after the transaction holding it has committed. MQTT.js
 * acknowledges when its message handler returns; that PUBACK is held back and sent at
 * settle, so the broker redelivers whatever was not committed. The buffer holds at most
 * MQTT_RECEIVE_MAXIMUM messages: the source stops reading the socket when it is full.
 *
 * MQTT has no dead-letter queue: dead letters are rows of `ingestd_dead_letters`, written by
 * the pipeline in the batch's own transaction (retried with it), with the same headers as
 * elsewhere.
 *
 * A batch that commits after its connection was lost sends no PUBACK (it would acknowledge
 * another delivery); the broker then redelivers each of its messages in the resumed session,
 * with the DUP flag and the same packet id, which it cannot have given to another message
 * since. Those redeliveries are acknowledged without being processed again. A PUBACK that was
 * sent but lost (the worker killed right after COMMIT, the broker restarted before reading it)
 * leaves no such certainty: the redelivery is processed again, which the domains' ids make a
 * no-op and which makes a dead letter a copy (at-least-once, never a loss: a packet id is reused
 * once acknowledged, and bytes cannot tell messages apart).
 */
export class MqttSource implements Source {
  readonly name: string;
  readonly kind = 'mqtt';
  readonly #s: MqttSettings;
  readonly #topics: ReadonlyArray<string>;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #bell = new Doorbell();
  #client: MqttClient | undefined;
  #send: SendPacket | undefined;
  #generation = 0;
  #buffer: Held[] = [];
  /** Packet ids of this session committed while their connection was gone: no PUBACK sent yet. */
  readonly #committedUnacked = new Set<number>();
  /** Lets mqtt.js read the socket again; set while the buffer is full. */
  #resumeReading: (() => void) | undefined;
  #lastError = 'connecting';

  constructor(options: { settings: MqttSettings; topics: ReadonlyArray<string>; log: Logger; maxBatch: number }) {
    this.#s = options.settings;
    this.#topics = options.topics;
    this.#log = options.log;
    this.#maxBatch = Math.min(options.maxBatch, options.settings.receiveMaximum);
    this.name = `mqtt:${this.#s.clientId}`;
  }

  async start(): Promise<void> {
    const { url, options } = mqttConnection(this.#s);
    const client = mqtt.connect(url, {
      ...options,
      clientId: this.#s.clientId,
      clean: false,
      protocolVersion: 5,
      // The session (subscriptions, queued messages) outlives the connection by this much.
      properties: { sessionExpiryInterval: this.#s.sessionExpirySeconds, receiveMaximum: this.#s.receiveMaximum },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      resubscribe: false,
    });
    // Hold back the library's automatic PUBACKs; settle sends them after COMMIT.
    const internal = client as unknown as { _sendPacket: SendPacket };
    const send = internal._sendPacket.bind(client);
    this.#send = send;
    internal._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd === 'puback') {
        cb?.();
        return;
      }
      send(packet, cb, ...rest);
    };
    // The buffer is bounded here rather than trusted to the broker: Mosquitto 2.0.11 honours
    // the receive maximum only until the first PUBACKs, then sends the whole queued backlog.
    // mqtt.js reads no further packet until this callback runs, so a full buffer stops the
    // socket and TCP holds the rest in the broker. PUBACKs still wait for COMMIT (above).
    client.handleMessage = (_packet, callback) => {
      if (this.#buffer.length < this.#s.receiveMaximum) callback();
      else this.#resumeReading = () => callback();
    };
    client.on('connect', (connack: IConnackPacket) => {
      this.#generation++;
      // A new session redelivers nothing and numbers its packets afresh.
      if (connack.sessionPresent !== true) this.#committedUnacked.clear();
      this.#resumeReading = undefined; // the previous connection's reader is gone with it
      // Deliveries of the previous connection are redelivered by the broker: drop our copies.
      this.#buffer = [];
      this.#lastError = 'subscribing';
      const group = this.#s.shareGroup;
      // A shared subscription delivers each message to one member of the group; the topic
      // of a delivered message is still the one it was published to, so routing is unchanged.
      const filters = group === undefined ? [...this.#topics] : this.#topics.map((t) => `$share/${group}/${t}`);
      client.subscribe(filters, { qos: 1 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos > 2);
        if (!err && refused.length === 0) {
          this.#lastError = '';
          return;
        }
        if (refused.length > 0) err = new Error(`broker refused ${refused.map((g) => g.topic).join(', ')}`);
        if (err) {
          this.#lastError = `subscribe failed: ${err.message}`;
          this.#log.error({ err: err.message, topics: filters }, 'mqtt subscribe failed');
        }
      });
      this.#log.info({ topics: this.#topics, shareGroup: this.#s.shareGroup }, 'mqtt connected');
    });
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      if (packet.qos === 0 || packet.messageId === undefined) {
        this.#log.warn({ topic }, 'QoS 0 message taken as is (no redelivery possible)');
      }
      const id = packet.messageId ?? 0;
      if (id !== 0 && this.#committedUnacked.delete(id) && packet.dup) {
        this.#puback(id); // already committed, see the class comment
        return;
      }
      // MQTT 5 user properties are the message's headers (a replayed dead letter carries x-attempts).
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(packet.properties?.userProperties ?? {})) headers[k] = Array.isArray(v) ? v.join(',') : String(v);
      this.#buffer.push({ headers, topic, payload, messageId: id, dup: packet.dup, generation: this.#generation, receivedAt: Date.now() });
      this.#bell.ring();
    });
    client.on('error', (err) => {
      this.#lastError = redactText(err.message);
      this.#log.warn({ err: this.#lastError }, 'mqtt error');
    });
    client.on('offline', () => {
      if (this.#lastError === '') this.#lastError = 'disconnected';
    });
    this.#client = client;
  }

  /** Messages received and not yet handed to the pipeline (at most MQTT_RECEIVE_MAXIMUM). */
  get buffered(): number {
    return this.#buffer.length;
  }

  status(): SourceStatus {
    return this.#client?.connected === true && this.#lastError === '' ? { connected: true } : { connected: false, detail: `mqtt: ${this.#lastError}` };
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const held of batchesOf(() => this.#buffer, this.#maxBatch, this.#bell, signal)) {
      this.#resumeIfRoom();
      yield this.#batch(held);
    }
  }

  #batch(held: Held[]): DeliveryBatch {
    const deliveries: Delivery[] = held.map((h) => {
      const replayed = Number(h.headers['x-attempts']);
      const origin: { attempts: number; firstFailedAt?: string } = { attempts: (Number.isFinite(replayed) ? replayed : 0) + (h.dup ? 2 : 1) };
      if (h.headers['x-first-failed-at'] !== undefined) origin.firstFailedAt = h.headers['x-first-failed-at'];
      return { id: h.headers['x-message-id'], route: h.topic, body: h.payload, headers: h.headers, receivedAt: h.receivedAt, origin };
    });
    return { deliveries, settle: async (outcome) => this.#settle(held, outcome) };
  }

  deadLetterTarget(): DeadLetterTarget {
    return { kind: 'table', source: 'mqtt' };
  }

  #settle(held: ReadonlyArray<Held>, outcome: Outcome): void {
    if (outcome.kind === 'release') return; // no PUBACK: the broker redelivers on reconnect
    let late = false;
    for (const h of held) {
      if (h.messageId === 0) continue;
      // A PUBACK on a newer connection would acknowledge a different delivery: the broker
      // redelivers this one instead, and it is recognised by its packet id.
      if (h.generation === this.#generation) {
        this.#puback(h.messageId);
      } else {
        this.#committedUnacked.add(h.messageId);
        late = true;
      }
    }
    if (late) this.#dropCommittedRedeliveries();
  }

  /** Redeliveries that arrived before their first delivery's batch committed: acknowledged, not processed. */
  #dropCommittedRedeliveries(): void {
    this.#buffer = this.#buffer.filter((h) => {
      if (!h.dup || h.generation !== this.#generation || !this.#committedUnacked.delete(h.messageId)) return true;
      this.#puback(h.messageId);
      return false;
    });
    this.#resumeIfRoom();
  }

  /** Acknowledges a delivery of the current connection (the library's own PUBACKs are held back). */
  #puback(messageId: number): void {
    this.#send!({ cmd: 'puback', messageId, reasonCode: 0 });
  }

  /** Lets mqtt.js read the socket again once the buffer has room. */
  #resumeIfRoom(): void {
    const resume = this.#resumeReading;
    if (resume !== undefined && this.#buffer.length < this.#s.receiveMaximum) {
      this.#resumeReading = undefined;
      resume();
    }
  }

  async close(): Promise<void> {
    await this.#client?.endAsync().catch(() => undefined);
  }
}
