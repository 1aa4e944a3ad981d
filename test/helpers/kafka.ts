import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';

export const KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

const kafka = new Kafka({ clientId: 'ingestd-test', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });

/** Topic, group and output names unique to one test. */
export function uniqueKafkaNames(): Record<string, string> {
  const s = randomBytes(4).toString('hex');
  return {
    KAFKA_TOPIC: `t.${s}.raw`,
    KAFKA_GROUP_ID: `t.${s}.group`,
    GRID_AGGREGATES_TOPIC: `t.${s}.aggregates`,
    GRID_ALERTS_TOPIC: `t.${s}.alerts`,
  };
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Messages in a topic (end offsets summed; the test topics are never compacted). */
export async function topicSize(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Every message of a topic up to its current end, read from the beginning by a throwaway group. */
export async function readTopic(topic: string, timeoutMs = 60_000): Promise<Array<{ key: string; value: Buffer; headers: Record<string, string> }>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}` });
  const out: Array<{ key: string; value: Buffer; headers: Record<string, string> }> = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    if (remaining.size === 0) resolve();
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
        out.push({ key: message.key?.toString() ?? '', value: message.value ?? Buffer.alloc(0), headers });
        if (BigInt(message.offset) + 1n >= (ends.get(partition) ?? 0n)) remaining.delete(partition);
        if (remaining.size === 0) resolve();
      },
    });
  });
  const timer = new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`reading ${topic} timed out`)), timeoutMs).unref());
  try {
    await Promise.race([done, timer]);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Produces keyed messages in order (one producer: a key's messages keep their order). */
export async function produce(topic: string, messages: ReadonlyArray<{ key: string; body: Buffer }>): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 2000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 2000).map((m) => ({ key: m.key, value: m.body })) });
    }
  } finally {
    await producer.disconnect();
  }
}
