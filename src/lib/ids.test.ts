import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceFor, sha256Hex, uuidV5 } from './ids.ts';

test('uuidV5 matches the RFC 4122 reference vector', () => {
  // python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org')
  const dns = namespaceFor('6ba7b810-9dad-11d1-80b4-00c04fd430c8');
  assert.equal(uuidV5('python.org', dns), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

test('uuidV5 is deterministic and shaped as a version-5 UUID', () => {
  const a = uuidV5('sha256_hash_of_device');
  assert.equal(a, uuidV5('sha256_hash_of_device'));
  assert.notEqual(a, uuidV5('another device'));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('sha256Hex hashes bytes', () => {
  assert.equal(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('uuidV5 over long and non-ASCII names (the reused buffer grows)', () => {
  const long = `meter:${'é'.repeat(400)}:${'x'.repeat(1000)}`;
  assert.equal(uuidV5(long), 'd152ee1b-f616-56bd-a3e0-bfd862d41c78'); // python: uuid.uuid5(ns, long)
  assert.equal(uuidV5('python.org', namespaceFor('6ba7b810-9dad-11d1-80b4-00c04fd430c8')), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
  assert.notEqual(uuidV5(`${long}y`), uuidV5(long));
});
