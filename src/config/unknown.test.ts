import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closest, describeUnknown, editDistance, knownVariables, unknownVariables } from './unknown.ts';

describe('unknown variables', () => {
  it('knows every variable the configuration reads, whatever is set', () => {
    const known = knownVariables({});
    for (const name of ['DATABASE_URL', 'KAFKA_BROKERS', 'KAFKA_SESSION_TIMEOUT', 'RABBITMQ_PREFETCH', 'NATS_URL', 'MQTT_SHARE_GROUP', 'INFLUXDB_URL', 'API_TOKENS', 'METRICS_TOKEN', 'LOG_LEVEL', 'PORT']) {
      assert.ok(known.has(name), name);
    }
  });

  it('names typos with the closest real variable', () => {
    const found = unknownVariables({ KAFKA_BROKER: 'x:9092', RABBITMQ_PREFTECH: '100', DATABSE_URL: 'postgres://x', MQTT_SHARE_GRUOP: 'g' });
    assert.deepEqual(found.map(describeUnknown), [
      'DATABSE_URL: not a variable ingestd reads; did you mean DATABASE_URL?',
      'KAFKA_BROKER: not a variable ingestd reads; did you mean KAFKA_BROKERS?',
      'MQTT_SHARE_GRUOP: not a variable ingestd reads; did you mean MQTT_SHARE_GROUP?',
      'RABBITMQ_PREFTECH: not a variable ingestd reads; did you mean RABBITMQ_PREFETCH?',
    ]);
  });

  it('flags unknown names of its families without a guess when nothing is close', () => {
    assert.deepEqual(unknownVariables({ KAFKA_COMPRESSION_CODEC: 'zstd' }), [{ name: 'KAFKA_COMPRESSION_CODEC', suggestion: undefined }]);
  });

  it('leaves the rest of the environment and Kubernetes service links alone', () => {
    assert.deepEqual(unknownVariables({
      PATH: '/usr/bin', HOME: '/root', HOSTNAME: 'pod-1', NODE_ENV: 'production', KAFKA_PORT: 'tcp://10.0.0.1:9092',
      KAFKA_SERVICE_HOST: '10.0.0.1', KAFKA_PORT_9092_TCP_ADDR: '10.0.0.1', DATABASE_URL: 'postgres://x', KAFKA_BROKERS: 'k:9092',
    }), []);
  });

  it('measures edits, transpositions included', () => {
    assert.equal(editDistance('PREFETCH', 'PREFTECH'), 1);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(closest('TOTALLY_DIFFERENT', ['KAFKA_BROKERS']), undefined);
  });
});
