import { decodeTransaction } from '../../domains/smart-grid/decode.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meterFingerprint } from '../../sim/energy-meter.ts';
import { GRID_MESSAGE_KINDS } from '../../sim/grid-telemetry.ts';
import { OptionError } from '../options.ts';
import { createLoadGenerator, loadDomain } from './generators.ts';
import type { GeneratorOptions, LoadMessage } from './generators.ts';

const base: GeneratorOptions = {
  seed: 42, meters: 7, startTime: Date.UTC(2026, 0, 5, 10), intervalMs: undefined, rate: 0,
  anomalyRate: 0.05, invalidRate: 0.02, outOfOrderRate: 0, lateRate: 0,
};

const take = (domain: string, o: Partial<GeneratorOptions>, n: number): LoadMessage[] => {
  const g = createLoadGenerator(loadDomain(domain), { ...base, ...o });
  return Array.from({ length: n }, () => g.next());
};

const throwsOption = (fn: () => unknown, flag: string, pattern: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionError, String(err));
    assert.equal(err.flag, flag);
    assert.match(err.message, pattern);
    return true;
  });
};

describe('loadDomain', () => {
  it('knows energy-meter and grid-telemetry, with their kinds and default brokers', () => {
    assert.deepEqual(loadDomain('energy-meter').kinds, ['valid', 'anomaly', 'invalid-reading', 'undecodable']);
    assert.equal(loadDomain('energy-meter').defaultBroker, 'amqp');
    assert.deepEqual(loadDomain('grid-telemetry').kinds, GRID_MESSAGE_KINDS);
    assert.equal(loadDomain('grid-telemetry').defaultBroker, 'kafka');
    assert.equal(loadDomain('grid-telemetry').routes.kafka?.topic, 'raw_readings');
    assert.equal(loadDomain('energy-meter').routes.kafka?.topic, 'meter.reading.ingested');
  });

  it('rejects unknown domains, listing the supported ones', () => {
    throwsOption(() => loadDomain('nope'), '--domain', /unknown value "nope" \(expected one of: energy-meter, grid-telemetry, analytics, chat-events, smart-grid\)/);
  });
});

describe('createLoadGenerator: smart-grid', () => {
  it('transactions the worker accepts, with faults and offline spells, invalid ones at the asked rate, the same for a seed', () => {
    const msgs = take('smart-grid', { meters: 20, anomalyRate: 0.05, invalidRate: 0.05 }, 4000);
    const again = take('smart-grid', { meters: 20, anomalyRate: 0.05, invalidRate: 0.05 }, 4000);
    assert.deepEqual(msgs.map((m) => m.body.toString()), again.map((m) => m.body.toString()));
    const counts = new Map<string, number>();
    for (const m of msgs) {
      counts.set(m.kind, (counts.get(m.kind) ?? 0) + 1);
      if (m.kind === 'invalid') {
        assert.throws(() => decodeTransaction(m.body));
        continue;
      }
      const t = decodeTransaction(m.body);
      assert.equal(t.messageId, m.id);
      assert.equal(t.value.status, m.kind === 'valid' ? 'active' : m.kind);
      assert.equal(t.value.meterId, m.key);
    }
    assert.ok((counts.get('fault') ?? 0) > 0 && (counts.get('offline') ?? 0) > 0, JSON.stringify([...counts]));
    const invalid = (counts.get('invalid') ?? 0) / msgs.length;
    assert.ok(invalid > 0.03 && invalid < 0.07, `invalid share ${invalid}`);
    assert.equal(new Set(msgs.filter((m) => m.kind !== 'invalid').map((m) => m.id)).size, msgs.filter((m) => m.kind !== 'invalid').length);
  });
});

describe('createLoadGenerator: chat-events and analytics', () => {
  it('chat-events: the tester\'s options; each message carries its subject and event id', () => {
    const msgs = take('chat-events', { companyIds: ['AAA01', 'BBB02'], subjects: ['v1.messages.upsert', 'v1.history.chats'], historyCount: 3, invalidRate: 0 }, 200);
    assert.ok(msgs.every((m) => /^v1\.(messages\.upsert|history\.chats)\.(AAA01|BBB02)$/.test(m.route!)));
    assert.ok(msgs.every((m) => m.id.startsWith('ev-')));
    const history = msgs.find((m) => m.kind === 'history')!;
    assert.equal((JSON.parse(history.body.toString()) as { data: unknown[] }).data.length, 3);
    throwsOption(() => take('chat-events', { subjects: ['v1.orders.upsert'] }, 1), '--subjects', /unknown subject "v1.orders.upsert"/);
    throwsOption(() => take('chat-events', { companyIds: ['a-b'] }, 1), '--company-ids', /not a company id/);
  });
  it('analytics: messages spread over the four topics', () => {
    const routes = new Set(take('analytics', {}, 400).map((m) => m.route));
    assert.deepEqual([...routes].sort(), ['device.health', 'lab.results', 'sensors.device.readings', 'sensors.sweep.readings']);
  });
});

