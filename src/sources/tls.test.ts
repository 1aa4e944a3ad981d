import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config/index.ts';
import { amqpSocketOptions } from './amqp/session.ts';
import { kafkaSecurity } from './kafka/client.ts';
import { mqttConnection } from './mqtt/connection.ts';
import { natsConnectOptions } from './nats/connection.ts';

let dir = '';
const pem: Record<'ca' | 'cert' | 'key', string> = { ca: '', cert: '', key: '' };
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ingestd-tls-'));
  for (const k of ['ca', 'cert', 'key'] as const) {
    pem[k] = join(dir, `${k}.pem`);
    writeFileSync(pem[k], `${k} bytes`);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const config = (env: Record<string, string>): Config => {
  const { config: c, problems } = loadConfig({ DOMAINS_ENABLED: 'energy-meter', ...env });
  assert.deepEqual(problems, []);
  return c;
};
const text = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString() : Array.isArray(b) ? b.map(text).join('|') : String(b));

describe('client options from the configuration', () => {
  it('kafkajs: ssl off, on with the system CAs, or with the files; sasl passed through', () => {
    assert.deepEqual(kafkaSecurity(config({}).kafka), { ssl: false });
    assert.deepEqual(kafkaSecurity(config({ KAFKA_SSL: 'yes' }).kafka), { ssl: true });
    const s = kafkaSecurity(config({ KAFKA_TLS_CA: pem.ca, KAFKA_TLS_CERT: pem.cert, KAFKA_TLS_KEY: pem.key, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }).kafka);
    const ssl = s.ssl as { ca: Buffer[]; cert: Buffer; key: Buffer };
    assert.deepEqual([text(ssl.ca), text(ssl.cert), text(ssl.key)], ['ca bytes', 'cert bytes', 'key bytes']);
    assert.deepEqual(s.sasl, { mechanism: 'plain', username: 'u', password: 'p' });
  });

  it('amqplib: socket options carry the CA and client certificate of amqps://', () => {
    assert.deepEqual(amqpSocketOptions(config({}).rabbitmq.tls, 'ingestd'), { clientProperties: { connection_name: 'ingestd' } });
    const o = amqpSocketOptions(config({ RABBITMQ_URL: 'amqps://u:p@mq', RABBITMQ_TLS_CA: pem.ca, RABBITMQ_TLS_CERT: pem.cert, RABBITMQ_TLS_KEY: pem.key }).rabbitmq.tls, 'ingestd-dlq');
    assert.deepEqual([o['clientProperties'], text(o['ca']), text(o['cert']), text(o['key'])], [{ connection_name: 'ingestd-dlq' }, 'ca bytes', 'cert bytes', 'key bytes']);
  });

  it('NATS: user/password or token as options, TLS required by tls:// or files', () => {
    assert.deepEqual(natsConnectOptions(config({}).nats), { servers: ['nats://127.0.0.1:4222'] });
    assert.deepEqual(natsConnectOptions(config({ NATS_URL: 'tls://svc:pw@n1:4222' }).nats), { servers: ['tls://n1:4222'], user: 'svc', pass: 'pw', tls: {} });
    assert.deepEqual(natsConnectOptions(config({ NATS_URL: 'tok@n1:4222', NATS_TLS_CA: pem.ca, NATS_TLS_CERT: pem.cert, NATS_TLS_KEY: pem.key }).nats), {
      servers: ['nats://n1:4222'], token: 'tok', tls: { caFile: pem.ca, certFile: pem.cert, keyFile: pem.key },
    });
  });

  it('MQTT.js: credentials out of the URL (a colon in the password survives), TLS files as options', () => {
    const plain = mqttConnection(config({ MQTT_URL: 'mqtt://svc:pa%3Ass%40x@broker:1883' }).mqtt);
    assert.deepEqual(plain, { url: 'mqtt://broker:1883', options: { username: 'svc', password: 'pa:ss@x' } });
    const tls = mqttConnection(config({ MQTT_URL: 'mqtts://broker:8883', MQTT_TLS_CA: pem.ca, MQTT_TLS_CERT: pem.cert, MQTT_TLS_KEY: pem.key }).mqtt);
    assert.equal(tls.url, 'mqtts://broker:8883');
    assert.deepEqual([text(tls.options.ca), text(tls.options.cert), text(tls.options.key)], ['ca bytes', 'cert bytes', 'key bytes']);
    assert.deepEqual(mqttConnection({ url: 'wss://broker/mqtt', tls: undefined }), { url: 'wss://broker/mqtt', options: {} });
  });
});
