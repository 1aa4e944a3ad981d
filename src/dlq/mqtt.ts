import mqtt from 'mqtt';
import type pg from 'pg';
import type { MqttSettings } from '../config/index.ts';
import { mqttConnection } from '../sources/mqtt/connection.ts';
import { recordOf, replayHeaders, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

/** ingestd_dead_letters (MQTT has no DLQ): replay publishes QoS 1 to the original topic, then deletes the row. */
export class MqttDeadLetters implements DeadLetterQueue {
  readonly kind = 'mqtt';
  readonly name = 'ingestd_dead_letters';
  readonly #s: MqttSettings;
  readonly #pool: pg.Pool;

  constructor(settings: MqttSettings, pool: pg.Pool) {
    this.#s = settings;
    this.#pool = pool;
  }

  async list(): Promise<DeadLetterRecord[]> {
    const { rows } = await this.#pool.query<{ id: string; route: string; body: Buffer; headers: Record<string, string>; created_at: string | Date }>(
      "SELECT id::text, route, body, headers, created_at FROM ingestd_dead_letters WHERE source = 'mqtt' ORDER BY id",
    );
    return rows.map((r) => recordOf({ ref: `mqtt:ingestd_dead_letters:${r.id}`, kind: 'mqtt', dlq: 'ingestd_dead_letters', route: r.route, body: r.body, headers: r.headers, deadLetteredAt: Date.parse(String(r.created_at)) }));
  }

  async publish(records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<void> {
    if (records.length === 0) return;
    const { url, options } = mqttConnection(this.#s);
    const client = await mqtt.connectAsync(url, { ...options, clientId: `${this.#s.clientId}-dlq`, clean: true, protocolVersion: 5 });
    try {
      for (const r of records) {
        await client.publishAsync(r.route, bodies?.get(r.ref) ?? r.body, { qos: 1, properties: { userProperties: replayHeaders(r.headers) } });
      }
    } finally {
      await client.endAsync();
    }
  }

  async remove(records: ReadonlyArray<DeadLetterRecord>): Promise<number> {
    if (records.length === 0) return 0;
    const r = await this.#pool.query('DELETE FROM ingestd_dead_letters WHERE id = ANY($1::bigint[])', [records.map((x) => x.ref.split(':').at(-1)!)]);
    return r.rowCount ?? 0;
  }

  async close(): Promise<void> {}
}
