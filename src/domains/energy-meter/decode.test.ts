import { test } from 'node:test';
import assert from 'node:assert/strict';
import sample from '../../../test/fixtures/energy-meter/reference.json' with { type: 'json' };
import { UTC } from '../../processors/timestamps.ts';
import { IngestError } from '../../runtime/errors.ts';
import { clientIdOf, decodeMeterMessage, readingIdOf } from './decode.ts';

const rules = { toleranceMs: 300_000, zone: UTC, maxNameLength: 100 };
const decode = (doc: unknown) => decodeMeterMessage(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), rules);

const rejects = (doc: unknown, pattern: RegExp) =>
  assert.throws(() => decode(doc), (err: unknown) => err instanceof IngestError && err.errorClass === 'structural' && pattern.test(err.message));

test('the reference message decodes into two readings', () => {
  const { messageId, value } = decode(sample);
  assert.equal(messageId, sample.request_id);
  assert.equal(value.clientId, clientIdOf('sha256_hash_of_device'));
  assert.equal(value.readings.length, 2);
  assert.deepEqual(value.readings.map((r) => r.reasons), [[], []]);
});

test('ids are deterministic', () => {
  assert.equal(clientIdOf('a'), clientIdOf('a'));
  assert.notEqual(readingIdOf('m', 0), readingIdOf('m', 1));
  assert.equal(readingIdOf('m', 0), readingIdOf('m', 0));
});

test('without request_id the message id is the hash of the body', () => {
  const { request_id: _, ...rest } = sample;
  const a = decode(rest);
  assert.match(a.messageId, /^sha256:[0-9a-f]{64}$/);
  assert.equal(a.messageId, decode(rest).messageId);
});

test('structural failures name what is wrong', () => {
  rejects('not json', /^not JSON/);
  rejects(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), /^not JSON/);
  assert.throws(() => decodeMeterMessage(Buffer.from([0x22, 0xc3, 0x28, 0x22]), rules), /not valid UTF-8/);
  rejects('[]', /^\/: must be object/);
  rejects({ ...sample, client_fingerprint: undefined }, /must have required property 'client_fingerprint'/);
  rejects({ ...sample, client_fingerprint: '' }, /^\/client_fingerprint: must NOT have fewer than 1 characters/);
  rejects({ ...sample, client_fingerprint: '   ' }, /^\/client_fingerprint: must match pattern/);
  rejects({ ...sample, client_fingerprint: 'x'.repeat(256) }, /^\/client_fingerprint: must NOT have more than 255 characters/);
  rejects({ ...sample, received_at: undefined }, /must have required property 'received_at'/);
  rejects({ ...sample, received_at: '29/12/2025 10:30:00' }, /^\/received_at: must be an RFC 3339 date-time/);
  rejects({ ...sample, payload: {} }, /^\/payload: must have required property 'PM'/);
  rejects({ ...sample, payload: { PM: {} } }, /^\/payload\/PM: must be array/);
  rejects({ ...sample, request_id: 12 }, /^\/request_id: must be string/);
});

test('an empty PM array is valid and has no readings', () => {
  assert.equal(decode({ ...sample, payload: { PM: [] } }).value.readings.length, 0);
});

test('received_at must be an instant PostgreSQL stores as written (0001-01-01 to 9999-11-30)', () => {
  rejects({ ...sample, received_at: '0000-06-01T00:00:00Z' }, /^\/received_at: must be an RFC 3339 date-time between 0001-01-01 and 9999-11-30/);
  rejects({ ...sample, received_at: '9999-12-31T23:59:59-01:00' }, /^\/received_at: must be an RFC 3339 date-time between 0001-01-01 and 9999-11-30/);
});

test('a reading date PostgreSQL cannot store is an invalid timestamp; the row keeps received_at', () => {
  const [r] = decode({ ...sample, payload: { PM: [{ date: '9999-12-31T23:59:59-00:01', data: '1', name: 'x' }] } }).value.readings;
  assert.deepEqual(r!.reasons, ['invalid timestamp format: 9999-12-31T23:59:59-00:01']);
  assert.equal(r!.timestamp, Date.parse(sample.received_at));
});

test('a number too large for a double is an invalid value, and the reason says so', () => {
  const [r] = decode(`{"client_fingerprint":"a","received_at":"2025-12-29T10:30:00Z","payload":{"PM":[{"date":"2025-12-29T10:30:00Z","data":1e400,"name":"x"}]}}`).value.readings;
  assert.equal(r!.value, null);
  assert.deepEqual(r!.reasons, ['invalid metric value: Infinity']);
});
