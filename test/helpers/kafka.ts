import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { readRanges } from '../../src/sources/kafka/read-range.ts';
import { fixKafkajsRequestQueue } from '../../src/sources/kafka/request-queue-fix.ts';

export const KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

fixKafkajsRequestQueue();

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

/** Every message of a topic up to its end now, read by offset without a consumer group (none left behind). */
export async function readTopic(topic: string): Promise<Array<{ key: string; value: Buffer; headers: Record<string, string> }>> {
  const admin = kafka.admin();
  await admin.connect();
  const ranges = (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, start: BigInt(p.low), end: BigInt(p.high) }));
  await admin.disconnect();
  const out: Array<{ key: string; value: Buffer; headers: Record<string, string> }> = [];
  await readRanges(kafka, ranges, (m) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = v.toString();
    out.push({ key: m.key?.toString() ?? '', value: m.value ?? Buffer.alloc(0), headers });
  });
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

/** The broker's consumer groups, by id. */
export async function groupIds(): Promise<Set<string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Set((await admin.listGroups()).groups.map((g) => g.groupId));
  } finally {
    await admin.disconnect();
  }
}

/**
 * The groups not in `before` that one test made, with the test's topics each committed offsets
 * on. Other test runs may share the broker, so a new group counts as the test's only when a
 * member carries its client id or it holds offsets on its topics.
 */
export async function groupsMadeBy(before: ReadonlySet<string>, clientId: string, topics: ReadonlyArray<string>): Promise<Array<{ groupId: string; topics: string[] }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const fresh = [...(await groupIds())].filter((g) => !before.has(g)).sort();
    const { groups } = await admin.describeGroups(fresh);
    const out: Array<{ groupId: string; topics: string[] }> = [];
    for (const g of groups) {
      const offsets = await admin.fetchOffsets({ groupId: g.groupId, topics: [...topics] });
      const committed = offsets.filter((t) => t.partitions.some((p) => p.offset !== '-1')).map((t) => t.topic).sort();
      if (committed.length > 0 || g.members.some((m) => m.clientId.startsWith(clientId))) out.push({ groupId: g.groupId, topics: committed });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** The end offset of each partition of a topic. */
export async function endOffsets(topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Deletes a partition's records below `offset` (as retention does): its log start moves up. */
export async function deleteRecordsBefore(topic: string, partition: number, offset: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [topic] }); // deleteTopicRecords needs the leaders known
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(offset) }] });
  } finally {
    await admin.disconnect();
  }
}

/** Writes a message in a transaction and aborts it: the partition then ends in records no reader may see. */
export async function produceAborted(topic: string, partition: number, body: Buffer): Promise<void> {
  const producer = kafka.producer({ transactionalId: `test-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const tx = await producer.transaction();
    await tx.send({ topic, acks: -1, messages: [{ partition, value: body }] });
    await tx.abort();
  } finally {
    await producer.disconnect();
  }
}

/** Removes what one test's workers left: their group and the topics named with its prefix. */
export async function dropKafkaLeftovers(groupId: string, topicPrefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteGroups([groupId]).catch(() => undefined); // absent when the worker never joined
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(topicPrefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
