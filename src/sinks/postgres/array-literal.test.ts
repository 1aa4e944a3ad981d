import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrayLiteral, arrayParams } from './array-literal.ts';

test('numbers and plain strings are joined; empty arrays are {}', () => {
  assert.equal(arrayLiteral([1, 2.5, -3e-7, Number.NaN, -Infinity]), '{1,2.5,-3e-7,NaN,-Infinity}');
  assert.equal(arrayLiteral(['m-1', 'a b', 'x,y', '']), '{"m-1","a b","x,y",""}');
  assert.equal(arrayLiteral([]), '{}');
});

test('quotes and backslashes are escaped; null and undefined are NULL; booleans are t/f', () => {
  assert.equal(arrayLiteral(['a"b', 'c\\d', null, 'NULL']), '{"a\\"b","c\\\\d",NULL,"NULL"}');
  assert.equal(arrayLiteral([1, null, undefined]), '{1,NULL,NULL}');
  assert.equal(arrayLiteral([true, false]), '{t,f}');
});

test('types pg writes better (dates, buffers, nested arrays) are left to pg', () => {
  const dates = [new Date(0)];
  assert.equal(arrayLiteral(dates), dates);
  const nested = [[1], [2]];
  assert.equal(arrayLiteral(nested), nested);
  assert.deepEqual(arrayParams([[1, 2], 'x', 3, null, ['a']]), ['{1,2}', 'x', 3, null, '{"a"}']);
});
