import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRetries, retryDelay, type RetrySettings } from './retry-worker.ts';
import { matches, replayHeaders, tenantOf, type DeadLetterRecord } from './types.ts';

const S: RetrySettings = { enabled: true, maxRetries: 3, initialDelayMs: 1000, maxDelayMs: 5000, intervalMs: 100 };
const rec = (over: Partial<DeadLetterRecord>): DeadLetterRecord => ({
  ref: 'x', kind: 'amqp', dlq: 'q', route: 'r', body: Buffer.from('{}'), headers: {}, errorClass: 'poison', errorCode: 'INGESTD_ERR_DB_REJECTED',
  reason: 'database rejected the data', attempts: 1, firstFailedAt: undefined, deadLetteredAt: 0, tenant: undefined, ...over,
});

test('retry delays double from the first and stop at the ceiling', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelay(a, S)), [1000, 2000, 4000, 5000, 5000]);
});

test('poison is retried when due, exhausted past DLQ_MAX_RETRIES; structural waits for an operator', () => {
  const plan = planRetries([
    rec({ ref: 'due', attempts: 2, deadLetteredAt: 0 }),
    rec({ ref: 'waiting', attempts: 2, deadLetteredAt: 9_500 }),
    rec({ ref: 'last-retry', attempts: 3, deadLetteredAt: 0 }),
    rec({ ref: 'done', attempts: 4, deadLetteredAt: 9_999 }),
    rec({ ref: 'structural', errorClass: 'structural', attempts: 9 }),
  ], S, 10_000);
  assert.deepEqual(plan.retry.map((r) => r.ref), ['due', 'last-retry']);
  assert.deepEqual(plan.exhaust.map((r) => r.ref), ['done']);
});

test('filters, tenant and replay headers', () => {
  const r = rec({ reason: '/data: must have required property \'message_id\'', tenant: 'acme', deadLetteredAt: 5000, errorClass: 'structural' });
  assert.ok(matches(r, { reason: /message_id/, tenant: 'ACME', since: 5000, until: 5001, errorClass: 'structural' }));
  assert.ok(!matches(r, { since: 5001 }));
  assert.ok(!matches(r, { errorClass: 'poison' }));
  assert.equal(tenantOf(Buffer.from('{"tenant_id":"T1"}'), 'x'), 't1');
  assert.equal(tenantOf(Buffer.from('not json'), 'v1.chats.upsert.AcmeCo'), 'acmeco');
  // A malformed message's tenant field is not taken for a tenant.
  assert.equal(tenantOf(Buffer.from('{"tenant_id":"t1\'; DROP TABLE x; --"}'), 'x'), undefined);
  assert.equal(tenantOf(Buffer.from(JSON.stringify({ company_id: 'a'.repeat(65) })), 'x'), undefined);
  assert.equal(tenantOf(Buffer.from('{"tenant_id":"acme:eu-1"}'), 'x'), 'acme:eu-1');
  assert.equal(tenantOf(Buffer.from('null'), 'v1.chats.upsert.a b'), undefined);
  assert.deepEqual(replayHeaders({ 'x-error-class': 'poison', 'x-error-reason': 'r', 'x-original-source': 'q', 'x-attempts': '2', 'x-first-failed-at': 't', 'trace': '1' }),
    { 'x-attempts': '2', 'x-first-failed-at': 't', trace: '1' });
});
