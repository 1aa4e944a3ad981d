import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestError } from '../../runtime/errors.ts';
import { decodeGridReading, gridMessageIdOf, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, parseGridTimestamp } from './decode.ts';

const SAMPLE = {
  meter_id: 'M-0001', region: 'north', timestamp: '2026-01-05T10:00:01Z',
  power_kw: 3.2, voltage: 230.4, energy_kwh: 0.00089, interval_s: 1,
};
const T = Date.parse('2026-01-05T10:00:01Z');
const settings = { defaultIntervalS: 1 };

const decode = (doc: unknown) => decodeGridReading(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), settings);
const rejects = (doc: unknown, pattern: RegExp, code = 'INGESTD_ERR_SCHEMA') =>
  assert.throws(
    () => decode(doc),
    (err: unknown) => err instanceof IngestError && err.errorClass === 'structural' && err.code === code && pattern.test(err.message),
  );

test('the reference message decodes', () => {
  assert.deepEqual(decode(SAMPLE), {
    messageId: 'M-0001@' + T,
    value: { meterId: 'M-0001', region: 'north', timestampMs: T, powerKw: 3.2, voltage: 230.4, energyKwh: 0.00089, intervalS: 1 },
  });
});

test('the message id is the raw row key, so a resend is the same message', () => {
  assert.equal(decode(SAMPLE).messageId, decode({ ...SAMPLE, power_kw: 9 }).messageId);
  assert.equal(decode(SAMPLE).messageId, decode({ ...SAMPLE, timestamp: T }).messageId, 'same instant, other encoding');
  assert.equal(decode(SAMPLE).messageId, decode({ ...SAMPLE, timestamp: '2026-01-05T11:00:01+01:00' }).messageId);
  assert.notEqual(decode(SAMPLE).messageId, decode({ ...SAMPLE, meter_id: 'M-0002' }).messageId);
  assert.equal(gridMessageIdOf('a@b', -5), 'a@b@-5');
});

test('optional fields may be absent or null', () => {
  const { voltage: _v, energy_kwh: _e, interval_s: _i, ...bare } = SAMPLE;
  const a = decode(bare).value;
  assert.equal(a.voltage, null);
  assert.equal(a.energyKwh, null);
  assert.equal(a.intervalS, 1);
  const b = decode({ ...SAMPLE, voltage: null, energy_kwh: null, interval_s: null }).value;
  assert.deepEqual([b.voltage, b.energyKwh, b.intervalS], [null, null, 1]);
  assert.equal(decodeGridReading(Buffer.from(JSON.stringify(bare)), { defaultIntervalS: 10 }).value.intervalS, 10);
  assert.equal(decode({ ...SAMPLE, interval_s: 0.5 }).value.intervalS, 0.5);
  assert.equal(decode({ ...SAMPLE, energy_kwh: 0 }).value.energyKwh, 0);
});

test('the timestamp is RFC 3339, epoch ms, or a string of digits', () => {
  assert.equal(decode({ ...SAMPLE, timestamp: '2026-01-05T10:00:01.250Z' }).value.timestampMs, T + 250);
  assert.equal(decode({ ...SAMPLE, timestamp: '2026-01-05T12:00:01+02:00' }).value.timestampMs, T);
  assert.equal(decode({ ...SAMPLE, timestamp: T }).value.timestampMs, T);
  assert.equal(decode({ ...SAMPLE, timestamp: String(T) }).value.timestampMs, T);
  assert.equal(decode({ ...SAMPLE, timestamp: -86_400_000 }).value.timestampMs, -86_400_000, 'before 1970');
  assert.equal(decode({ ...SAMPLE, timestamp: '-86400000' }).value.timestampMs, -86_400_000);
  assert.equal(decode({ ...SAMPLE, timestamp: 0 }).messageId, 'M-0001@0');
  assert.equal(decode('{"meter_id":"M-0001","region":"north","timestamp":"-0","power_kw":1}').messageId, 'M-0001@0');
  assert.equal(decode({ ...SAMPLE, timestamp: 1767607201000.0 }).value.timestampMs, 1767607201000, '1.0 is an integer in JSON');
});

test('the timestamp range is what PostgreSQL stores as written, windows included', () => {
  assert.equal(parseGridTimestamp('0001-01-01T00:00:00Z'), MIN_TIMESTAMP_MS);
  // Valid RFC 3339, but PostgreSQL refuses year 0000: the batch would be rejected as poison.
  assert.equal(parseGridTimestamp('0000-01-01T00:00:00Z'), null);
  assert.equal(parseGridTimestamp('0001-01-01T00:00:00+00:01'), null);
  assert.equal(parseGridTimestamp('9999-11-30T23:59:59.999Z'), MAX_TIMESTAMP_MS);
  // Its 15-minute window would end in year 10000 (`+010000-…` to toISOString, refused by PostgreSQL).
  assert.equal(parseGridTimestamp('9999-12-31T23:59:59.999Z'), null);
  assert.equal(parseGridTimestamp(MIN_TIMESTAMP_MS - 1), null);
  assert.equal(parseGridTimestamp(MAX_TIMESTAMP_MS + 1), null);
  rejects({ ...SAMPLE, timestamp: 8_640_000_000_000_000 }, /^\/timestamp: must be an RFC 3339 date-time or integer epoch milliseconds/);
  rejects({ ...SAMPLE, timestamp: '99999999999999999' }, /^\/timestamp: /, 'INGESTD_ERR_SCHEMA');
});

