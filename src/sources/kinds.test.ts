import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeMatches } from './kinds.ts';

test('route patterns follow each broker\'s wildcards', () => {
  assert.ok(routeMatches('nats', 'v1.*.upsert.*', 'v1.chats.upsert.acme'));
  assert.ok(!routeMatches('nats', 'v1.*.upsert.*', 'v1.history.chats.acme'));
  assert.ok(routeMatches('nats', 'v1.>', 'v1.history.chats.acme'));
  assert.ok(!routeMatches('nats', 'v1.>', 'v1'), '> needs at least one token');
  assert.ok(routeMatches('amqp', 'meter.#', 'meter'), '# may match no token');
  assert.ok(routeMatches('amqp', 'meter.*.x', 'meter.a.x'));
  assert.ok(routeMatches('mqtt', 'plant/+/temp', 'plant/7/temp'));
  assert.ok(routeMatches('mqtt', 'plant/#', 'plant/7/temp'));
  assert.ok(!routeMatches('mqtt', 'plant/+', 'plant/7/temp'));
  assert.ok(!routeMatches('kafka', 'sensors.*', 'sensors.x'), 'Kafka topics match exactly');
  assert.ok(routeMatches('kafka', 'lab.results', 'lab.results'));
});
