import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { securitySummary } from './security-summary.ts';

test('check-config summary: TLS per connection in use, whether tokens are set, never a secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ingestd-summary-'));
  try {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'x');
    const { config, problems } = loadConfig({
      DOMAINS_ENABLED: 'energy-meter,chat-events,analytics,smart-grid', ANALYTICS_SOURCE: 'mqtt',
      DATABASE_URL: 'postgres://app:db-secret@db/x', DB_SSLMODE: 'verify-full', DB_SSLROOTCERT: ca,
      RABBITMQ_URL: 'amqps://u:mq-secret@mq', RABBITMQ_TLS_CA: ca,
      NATS_URL: 'tls://svc:nats-secret@n1:4222', MQTT_URL: 'mqtt://u:mqtt-secret@broker:1883',
      KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'kafka-secret',
      API_TOKENS: `t1:${'api-secret'.repeat(2)}`, METRICS_TOKEN: 'metrics-secret-0123', OPS_PORT: '9090',
    });
    assert.deepEqual(problems, []);
    const s = securitySummary(config);
    assert.deepEqual(s.tls, {
      database: `sslmode verify-full, sslrootcert ${ca}`,
      rabbitmq: `TLS (CA ${ca})`,
      kafka: 'no TLS; SASL plain as svc',
      nats: 'TLS (system CAs); user svc',
      mqtt: 'no TLS',
    });
    assert.deepEqual(s.access, { read_api: '1 token(s) (API_TOKENS)', metrics: 'bearer token (METRICS_TOKEN)', health: 'open', ops_listener: '0.0.0.0:9090 (OPS_PORT)' });
    assert.deepEqual(s.servers, { nats: 'tls://n1:4222', mqtt: 'mqtt://u:***@broker:1883', kafka: '127.0.0.1:9092' });
    assert.ok(!/secret/.test(JSON.stringify(s)), JSON.stringify(s));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
