/**
 * MQTT has no dead-letter queue: its dead letters are rows of ingestd_dead_letters. They must
 * commit in their batch's transaction, be retried like any transient database failure, and
 * never be dropped because another dead letter carries the same bytes.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { MQTT_URL, mqttPublish, restartMosquitto } from '../helpers/mqtt.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const reading = (meter: string, second: number): Buffer =>
  Buffer.from(JSON.stringify({ meter_id: meter, region: 'north', timestamp: `2026-03-01T10:00:${String(second).padStart(2, '0')}Z`, power_kw: 2.5 }));

describe('MQTT dead letters', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(port: number) {
    const s = randomBytes(4).toString('hex');
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const topic = `mdl.${s}.raw`;
    const env = {
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', GRID_TELEMETRY_SOURCE: 'mqtt', KAFKA_TOPIC: topic,
      GRID_AGGREGATES_TOPIC: `mdl.${s}.aggregates`, GRID_ALERTS_TOPIC: `mdl.${s}.alerts`,
      MQTT_URL, MQTT_CLIENT_ID: `mdl-${s}`, MQTT_SESSION_EXPIRY: '10m',
      // A statement blocked on the lock below fails fast, as when the database goes away.
      DB_STATEMENT_TIMEOUT: '1s', RETRY_INITIAL: '100ms', RETRY_MAX: '500ms',
    };
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-mqtt-dl-'));
    const log = join(dir, 'worker.log');
    const worker = new WorkerProcess(env, port, log);
    cleanups.push(() => worker.kill());
    // Holds ingestd_dead_letters locked until release(): every write to it fails with a timeout.
    const lockTable = async () => {
      const c = new pg.Client({ connectionString: db.url });
      c.on('error', () => undefined); // the database is dropped with FORCE at the end
      await c.connect();
      cleanups.push(() => c.end());
      await c.query('BEGIN');
      await c.query('LOCK TABLE ingestd_dead_letters IN ACCESS EXCLUSIVE MODE');
      return async () => void (await c.query('COMMIT'));
    };
    // A write to ingestd_dead_letters is waiting for the lock.
    const blocked = async () =>
      (await queryRows(db.url, "SELECT 1 FROM pg_locks WHERE relation = 'ingestd_dead_letters'::regclass AND NOT granted")).length > 0;
    const letters = async () => queryRows<{ body: Buffer; error_class: string }>(db.url, 'SELECT body, error_class FROM ingestd_dead_letters ORDER BY id');
    const stored = async () => Number((await queryRows<{ n: string }>(db.url, 'SELECT count(*) AS n FROM telemetry_readings'))[0]!.n);
    const connections = async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l.includes('"msg":"mqtt connected"')).length;
    return { topic, worker, lockTable, blocked, letters, stored, connections };
  }

  test('a dead letter that cannot be written is retried with its batch: readiness false meanwhile, the worker stays up, nothing lost', async () => {
    const { topic, worker, lockTable, letters, stored } = await setup(18_981);
    worker.start();
    await worker.waitReady();
    const release = await lockTable();
    await mqttPublish([{ topic, body: Buffer.from('not json at all') }, { topic, body: reading('m-1', 1) }]);
    await eventually(async () => {
      const r = await worker.http('/ready');
      return r.status === 503 && r.body.includes('paused, retrying');
    }, 20_000, 'readiness 503 while the dead letter cannot be written');
    assert.equal(worker.child!.exitCode, null, 'the worker is still running');
    assert.equal(await stored(), 0, 'the reading waits with its dead letter: one transaction');
    await release();
    await eventually(async () => (await letters()).length === 1 && (await stored()) === 1, 20_000, 'dead letter and reading committed');
    await worker.waitReady();
    const [letter] = await letters();
    assert.equal(letter!.body.toString(), 'not json at all');
    assert.equal(letter!.error_class, 'structural');
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('a redelivered dead letter is stored even when another dead letter has the same bytes', async () => {
    const { topic, worker, lockTable, blocked, letters } = await setup(18_982);
    const bad = Buffer.from('{"meter_id": "m-2", "power_kw": "broken"');
    worker.start();
    await worker.waitReady();
    await mqttPublish([{ topic, body: bad }]);
    await eventually(async () => (await letters()).length === 1, 20_000, 'first dead letter stored');
    // The second message with the same bytes cannot commit; the worker dies before its PUBACK.
    const release = await lockTable();
    await mqttPublish([{ topic, body: bad }]);
    await eventually(blocked, 20_000, 'the second dead letter waiting for the lock');
    await worker.kill('SIGKILL');
    // Its backend gives up the wait at DB_STATEMENT_TIMEOUT; released earlier, it would still write.
    await eventually(async () => !(await blocked()), 20_000, 'the killed worker\'s write cancelled');
    await release();
    // The broker redelivers it (DUP) to the same session: it is a message of its own.
    worker.start();
    await worker.waitReady();
    await eventually(async () => (await letters()).length === 2, 20_000, 'the redelivered dead letter stored as well');
    assert.deepEqual((await letters()).map((l) => l.body.toString()), [bad.toString(), bad.toString()]);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });

  test('a batch that commits after the broker restarted is acknowledged through its redelivery: no second dead letter', async () => {
    const { topic, worker, lockTable, blocked, letters, stored, connections } = await setup(18_985);
    worker.start();
    await worker.waitReady();
    const release = await lockTable();
    await mqttPublish([{ topic, body: Buffer.from('broken during a broker restart') }]);
    await eventually(blocked, 20_000, 'the dead letter waiting for the lock');
    await restartMosquitto();
    // The worker resumes its session while the batch still waits: the broker redelivers the message (DUP).
    await eventually(async () => (await connections()) === 2, 20_000, 'the worker reconnected');
    await release();
    // Published after the redelivery, so stored after it was dealt with.
    await mqttPublish([{ topic, body: reading('m-3', 3) }]);
    await eventually(async () => (await stored()) === 1, 20_000, 'the reading after it stored');
    assert.deepEqual((await letters()).map((l) => l.body.toString()), ['broken during a broker restart']);
    assert.equal(await worker.kill('SIGTERM'), 0);
  });
});
