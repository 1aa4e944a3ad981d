import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { observeMany } from './observe-many.ts';

const histogram = (registry: Registry): Histogram<'domain'> =>
  new Histogram({ name: 'h', help: 'h', labelNames: ['domain'], buckets: [0.01, 0.1, 1], registers: [registry] });

test('observeMany exports what as many observe calls export', async () => {
  const [a, b] = [new Registry(), new Registry()];
  const [many, one] = [histogram(a), histogram(b)];
  const cases: Array<[string, number, number]> = [['x', 0.05, 7], ['x', 0.5, 1], ['y', 3, 4], ['x', 0.01, 3], ['y', 0.001, 2]];
  for (const [domain, value, count] of cases) {
    observeMany(many, { domain }, value, count);
    for (let i = 0; i < count; i++) one.observe({ domain }, value);
  }
  observeMany(many, { domain: 'z' }, 1, 0);
  const [got, want] = [(await many.get()).values, (await one.get()).values];
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual({ ...got[i], value: undefined }, { ...want[i], value: undefined });
    assert.ok(Math.abs(got[i]!.value - want[i]!.value) < 1e-12, `${want[i]!.metricName} ${JSON.stringify(want[i]!.labels)}`);
  }
});

test('observeMany validates like observe', () => {
  const h = histogram(new Registry());
  assert.throws(() => observeMany(h, { domain: 'x' }, Number.NaN, 3));
  assert.throws(() => observeMany(h, { nope: 'x' } as never, 1, 3));
});
