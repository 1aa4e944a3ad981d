/**
 * An outbox that cannot publish for longer than OUTBOX_STALL_TIMEOUT shows in readiness and
 * metrics, and recovers by itself once the broker takes the messages again. On NATS the worker
 * declares the stream that captures its output subjects at start; here an operator deletes it
 * while the worker runs, then puts it back.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { NATS_URL, TestNats, uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const metric = (text: string, line: RegExp): number => Number(line.exec(text)?.[1] ?? Number.NaN);

test('NATS: a stalled outbox makes the worker unready after OUTBOX_STALL_TIMEOUT, with metrics; it publishes once the stream is back', async () => {
  const s = randomBytes(4).toString('hex');
  const names = uniqueNatsNames();
  const outputStream = `T_${s.toUpperCase()}_OUT`;
  const alerts = `st.${s}.alerts`;
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  const nats = await TestNats.open();
  cleanups.push(() => nats.nc.close());
  const jsm = await jetstreamManager(nats.nc);
  cleanups.push(async () => {
    for (const n of [names.NATS_STREAM!, names.NATS_DLQ_STREAM!, outputStream]) await jsm.streams.delete(n).catch(() => undefined);
  });
  const input = `st.${s}.raw`;
  const dir = await mkdtemp(join(tmpdir(), 'ingestd-stall-'));
  const worker = new WorkerProcess({
    DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', GRID_TELEMETRY_SOURCE: 'nats', KAFKA_TOPIC: input,
    GRID_AGGREGATES_TOPIC: `st.${s}.aggregates`, GRID_ALERTS_TOPIC: alerts,
    NATS_URL, ...names, NATS_OUTPUT_STREAM: outputStream, OUTBOX_STALL_TIMEOUT: '2s', RETRY_MAX: '500ms',
  }, 18_983, join(dir, 'worker.log'));
  cleanups.push(() => worker.kill());
  worker.start();
  await worker.waitReady();
  // Declared at start: the output stream captures both output subjects.
  const declared = await jsm.streams.info(outputStream);
  assert.deepEqual([...declared.config.subjects].sort(), [`st.${s}.aggregates`, alerts]);

  await jsm.streams.delete(outputStream);
  const outage = (second: number) => Buffer.from(JSON.stringify({ meter_id: 'm-1', region: 'north', timestamp: `2026-03-01T10:00:0${second}Z`, power_kw: 0.01 }));
  await nats.publish([{ subject: input, body: outage(1) }]);
  await eventually(async () => {
    const r = await worker.http('/ready');
    return r.status === 503 && /outbox relay: cannot publish for \d+ s \(OUTBOX_STALL_TIMEOUT\)/.test(r.body);
  }, 20_000, 'readiness names the stalled outbox');
  const stalled = (await worker.http('/metrics')).body;
  assert.ok(metric(stalled, /^stream_outbox_publish_failures_total\{publisher="nats"\} (\d+)/m) > 0, 'failures counted');
  assert.ok(metric(stalled, /^stream_outbox_pending_batches (\d+)/m) >= 1, 'rows pending');
  assert.ok(metric(stalled, /^stream_outbox_oldest_seconds ([\d.]+)/m) >= 2, 'the oldest row has waited past the bound');

  // The operator puts a stream back: the alert is published and the worker is ready again.
  await jsm.streams.add({ name: outputStream, subjects: [alerts] });
  await worker.waitReady();
  await eventually(async () => (await queryRows(db.url, 'SELECT 1 FROM ingestd_outbox')).length === 0, 20_000, 'outbox published');
  const published = await nats.readStream(outputStream);
  assert.equal(published.length, 1);
  assert.equal(JSON.parse(published[0]!.body).type, 'outage');
  assert.equal(metric((await worker.http('/metrics')).body, /^stream_outbox_oldest_seconds ([\d.]+)/m), 0);
  assert.equal(await worker.kill('SIGTERM'), 0);
});
