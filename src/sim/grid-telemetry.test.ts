import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeGridReading, type GridReading } from '../domains/grid-telemetry/decode.ts';
import { emaStep, EMPTY_EMA, type EmaState } from '../processors/anomaly/ema.ts';
import { IngestError } from '../runtime/errors.ts';
import {
  createGridTelemetryGenerator, GRID_MESSAGE_KINDS, GRID_REGIONS, gridMeterId,
  type GridMessage, type GridMessageKind, type GridTelemetryOptions,
} from './grid-telemetry.ts';

const START = Date.parse('2026-01-05T10:00:00Z');
const BASE: GridTelemetryOptions = {
  seed: 42, meters: 10, startTime: START, intervalMs: 1000,
  anomalyRate: 0.05, outOfOrderRate: 0.05, lateRate: 0.02, invalidRate: 0.02,
};
const settings = { defaultIntervalS: 1 };

const take = (options: GridTelemetryOptions, n: number): GridMessage[] => {
  const gen = createGridTelemetryGenerator(options);
  return Array.from({ length: n }, () => gen.next());
};

const INVALID: ReadonlySet<GridMessageKind> = new Set(['undecodable', 'schema-invalid']);
const decoded = (m: GridMessage): GridReading => decodeGridReading(m.body, settings).value;

const countKinds = (messages: ReadonlyArray<GridMessage>): Record<GridMessageKind, number> => {
  const counts = Object.fromEntries(GRID_MESSAGE_KINDS.map((k) => [k, 0])) as Record<GridMessageKind, number>;
  for (const m of messages) counts[m.kind]++;
  return counts;
};

