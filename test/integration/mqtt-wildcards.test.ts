import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { MQTT_URL, mqttPublish } from '../helpers/mqtt.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const meter = (requestId: string, fingerprint: string) =>
  JSON.stringify({ request_id: requestId, client_fingerprint: fingerprint, received_at: '2025-12-29T10:30:00Z', payload: { PM: [{ date: '2025-12-29T10:29:55Z', data: '245.5', name: 'power_consumption' }] } });

test('energy-meter bound to MQTT: wildcard topic filters map every meter\'s topic to the domain', async () => {
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  const s = randomBytes(3).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'ingestd-mqtt-'));
  const worker = new WorkerProcess({
    DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter', ENERGY_METER_SOURCE: 'mqtt', MQTT_URL, MQTT_CLIENT_ID: `ingestd-w-${s}`,
    MQTT_TOPICS: `site-${s}/+/readings,site-${s}/gateways/#`,
  }, 18_981, join(dir, 'worker.log'));
  cleanups.push(() => worker.kill());
  worker.start();
  await worker.waitReady();
  await mqttPublish([
    { topic: `site-${s}/meter-1/readings`, body: Buffer.from(meter('r1', 'meter-1')) },
    { topic: `site-${s}/meter-2/readings`, body: Buffer.from(meter('r2', 'meter-2')) },
    { topic: `site-${s}/gateways/north/meter-3`, body: Buffer.from(meter('r3', 'meter-3')) },
    { topic: `site-${s}/meter-4/status`, body: Buffer.from(meter('r4', 'meter-4')) }, // no filter matches: never delivered
  ]);
  await eventually(async () => (await queryRows(db.url, 'SELECT DISTINCT message_id FROM meter_readings_raw')).length === 3, 20_000, 'three readings stored');
  await new Promise((r) => setTimeout(r, 500));
  const ids = (await queryRows<{ message_id: string }>(db.url, 'SELECT DISTINCT message_id FROM meter_readings_raw ORDER BY 1')).map((r) => r.message_id);
  assert.deepEqual(ids, ['r1', 'r2', 'r3']);
  assert.equal(await worker.kill('SIGTERM'), 0);
});
