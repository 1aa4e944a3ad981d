import mqtt from 'mqtt';

/** The broker scripts/services.sh starts (its own port and queue limits). */
export const MQTT_URL = process.env.TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1884';

/** Publishes with QoS 1, each awaited until the broker's PUBACK. */
export async function mqttPublish(messages: ReadonlyArray<{ topic: string; body: Buffer }>): Promise<void> {
  const client = await mqtt.connectAsync(MQTT_URL, { clean: true, protocolVersion: 5 });
  try {
    for (let i = 0; i < messages.length; i += 200) {
      await Promise.all(messages.slice(i, i + 200).map((m) => client.publishAsync(m.topic, m.body, { qos: 1 })));
    }
  } finally {
    await client.endAsync();
  }
}