describe('createLoadGenerator: energy-meter', () => {
  it('is deterministic for a seed', () => {
    const a = take('energy-meter', {}, 300);
    const b = take('energy-meter', {}, 300);
    assert.deepEqual(a, b);
    assert.notDeepEqual(take('energy-meter', { seed: 43 }, 300), a);
  });

  it('keys each message by its meter fingerprint and uses the request_id as id', () => {
    const messages = take('energy-meter', {}, 200);
    messages.forEach((m, i) => {
      assert.equal(m.key, meterFingerprint(i % base.meters));
      if (m.kind === 'undecodable') return;
      const body = JSON.parse(m.body.toString('utf8')) as { request_id: string; client_fingerprint: string };
      assert.equal(body.request_id, m.id);
      assert.equal(body.client_fingerprint, m.key);
    });
  });

  it('rejects the grid-telemetry-only rates and shares above 1', () => {
    throwsOption(() => take('energy-meter', { lateRate: 0.1 }, 1), '--late-rate', /grid-telemetry only/);
    throwsOption(() => take('energy-meter', { outOfOrderRate: 0.1 }, 1), '--out-of-order-rate', /grid-telemetry only/);
    throwsOption(() => take('energy-meter', { anomalyRate: 0.6, invalidRate: 0.5 }, 1), '--anomaly-rate', /must not exceed 1/);
    throwsOption(() => take('energy-meter', { meters: 0 }, 1), '--meters', />= 1/);
  });
});

describe('createLoadGenerator: grid-telemetry', () => {
  const o = { lateRate: 0.05, outOfOrderRate: 0.05, anomalyRate: 0.05, invalidRate: 0.05 };

  it('is deterministic for a seed', () => {
    assert.deepEqual(take('grid-telemetry', o, 2000), take('grid-telemetry', o, 2000));
  });

  it('keys by meter_id, ids are meter@ms, and every kind shows up', () => {
    const messages = take('grid-telemetry', o, 5000);
    const kinds = new Set<string>();
    for (const m of messages) {
      kinds.add(m.kind);
      assert.match(m.id, m.kind === 'undecodable' || m.kind === 'schema-invalid' ? /^M-\d{4}@\d+#invalid\d+$/ : /^M-\d{4}@\d+$/);
      assert.equal(m.id.split('@')[0], m.key);
      if (m.kind === 'undecodable' || m.kind === 'schema-invalid') continue;
      const body = JSON.parse(m.body.toString('utf8')) as { meter_id: string };
      assert.equal(body.meter_id, m.key);
    }
    assert.deepEqual([...kinds].sort(), [...GRID_MESSAGE_KINDS].sort());
  });

  it('spaces a meter\'s readings by --interval, 1 s by default', () => {
    const ts = (msgs: LoadMessage[]) => msgs.filter((m) => m.key === 'M-0001' && m.kind === 'valid').map((m) => Number(m.id.split('@')[1]));
    const byDefault = ts(take('grid-telemetry', { invalidRate: 0, anomalyRate: 0 }, 50));
    assert.deepEqual(byDefault.slice(0, 3).map((t) => t - base.startTime), [0, 1000, 2000]);
    const fast = ts(take('grid-telemetry', { invalidRate: 0, anomalyRate: 0, intervalMs: 250 }, 50));
    assert.deepEqual(fast.slice(0, 3).map((t) => t - base.startTime), [0, 250, 500]);
  });

  it('rejects bad combinations, naming the flag', () => {
    throwsOption(() => take('grid-telemetry', { lateRate: 0.3, outOfOrderRate: 0.3 }, 1), '--late-rate', /0\.5/);
    throwsOption(() => take('grid-telemetry', { intervalMs: 0.5 }, 1), '--interval', /whole number of milliseconds/);
    throwsOption(() => take('grid-telemetry', { intervalMs: 0 }, 1), '--interval', /whole number of milliseconds/);
    throwsOption(() => take('grid-telemetry', { lateRate: 1.5 }, 1), '--late-rate', /outside/);
  });
});