describe('grid-telemetry generator', () => {
  it('gives byte-identical sequences for the same seed and options, other ones for another seed', () => {
    const a = take(BASE, 5000);
    const b = take(BASE, 5000);
    const c = take({ ...BASE, seed: 43 }, 5000);
    a.forEach((m, i) => {
      assert.equal(m.key, b[i]!.key);
      assert.equal(m.id, b[i]!.id);
      assert.equal(m.kind, b[i]!.kind);
      assert.ok(m.body.equals(b[i]!.body), `message ${i} differs`);
    });
    assert.ok(a.some((m, i) => !m.body.equals(c[i]!.body)));
  });

  it('honours the rates over 40,000 messages', () => {
    // One reading per meter per 10 s keeps few late readings in flight at the end.
    const options = { ...BASE, intervalMs: 10_000, anomalyRate: 0.09, outOfOrderRate: 0.05, lateRate: 0.04, invalidRate: 0.05 };
    const n = 40_000;
    const counts = countKinds(take(options, n));
    const invalid = counts.undecodable + counts['schema-invalid'];
    const readings = n - invalid;
    const near = (actual: number, expected: number, what: string): void =>
      assert.ok(Math.abs(actual - expected) <= 0.01, `${what}: ${actual.toFixed(4)} vs ${expected} ${JSON.stringify(counts)}`);
    near(invalid / n, 0.05, 'invalid');
    near(counts.undecodable / invalid, 0.3, 'undecodable share of invalid');
    for (const k of ['spike', 'drop', 'outage'] as const) near(counts[k] / readings, 0.03, k);
    near(counts['out-of-order'] / readings, 0.05, 'out-of-order');
    near(counts.late / readings, 0.04, 'late');
  });

  it('produces only valid readings when every rate is 0 or absent', () => {
    const kinds = new Set(take({ seed: 1, meters: 3, startTime: START, intervalMs: 1000 }, 3000).map((m) => m.kind));
    assert.deepEqual([...kinds], ['valid']);
  });

  it('emits readings the decoder accepts and invalid messages it dead-letters', () => {
    const seenCodes = new Set<string>();
    for (const m of take({ ...BASE, invalidRate: 0.2 }, 10_000)) {
      if (INVALID.has(m.kind)) {
        assert.throws(
          () => decodeGridReading(m.body, settings),
          (err: unknown) => {
            assert.ok(err instanceof IngestError && err.errorClass === 'structural', String(err));
            assert.equal(err.code, m.kind === 'undecodable' ? 'INGESTD_ERR_NOT_JSON' : 'INGESTD_ERR_SCHEMA', m.body.toString('latin1'));
            seenCodes.add(`${m.kind}:${err.message.split(':')[0]}`);
            return true;
          },
        );
        continue;
      }
      const { messageId, value } = decodeGridReading(m.body, settings);
      assert.equal(messageId, m.id);
      assert.equal(value.meterId, m.key);
    }
    // Both kinds of invalid message show up in several shapes.
    assert.ok([...seenCodes].filter((c) => c.startsWith('schema-invalid')).length >= 5, [...seenCodes].join(', '));
  });

  it('gives every message its own id, an invalid copy included', () => {
    const ids = new Set<string>();
    for (const m of take(BASE, 20_000)) {
      assert.ok(!ids.has(m.id), `duplicate ${m.id} (${m.kind})`);
      ids.add(m.id);
    }
  });

  it('gives every meter exactly one reading per interval, each delivered once', () => {
    const seen = new Map<string, number[]>();
    const ids = new Set<string>();
    for (const m of take(BASE, 20_000)) {
      if (INVALID.has(m.kind)) continue;
      assert.ok(!ids.has(m.id), `duplicate ${m.id}`);
      ids.add(m.id);
      const r = decoded(m);
      assert.equal(r.region, GRID_REGIONS[(Number(r.meterId.slice(2)) - 1) % GRID_REGIONS.length]);
      const times = seen.get(r.meterId) ?? [];
      times.push(r.timestampMs);
      seen.set(r.meterId, times);
    }
    assert.deepEqual([...seen.keys()].sort(), Array.from({ length: BASE.meters }, (_, i) => gridMeterId(i)));
    for (const [meter, times] of seen) {
      times.sort((x, y) => x - y);
      for (const t of times) assert.equal((t - START) % BASE.intervalMs, 0, `${meter} off the tick`);
      // Held readings may still be pending at the end; none is missing before the last few minutes.
      const gaps = times.slice(1).filter((t, i) => t - times[i]! !== BASE.intervalMs && t < times.at(-1)! - 600_000);
      assert.deepEqual(gaps, [], `${meter} skips a tick`);
    }
  });

  it('delivers readings in event-time order except late and out-of-order ones, which trail by the stated amount', () => {
    let max = Number.NEGATIVE_INFINITY;
    const behind: Record<'late' | 'out-of-order', number[]> = { late: [], 'out-of-order': [] };
    for (const m of take(BASE, 30_000)) {
      if (INVALID.has(m.kind)) continue;
      const t = decoded(m).timestampMs;
      if (m.kind === 'late' || m.kind === 'out-of-order') {
        behind[m.kind].push(max - t);
        continue;
      }
      assert.ok(t >= max, `${m.kind} reading ${m.id} arrives after ${max}`);
      max = t;
    }
    assert.ok(behind.late.length > 100 && behind['out-of-order'].length > 100);
    for (const lag of behind['out-of-order']) assert.ok(lag >= 1000 && lag <= 5000 + BASE.intervalMs, `out-of-order by ${lag}`);
    for (const lag of behind.late) assert.ok(lag >= 120_000 && lag <= 600_000 + BASE.intervalMs, `late by ${lag}`);
  });

  it('makes anomalies the EMA detector sees, and normal readings it does not flag', () => {
    const baselines = new Map<string, EmaState>();
    const detected: Record<string, { n: number; hit: number }> = {};
    let falseAlarms = 0;
    let normal = 0;
    for (const m of take({ ...BASE, anomalyRate: 0.06 }, 30_000)) {
      if (INVALID.has(m.kind)) continue;
      const r = decoded(m);
      const step = emaStep(baselines.get(r.meterId) ?? EMPTY_EMA, r.powerKw);
      baselines.set(r.meterId, step.next);
      if (m.kind === 'spike' || m.kind === 'drop' || m.kind === 'outage') {
        const d = (detected[m.kind] ??= { n: 0, hit: 0 });
        d.n++;
        if (step.anomaly?.type === m.kind) d.hit++;
      } else {
        normal++;
        if (step.anomaly !== null) falseAlarms++;
      }
    }
    assert.equal(detected.outage!.hit, detected.outage!.n);
    for (const k of ['spike', 'drop']) assert.ok(detected[k]!.hit / detected[k]!.n >= 0.9, `${k}: ${JSON.stringify(detected[k])}`);
    assert.ok(falseAlarms / normal < 0.005, `${falseAlarms} false alarms in ${normal}`);
  });

  it('mixes timestamp encodings and the optional fields', () => {
    const seen = { utc: 0, fraction: 0, offset: 0, epochNumber: 0, epochString: 0, energy: 0, noVoltage: 0, noInterval: 0 };
    for (const m of take(BASE, 5000)) {
      if (INVALID.has(m.kind)) continue;
      const doc = JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
      const ts = doc.timestamp;
      if (typeof ts === 'number') seen.epochNumber++;
      else if (typeof ts === 'string' && /^\d+$/.test(ts)) seen.epochString++;
      else if (typeof ts === 'string' && ts.endsWith('Z')) {
        seen.utc++;
        if (ts.includes('.')) seen.fraction++;
      } else seen.offset++;
      if ('energy_kwh' in doc) {
        seen.energy++;
        const expected = ((doc.power_kw as number) * BASE.intervalMs) / 3_600_000;
        assert.ok(Math.abs((doc.energy_kwh as number) - expected) <= expected * 1e-5, m.body.toString());
      }
      if (!('voltage' in doc)) seen.noVoltage++;
      if (!('interval_s' in doc)) {
        seen.noInterval++;
        assert.ok('energy_kwh' in doc, 'interval_s is only left out when energy_kwh makes it redundant');
      } else assert.equal(doc.interval_s, 1);
    }
    for (const [name, n] of Object.entries(seen)) assert.ok(n > 0, `${name} never occurred`);
    assert.ok(seen.utc > seen.epochNumber && seen.epochNumber > seen.epochString);
  });

  it('keeps power plausible: normal readings within the base band, anomalies where they belong', () => {
    for (const m of take({ ...BASE, anomalyRate: 0.2 }, 5000)) {
      if (INVALID.has(m.kind)) continue;
      const p = decoded(m).powerKw;
      if (m.kind === 'outage') assert.ok(p >= 0 && p <= 0.05, `outage ${p}`);
      else assert.ok(p >= 0.1 && p <= 60, `${m.kind} ${p}`);
    }
  });

  it('rejects bad options', () => {
    const bad: Array<[Partial<GridTelemetryOptions>, RegExp]> = [
      [{ meters: 0 }, /meters/],
      [{ intervalMs: 0 }, /intervalMs/],
      [{ intervalMs: 1.5 }, /intervalMs/],
      [{ startTime: Number.NaN }, /startTime/],
      [{ invalidRate: 1.5 }, /invalidRate/],
      [{ anomalyRate: -0.1 }, /anomalyRate/],
      [{ lateRate: 0.3, outOfOrderRate: 0.3 }, /0\.5/],
      [{ anomalyRate: 0.6, lateRate: 0.3, outOfOrderRate: 0.2 }, /exceed 1/],
    ];
    for (const [patch, pattern] of bad) assert.throws(() => createGridTelemetryGenerator({ ...BASE, ...patch }), pattern);
    assert.equal(gridMeterId(0), 'M-0001');
    assert.equal(gridMeterId(12_344), 'M-12345');
  });
});
