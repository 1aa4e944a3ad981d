import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPacer } from './pacer.ts';
import type { PacerOptions } from './pacer.ts';

/** A pacer on a fake clock: sleeping advances the clock, nothing waits for real. */
const fake = (o: Partial<PacerOptions> & { rate: number }) => {
  const clock = { t: 1000, slept: [] as number[] };
  const pace = createPacer({
    limit: Number.POSITIVE_INFINITY,
    deadline: Number.POSITIVE_INFINITY,
    stopped: () => false,
    now: () => clock.t,
    sleep: async (ms) => {
      clock.slept.push(ms);
      clock.t += ms;
    },
    ...o,
  });
  return { pace, clock };
};

describe('createPacer', () => {
  it('at rate 0 grants whatever is asked, up to the limit, then 0', async () => {
    const { pace, clock } = fake({ rate: 0, limit: 1200 });
    assert.equal(await pace(500), 500);
    assert.equal(await pace(500), 500);
    assert.equal(await pace(500), 200);
    assert.equal(await pace(500), 0);
    assert.deepEqual(clock.slept, []);
  });

  it('hands out exactly rate × elapsed messages on the virtual clock', async () => {
    const { pace, clock } = fake({ rate: 100 });
    let granted = 0;
    while (clock.t < 1000 + 10_000) granted += await pace(500);
    // 100/s for 10 s, plus the one due at t = 0
    assert.ok(granted >= 1000 && granted <= 1001, `granted ${granted}`);
  });

  it('grants one message at a time when each is due, sleeping in between', async () => {
    const { pace, clock } = fake({ rate: 10 });
    assert.equal(await pace(500), 1);
    assert.equal(await pace(500), 1);
    assert.ok(clock.slept.length > 0 && clock.slept.every((ms) => ms >= 1 && ms <= 250), String(clock.slept));
    assert.ok(clock.t - 1000 >= 100 - 1e-9, `second grant at +${clock.t - 1000} ms`);
  });

  it('after a stall catches up by at most one second of traffic', async () => {
    const { pace, clock } = fake({ rate: 1000 });
    assert.equal(await pace(10_000), 1);
    clock.t += 60_000;
    assert.equal(await pace(10_000), 1000);
    assert.equal(await pace(10_000) <= 1, true);
  });

  it('never grants more than asked', async () => {
    const { pace, clock } = fake({ rate: 1000 });
    clock.t += 5000;
    assert.equal(await pace(7), 7);
  });

  it('returns 0 at the deadline', async () => {
    const { pace, clock } = fake({ rate: 10, deadline: 1500 });
    let granted = 0;
    for (let n = await pace(100); n > 0; n = await pace(100)) granted += n;
    assert.ok(clock.t >= 1500);
    assert.ok(granted >= 5 && granted <= 6, `granted ${granted}`);
  });

  it('returns 0 once stopped', async () => {
    let stopped = false;
    const { pace } = fake({ rate: 0, stopped: () => stopped });
    assert.equal(await pace(3), 3);
    stopped = true;
    assert.equal(await pace(3), 0);
  });
});
