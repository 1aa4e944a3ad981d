import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IngestError } from '../../runtime/errors.ts';
import { decodeChatEvent } from './decode.ts';
import { chatFilter, parseChatSubject } from './subjects.ts';

const body = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc));
const msg = { message_id: 'm1', chat_id: 'c1', from_me: true, type: 'text', body: 'hi', status: 'sent', sent_at: '2026-01-01T10:00:00Z', updated_at: '2026-01-01T10:00:01Z' };
const env = (over: Record<string, unknown> = {}) => ({ event_id: 'e-1', type: 'messages.upsert', company_id: 'AcmeCo', occurred_at: '2026-01-01T10:00:02Z', data: msg, ...over });

function refused(subject: string, doc: unknown, reason: RegExp): void {
  assert.throws(() => decodeChatEvent(subject, body(doc)), (err: unknown) => {
    assert.ok(err instanceof IngestError && err.errorClass === 'structural');
    assert.match(err.message, reason);
    return true;
  });
}

test('subjects: realtime and history routes, and the deployment filter', () => {
  assert.deepEqual(parseChatSubject('v1.messages.upsert.AcmeCo'), { mode: 'upsert', entity: 'messages', companyId: 'AcmeCo' });
  assert.deepEqual(parseChatSubject('v1.history.chats.acme'), { mode: 'history', entity: 'chats', companyId: 'acme' });
  assert.equal(parseChatSubject('v1.orders.upsert.acme'), null);
  assert.equal(parseChatSubject('v2.chats.upsert.acme'), null);
  assert.equal(chatFilter(undefined), 'v1.>');
  assert.equal(chatFilter('acme'), 'v1.*.*.acme');
});

test('a realtime message event: one item, tenant schema lowercased', () => {
  const { messageId, value } = decodeChatEvent('v1.messages.upsert.AcmeCo', body(env()));
  assert.equal(messageId, 'acmeco:e-1');
  assert.equal(value.schema, 'tenant_acmeco');
  assert.equal(value.items.length, 1);
  assert.equal(value.items[0]!.id, 'm1');
  assert.equal(value.items[0]!.updatedAt, Date.parse('2026-01-01T10:00:01Z'));
});

test('schema violations give the JSON Pointer and the missing property', () => {
  const { message_id: _, ...noId } = msg;
  refused('v1.messages.upsert.AcmeCo', env({ data: noId }), /^\/data: must have required property 'message_id'$/);
  refused('v1.messages.upsert.AcmeCo', env({ data: { ...msg, status: 'lost' } }), /^\/data\/status: must be equal to one of the allowed values$/);
  refused('v1.messages.upsert.AcmeCo', env({ data: { ...msg, from_me: 'yes' } }), /^\/data\/from_me: must be boolean,null$/);
  refused('v1.messages.upsert.AcmeCo', env({ data: { ...msg, updated_at: 'yesterday' } }), /^\/data\/updated_at: must be an RFC 3339 date-time/);
  refused('v1.messages.upsert.AcmeCo', { type: 'messages.upsert' }, /^\/: must have required property 'event_id'$/);
});

test('tenant checks: malformed ids, subject/envelope mismatch, type/subject mismatch', () => {
  refused('v1.messages.upsert.Acme-Co', env(), /invalid company id in the subject/);
  refused('v1.messages.upsert.AcmeCo', env({ company_id: 'Other' }), /\/company_id: "Other" does not match the subject's company "AcmeCo"/);
  refused('v1.messages.upsert.AcmeCo', env({ company_id: 'a;drop' }), /\/company_id: must match/);
  refused('v1.messages.upsert.AcmeCo', env({ type: 'chats.upsert' }), /\/type: must be "messages.upsert"/);
  refused('v1.nope.upsert.AcmeCo', env(), /not a chat subject/);
  // Company ids are case-insensitive.
  assert.equal(decodeChatEvent('v1.messages.upsert.ACMECO', body(env())).value.companyId, 'acmeco');
});

test('history: invalid items are skipped and counted, the rest applies', () => {
  const items = [{ chat_id: 'c1', updated_at: '2026-01-01T00:00:00Z' }, { chat_id: 'c2' }, { chat_id: 'c3', name: 'x', updated_at: '2026-01-01T00:00:00Z' }];
  const { value } = decodeChatEvent('v1.history.chats.acme', body({ event_id: 'h1', type: 'history.chats', company_id: 'acme', occurred_at: '2026-01-01T00:00:00Z', data: items }));
  assert.equal(value.mode, 'history');
  assert.equal(value.itemsTotal, 3);
  assert.deepEqual(value.items.map((i) => i.id), ['c1', 'c3']);
  refused('v1.history.chats.acme', { event_id: 'h1', type: 'history.chats', company_id: 'acme', occurred_at: '2026-01-01T00:00:00Z', data: {} }, /^\/data: must be array$/);
});

test('timestamps PostgreSQL would refuse are structural, not a poisoned batch', () => {
  for (const updated_at of ['2026-01-01T10:00:01+16:00', '2026-01-01T10:00:01-23:59', '0000-12-31T23:00:00-02:00', '0000-01-01T00:00:00Z']) {
    refused('v1.messages.upsert.AcmeCo', env({ data: { ...msg, updated_at } }), /^\/data\/updated_at: must be an RFC 3339 date-time between 0001-01-01 and 9999-11-30 with an offset within ±15:59/);
  }
  assert.equal(decodeChatEvent('v1.messages.upsert.AcmeCo', body(env({ data: { ...msg, updated_at: '2026-01-01T10:00:01-15:59' } }))).value.items.length, 1);
  const history = decodeChatEvent('v1.history.messages.AcmeCo', body(env({ type: 'history.messages', data: [msg, { ...msg, message_id: 'm2', sent_at: '2026-01-01T10:00:00+16:00' }] })));
  assert.deepEqual([history.value.items.length, history.value.itemsTotal], [1, 2]);
});
