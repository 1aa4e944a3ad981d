import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, redactUrl } from './redact.ts';

test('redactUrl hides passwords and secret query parameters', () => {
  assert.equal(redactUrl('amqp://user:s3cret@host:5672/vh'), 'amqp://user:***@host:5672/vh');
  assert.equal(redactUrl('amqp://host:5672'), 'amqp://host:5672');
  assert.equal(redactUrl('postgres://u:p%40ss@db:5432/x?sslmode=require&password=zz'), 'postgres://u:***@db:5432/x?sslmode=require&password=***');
  assert.equal(redactUrl('not a url user:pw@x'), 'not a url user:pw@x');
});

test('redactText hides credentials of every URL in free text', () => {
  assert.equal(
    redactText('connect to amqp://guest:guest@127.0.0.1:5672 failed; db postgres://app:hunter2@db/x'),
    'connect to amqp://guest:***@127.0.0.1:5672 failed; db postgres://app:***@db/x',
  );
});
