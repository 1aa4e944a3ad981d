import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IngestError } from './errors.ts';
import { retryWhileTransient, type RetryOptions } from './retry.ts';

const deadlock = (): Error => Object.assign(new Error('deadlock detected'), { code: '40P01' });
const rejected = (): Error => Object.assign(new Error('invalid input syntax'), { code: '22P02' });

/** Work that fails with the given errors in turn, then returns 'stored'. */
function failing(...errors: Error[]): { work: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    work: async () => {
      const err = errors[calls++];
      if (err !== undefined) throw err;
      return 'stored';
    },
    calls: () => calls,
  };
}

function options(signal = new AbortController().signal, extra: Partial<RetryOptions> = {}): { o: RetryOptions; paused: Array<string | null> } {
  const paused: Array<string | null> = [];
  return { paused, o: { retry: { initialMs: 1, maxMs: 2 }, signal, paused: (reason) => paused.push(reason === null ? null : reason.code), ...extra } };
}

test('transient failures are retried until the work succeeds; readiness is paused meanwhile, then cleared', async () => {
  const { work, calls } = failing(deadlock(), deadlock());
  const { o, paused } = options();
  assert.deepEqual(await retryWhileTransient(work, o), { kind: 'done', value: 'stored' });
  assert.equal(calls(), 3);
  assert.deepEqual(paused, ['INGESTD_ERR_DB_UNAVAILABLE', 'INGESTD_ERR_DB_UNAVAILABLE', null]);
});

test('a first success reports nothing', async () => {
  const { o, paused } = options();
  assert.equal((await retryWhileTransient(failing().work, o)).kind, 'done');
  assert.deepEqual(paused, []);
});

test('a failure retrying cannot fix ends the retries and still clears readiness (a deadlock, then poison)', async () => {
  const { work, calls } = failing(deadlock(), rejected());
  const { o, paused } = options();
  const result = await retryWhileTransient(work, o);
  assert.equal(result.kind, 'failed');
  assert.equal(result.kind === 'failed' && result.error.code, 'INGESTD_ERR_DB_REJECTED');
  assert.equal(calls(), 2);
  assert.deepEqual(paused, ['INGESTD_ERR_DB_UNAVAILABLE', null]);
});

test('fencing is never retried as is (the transaction would be refused again): handed back at once', async () => {
  const fenced = new IngestError('INGESTD_ERR_FENCED', 'partition claimed by another worker');
  const { work } = failing(fenced);
  const { o, paused } = options();
  const result = await retryWhileTransient(work, o);
  assert.deepEqual(result, { kind: 'failed', error: fenced });
  assert.deepEqual(paused, []);
});

test('what the caller does not retry (a unique violation) is handed back at once', async () => {
  const { work, calls } = failing(Object.assign(new Error('duplicate key value'), { code: '23505' }));
  const { o, paused } = options(undefined, { retryable: (e) => e.context.sqlstate !== '23505' });
  const result = await retryWhileTransient(work, o);
  assert.equal(result.kind === 'failed' && result.error.context.sqlstate, '23505');
  assert.equal(calls(), 1);
  assert.deepEqual(paused, []);
});

test('stopping: the work is tried once even when the signal has aborted, and a transient failure is not retried', async () => {
  const stopping = new AbortController();
  stopping.abort();
  const ok = failing();
  assert.equal((await retryWhileTransient(ok.work, options(stopping.signal).o)).kind, 'done');
  const { work, calls } = failing(deadlock(), deadlock());
  const { o, paused } = options(stopping.signal);
  assert.equal((await retryWhileTransient(work, o)).kind, 'aborted');
  assert.equal(calls(), 1);
  assert.deepEqual(paused, []);
});

test('an abort during the backoff ends the retries as aborted, with readiness cleared', async () => {
  const stopping = new AbortController();
  const { work, calls } = failing(deadlock(), deadlock(), deadlock());
  const { o, paused } = options(stopping.signal, { retry: { initialMs: 60_000, maxMs: 60_000 } });
  const running = retryWhileTransient(work, o);
  setTimeout(() => stopping.abort(), 10);
  assert.equal((await running).kind, 'aborted');
  assert.equal(calls(), 1);
  assert.deepEqual(paused, ['INGESTD_ERR_DB_UNAVAILABLE', null]);
});
