import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { recordOf, replayHeaders, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

/**
 * `<topic>.dlq` topics. Kafka cannot delete one record, so replayed and purged dead letters
 * are noted in ingestd_dlq_handled and left out of later listings.
 */
export class KafkaDeadLetters implements DeadLetterQueue {
  readonly kind = 'kafka';
  readonly #kafka: Kafka;
  readonly #topics: ReadonlyArray<string>;
  readonly #pool: pg.Pool;

  constructor(kafka: Kafka, sourceTopics: ReadonlyArray<string>, pool: pg.Pool) {
    this.#kafka = kafka;
    this.#topics = sourceTopics.map((t) => `${t}.dlq`);
    this.#pool = pool;
  }

  get name(): string {
    return this.#topics.join(', ');
  }

  async list(): Promise<DeadLetterRecord[]> {
    const admin = this.#kafka.admin();
    await admin.connect();
    const ends = new Map<string, Map<number, bigint>>();
    try {
      const existing = new Set(await admin.listTopics());
      for (const t of this.#topics.filter((x) => existing.has(x))) {
        ends.set(t, new Map((await admin.fetchTopicOffsets(t)).filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)])));
      }
    } finally {
      await admin.disconnect();
    }
    const { rows } = await this.#pool.query<{ k: string }>(`SELECT topic || ':' || partition || ':' || "offset" AS k FROM ingestd_dlq_handled WHERE topic = ANY($1::text[])`, [[...ends.keys()]]);
    const handled = new Set(rows.map((r) => r.k));
    const out: DeadLetterRecord[] = [];
    const pending = new Set([...ends].flatMap(([t, ps]) => [...ps.keys()].map((p) => `${t}:${p}`)));
    if (pending.size === 0) return out;
    const consumer = this.#kafka.consumer({ groupId: `ingestd-dlq-${randomBytes(4).toString('hex')}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [...ends.keys()], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('reading the dead-letter topics timed out')), 60_000);
        void consumer.run({
          eachMessage: async ({ topic, partition, message }) => {
            const key = `${topic}:${partition}:${message.offset}`;
            if (!handled.has(key)) {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
              out.push(recordOf({
                ref: `kafka:${key}`, kind: 'kafka', dlq: topic, route: headers['x-original-source'] ?? topic.replace(/\.dlq$/, ''),
                body: message.value ?? Buffer.alloc(0), headers, deadLetteredAt: Number(message.timestamp),
              }));
            }
            if (BigInt(message.offset) + 1n >= (ends.get(topic)?.get(partition) ?? 0n)) pending.delete(`${topic}:${partition}`);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    return out;
  }

  async publish(records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<void> {
    if (records.length === 0) return;
    const producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const r of records) {
        await producer.send({ topic: r.route, acks: -1, messages: [{ value: bodies?.get(r.ref) ?? r.body, headers: replayHeaders(r.headers) }] });
      }
    } finally {
      await producer.disconnect();
    }
  }

  async remove(records: ReadonlyArray<DeadLetterRecord>): Promise<number> {
    if (records.length === 0) return 0;
    const parts = records.map((r) => r.ref.split(':'));
    const res = await this.#pool.query(
      `INSERT INTO ingestd_dlq_handled (topic, partition, "offset") SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) ON CONFLICT DO NOTHING`,
      [parts.map((p) => p.slice(1, -2).join(':')), parts.map((p) => Number(p.at(-2))), parts.map((p) => p.at(-1)!)],
    );
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {}
}
