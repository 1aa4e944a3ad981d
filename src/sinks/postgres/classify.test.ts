import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyDbError } from './classify.ts';

const pgError = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

test('connection failures are transient', () => {
  assert.equal(classifyDbError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).errorClass, 'transient');
  assert.equal(classifyDbError(new Error('Connection terminated unexpectedly')).errorClass, 'transient');
  assert.equal(classifyDbError(pgError('57P01', 'terminating connection due to administrator command')).errorClass, 'transient');
  assert.equal(classifyDbError(pgError('08006')).errorClass, 'transient');
});

test('deadlocks, serialization failures and concurrent duplicates are transient', () => {
  for (const code of ['40P01', '40001', '55P03', '23505', '53300']) {
    assert.equal(classifyDbError(pgError(code)).errorClass, 'transient', code);
  }
});

test('data the database refuses is poison', () => {
  for (const code of ['22P05', '22003', '22001', '23502', '23503', '54000']) {
    assert.equal(classifyDbError(pgError(code)).errorClass, 'poison', code);
  }
});

test('deployment problems keep retrying instead of dead-lettering', () => {
  assert.equal(classifyDbError(pgError('42P01', 'relation does not exist')).errorClass, 'transient');
  assert.equal(classifyDbError(pgError('28P01', 'password authentication failed')).errorClass, 'transient');
});

test('errors thrown by processing code are poison and keep the sqlstate out', () => {
  const e = classifyDbError(new TypeError('cannot read properties of undefined'));
  assert.equal(e.errorClass, 'poison');
  assert.match(e.message, /cannot read properties/);
});
