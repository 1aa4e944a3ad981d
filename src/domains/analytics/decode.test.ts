import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IngestError } from '../../runtime/errors.ts';
import { createAnalyticsDecoder } from './decode.ts';
import { SUB_DOMAINS } from './registry.ts';

const decoder = createAnalyticsDecoder(SUB_DOMAINS);
const decode = (route: string, doc: unknown) => decoder.decode(route, Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)));
const T = '2025-08-20T03:12:00Z';
const T_MS = Date.parse(T);

function refused(route: string, doc: unknown, reason: RegExp, code = 'INGESTD_ERR_SCHEMA'): void {
  assert.throws(() => decode(route, doc), (err: unknown) => {
    assert.ok(err instanceof IngestError);
    assert.equal(err.errorClass, 'structural');
    assert.equal(err.code, code);
    assert.match(err.message, reason);
    return true;
  });
}

test('sensor: the reference payload is one measurement', () => {
  const { value } = decode('sensors.device.readings', { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', sensor_id: 's-001', metric: 'temp', value: 23.7 });
  assert.equal(value.subDomain, 'sensor');
  assert.deepEqual(value.records.map((r) => r.record), [{
    kind: 'measurement', time: T_MS, tenantId: 't1', factoryId: 'f1', machineId: 'mc-01', sensorId: 's-001', metric: 'temp', unit: '', value: 23.7, sampleId: null,
  }]);
});

test('ids are deterministic and depend on identity, not on the value', () => {
  const doc = { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', sensor_id: 's-001', metric: 'temp', value: 23.7 };
  const a = decode('sensors.device.readings', doc).value.records[0]!.id;
  assert.equal(decode('sensors.device.readings', { ...doc, value: 99 }).value.records[0]!.id, a, 'a re-sent reading is the same row');
  assert.notEqual(decode('sensors.device.readings', { ...doc, tenant_id: 't2' }).value.records[0]!.id, a);
  assert.notEqual(decode('sensors.device.readings', { ...doc, time: '2025-08-20T03:12:01Z' }).value.records[0]!.id, a);
  assert.equal(decode('sensors.device.readings', { ...doc, time: T_MS }).value.records[0]!.id, a, 'epoch ms and RFC 3339 of one instant agree');
});

test('device: a status report is a health event; a health_score is a measurement; both give both', () => {
  const base = { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01' };
  const status = decode('device.health', { ...base, status: 'Online', level: 'ok' }).value.records.map((r) => r.record);
  assert.deepEqual(status, [{
    kind: 'event', time: T_MS, tenantId: 't1', factoryId: 'f1', entityType: 'machine', entityId: 'mc-01', eventType: 'health.online',
    value: null, discriminator: '', payload: { status: 'online', level: 'ok' },
  }]);
  const score = decode('device.health', { ...base, health_score: 0.96 }).value.records.map((r) => r.record);
  assert.equal(score.length, 1);
  assert.equal(score[0]!.kind, 'measurement');
  assert.equal(score[0]!.kind === 'measurement' && score[0]!.metric, 'health_score');
  assert.equal(decode('device.health', { ...base, status: 'online', health_score: 0.5 }).value.records.length, 2);
  refused('device.health', base, /^device: \/: must have at least one of the properties 'status', 'health_score'$/);
});

test('sweep: one event with n/min/max/mean/std of its readings', () => {
  const { value } = decode('sensors.sweep.readings', {
    time: '2025-08-20T03:20:00Z', tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', metric: 'temp', readings: [{ value: 23.1 }, { value: 22.9 }, { value: 23.6 }],
  });
  const e = value.records[0]!.record;
  assert.equal(e.kind, 'event');
  if (e.kind !== 'event') return;
  assert.equal(e.eventType, 'sweep');
  assert.equal(e.payload['n'], 3);
  assert.equal(e.payload['min'], 22.9);
  assert.equal(e.payload['max'], 23.6);
  assert.ok(Math.abs((e.payload['mean'] as number) - 23.2) < 1e-12);
  assert.ok(Math.abs((e.payload['std'] as number) - Math.sqrt(((23.1 - 23.2) ** 2 + (22.9 - 23.2) ** 2 + (23.6 - 23.2) ** 2) / 3)) < 1e-12);
  assert.equal(e.value, e.payload['mean']);
  refused('sensors.sweep.readings', { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'm', metric: 'temp', readings: [] }, /sweep: \/readings: must NOT have fewer than 1 items/);
  refused('sensors.sweep.readings', { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'm', metric: 'temp', readings: [{ value: '1' }] }, /sweep: \/readings\/0\/value: must be number/);
});

test('lab: analyte at a station, the sample part of the identity', () => {
  const doc = { time: '2025-08-20T03:25:00Z', tenant_id: 't1', factory_id: 'f1', station_id: 'lab-01', sample_id: 'S-8892', analyte: 'Moisture', value: 12.4, unit: '%' };
  const r = decode('lab.results', doc).value.records[0]!;
  assert.deepEqual(r.record, {
    kind: 'measurement', time: Date.parse(doc.time), tenantId: 't1', factoryId: 'f1', machineId: 'lab-01', sensorId: '', metric: 'Moisture', unit: '%', value: 12.4, sampleId: 'S-8892',
  });
  assert.notEqual(decode('lab.results', { ...doc, sample_id: 'S-8893' }).value.records[0]!.id, r.id);
  refused('lab.results', { ...doc, unit: undefined }, /lab: \/: must have required property 'unit'/);
});

test('structural failures name the sub-domain and the path', () => {
  const doc = { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', sensor_id: 's-001', metric: 'temp', value: 23.7 };
  refused('sensors.device.readings', { ...doc, value: '23.7' }, /^sensor: \/value: must be number$/);
  refused('sensors.device.readings', { ...doc, tenant_id: 't 1; drop' }, /^sensor: \/tenant_id: must match pattern/);
  refused('sensors.device.readings', { ...doc, tenant_id: '' }, /\/tenant_id: must match pattern/);
  refused('sensors.device.readings', { ...doc, machine_id: 'a\u0000b' }, /\/machine_id: must match pattern/);
  refused('sensors.device.readings', { ...doc, time: '2025-02-30T00:00:00Z' }, /^sensor: \/time: must be an RFC 3339/);
  refused('sensors.device.readings', '{"time":', /not JSON/, 'INGESTD_ERR_NOT_JSON');
  refused('plant.unknown', doc, /no analytics handler is registered for "plant.unknown"/, 'INGESTD_ERR_UNKNOWN_ROUTE');
});

test('a disabled sub-domain is not decoded', () => {
  const only = createAnalyticsDecoder(SUB_DOMAINS.filter((s) => s.name === 'sensor'));
  assert.throws(() => only.decode('lab.results', Buffer.from('{}')), /registered: sensors.device.readings \(sensor\)/);
});

test('values are bounded so sums and squares stay finite', () => {
  const reading = { time: T, tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-01', sensor_id: 's-001', metric: 'temp' };
  refused('sensors.device.readings', { ...reading, value: 1e200 }, /^sensor: \/value: must be <= 1e\+100$/);
  refused('sensors.sweep.readings', { ...reading, readings: [{ value: 1 }, { value: -1.7e308 }] }, /^sweep: \/readings\/1\/value: must be >= -1e\+100$/);
  refused('sensors.device.readings', { ...reading, time: '0000-01-01T00:00:00Z', value: 1 }, /^sensor: \/time: .* between 0001-01-01 and 9999-11-30/);
});
