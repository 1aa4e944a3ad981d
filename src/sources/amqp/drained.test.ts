import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { drained } from './drained.ts';

test('a wait for drain ends when the channel closes instead (a publisher stalled on a dead socket)', async () => {
  const ch = new EventEmitter();
  const wait = drained(ch);
  ch.emit('close');
  await wait;
  assert.equal(ch.listenerCount('drain'), 0);
  assert.equal(ch.listenerCount('close'), 0);
});

test('a wait for drain ends on drain and leaves no listener behind', async () => {
  const ch = new EventEmitter();
  const wait = drained(ch);
  ch.emit('drain');
  await wait;
  assert.equal(ch.listenerCount('drain'), 0);
  assert.equal(ch.listenerCount('close'), 0);
});
