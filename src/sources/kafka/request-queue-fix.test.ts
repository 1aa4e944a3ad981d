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
  const throttled = queue({ pending: 0, throttledForMs: 20 });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    RequestQueue.prototype.scheduleCheckPendingRequests.call(waiting);
    assert.notEqual(waiting.throttleCheckTimeoutId, null);
    RequestQueue.prototype.scheduleCheckPendingRequests.call(throttled);
    assert.notEqual(throttled.throttleCheckTimeoutId, null);
    // Until both were checked and the throttle's timer is gone. A loaded machine fires timers
    // late, and one may fire a hair before Date.now() passes the throttle (it is armed again);
    // the deadline only ends a hang.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      if (waiting.checks > 0 && throttled.checks > 0 && throttled.throttleCheckTimeoutId === null) break;
      await sleep(5);
    }
    assert.ok(waiting.checks >= 1, 'the waiting request was checked');
    assert.ok(throttled.checks >= 1, 'checked once the throttle ended');
    assert.equal(throttled.throttleCheckTimeoutId, null, 'then no timer');
    const checks = throttled.checks;
    await sleep(30);
    assert.equal(throttled.checks, checks, 'and no check after it');
  } finally {
    // A failed assertion must not leave the waiting queue re-arming its timer (the file would never exit).
    waiting.pending.length = 0;
    clearTimeout(waiting.throttleCheckTimeoutId ?? undefined);
    clearTimeout(throttled.throttleCheckTimeoutId ?? undefined);
  }
});
