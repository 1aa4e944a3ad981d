import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, sleep } from './backoff.ts';

test('backoff grows exponentially up to the cap', () => {
  const top = () => 1;
  assert.equal(backoffDelay(0, 100, 5000, top), 100);
  assert.equal(backoffDelay(1, 100, 5000, top), 200);
  assert.equal(backoffDelay(3, 100, 5000, top), 800);
  assert.equal(backoffDelay(20, 100, 5000, top), 5000);
});

test('jitter never goes below half the initial delay', () => {
  assert.equal(backoffDelay(5, 100, 5000, () => 0), 50);
});

test('sleep returns early on abort', async () => {
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 10);
  await sleep(10_000, ac.signal);
  assert.ok(Date.now() - started < 5_000);
});
