import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fixKafkajsRequestQueue } from './request-queue-fix.ts';

fixKafkajsRequestQueue();
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
  prototype: { scheduleCheckPendingRequests(this: object): void };
};

/** The fields scheduleCheckPendingRequests reads, and a count of the checks it arms. */
function queue(o: { pending: number; throttledForMs: number }) {
  const q = {
    throttledUntil: o.throttledForMs > 0 ? Date.now() + o.throttledForMs : -1,
    pending: Array.from({ length: o.pending }, () => ({})),
    throttleCheckTimeoutId: null as NodeJS.Timeout | null,
    checks: 0,
    checkPendingRequests() {
      this.checks++;
      RequestQueue.prototype.scheduleCheckPendingRequests.call(this);
    },
  };
  return q;
}

test('an idle, unthrottled request queue arms no timer (kafkajs re-armed a 1 ms one forever)', async () => {
  const q = queue({ pending: 0, throttledForMs: 0 });
  q.checkPendingRequests();
  assert.equal(q.throttleCheckTimeoutId, null);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(q.checks, 1);
});

test('requests waiting are checked again after 10 ms, and after a throttle ends', async () => {
  const waiting = queue({ pending: 1, throttledForMs: 0 });
  RequestQueue.prototype.scheduleCheckPendingRequests.call(waiting);
  assert.notEqual(waiting.throttleCheckTimeoutId, null);
  const throttled = queue({ pending: 0, throttledForMs: 20 });
  RequestQueue.prototype.scheduleCheckPendingRequests.call(throttled);
  assert.notEqual(throttled.throttleCheckTimeoutId, null);
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(waiting.checks >= 1, 'the waiting request was checked');
  assert.equal(throttled.checks, 1, 'checked once the throttle ended, then no timer');
  assert.equal(throttled.throttleCheckTimeoutId, null);
  clearTimeout(waiting.throttleCheckTimeoutId ?? undefined);
});