test('an unparseable timestamp is structural', () => {
  rejects({ ...SAMPLE, timestamp: '05/01/2026 10:00:01' }, /^\/timestamp: must be an RFC 3339 date-time or integer epoch milliseconds between 0001-01-01 and 9999-11-30, got "05\/01\/2026 10:00:01"$/);
  rejects({ ...SAMPLE, timestamp: '2026-02-30T10:00:00Z' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: '2026-01-05T24:00:00Z' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: '2026-01-05 10:00:01' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: '' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: '1.7e12' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: '+1767607201000' }, /^\/timestamp: /);
  rejects({ ...SAMPLE, timestamp: 1767607201000.5 }, /^\/timestamp: must be string,integer/);
  rejects({ ...SAMPLE, timestamp: true }, /^\/timestamp: must be string,integer/);
});

test('a missing required field is structural and named', () => {
  for (const field of ['meter_id', 'region', 'timestamp', 'power_kw'] as const) {
    const { [field]: _, ...rest } = SAMPLE;
    rejects(rest, new RegExp(`^/: must have required property '${field}'$`));
  }
});

test('meter_id and region are non-empty strings of at most 255 characters', () => {
  for (const field of ['meter_id', 'region'] as const) {
    rejects({ ...SAMPLE, [field]: '' }, new RegExp(`^/${field}: must NOT have fewer than 1 characters`));
    rejects({ ...SAMPLE, [field]: '  \t' }, new RegExp(`^/${field}: must match pattern`));
    rejects({ ...SAMPLE, [field]: 'x'.repeat(256) }, new RegExp(`^/${field}: must NOT have more than 255 characters`));
    rejects({ ...SAMPLE, [field]: 42 }, new RegExp(`^/${field}: must be string`));
    rejects({ ...SAMPLE, [field]: 'a\u0000b' }, new RegExp(`^/${field}: must not contain U\\+0000`));
  }
  assert.equal(decode({ ...SAMPLE, meter_id: 'x'.repeat(255) }).value.meterId.length, 255);
});

test('numbers must be JSON numbers and finite', () => {
  rejects({ ...SAMPLE, power_kw: '3.2' }, /^\/power_kw: must be number$/);
  rejects({ ...SAMPLE, power_kw: null }, /^\/power_kw: must be number$/);
  rejects('{"meter_id":"M-1","region":"north","timestamp":0,"power_kw":1e999}', /^\/power_kw: must be number$/);
  rejects({ ...SAMPLE, voltage: '230' }, /^\/voltage: must be number,null$/);
  rejects({ ...SAMPLE, energy_kwh: '0.1' }, /^\/energy_kwh: must be number,null$/);
  rejects({ ...SAMPLE, interval_s: '1' }, /^\/interval_s: must be number,null$/);
  assert.equal(decode({ ...SAMPLE, power_kw: -1.5 }).value.powerKw, -1.5, 'negative power (export) is a value');
  assert.equal(decode({ ...SAMPLE, power_kw: 0 }).value.powerKw, 0);
});

test('energy must not be negative and the interval must be positive', () => {
  rejects({ ...SAMPLE, energy_kwh: -0.001 }, /^\/energy_kwh: must be >= 0$/);
  rejects({ ...SAMPLE, interval_s: 0 }, /^\/interval_s: must be > 0$/);
  rejects({ ...SAMPLE, interval_s: -1 }, /^\/interval_s: must be > 0$/);
});

test('not JSON, not UTF-8 or not an object is structural', () => {
  rejects('not json', /^not JSON/, 'INGESTD_ERR_NOT_JSON');
  rejects('{"meter_id":"M-1",', /^not JSON/, 'INGESTD_ERR_NOT_JSON');
  rejects('', /^not JSON/, 'INGESTD_ERR_NOT_JSON');
  assert.throws(
    () => decodeGridReading(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), settings),
    (err: unknown) => err instanceof IngestError && err.errorClass === 'structural' && /not valid UTF-8/.test(err.message),
  );
  rejects('[]', /^\/: must be object$/);
  rejects('null', /^\/: must be object$/);
  rejects('3.2', /^\/: must be object$/);
});

test('unknown properties are ignored, not refused', () => {
  assert.equal(decode({ ...SAMPLE, firmware: '2.1', phase: 3 }).value.meterId, 'M-0001');
});

test('strings are taken verbatim', () => {
  const r = decode({ ...SAMPLE, meter_id: ' M-0001 ', region: 'Nörth' }).value;
  assert.equal(r.meterId, ' M-0001 ');
  assert.equal(r.region, 'Nörth');
});

test('numbers that would overflow the window sums are structural', () => {
  rejects({ ...SAMPLE, power_kw: 1e308 }, /^\/power_kw: must be <= 1e\+100$/);
  rejects({ ...SAMPLE, power_kw: -1e308 }, /^\/power_kw: must be >= -1e\+100$/);
  rejects({ ...SAMPLE, energy_kwh: 1.7e308 }, /^\/energy_kwh: must be <= 1e\+100$/);
  rejects({ ...SAMPLE, interval_s: 1e300 }, /^\/interval_s: must be <= 1e\+100$/);
  assert.equal(decode({ ...SAMPLE, voltage: 1e308 }).value.voltage, 1e308, 'stored as is, never summed');
});

test('ids with a lone surrogate are structural: PostgreSQL text would store U+FFFD, merging two meters', () => {
  rejects('{"meter_id":"M-\\ud800","region":"north","timestamp":0,"power_kw":1}', /^\/meter_id: must not contain a lone surrogate/);
});
