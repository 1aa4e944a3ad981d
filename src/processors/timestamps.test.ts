import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatSeconds, parseMeterTimestamp, parseRfc3339, parseZone, withinTolerance } from './timestamps.ts';

const at = (iso: string): number => Date.parse(iso);

test('DD/MM/YYYY HH:mm:ss is read as UTC', () => {
  assert.equal(parseMeterTimestamp('29/12/2025 10:29:55'), at('2025-12-29T10:29:55Z'));
});

test('DD HH:mm:ss/MM/YYYY is read as UTC', () => {
  assert.equal(parseMeterTimestamp('29 10:30:45/12/2025'), at('2025-12-29T10:30:45Z'));
});

test('RFC 3339 with Z, offsets and fractions', () => {
  assert.equal(parseMeterTimestamp('2025-12-29T10:30:45Z'), at('2025-12-29T10:30:45Z'));
  assert.equal(parseMeterTimestamp('2025-12-29T17:30:45+07:00'), at('2025-12-29T10:30:45Z'));
  assert.equal(parseMeterTimestamp('2025-12-29T05:00:45-05:30'), at('2025-12-29T10:30:45Z'));
  assert.equal(parseMeterTimestamp('2025-12-29T10:30:45.123456789Z'), at('2025-12-29T10:30:45.123Z'));
  assert.equal(parseMeterTimestamp('2025-12-29t10:30:45.5z'), at('2025-12-29T10:30:45.500Z'));
});

test('impossible calendar dates are rejected, leap days are not', () => {
  assert.equal(parseMeterTimestamp('31/02/2025 10:00:00'), null);
  assert.equal(parseMeterTimestamp('29/02/2025 10:00:00'), null);
  assert.equal(parseMeterTimestamp('29/02/2024 10:00:00'), at('2024-02-29T10:00:00Z'));
  assert.equal(parseMeterTimestamp('29/02/2000 10:00:00'), at('2000-02-29T10:00:00Z'));
  assert.equal(parseMeterTimestamp('29/02/1900 10:00:00'), null);
  assert.equal(parseMeterTimestamp('31 10:00:00/04/2025'), null);
  assert.equal(parseMeterTimestamp('2025-02-30T10:00:00Z'), null);
  assert.equal(parseMeterTimestamp('00/01/2025 10:00:00'), null);
  assert.equal(parseMeterTimestamp('01/13/2025 10:00:00'), null);
});

test('out-of-range times and offsets are rejected', () => {
  assert.equal(parseMeterTimestamp('29/12/2025 24:00:00'), null);
  assert.equal(parseMeterTimestamp('29/12/2025 10:60:00'), null);
  assert.equal(parseMeterTimestamp('29/12/2025 10:00:60'), null);
  assert.equal(parseRfc3339('2025-12-29T10:00:00+24:00'), null);
  assert.equal(parseRfc3339('2025-12-29T10:00:00+05:60'), null);
});

test('other shapes are rejected', () => {
  for (const raw of ['', '2025-12-29', '2025-12-29 10:00:00Z', '2025-12-29T10:00:00', '29/12/25 10:00:00',
    '29/12/2025 10:00', ' 29/12/2025 10:00:00', '29/12/2025 10:00:00 ', '1735467000', 'yesterday',
    '2025-12-29T10:00:00.Z', '２９/12/2025 10:00:00']) {
    assert.equal(parseMeterTimestamp(raw), null, raw);
  }
});

test('instants PostgreSQL cannot store as written are refused: year 0000, December 9999 and later', () => {
  assert.equal(parseMeterTimestamp('0000-01-01T00:00:00Z'), null);
  assert.equal(parseMeterTimestamp('29/12/0000 10:29:55'), null);
  assert.equal(parseMeterTimestamp('0001-01-01T00:00:00+00:01'), null);
  assert.equal(parseMeterTimestamp('9999-12-31T23:59:59-00:01'), null, 'year 10000 in UTC');
  assert.equal(parseMeterTimestamp('31/12/9999 23:59:59'), null, 'its month partition ends in year 10000');
  assert.equal(parseMeterTimestamp('0001-01-01T00:00:00Z'), at('0001-01-01T00:00:00Z'));
  assert.equal(parseMeterTimestamp('30/11/9999 23:59:59'), at('9999-11-30T23:59:59Z'));
});

