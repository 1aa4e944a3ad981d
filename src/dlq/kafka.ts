import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { readRanges, type PartitionRange, type RangeRecord } from '../sources/kafka/read-range.ts';
import { recordOf, replayHeaders, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

const positionOf = (m: RangeRecord): string => `${m.topic}:${m.partition}:${m.offset}`;

function deadLetterOf(m: RangeRecord): DeadLetterRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = v.toString();
  return recordOf({
    ref: `kafka:${positionOf(m)}`, kind: 'kafka', dlq: m.topic, route: headers['x-original-source'] ?? m.topic.replace(/\.dlq$/, ''),
    body: m.value ?? Buffer.alloc(0), headers, deadLetteredAt: Number(m.timestamp),
  });
}

/**
 * `<topic>.dlq` topics, read by offset from each partition's log start without a consumer group
 * (one per scan would stay on the broker for good). Kafka cannot delete one record, so replayed
 * and purged dead letters are noted in ingestd_dlq_handled and left out of later listings.
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
    const ranges = await this.#ranges();
    const { rows } = await this.#pool.query<{ k: string }>(`SELECT topic || ':' || partition || ':' || "offset" AS k FROM ingestd_dlq_handled WHERE topic = ANY($1::text[])`, [[...new Set(ranges.map((r) => r.topic))]]);
    const handled = new Set(rows.map((r) => r.k));
    const out: DeadLetterRecord[] = [];
    await readRanges(this.#kafka, ranges, (m) => {
      if (!handled.has(positionOf(m))) out.push(deadLetterOf(m));
    });
    return out;
  }

  /** Every partition of the dead-letter topics that exist, from its log start to its end now. */
  async #ranges(): Promise<PartitionRange[]> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const ranges: PartitionRange[] = [];
      for (const topic of this.#topics.filter((t) => existing.has(t))) {
        for (const p of await admin.fetchTopicOffsets(topic)) ranges.push({ topic, partition: p.partition, start: BigInt(p.low), end: BigInt(p.high) });
      }
      return ranges;
    } finally {
      await admin.disconnect();
    }
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
