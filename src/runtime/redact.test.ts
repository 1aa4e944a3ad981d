import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';
import { redactText, redactUrl } from './redact.ts';

test('redactUrl hides passwords and secret query parameters', () => {
  assert.equal(redactUrl('amqp://user:s3cret@host:5672/vh'), 'amqp://user:***@host:5672/vh');
  assert.equal(redactUrl('amqp://host:5672'), 'amqp://host:5672');
  assert.equal(redactUrl('postgres://u:p%40ss@db:5432/x?sslmode=require&password=zz'), 'postgres://u:***@db:5432/x?sslmode=require&password=***');
  assert.equal(redactUrl('not a url user:pw@x'), 'not a url user:pw@x');
  assert.equal(redactUrl('not a url: amqp://u:pw@x'), 'not a url: amqp://u:***@x');
});

test('redactText hides credentials of every URL in free text', () => {
  assert.equal(
    redactText('connect to amqp://guest:guest@127.0.0.1:5672 failed; db postgres://app:hunter2@db/x'),
    'connect to amqp://guest:***@127.0.0.1:5672 failed; db postgres://app:***@db/x',
  );
  // An unencoded @ in the password: all of it goes, up to the host's @.
  assert.equal(redactText('mqtt://u:p@ss@host:1883/x'), 'mqtt://u:***@host:1883/x');
  assert.equal(redactText('redis://:onlypass@host'), 'redis://:***@host');
  assert.equal(redactText('postgres://u@db/x?sslmode=require&password=zz&x=1'), 'postgres://u@db/x?sslmode=require&password=***&x=1');
  assert.equal(redactText('see x@y and a:b@c'), 'see x@y and a:b@c');
});

test('redactText keeps a JSON log line intact', () => {
  const line = JSON.stringify({ a: 'amqp://u:p@h:1', b: 'x@y', c: 'http://h/p?token=abc', d: 'mail a@b' });
  const out = redactText(line);
  assert.deepEqual(JSON.parse(out), { a: 'amqp://u:***@h:1', b: 'x@y', c: 'http://h/p?token=***', d: 'mail a@b' });
});

test('the logger strips credentials from messages, fields, bindings and errors', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const log = createLogger({ service: 't', level: 'info', destination: sink });
  log.child({ broker: 'amqp://u:pw-binding@h' }).info('child');
  log.warn({ detail: { nested: ['nats://u:pw-nested@h:4222'] }, password: 'pw-field', sasl: { password: 'pw-sasl' } }, 'connect mqtt://u:pw-msg@h failed');
  log.error(new Error('cannot reach postgres://app:pw-error@db/x'));
  log.error({ err: new Error('x'), reason: 'http://h/write?db=x&p=1&password=pw-query' }, 'influx');
  const all = lines.join('');
  for (const secret of ['pw-binding', 'pw-nested', 'pw-field', 'pw-sasl', 'pw-msg', 'pw-error', 'pw-query']) assert.ok(!all.includes(secret), `${secret} in ${all}`);
  for (const line of lines) JSON.parse(line);
});