test('years below 100 are not shifted into the 1900s', () => {
  assert.equal(new Date(parseRfc3339('0099-01-01T00:00:00Z')!).getUTCFullYear(), 99);
  // Year 0 is a leap year (1900, where Date.UTC puts years below 100, is not).
  assert.equal(new Date(parseRfc3339('0000-02-29T00:00:00Z')!).toISOString(), '0000-02-29T00:00:00.000Z');
});

test('the wall-clock formats honour a configured zone', () => {
  assert.equal(parseMeterTimestamp('29/12/2025 17:29:55', parseZone('+07:00')!), at('2025-12-29T10:29:55Z'));
  assert.equal(parseMeterTimestamp('29/12/2025 17:29:55', parseZone('Asia/Jakarta')!), at('2025-12-29T10:29:55Z'));
  // Summer time in Berlin is UTC+2.
  assert.equal(parseMeterTimestamp('01/07/2025 12:00:00', parseZone('Europe/Berlin')!), at('2025-07-01T10:00:00Z'));
  // The zone does not apply to RFC 3339, which carries its own offset.
  assert.equal(parseMeterTimestamp('2025-12-29T10:29:55Z', parseZone('+07:00')!), at('2025-12-29T10:29:55Z'));
  assert.equal(parseZone('Not/AZone'), null);
  assert.equal(parseZone('+25:00'), null);
});

test('tolerance is inclusive at the edge', () => {
  const ref = at('2025-12-29T10:30:00Z');
  assert.equal(withinTolerance(ref - 300_000, ref, 300_000), true);
  assert.equal(withinTolerance(ref + 300_000, ref, 300_000), true);
  assert.equal(withinTolerance(ref - 300_001, ref, 300_000), false);
  assert.equal(withinTolerance(ref + 300_001, ref, 300_000), false);
});

test('seconds are formatted without noise', () => {
  assert.equal(formatSeconds(360_000), '360');
  assert.equal(formatSeconds(300_001), '300.001');
});

/** The grammar parseRfc3339 reads by hand, as a regular expression: the two must agree on every input. */
const RFC3339_GRAMMAR = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

function byGrammar(raw: string): number | null {
  const m = RFC3339_GRAMMAR.exec(raw);
  if (m === null) return null;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const days = [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (days === undefined || d < 1 || d > days || h > 23 || mi > 59 || s > 59) return null;
  const t = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms)).setUTCFullYear(y);
  if (m[8] === undefined) return t;
  const [oh, om] = [Number(m[9]), Number(m[10])];
  if (oh > 23 || om > 59) return null;
  return m[8] === '-' ? t + (oh * 60 + om) * 60_000 : t - (oh * 60 + om) * 60_000;
}

test('parseRfc3339 agrees with the RFC 3339 grammar on valid, mutated and truncated date-times', () => {
  const alphabet = '0123456789-:+.TtZz x';
  const date = fc.record({
    y: fc.integer({ min: 0, max: 9999 }), mo: fc.integer({ min: 0, max: 13 }), d: fc.integer({ min: 0, max: 32 }),
    h: fc.integer({ min: 0, max: 25 }), mi: fc.integer({ min: 0, max: 61 }), s: fc.integer({ min: 0, max: 61 }),
    fraction: fc.option(fc.stringMatching(/^[0-9]{0,11}$/), { nil: undefined }),
    zone: fc.constantFrom('Z', 'z', '+00:00', '-05:30', '+23:59', '+24:00', '-00:60', '+0530', ''),
    sep: fc.constantFrom('T', 't', ' '),
  }).map(({ y, mo, d, h, mi, s, fraction, zone, sep }) => {
    const p = (n: number, w = 2): string => String(n).padStart(w, '0');
    return `${p(y, 4)}-${p(mo)}-${p(d)}${sep}${p(h)}:${p(mi)}:${p(s)}${fraction === undefined ? '' : `.${fraction}`}${zone}`;
  });
  const mutated = fc.tuple(date, fc.nat(), fc.constantFrom(...alphabet), fc.boolean()).map(([s, at, c, drop]) => {
    const i = at % (s.length + 1);
    return drop ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + c + s.slice(i);
  });
  fc.assert(fc.property(fc.oneof(date, mutated, fc.string({ maxLength: 40 })), (raw) => {
    assert.equal(parseRfc3339(raw), byGrammar(raw), raw);
  }), { numRuns: 20_000 });
});
