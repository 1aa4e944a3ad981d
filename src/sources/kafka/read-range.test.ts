import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { nextOffset, readRanges } from './read-range.ts';

const inBatch = (offset: number, firstOffset: number, lastOffsetDelta: number) => ({ offset: String(offset), batchContext: { firstOffset: String(firstOffset), lastOffsetDelta } });

test('the next fetch starts past the last batch fetched, not just its last record', () => {
  assert.equal(nextOffset(10n, [inBatch(10, 10, 4), inBatch(11, 10, 4)]), 15n, 'compaction removed the batch\'s last records');
  assert.equal(nextOffset(12n, [inBatch(10, 10, 4), inBatch(11, 10, 4)]), 15n, 'a compressed batch starts before the fetch offset');
  assert.equal(nextOffset(20n, [inBatch(20, 20, 0), inBatch(21, 21, 0)]), 22n, 'an abort marker ends the partition');
  assert.equal(nextOffset(5n, [{ offset: '7' }]), 8n, 'the pre-0.11 format has no batches');
});

test('a fetch that returned nothing moves one offset on, so a read always reaches its end', () => {
  assert.equal(nextOffset(3n, []), 4n);
});

/** A partition's log as kafkajs' cluster client would serve it, from `logStart`; `fail` answers fetches first. */
function fakeKafka(o: { logStart: number; records: number; fail?: Array<object> }) {
  const calls = { fetches: [] as number[], refreshes: 0 };
  const fail = [...(o.fail ?? [])];
  const record = (offset: number) => ({
    offset: String(offset), timestamp: '0', key: null, value: Buffer.from(`v${offset}`), headers: {}, isControlRecord: false,
    batchContext: { firstOffset: String(offset), lastOffsetDelta: 0, producerId: '-1', inTransaction: false },
  });
  const cluster = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    addMultipleTargetTopics: async () => undefined,
    refreshMetadata: async () => { calls.refreshes++; },
    findLeaderForPartitions: () => ({ '1': [0] }),
    fetchTopicsOffset: async () => [{ partitions: [{ offset: String(o.logStart) }] }],
    findBroker: async () => ({
      fetch: async (req: { topics: Array<{ partitions: Array<{ fetchOffset: string }> }> }) => {
        const at = Number(req.topics[0]!.partitions[0]!.fetchOffset);
        calls.fetches.push(at);
        const err = fail.shift();
        if (err !== undefined) throw err;
        if (at < o.logStart) throw { type: 'OFFSET_OUT_OF_RANGE' };
        const messages = Array.from({ length: Math.max(0, Math.min(2, o.records - at)) }, (_, i) => record(at + i));
        return { responses: [{ topicName: 't', partitions: [{ partition: 0, highWatermark: String(o.records), messages }] }] };
      },
    }),
  };
  const kafka = { [Symbol('private:Kafka:createCluster')]: () => cluster } as unknown as Kafka;
  return { kafka, calls };
}

const read = async (kafka: Kafka, start: number, end: number) => {
  const got: string[] = [];
  await readRanges(kafka, [{ topic: 't', partition: 0, start: BigInt(start), end: BigInt(end) }], (r) => got.push(r.offset));
  return got;
};

test('a read stops at the end it was given, though the partition has grown since', async () => {
  const { kafka } = fakeKafka({ logStart: 0, records: 9 });
  assert.deepEqual(await read(kafka, 0, 5), ['0', '1', '2', '3', '4']);
});

test('records deleted by retention during a read: it goes on from the new log start', async () => {
  const { kafka, calls } = fakeKafka({ logStart: 3, records: 5 });
  assert.deepEqual(await read(kafka, 0, 5), ['3', '4']);
  assert.deepEqual(calls.fetches, [0, 3]);
});

test('a log truncated below the read ends it instead of looping', async () => {
  const { kafka } = fakeKafka({ logStart: 0, records: 2, fail: [{ type: 'OFFSET_OUT_OF_RANGE' }] });
  assert.deepEqual(await read(kafka, 0, 4), []);
});

test('a moved leader is looked up again; a lasting or fatal error fails the read', async () => {
  const moved = fakeKafka({ logStart: 0, records: 2, fail: [{ type: 'NOT_LEADER_FOR_PARTITION', retriable: true }] });
  assert.deepEqual(await read(moved.kafka, 0, 2), ['0', '1']);
  assert.equal(moved.calls.refreshes, 1);
  const gone = fakeKafka({ logStart: 0, records: 2, fail: Array.from({ length: 5 }, () => ({ type: 'NOT_LEADER_FOR_PARTITION', retriable: true })) });
  await assert.rejects(read(gone.kafka, 0, 2), { type: 'NOT_LEADER_FOR_PARTITION' });
  const denied = fakeKafka({ logStart: 0, records: 2, fail: [{ type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false }] });
  await assert.rejects(read(denied.kafka, 0, 2), { type: 'TOPIC_AUTHORIZATION_FAILED' });
});
