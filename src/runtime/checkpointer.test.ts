import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type pg from 'pg';
import { emptyStats, type ApplyResult, type DomainHandler, type KeyedState, type StateDelta } from '../domains/types.ts';
import type { DeliveryBatch, Source } from '../sources/types.ts';
import { Checkpointer, type CheckpointHost } from './checkpointer.ts';
import { createLogger } from './logger.ts';

/** A pool whose transactions succeed and record their statements. */
function fakePool(statements: string[]): pg.Pool {
  const client = { query: async (sql: string) => (statements.push(sql), { rows: [], rowCount: 0 }), release: () => undefined, on: () => client, off: () => client };
  return { connect: async () => client } as unknown as pg.Pool;
}

/** Keyed state of message counts per shard; the message 'boom' makes absorb throw halfway through. */
class CountingState implements KeyedState<string> {
  pending = new Map<string, string[]>();
  resets = 0;
  written: string[][] = [];
  async absorb(messages: ReadonlyArray<{ value: string }>, shard: string): Promise<void> {
    for (const m of messages) {
      if (m.value === 'boom') throw new Error('the domain could not take this message');
      this.pending.set(shard, [...(this.pending.get(shard) ?? []), m.value]);
    }
  }
  take(shards: ReadonlyArray<string>): StateDelta & { values: string[] } {
    const values = shards.flatMap((shard) => this.pending.get(shard) ?? []);
    for (const shard of shards) this.pending.delete(shard);
    return { messages: values.length, values };
  }
  async write(_tx: pg.PoolClient, delta: StateDelta): Promise<ApplyResult> {
    this.written.push((delta as StateDelta & { values: string[] }).values);
    return { outbound: [], stats: emptyStats() };
  }
  reset(): void {
    this.resets++;
    this.pending.clear();
  }
}

function batchOf(values: string[], settled: string[], at?: { partition: number; offset: number; backlog: number }): DeliveryBatch {
  const partition = at?.partition ?? 0;
  return {
    deliveries: values.map((v, i) => ({
      id: v, route: 't', body: Buffer.from(v), headers: {}, receivedAt: 0,
      origin: { partition, attempts: 1, ...(at === undefined ? {} : { offset: String(at.offset + i) }) },
    })),
    checkpoints: at === undefined ? [] : [{ source: 'kafka', stream: 't', partition, offset: String(at.offset + values.length) }],
    ...(at === undefined ? {} : { backlog: at.backlog }),
    settle: async (outcome) => {
      settled.push(`${values.join(',')}:${outcome.kind}`);
    },
  };
}

