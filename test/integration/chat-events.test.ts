import { after, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChatGenerator } from '../../src/sim/chat-events.ts';
import { chatStateMismatches, expectedChatState } from '../helpers/chat.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { NATS_URL, TestNats, uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const run = promisify(execFile);
const SERVICES = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));
const COMPANIES = ['CompanyAAA01', 'CompanyBBB02'];
const SCHEMAS = COMPANIES.map((c) => `tenant_${c.toLowerCase()}`);

const tableCount = async (url: string, schema: string, table: string): Promise<number> =>
  Number((await queryRows<{ n: string }>(url, `SELECT count(*) AS n FROM "${schema}"."${table}"`).catch(() => [{ n: '0' }]))[0]!.n);

describe('chat-events over a real NATS JetStream and PostgreSQL', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(port: number, extra: Record<string, string> = {}) {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const names = uniqueNatsNames();
    const nats = await TestNats.open();
    // The chat stream captures v1.> (SPEC §5.4): one such stream per broker at a time.
    await nats.deleteStreamsCapturing('v1.>', 'dlq.v1.>');
    cleanups.push(async () => { await nats.deleteStreams(names.NATS_STREAM!, names.NATS_DLQ_STREAM!); await nats.close(); });
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-chat-'));
    const env = { DATABASE_URL: db.url, DOMAINS_ENABLED: 'chat-events', NATS_URL, ...names, NATS_ACK_WAIT: '5s', NATS_BACKOFF: '1s,2s', ...extra };
    const worker = (name: string, more: Record<string, string> = {}, p = port) => {
      const w = new WorkerProcess({ ...env, ...more }, p, join(dir, `${name}.log`));
      cleanups.push(() => w.kill());
      return w;
    };
    return { db, names, nats, worker };
  }

  test('realtime and history upserts for two companies, out of order and delivered twice: last write wins, each in its schema', async () => {
    const { db, names, nats, worker } = await setup(18_901);
    const w = worker('w');
    w.start();
    await w.waitReady();
    const gen = createChatGenerator({ seed: 3, companies: COMPANIES, historyCount: 20, startTime: Date.parse('2026-02-01T00:00:00Z'), invalidRate: 0.02, staleRate: 0.1 });
    const sent = Array.from({ length: 3000 }, () => gen.next());
    await nats.publish(sent);
    const expected = expectedChatState(sent);
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await nats.streamSize(names.NATS_DLQ_STREAM!)) === invalid, 60_000, 'invalid events dead-lettered');
    await eventually(async () => (await chatStateMismatches(db.url, expected, SCHEMAS)).length === 0, 60_000, 'state as expected').catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${(await chatStateMismatches(db.url, expected, SCHEMAS)).slice(0, 10).join('; ')}`);
    });
    assert.ok(sent.some((m) => m.kind === 'stale') && sent.some((m) => m.kind === 'history'));

    const letters = await nats.readStream(names.NATS_DLQ_STREAM!);
    assert.ok(letters.every((l) => l.subject.startsWith('dlq.v1.') && l.headers['x-error-class'] === 'structural' && l.headers['x-original-source'] === l.subject.slice(4)));
    assert.ok(letters.some((l) => /^\/data: must have required property '(chat|message|contact|agent)_id'$/.test(l.headers['x-error-reason']!)), 'reasons give the JSON Pointer and the property');
    const history = sent.filter((m) => m.kind === 'history');
    const logged = (await Promise.all(SCHEMAS.map((s) => queryRows<{ items_total: number; items_applied: number; status: string }>(db.url, `SELECT items_total, items_applied, status FROM "${s}".onboarding_log`)))).flat();
    assert.equal(logged.length, history.length);
    assert.ok(logged.every((l) => l.status === 'done' && l.items_total === 20 && l.items_applied === 20));

    // The same events again, shuffled: nothing changes.
    await nats.publish([...sent].reverse());
    await eventually(async () => (await nats.streamSize(names.NATS_DLQ_STREAM!)) === 2 * invalid, 60_000, 'second pass consumed');
    assert.deepEqual(await chatStateMismatches(db.url, expected, SCHEMAS), []);
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('message status never regresses, and an older event is ignored entirely', async () => {
    const { db, nats, worker } = await setup(18_911);
    const w = worker('w');
    w.start();
    await w.waitReady();
    const ev = (id: string, at: string, data: Record<string, unknown>) => ({
      subject: 'v1.messages.upsert.CompanyAAA01',
      body: Buffer.from(JSON.stringify({ event_id: id, type: 'messages.upsert', company_id: 'CompanyAAA01', occurred_at: at, data: { message_id: 'm1', updated_at: at, ...data } })),
    });
    await nats.publish([
      ev('e1', '2026-03-01T10:00:00Z', { status: 'read', body: 'hello', chat_id: 'c1' }),
      ev('e2', '2026-03-01T10:00:05Z', { status: 'sent', body: 'edited' }), // newer, lower status: body changes, status stays
      ev('e0', '2026-03-01T09:00:00Z', { status: 'read', body: 'ancient', chat_id: 'c9' }), // older: ignored entirely
      ev('e3', '2026-03-01T10:00:06Z', { status: 'failed', chat_id: null }), // failed cannot replace read; explicit null clears
    ]);
    await eventually(async () => (await queryRows<{ last_event_id: string }>(db.url, 'SELECT last_event_id FROM tenant_companyaaa01.messages'))[0]?.last_event_id === 'e3', 30_000, 'applied');
    const [row] = await queryRows<{ status: string; body: string; chat_id: string | null }>(db.url, 'SELECT status, body, chat_id FROM tenant_companyaaa01.messages');
    assert.deepEqual(row, { status: 'read', body: 'edited', chat_id: null });
    const cases = await queryRows<{ s: string }>(db.url, `SELECT ingestd_chat_status_next(o, n) AS s FROM (VALUES ('pending','failed'), ('delivered','failed'), ('failed','sent'), ('failed','read'), ('sent','pending'), (NULL,'sent')) v(o, n)`);
    assert.deepEqual(cases.map((c) => c.s), ['failed', 'delivered', 'failed', 'read', 'sent', 'sent']);
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('onboarding_log times each history import on one clock: finished_at after started_at, by the import duration', async () => {
    // One history batch per transaction: every log row is its own import.
    const { db, nats, worker } = await setup(18_941, { BATCH_SIZE: '1' });
    const w = worker('w');
    w.start();
    await w.waitReady();
    const gen = createChatGenerator({ seed: 6, companies: COMPANIES, subjects: ['v1.history.messages', 'v1.history.chats', 'v1.history.contacts'], historyCount: 3000, startTime: Date.parse('2026-06-01T00:00:00Z'), invalidRate: 0, staleRate: 0 });
    const sent = Array.from({ length: 12 }, () => gen.next());
    await nats.publish(sent);
    const logRows = async () => (await Promise.all(SCHEMAS.map((s) => queryRows<{ event_id: string; started_at: string; finished_at: string; ms: number }>(
      db.url,
      `SELECT event_id, started_at::text, finished_at::text, extract(epoch FROM finished_at - started_at)::float8 * 1000 AS ms FROM "${s}".onboarding_log WHERE status = 'done'`,
    )))).flat();
    await eventually(async () => (await logRows()).length === sent.length, 60_000, 'every history batch logged');
    const log = await logRows();
    assert.deepEqual(log.filter((r) => r.ms < 0), [], `finished_at before started_at in ${log.filter((r) => r.ms < 0).length} of ${log.length} rows`);
    // Upserting 3,000 items takes milliseconds; a finished_at stamped at the transaction's
    // start lies at most the JS clock's 1 ms truncation after a started_at taken in the worker.
    assert.deepEqual(log.filter((r) => r.ms < 1), [], 'every import lasted at least 1 ms');
    assert.equal(await w.kill('SIGTERM'), 0);
  });

  test('COMPANY_ID: a restricted deployment takes only its company; others are left for their own deployment', async () => {
    const { db, names, nats, worker } = await setup(18_921);
    const aaa = worker('aaa', { COMPANY_ID: 'CompanyAAA01' });
    aaa.start();
    await aaa.waitReady();
    const gen = createChatGenerator({ seed: 4, companies: COMPANIES, historyCount: 5, startTime: Date.parse('2026-04-01T00:00:00Z'), invalidRate: 0.02, staleRate: 0 });
    const sent = Array.from({ length: 800 }, () => gen.next());
    await nats.publish(sent);
    const mine = sent.filter((m) => m.subject.endsWith('.CompanyAAA01'));
    const expectedA = expectedChatState(mine);
    await eventually(async () => (await chatStateMismatches(db.url, expectedA, [SCHEMAS[0]!])).length === 0, 60_000, 'company A applied');
    const invalidA = mine.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await nats.streamSize(names.NATS_DLQ_STREAM!)) === invalidA, 30_000, 'only A dead-lettered');
    assert.equal((await queryRows(db.url, "SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_companybbb02'")).length, 0, 'no schema for the other company');
    // The other company's deployment then finds all of its events waiting.
    const bbb = worker('bbb', { COMPANY_ID: 'CompanyBBB02' }, 18_922);
    bbb.start();
    await bbb.waitReady();
    const theirs = sent.filter((m) => m.subject.endsWith('.CompanyBBB02'));
    await eventually(async () => (await chatStateMismatches(db.url, expectedChatState(theirs), [SCHEMAS[1]!])).length === 0, 60_000, 'company B applied by its own deployment');
    assert.ok((await tableCount(db.url, SCHEMAS[1]!, 'messages')) > 0);
    assert.equal(await aaa.kill('SIGTERM'), 0);
    assert.equal(await bbb.kill('SIGTERM'), 0);
  });

  test('a NATS server restart mid-stream: the worker reconnects, nothing is lost or applied twice', async () => {
    const { db, names, nats, worker } = await setup(18_931);
    const w = worker('w', { BATCH_SIZE: '200' });
    w.start();
    await w.waitReady();
    const gen = createChatGenerator({ seed: 5, companies: COMPANIES, historyCount: 10, startTime: Date.parse('2026-05-01T00:00:00Z'), invalidRate: 0.01, staleRate: 0.05 });
    const sent = Array.from({ length: 8000 }, () => gen.next());
    await nats.publish(sent);
    await nats.close();
    await eventually(async () => (await tableCount(db.url, SCHEMAS[0]!, 'messages')) > 0, 30_000, 'consuming');
    await run('pkill', ['-TERM', '-x', 'nats-server']);
    cleanups.push(() => run('bash', [SERVICES, 'nats'])); // never leave the server down
    await eventually(async () => (await w.http('/ready')).status === 503, 30_000, 'readiness false while NATS is down');
    await new Promise((r) => setTimeout(r, 2000));
    await run('bash', [SERVICES, 'nats']);
    await w.waitReady(60_000);
    const expected = expectedChatState(sent);
    await eventually(async () => (await chatStateMismatches(db.url, expected, SCHEMAS)).length === 0, 90_000, 'state as expected after the restart');
    const again = await TestNats.open();
    cleanups.push(() => again.close());
    const invalid = sent.filter((m) => m.kind === 'invalid').length;
    await eventually(async () => (await again.streamSize(names.NATS_DLQ_STREAM!)) >= invalid, 30_000, 'dead letters');
    const letters = await again.readStream(names.NATS_DLQ_STREAM!);
    assert.equal(new Set(letters.map((l) => l.headers['x-original-offset'])).size, invalid, 'every invalid event dead-lettered');
    const logged = (await Promise.all(SCHEMAS.map((s) => queryRows<{ n: string }>(db.url, `SELECT count(*) AS n FROM "${s}".onboarding_log`)))).reduce((n, r) => n + Number(r[0]!.n), 0);
    assert.equal(logged, sent.filter((m) => m.kind === 'history').length, 'each history batch imported once');
    assert.equal(await w.kill('SIGTERM'), 0);
  });
});
