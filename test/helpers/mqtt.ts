import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';

const run = promisify(execFile);
const SERVICES = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/**
 * Restarts the tests' Mosquitto (port 1884, scripts/mosquitto.conf): SIGTERM, which saves its
 * persistence file with the sessions, then `downMs` down, then scripts/services.sh starts it.
 */
export async function restartMosquitto(downMs = 0): Promise<void> {
  const match = ['-f', 'mosquitto -d -c .*scripts/mosquitto.conf'];
  await run('pkill', ['-TERM', ...match]);
  for (let i = 0; i < 100 && (await run('pgrep', match).then(() => true, () => false)); i++) await sleep(100);
  await sleep(downMs);
  await run('bash', [SERVICES, 'mosquitto']);
}
