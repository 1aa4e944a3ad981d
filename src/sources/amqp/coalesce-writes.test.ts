import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { coalesceWrites, socketOf } from './coalesce-writes.ts';

/** A sink that records each system-call-like write: one entry per _write, and per _writev. */
function sink(): { stream: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      calls.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      cb();
    },
  });
  return { stream, calls };
}

test('frames written in one turn of the event loop go out in one writev, in order', async () => {
  const { stream, calls } = sink();
  coalesceWrites(stream);
  for (const f of ['a', 'b', 'c']) stream.write(Buffer.from(f));
  assert.deepEqual(calls, [], 'held until the next turn');
  await new Promise((r) => setImmediate(r));
  stream.write(Buffer.from('d'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [['a', 'b', 'c'], ['d']]);
});

test('without coalescing, the same frames are three writes (what amqplib does)', async () => {
  const { stream, calls } = sink();
  for (const f of ['a', 'b', 'c']) stream.write(Buffer.from(f));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 3);
});

test('socketOf finds the socket of an amqplib connection, and nothing in anything else', () => {
  const { stream } = sink();
  assert.equal(socketOf({ connection: { stream } }), stream);
  assert.equal(socketOf({ connection: {} }), undefined);
  assert.equal(socketOf({}), undefined);
});
