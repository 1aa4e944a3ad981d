import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { createLogger } from '../../src/runtime/logger.ts';
import { MqttSource } from '../../src/sources/mqtt/source.ts';
import { MQTT_URL, mqttPublish } from '../helpers/mqtt.ts';

// Mosquitto 2.0.11 stops honouring the client's receive maximum once the first PUBACKs arrive
// and sends the whole queued backlog: the source must bound its buffer itself.
test('MQTT source: a queued backlog never fills the buffer past MQTT_RECEIVE_MAXIMUM, and all of it arrives once read', async () => {
  const s = randomBytes(3).toString('hex');
  const clientId = `ingestd-buffer-${s}`;
  const topic = `buffer-${s}/readings`;
  const receiveMaximum = 50;
  const total = 2000;
  // The session exists before the backlog, so the broker queues it.
  const setup = await mqtt.connectAsync(MQTT_URL, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
  await setup.subscribeAsync(topic, { qos: 1 });
  await setup.endAsync();
  await mqttPublish(Array.from({ length: total }, (_, i) => ({ topic, body: Buffer.from(String(i)) })));

  const source = new MqttSource({
    settings: { url: MQTT_URL, clientId, topics: [topic], receiveMaximum, sessionExpirySeconds: 300, tls: undefined, shareGroup: undefined },
    topics: [topic], log: createLogger({ service: 'test', level: 'silent' }), maxBatch: 1000,
  });
  const abort = new AbortController();
  try {
    await source.start();
    // Nothing is taken for a while: PUBACKs are held, the broker keeps sending what it likes.
    await new Promise((r) => setTimeout(r, 1500));
    const held = source.buffered;
    assert.ok(held > 0 && held <= receiveMaximum, `buffer held ${held} messages; at most ${receiveMaximum} expected`);

    const seen = new Set<string>();
    let peak = held;
    for await (const batch of source.batches(abort.signal)) {
      assert.ok(batch.deliveries.length <= receiveMaximum);
      for (const d of batch.deliveries) seen.add(d.body.toString());
      await batch.settle({ kind: 'ack', deadLetter: [] });
      peak = Math.max(peak, source.buffered);
      if (seen.size === total) break;
    }
    assert.equal(seen.size, total);
    assert.ok(peak <= receiveMaximum, `buffer peaked at ${peak}`);
  } finally {
    abort.abort();
    await source.close();
    const cleanup = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, protocolVersion: 5 });
    await cleanup.endAsync();
  }
});
