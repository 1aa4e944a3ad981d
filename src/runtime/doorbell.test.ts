import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchesOf, Doorbell } from './doorbell.ts';

test('a ring before the wait is not lost', async () => {
  const bell = new Doorbell();
  bell.ring();
  await bell.wait(new AbortController().signal); // resolves at once
});

test('waits end on ring, abort or timeout and leave no abort listener behind', async () => {
  const bell = new Doorbell();
  const ac = new AbortController();
  let listeners = 0;
  const signal = new Proxy(ac.signal, {
    get(target, prop) {
      if (prop === 'addEventListener') return (...a: Parameters<AbortSignal['addEventListener']>) => { listeners++; target.addEventListener(...a); };
      if (prop === 'removeEventListener') return (...a: Parameters<AbortSignal['removeEventListener']>) => { listeners--; target.removeEventListener(...a); };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  for (let i = 0; i < 100; i++) {
    const w = bell.wait(signal);
    bell.ring();
    await w;
  }
  await bell.wait(signal, 5);
  assert.equal(listeners, 0);
  const w = bell.wait(signal);
  ac.abort();
  await w;
  assert.equal(listeners, 0);
});

test('batchesOf yields what arrived, at most max at a time', async () => {
  const bell = new Doorbell();
  const ac = new AbortController();
  const buffer: number[] = [];
  const got: number[][] = [];
  const consuming = (async () => {
    for await (const b of batchesOf(() => buffer, 3, bell, ac.signal)) {
      got.push(b);
      if (got.flat().length === 5) ac.abort();
    }
  })();
  buffer.push(1, 2, 3, 4);
  bell.ring();
  await new Promise((r) => setTimeout(r, 5));
  buffer.push(5);
  bell.ring();
  await consuming;
  assert.deepEqual(got, [[1, 2, 3], [4], [5]]);
});
