import { createRequire } from 'node:module';
import type { IHeaders, Kafka } from 'kafkajs';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';

// kafkajs has no manual partition assignment (tulios/kafkajs#373, open since 2019): each of its
// consumers joins a consumer group, and a group outlives its reader on the broker. Reading a
// range without one means sending Fetch requests ourselves, through the cluster client and
// record filtering kafkajs' own consumer uses. Neither is public API: both are kafkajs 2.2.4
// internals (the last release; package-lock pins it), checked for at first use.

/** One partition's offsets to read: [start, end). */
export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly start: bigint;
  readonly end: bigint;
}

export interface RangeRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Epoch milliseconds, as a decimal string. */
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
}

interface RawRecord extends Omit<RangeRecord, 'topic' | 'partition'> {
  /** Absent for the pre-0.11 message format. */
  readonly batchContext?: { readonly firstOffset: string; readonly lastOffsetDelta: number };
}

interface PartitionData {
  readonly partition: number;
  readonly messages: RawRecord[];
}

interface Broker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: PartitionData[] }> }>;
}

interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(o: { nodeId: string }): Promise<Broker>;
  fetchTopicsOffset(topics: Array<{ topic: string; partitions: Array<{ partition: number }>; fromBeginning: boolean }>): Promise<Array<{ partitions: Array<{ offset: string }> }>>;
}

type BatchClass = new (topic: string, fetchedOffset: string, data: PartitionData) => { messages: RawRecord[] };

const READ_COMMITTED = 1;
// kafkajs' consumer default per partition; a larger first batch still comes whole (KIP-74).
const FETCH_MAX_BYTES = 1_048_576;
// The broker answers at once while records are there; an empty answer costs this wait.
const FETCH_MAX_WAIT_MS = 100;
const ATTEMPTS = 5;

/**
 * kafkajs' cluster client, made by the Kafka client (its brokers, TLS, SASL and logger; no topic
 * auto-creation), and the consumer's batch, which drops records before the fetch offset,
 * control records and aborted transactions.
 */
function internals(kafka: Kafka): { cluster: Cluster; Batch: BatchClass } {
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (create === undefined) throw new Error('this kafkajs version lacks the cluster client ingestd reads dead letters with (written for kafkajs 2.2.4)');
  const factory = (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create]!;
  return {
    cluster: factory({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED }),
    Batch: createRequire(import.meta.url)('kafkajs/src/consumer/batch.js') as BatchClass,
  };
}

/**
 * Every record in the ranges, in offset order per partition, with no consumer group and no
 * state left on the broker (sessionless fetches). Stops at each range's end, so it finishes
 * whatever the partition holds: nothing, deleted records, control records, compaction gaps.
 */
export async function readRanges(kafka: Kafka, ranges: ReadonlyArray<PartitionRange>, onRecord: (r: RangeRecord) => void): Promise<void> {
  const todo = ranges.filter((r) => r.end > r.start);
  if (todo.length === 0) return;
  const { cluster, Batch } = internals(kafka);
  await cluster.connect();
  try {
    await cluster.addMultipleTargetTopics([...new Set(todo.map((r) => r.topic))]);
    for (const r of todo) await readPartition(cluster, Batch, r, onRecord);
  } finally {
    await cluster.disconnect();
  }
}

async function readPartition(cluster: Cluster, Batch: BatchClass, r: PartitionRange, onRecord: (r: RangeRecord) => void): Promise<void> {
  for (let offset = r.start, failures = 0; offset < r.end; ) {
    try {
      const data = await fetchPartition(cluster, r, offset);
      for (const m of new Batch(r.topic, String(offset), data).messages) {
        if (BigInt(m.offset) < r.end) onRecord({ topic: r.topic, partition: r.partition, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value, headers: m.headers });
      }
      offset = nextOffset(offset, data.messages);
      failures = 0;
    } catch (err) {
      const e = err as { type?: string; retriable?: boolean };
      if (e.type === 'OFFSET_OUT_OF_RANGE') {
        // Retention deleted records while we read: go on from the new log start.
        const start = await logStart(cluster, r);
        if (start <= offset) return; // the log was truncated below us: nothing left to read
        offset = start;
      } else if (e.retriable === true && ++failures < ATTEMPTS) {
        // A moved leader or a dropped connection: look the leader up again.
        await sleep(backoffDelay(failures, 200, 2_000));
        await cluster.refreshMetadata();
      } else {
        throw err;
      }
    }
  }
}

async function fetchPartition(cluster: Cluster, r: PartitionRange, offset: bigint): Promise<PartitionData> {
  const [nodeId] = Object.keys(cluster.findLeaderForPartitions(r.topic, [r.partition]));
  if (nodeId === undefined) throw Object.assign(new Error(`no leader known for ${r.topic} partition ${r.partition}`), { retriable: true });
  const broker = await cluster.findBroker({ nodeId });
  const { responses } = await broker.fetch({
    isolationLevel: READ_COMMITTED,
    maxWaitTime: FETCH_MAX_WAIT_MS,
    minBytes: 1,
    maxBytes: FETCH_MAX_BYTES,
    topics: [{ topic: r.topic, partitions: [{ partition: r.partition, fetchOffset: String(offset), maxBytes: FETCH_MAX_BYTES }] }],
  });
  return responses[0]?.partitions[0] ?? { partition: r.partition, messages: [] };
}

/**
 * Past the last record batch fetched: a batch keeps its last offset when compaction removes its
 * records, and a control batch has no record to deliver. One offset on when nothing came back
 * (a batch compaction emptied), so the read always moves towards the range's end.
 */
export function nextOffset(offset: bigint, fetched: ReadonlyArray<Pick<RawRecord, 'offset' | 'batchContext'>>): bigint {
  let next = offset + 1n;
  for (const m of fetched) {
    const last = m.batchContext === undefined ? BigInt(m.offset) : BigInt(m.batchContext.firstOffset) + BigInt(m.batchContext.lastOffsetDelta);
    if (last + 1n > next) next = last + 1n;
  }
  return next;
}

async function logStart(cluster: Cluster, r: PartitionRange): Promise<bigint> {
  const [t] = await cluster.fetchTopicsOffset([{ topic: r.topic, partitions: [{ partition: r.partition }], fromBeginning: true }]);
  return BigInt(t?.partitions[0]?.offset ?? '0');
}
