import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestError } from './errors.ts';
import { MAX_JSON_DEPTH, parseJsonBody } from './json-body.ts';

const parse = (text: string): unknown => parseJsonBody(Buffer.from(text));
const refused = (text: string, code: string, reason: RegExp): void => {
  assert.throws(() => parse(text), (err: unknown) => err instanceof IngestError && err.errorClass === 'structural' && err.code === code && reason.test(err.message));
};
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

test('JSON within the nesting limit parses; one level more is structural', () => {
  assert.ok(Array.isArray(parse(nested(MAX_JSON_DEPTH))));
  refused(nested(MAX_JSON_DEPTH + 1), 'INGESTD_ERR_SCHEMA', /^\/0: must not nest deeper than 1000 levels$/);
  // 10,000 levels parse, but JSON.stringify (jsonb rows, reasons) overflowed the stack on them.
  refused(`{"payload":{"PM":[{"date":${nested(10_000)}}]}}`, 'INGESTD_ERR_SCHEMA', /^\/payload: must not nest deeper/);
  refused('['.repeat(10_000), 'INGESTD_ERR_NOT_JSON', /^not JSON/);
});

test('a lone surrogate is structural and named by its JSON Pointer; a pair is text', () => {
  assert.deepEqual(parse('{"a":"\\ud83d\\ude00"}'), { a: '\u{1F600}' });
  refused('{"a":{"b/c":["x","\\ud800"]}}', 'INGESTD_ERR_SCHEMA', /^\/a\/b~1c\/1: must not contain a lone surrogate/);
  refused('{"\\udc00":1}', 'INGESTD_ERR_SCHEMA', /^\/: property names must not contain a lone surrogate/);
  refused('"\\ud83d"', 'INGESTD_ERR_SCHEMA', /^\/: must not contain a lone surrogate/);
  // An escaped backslash before `u` is no escape.
  assert.deepEqual(parse('["\\\\ud800"]'), ['\\ud800']);
});

test('a syntax error naming half of a surrogate pair gives a well-formed reason (it goes in a header)', () => {
  assert.throws(() => parse(`x${'\u{1F600}'.repeat(10)}`), (err: unknown) => err instanceof IngestError && err.code === 'INGESTD_ERR_NOT_JSON' && err.message.isWellFormed());
});
