import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES, IngestError } from './errors.ts';

test('docs/errors.md lists exactly the error codes the code defines', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set(doc.match(/INGESTD_ERR_[A-Z_]+/g));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
});

test('an IngestError carries its class, code and context into JSON', () => {
  const e = new IngestError('INGESTD_ERR_SCHEMA', '/x: must be string', { context: { message_id: 'm1' } });
  assert.equal(e.errorClass, 'structural');
  assert.equal(e.retryable, false);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'INGESTD_ERR_SCHEMA', errorClass: 'structural', message: '/x: must be string', message_id: 'm1' });
  assert.equal(new IngestError('INGESTD_ERR_DB_UNAVAILABLE', 'down').retryable, true);
});
