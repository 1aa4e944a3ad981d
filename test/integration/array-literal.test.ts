import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import { arrayLiteral } from '../../src/sinks/postgres/array-literal.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;
before(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
after(async () => {
  await client?.end();
  await db?.drop();
});

// PostgreSQL text holds neither U+0000 nor a lone surrogate (decoding refuses both earlier).
const storable = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
const text = fc.oneof(storable, fc.constantFrom('', 'NULL', 'null', ' a ', 'a,b', '{x}', '"', '\\', '\\"', 'a"b\\c'));

test('text arrays written by arrayLiteral come back from PostgreSQL as they were', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.option(text, { nil: null, freq: 5 }), { maxLength: 20 }), async (values) => {
    const { rows } = await client.query<{ v: Array<string | null> }>('SELECT $1::text[] AS v', [arrayLiteral(values)]);
    assert.deepEqual(rows[0]!.v, values);
  }), { numRuns: 300 });
});

test('float8 and int arrays written by arrayLiteral come back exactly, special values included', async () => {
  const float = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e300, 5e-324, 0.1 + 0.2));
  await fc.assert(fc.asyncProperty(fc.array(fc.option(float, { nil: null, freq: 5 }), { maxLength: 20 }), async (values) => {
    const { rows } = await client.query<{ v: Array<number | null> }>('SELECT $1::float8[] AS v', [arrayLiteral(values)]);
    // -0 is written as JavaScript prints it ("0"), as pg itself does.
    assert.deepEqual(rows[0]!.v, values.map((v) => (Object.is(v, -0) ? 0 : v)));
  }), { numRuns: 300 });
  const { rows } = await client.query<{ v: number[] }>('SELECT $1::int[] AS v', [arrayLiteral([1, -2, 2147483647])]);
  assert.deepEqual(rows[0]!.v, [1, -2, 2147483647]);
});
