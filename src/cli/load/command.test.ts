import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../options.ts';
import { transportFor } from './brokers.ts';
import { loadOptionsFromCli } from './command.ts';
import type { RawOptions } from './command.ts';
import { loadDomain } from './generators.ts';
import { parseKafkaBrokers } from './kafka.ts';

const defaults: RawOptions = {
  domain: 'energy-meter', rate: '0', concurrency: '1', batchSize: '500', meters: '100', anomalyRate: '0.02', invalidRate: '0.01', progress: false,
};
const cli = (raw: Partial<RawOptions>, env: NodeJS.ProcessEnv = {}) => loadOptionsFromCli({ ...defaults, ...raw }, false, env);

const throwsOption = (fn: () => unknown, flag: string, pattern: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionError, String(err));
    assert.equal(err.flag, flag);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    return true;
  });
};

describe('parseKafkaBrokers', () => {
  it('reads one or more host:port, 9092 by default', () => {
    assert.deepEqual(parseKafkaBrokers('kafka://127.0.0.1:9092', {}), ['127.0.0.1:9092']);
    assert.deepEqual(parseKafkaBrokers('kafka://a:1,b, c:3/', {}), ['a:1', 'b:9092', 'c:3']);
    assert.deepEqual(parseKafkaBrokers('KAFKA://[::1]:9093', {}), ['[::1]:9093']);
  });

  it('a bare kafka:// means $KAFKA_BROKERS, else 127.0.0.1:9092', () => {
    assert.deepEqual(parseKafkaBrokers('kafka://', {}), ['127.0.0.1:9092']);
    assert.deepEqual(parseKafkaBrokers('kafka://', { KAFKA_BROKERS: 'k1:9092,k2:9092' }), ['k1:9092', 'k2:9092']);
    assert.deepEqual(parseKafkaBrokers('kafka://', { KAFKA_BROKERS: '["k1:9092"]' }), ['k1:9092']);
  });

  it('rejects bad hosts, ports and credentials', () => {
    throwsOption(() => parseKafkaBrokers('kafka://a:99999', {}), '--broker', /host:port/);
    throwsOption(() => parseKafkaBrokers('kafka://a:1,,b', {}), '--broker', /host:port/);
    throwsOption(() => parseKafkaBrokers('kafka://u:p@a:1', {}), '--broker', /credentials/);
    throwsOption(() => parseKafkaBrokers('kafka://a:1/topic', {}), '--broker', /expected kafka:\/\//);
  });
});

describe('transportFor', () => {
  it('picks the domain\'s default broker when none is given', () => {
    assert.equal(transportFor(undefined, loadDomain('energy-meter'), {}).transport.kind, 'amqp');
    assert.equal(transportFor(undefined, loadDomain('energy-meter'), { RABBITMQ_URL: 'amqp://x' }).url, 'amqp://x');
    assert.equal(transportFor(undefined, loadDomain('grid-telemetry'), {}).transport.kind, 'kafka');
  });

  it('rejects other schemes and non-URLs without echoing credentials', () => {
    throwsOption(() => transportFor('redis://127.0.0.1:6379', loadDomain('energy-meter'), {}), '--broker', /unsupported scheme "redis:".*amqp:, amqps:, kafka:, nats:, mqtt:/);
    const mqtt = transportFor('mqtt://127.0.0.1:1883', loadDomain('energy-meter'), {});
    throwsOption(() => mqtt.transport.prepare(mqtt.url, loadDomain('energy-meter'), {}, {}), '--broker', /energy-meter cannot be sent to MQTT/);
    const grid = transportFor('mqtt://127.0.0.1:1883', loadDomain('grid-telemetry'), {});
    assert.deepEqual(grid.transport.prepare(grid.url, loadDomain('grid-telemetry'), {}, {}).destination, { topic: 'raw_readings' });
    throwsOption(() => grid.transport.prepare(grid.url, loadDomain('grid-telemetry'), { topic: 'a/+' }, {}), '--topic', /is a filter/);
    const { transport, url } = transportFor('nats://127.0.0.1:4222', loadDomain('energy-meter'), {});
    throwsOption(() => transport.prepare(url, loadDomain('energy-meter'), {}, {}), '--broker', /energy-meter cannot be sent to NATS/);
    assert.deepEqual(transportFor(undefined, loadDomain('chat-events'), {}).url, 'nats://127.0.0.1:4222');
    throwsOption(() => transportFor('user:secret@host', loadDomain('energy-meter'), {}), '--broker', /^--broker: the value is not a broker URL/);
  });
});

describe('loadOptionsFromCli', () => {
  it('energy-meter over AMQP as before: --topic is the routing key', () => {
    const o = cli({ broker: 'amqp://guest:guest@127.0.0.1:5672', topic: 'k', count: '10', seed: '3' });
    assert.equal(o.topic, 'k');
    assert.equal(o.count, 10);
    assert.equal(o.seed, 3);
    assert.equal(o.progress, 'lines');
    throwsOption(() => cli({ topic: 'a', routingKey: 'b' }), '--topic', /conflicts with --routing-key/);
    throwsOption(() => cli({ partitions: '8' }), '--partitions', /Kafka brokers only/);
  });

  it('grid-telemetry over Kafka with its own flags', () => {
    const o = cli({ domain: 'grid-telemetry', broker: 'kafka://127.0.0.1:9092', topic: 't', partitions: '8', lateRate: '1%', outOfOrderRate: '0.02', interval: '500ms' });
    assert.equal(o.partitions, 8);
    assert.equal(o.lateRate, 0.01);
    assert.equal(o.outOfOrderRate, 0.02);
    assert.equal(o.intervalMs, 500);
  });

  it('rejects AMQP-only flags on Kafka, bad topics and unknown domains', () => {
    throwsOption(() => cli({ broker: 'kafka://127.0.0.1:9092', exchange: 'x' }), '--exchange', /AMQP brokers only/);
    throwsOption(() => cli({ broker: 'kafka://127.0.0.1:9092', routingKey: 'x' }), '--routing-key', /AMQP brokers only/);
    throwsOption(() => cli({ broker: 'kafka://127.0.0.1:9092', topic: 'a b' }), '--topic', /not a valid Kafka topic/);
    throwsOption(() => cli({ domain: 'smart-gird' }), '--domain', /unknown value "smart-gird"/);
    throwsOption(() => cli({ broker: 'redis://127.0.0.1' }), '--broker', /unsupported scheme/);
    throwsOption(() => cli({ broker: 'mqtt://127.0.0.1', partitions: '4', domain: 'grid-telemetry' }), '--partitions', /Kafka brokers only/);
  });
});
