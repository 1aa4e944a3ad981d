import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEnergyMeterGenerator, meterFingerprint, MESSAGE_KINDS } from './energy-meter.ts';
import type { EnergyMeterOptions, GeneratedMessage, MessageKind } from './energy-meter.ts';
import { createRandom } from './random.ts';

const START = Date.parse('2025-12-29T10:30:00Z');
const BASE: EnergyMeterOptions = { seed: 42, meters: 50, anomalyRate: 0.02, invalidRate: 0.01, startTime: START, intervalMs: 100 };

const take = (options: EnergyMeterOptions, n: number): GeneratedMessage[] => {
  const gen = createEnergyMeterGenerator(options);
  return Array.from({ length: n }, () => gen.next());
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DAY_FIRST = /^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/;
const DAY_TIME_MONTH = /^\d{2} \d{2}:\d{2}:\d{2}\/\d{2}\/\d{4}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

interface Reading {
  date: string;
  data: string | number;
  name: string;
}
interface Envelope {
  request_id: string;
  client_fingerprint: string;
  ip_address: string;
  user_agent: string;
  received_at: string;
  payload: { PM: Reading[] };
}

/** Parses a reading date in any of the three accepted formats; NaN when impossible. */
const readingTime = (raw: string): number => {
  let m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(raw) ?? /^(\d{2}) (\d{2}):(\d{2}):(\d{2})\/(\d{2})\/(\d{4})$/.exec(raw);
  if (m === null) return Date.parse(raw);
  const [d, mo, y, h, mi, s] = raw.includes('/') && raw.indexOf('/') === 2
    ? [m[1], m[2], m[3], m[4], m[5], m[6]]
    : [m[1], m[5], m[6], m[2], m[3], m[4]];
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return new Date(t).getUTCDate() === Number(d) ? t : Number.NaN;
};

describe('random', () => {
  it('is deterministic per seed and produces v4-shaped uuids', () => {
    const a = createRandom(7);
    const b = createRandom(7);
    const c = createRandom(8);
    const seqA = Array.from({ length: 20 }, () => a.uuid());
    assert.deepEqual(seqA, Array.from({ length: 20 }, () => b.uuid()));
    assert.notDeepEqual(seqA, Array.from({ length: 20 }, () => c.uuid()));
    for (const id of seqA) assert.match(id, UUID);
  });

  it('keeps int() within bounds and next() within [0, 1)', () => {
    const r = createRandom(1);
    for (let i = 0; i < 10_000; i++) {
      const n = r.int(3, 5);
      assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
      const x = r.next();
      assert.ok(x >= 0 && x < 1);
    }
  });
});

describe('energy-meter generator', () => {
  it('gives byte-identical sequences for the same seed and different ones for another seed', () => {
    const a = take(BASE, 2000);
    const b = take(BASE, 2000);
    const c = take({ ...BASE, seed: 43 }, 2000);
    for (let i = 0; i < a.length; i++) {
      assert.equal(a[i]!.id, b[i]!.id);
      assert.equal(a[i]!.kind, b[i]!.kind);
      assert.ok(a[i]!.body.equals(b[i]!.body), `message ${i} differs`);
    }
    assert.ok(a.some((m, i) => !m.body.equals(c[i]!.body)));
    assert.equal(new Set(a.map((m) => m.id)).size, a.length, 'ids are unique');
  });

  it('never reuses a request id for other content: another start time gives other ids', () => {
    const a = take(BASE, 200).map((m) => m.id);
    const b = take({ ...BASE, startTime: START + 1000 }, 200).map((m) => m.id);
    assert.equal(new Set([...a, ...b]).size, 400);
  });

  it('honours the anomaly and invalid rates over 10,000 messages', () => {
    const options = { ...BASE, anomalyRate: 0.1, invalidRate: 0.05 };
    const counts: Record<MessageKind, number> = { valid: 0, anomaly: 0, 'invalid-reading': 0, undecodable: 0 };
    for (const m of take(options, 10_000)) counts[m.kind]++;
    const share = (n: number): number => (n / 10_000) * 100;
    assert.ok(Math.abs(share(counts['invalid-reading'] + counts.undecodable) - 5) <= 2, JSON.stringify(counts));
    assert.ok(Math.abs(share(counts.anomaly) - 10) <= 2, JSON.stringify(counts));
    const undecodableShare = counts.undecodable / (counts.undecodable + counts['invalid-reading']);
    assert.ok(undecodableShare > 0.1 && undecodableShare < 0.3, `undecodable share ${undecodableShare}`);
  });

  it('produces only valid messages when both rates are 0', () => {
    const kinds = new Set(take({ ...BASE, anomalyRate: 0, invalidRate: 0 }, 3000).map((m) => m.kind));
    assert.deepEqual([...kinds], ['valid']);
  });

  it('emits valid messages with every envelope field, in tolerance and in range', () => {
    const fingerprints = new Set<string>();
    const seq = take(BASE, 3000);
    seq.forEach((m, i) => {
      if (m.kind !== 'valid') return;
      const msg = JSON.parse(m.body.toString('utf8')) as Envelope;
      assert.equal(msg.request_id, m.id);
      assert.match(msg.request_id, UUID);
      assert.match(msg.client_fingerprint, /^sha256:[0-9a-f]{64}$/);
      assert.match(msg.ip_address, /^\d+\.\d+\.\d+\.\d+$/);
      assert.match(msg.user_agent, /^MeterDevice\//);
      assert.match(msg.received_at, RFC3339);
      assert.ok(msg.received_at.endsWith('Z'));
      assert.equal(Date.parse(msg.received_at), START + i * 100);
      assert.equal(msg.payload.PM.length, 2);
      const [power, voltage] = msg.payload.PM;
      assert.equal(power!.name, 'power_consumption');
      assert.equal(voltage!.name, 'voltage');
      for (const r of msg.payload.PM) {
        const lag = Date.parse(msg.received_at) - readingTime(r.date);
        assert.ok(lag >= 0 && lag <= 11_000, `reading ${r.date} vs ${msg.received_at}`);
      }
      const watts = Number(power!.data);
      assert.ok(watts > 50 && watts < 600, `power ${watts}`);
      assert.ok(Math.abs(Number(voltage!.data) - 230) < 20);
      fingerprints.add(msg.client_fingerprint);
    });
    assert.equal(fingerprints.size, BASE.meters);
    assert.ok(fingerprints.has(meterFingerprint(0)));
  });

  it('mixes the three date formats and both data encodings', () => {
    const seen = { dayFirst: 0, dayTimeMonth: 0, rfc3339: 0, offset: 0, string: 0, number: 0 };
    for (const m of take(BASE, 2000)) {
      if (m.kind !== 'valid') continue;
      for (const r of (JSON.parse(m.body.toString()) as Envelope).payload.PM) {
        if (DAY_FIRST.test(r.date)) seen.dayFirst++;
        else if (DAY_TIME_MONTH.test(r.date)) seen.dayTimeMonth++;
        else if (RFC3339.test(r.date)) {
          seen.rfc3339++;
          if (!r.date.endsWith('Z')) seen.offset++;
        } else assert.fail(`unexpected date format ${r.date}`);
        if (typeof r.data === 'string') seen.string++;
        else seen.number++;
      }
    }
    for (const [name, n] of Object.entries(seen)) assert.ok(n > 0, `${name} never occurred`);
    assert.ok(seen.string > seen.number, 'data is mostly a string');
  });

  it('makes invalid readings fail a rule of SPEC §5.1 while staying decodable', () => {
    let checked = 0;
    for (const m of take({ ...BASE, invalidRate: 0.5 }, 2000)) {
      if (m.kind !== 'invalid-reading') continue;
      const msg = JSON.parse(m.body.toString()) as Envelope;
      const received = Date.parse(msg.received_at);
      const broken = msg.payload.PM.filter((r) => {
        const t = readingTime(r.date);
        const badDate = Number.isNaN(t) || Math.abs(t - received) > 300_000;
        const value = typeof r.data === 'number' ? r.data : r.data.trim() === '' ? Number.NaN : Number(r.data);
        return badDate || !Number.isFinite(value) || r.name.trim() === '';
      });
      assert.equal(broken.length, 1, m.body.toString());
      checked++;
    }
    assert.ok(checked > 500);
  });

  it('makes anomalies a negative value or a spike above 3x the meter history', () => {
    const kinds = new Set<string>();
    const options = { ...BASE, meters: 5, anomalyRate: 0.2 };
    for (const m of take(options, 3000)) {
      if (m.kind !== 'anomaly') continue;
      const [power, voltage] = (JSON.parse(m.body.toString()) as Envelope).payload.PM;
      if (Number(power!.data) < 0 || Number(voltage!.data) < 0) kinds.add('negative');
      else if (Number(power!.data) >= 500) kinds.add('spike');
      else assert.fail(`anomaly without a negative value or spike: ${m.body.toString()}`);
    }
    assert.deepEqual([...kinds].sort(), ['negative', 'spike']);
  });

  it('makes undecodable messages fail the envelope (not JSON, no fingerprint, PM not an array)', () => {
    const variants = new Set<string>();
    for (const m of take({ ...BASE, invalidRate: 1, anomalyRate: 0 }, 2000)) {
      if (m.kind !== 'undecodable') continue;
      assert.match(m.id, UUID);
      let msg: Partial<Envelope>;
      try {
        msg = JSON.parse(m.body.toString()) as Partial<Envelope>;
      } catch {
        variants.add('not-json');
        continue;
      }
      if (msg.client_fingerprint === undefined) variants.add('no-fingerprint');
      else if (!Array.isArray(msg.payload?.PM)) variants.add('pm-not-array');
      else assert.fail(`decodable message labelled undecodable: ${m.body.toString()}`);
    }
    assert.deepEqual([...variants].sort(), ['no-fingerprint', 'not-json', 'pm-not-array']);
  });

  it('supports random meter selection and rejects bad options', () => {
    const ids = take({ ...BASE, selection: 'random' }, 100).map((m) => m.id);
    assert.deepEqual(ids, take({ ...BASE, selection: 'random' }, 100).map((m) => m.id));
    assert.throws(() => createEnergyMeterGenerator({ ...BASE, meters: 0 }), /meters/);
    assert.throws(() => createEnergyMeterGenerator({ ...BASE, invalidRate: 1.5 }), /invalidRate/);
    assert.throws(() => createEnergyMeterGenerator({ ...BASE, anomalyRate: 0.6, invalidRate: 0.6 }), /exceed/);
    assert.equal(MESSAGE_KINDS.length, 4);
  });
});