const silent = createLogger({ service: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function hostFor(handler: DomainHandler, careful: (b: DeliveryBatch) => Promise<'fenced' | undefined>): CheckpointHost {
  return {
    decode: (b) => ({ items: b.deliveries.map((d, index) => ({ handler, decoded: { index, delivery: d, messageId: d.id!, value: d.body.toString() } })), dead: [] }),
    summarize: (deliveries, decoded) => ({ perDomain: new Map(), receivedAt: new Float64Array(deliveries.length), decoded, dead: [] }),
    careful,
    committed: () => undefined,
    paused: () => undefined,
  };
}

test('a state whose first batch fails halfway is reset by the recovery: its half-absorbed messages are never written', async () => {
  const state = new CountingState();
  const handler = { name: 'counting', state, decode: () => ({ messageId: '', value: '' }), apply: async () => ({ outbound: [], stats: {} }) } as unknown as DomainHandler;
  const careful: string[][] = [];
  const settled: string[] = [];
  const host = hostFor(handler, async (b) => {
    careful.push(b.deliveries.map((d) => d.body.toString()));
    await b.settle({ kind: 'ack', deadLetter: [] });
    return undefined;
  });
  // A queue: no rewind, so what is recovered is replayed from memory on the careful path.
  const source = { name: 'q', kind: 'memory', partitioned: true } as unknown as Source;
  const statements: string[] = [];
  const checkpointer = new Checkpointer({
    source, pool: fakePool(statements), publisher: null, intervalMs: 1, maxMessages: 1000,
    retry: { initialMs: 1, maxMs: 2 }, log: silent, host,
  }, new AbortController().signal);

  await checkpointer.absorb(batchOf(['a', 'boom'], settled)); // 'a' absorbed, then the throw
  assert.equal(state.resets, 1, 'the recovery reset the state it had never committed for');
  assert.deepEqual(careful, [['a', 'boom']], 'the batch was replayed on the careful path');
  await checkpointer.absorb(batchOf(['b'], settled));
  await checkpointer.close();
  assert.deepEqual(state.written, [['b']], 'only the next batch was written from the state; "a" went through the careful path');
  assert.deepEqual(settled, ['a,boom:ack', 'b:ack']);
});

test('a careful-path batch that turns out fenced drops what other partitions hold before the source rewinds (held work would otherwise commit, then be read again)', async () => {
  const state = new CountingState();
  let refuse = true;
  const write = state.write.bind(state);
  // The first checkpoint finds its raw rows stored already: replayed on the careful path.
  state.write = async (tx, delta) => {
    if (refuse) {
      refuse = false;
      throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    }
    return write(tx, delta);
  };
  const handler = { name: 'counting', state, decode: () => ({ messageId: '', value: '' }), apply: async () => ({ outbound: [], stats: {} }) } as unknown as DomainHandler;
  const settled: string[] = [];
  let rewinds = 0;
  const source = { name: 't', kind: 'kafka', partitioned: true, rewind: async () => void rewinds++ } as unknown as Source;
  // Partition 0 was claimed by another worker meanwhile: its careful replay is fenced.
  const host = hostFor(handler, async (b) => {
    await b.settle({ kind: 'release' });
    return 'fenced';
  });
  const checkpointer = new Checkpointer({
    source, pool: fakePool([]), publisher: null, intervalMs: 60_000, maxMessages: 1000,
    retry: { initialMs: 1, maxMs: 2 }, log: silent, host,
  }, new AbortController().signal);

  await checkpointer.absorb(batchOf(['a0', 'a1'], settled, { partition: 0, offset: 0, backlog: 0 })); // caught up: commits at once, refused
  for (let i = 0; i < 100 && rewinds === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(rewinds, 1, 'the refused checkpoint rewound the source once');
  await checkpointer.absorb(batchOf(['q0'], settled, { partition: 1, offset: 0, backlog: 5 })); // held: partition 1 is behind
  assert.deepEqual(settled, ['a0,a1:release']);
  await checkpointer.absorb(batchOf(['a0', 'a1'], settled, { partition: 0, offset: 0, backlog: 0 })); // read again: careful, fenced
  assert.equal(rewinds, 2, 'the fenced replay rewound the source after the recovery');
  assert.deepEqual(settled, ['a0,a1:release', 'a0,a1:release', 'q0:release'], 'partition 1\'s held batch was dropped, to be read again');
  await checkpointer.close();
  assert.deepEqual(state.written, [], 'nothing held was committed');
});

test('work held behind a refused checkpoint is replayed once: the lane does not commit it again after the recovery', async () => {
  const state = new CountingState();
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  let calls = 0;
  state.write = async () => {
    calls++;
    await gate;
    throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
  };
  const handler = { name: 'counting', state, decode: () => ({ messageId: '', value: '' }), apply: async () => ({ outbound: [], stats: {} }) } as unknown as DomainHandler;
  const settled: string[] = [];
  let rewinds = 0;
  const source = { name: 't', kind: 'kafka', partitioned: true, rewind: async () => void rewinds++ } as unknown as Source;
  const checkpointer = new Checkpointer({
    source, pool: fakePool([]), publisher: null, intervalMs: 60_000, maxMessages: 1000,
    retry: { initialMs: 1, maxMs: 2 }, log: silent, host: hostFor(handler, async () => undefined),
  }, new AbortController().signal);

  await checkpointer.absorb(batchOf(['a'], settled, { partition: 0, offset: 0, backlog: 0 })); // caught up: its checkpoint starts at once
  await checkpointer.absorb(batchOf(['b'], settled, { partition: 0, offset: 1, backlog: 0 })); // held while the lane commits
  open(); // the first checkpoint is refused: both are released and read again
  for (let i = 0; i < 100 && rewinds === 0; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(rewinds, 1);
  assert.deepEqual(settled.sort(), ['a:release', 'b:release'], '"b" was released for the replay and never acknowledged by a second checkpoint');
  assert.equal(calls, 1, 'no checkpoint was written for the released work');
});

test('partitions that caught up while a checkpoint was in flight commit together, in one transaction; a partition with a backlog waits for its interval', async () => {
  const state = new CountingState();
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const write = state.write.bind(state);
  let first = true;
  state.write = async (tx, delta) => {
    if (first) {
      first = false;
      await gate;
    }
    return write(tx, delta);
  };
  const handler = { name: 'counting', state, decode: () => ({ messageId: '', value: '' }), apply: async () => ({ outbound: [], stats: {} }) } as unknown as DomainHandler;
  const settled: string[] = [];
  const statements: string[] = [];
  const source = { name: 't', kind: 'kafka', partitioned: true, rewind: async () => undefined } as unknown as Source;
  const checkpointer = new Checkpointer({
    source, pool: fakePool(statements), publisher: null, intervalMs: 60_000, maxMessages: 1000,
    retry: { initialMs: 1, maxMs: 2 }, log: silent, host: hostFor(handler, async () => undefined),
  }, new AbortController().signal);

  await checkpointer.absorb(batchOf(['a'], settled, { partition: 0, offset: 0, backlog: 0 })); // caught up: commits at once (held at the gate)
  await checkpointer.absorb(batchOf(['b'], settled, { partition: 1, offset: 0, backlog: 0 }));
  await checkpointer.absorb(batchOf(['c'], settled, { partition: 2, offset: 0, backlog: 0 }));
  await checkpointer.absorb(batchOf(['d'], settled, { partition: 0, offset: 1, backlog: 0 }));
  await checkpointer.absorb(batchOf(['e'], settled, { partition: 3, offset: 0, backlog: 7 })); // behind: its own checkpoint, after the interval
  assert.deepEqual(state.written, [], 'nothing committed while the first checkpoint is in flight');
  open();
  for (let i = 0; i < 200 && state.written.length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(state.written.map((v) => [...v].sort()), [['a'], ['b', 'c', 'd']], 'the three partitions that caught up meanwhile shared one checkpoint');
  assert.equal(statements.filter((q) => q === 'COMMIT').length, 2, 'two transactions, not four');
  assert.deepEqual(settled, ['a:ack', 'b:ack', 'c:ack', 'd:ack'], 'settled in the order taken; partition 3 still held');
  await checkpointer.close();
  assert.deepEqual(state.written.at(-1), ['e'], 'the partition behind committed at shutdown');
});
