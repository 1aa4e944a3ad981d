import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { SeriesState } from '../../processors/anomaly/western-electric.ts';
import type { AnalyticsEvent, Measurement } from './records.ts';
import { kpiDeltas as kpiMap, measurementDeltas as measurementMap, mergeAggDeltas, mergeKpiDeltas, mergeRollupDeltas, rollupDeltas as rollupMap } from './rollup.ts';
import { detectAnomalies } from './detect.ts';
import { specKey } from './store.ts';

// The deltas as a list (they are folded into a map by key).
const measurementDeltas = (...a: Parameters<typeof measurementMap>) => [...measurementMap(...a).values()];
const rollupDeltas = (...a: Parameters<typeof rollupMap>) => [...rollupMap(...a).values()];
const kpiDeltas = (...a: Parameters<typeof kpiMap>) => [...kpiMap(...a).values()];

const m = (time: number, value: number, over: Partial<Measurement> = {}): Measurement => ({
  kind: 'measurement', time, tenantId: 't1', factoryId: 'f1', machineId: 'mc-01', sensorId: 's-001', metric: 'temp', unit: 'C', value, sampleId: null, ...over,
});

test('measurement deltas: one per series, window and bucket, with sums that add', () => {
  const deltas = measurementDeltas([m(0, 1), m(59_999, 3), m(60_000, 5), m(30_000, 2, { machineId: 'mc-02' })], [60, 300]);
  const one = deltas.find((d) => d.windowS === 60 && d.bucketStart === 0 && d.machineId === 'mc-01')!;
  assert.deepEqual({ count: one.count, sum: one.sum, sumSq: one.sumSq, min: one.min, max: one.max, last: one.lastVal }, { count: 2, sum: 4, sumSq: 10, min: 1, max: 3, last: 3 });
  const five = deltas.find((d) => d.windowS === 300 && d.machineId === 'mc-01')!;
  assert.equal(five.count, 3);
  assert.equal(five.lastVal, 5);
  assert.equal(deltas.length, 5, 'mc-01: two 60 s buckets + one 300 s; mc-02: one of each');
});

test('last value is the latest by time, whatever the order (ties: the larger value)', () => {
  const a = measurementDeltas([m(10, 7), m(5, 9)], [60])[0]!;
  const b = measurementDeltas([m(5, 9), m(10, 7)], [60])[0]!;
  assert.equal(a.lastVal, 7);
  assert.equal(b.lastVal, 7);
  assert.equal(measurementDeltas([m(10, 1, { sampleId: 'a' }), m(10, 4, { sampleId: 'b' })], [60])[0]!.lastVal, 4);
});

test('deltas of two shards merged equal the deltas of all their items folded at once, for any split', () => {
  const machine = fc.constantFrom('mc-01', 'mc-02');
  const item = fc.record({ time: fc.integer({ min: 0, max: 600_000 }), value: fc.integer({ min: -50, max: 50 }), machine, good: fc.boolean() });
  fc.assert(fc.property(fc.array(item, { maxLength: 30 }), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), (items, side) => {
    const ms = items.map((x) => m(x.time, x.value, { machineId: x.machine }));
    const evs = items.map((x) => ({ subDomain: 'device', event: { ...health(x.time, x.good ? 'online' : 'offline', x.machine), value: x.value } }));
    const kpis = items.map((x) => ({ time: x.time, tenantId: 't1', factoryId: 'f1', machineId: x.machine, kpi: 'availability' as const, metric: '', good: x.good }));
    const left = <T>(xs: T[]) => xs.filter((_, i) => side[i]);
    const right = <T>(xs: T[]) => xs.filter((_, i) => !side[i]);
    const sorted = <D>(map: Map<string, D>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

    const aggs = measurementMap(left(ms), [60, 300]);
    mergeAggDeltas(aggs, measurementMap(right(ms), [60, 300]));
    assert.deepEqual(sorted(aggs), sorted(measurementMap(ms, [60, 300])));
    const rollups = rollupMap(left(evs), [60]);
    mergeRollupDeltas(rollups, rollupMap(right(evs), [60]));
    assert.deepEqual(sorted(rollups), sorted(rollupMap(evs, [60])));
    const k = kpiMap(left(kpis), [60]);
    mergeKpiDeltas(k, kpiMap(right(kpis), [60]));
    assert.deepEqual(sorted(k), sorted(kpiMap(kpis, [60])));
  }));
});

test('buckets are epoch-aligned, and times before 1970 floor', () => {
  const [d] = measurementDeltas([m(-1, 1)], [60]);
  assert.equal(d!.bucketStart, -60_000);
});

const health = (time: number, status: string, machine = 'mc-01'): AnalyticsEvent => ({
  kind: 'event', time, tenantId: 't1', factoryId: 'f1', entityType: 'machine', entityId: machine, eventType: `health.${status}`, value: null, discriminator: '', payload: { status },
});

test('event rollups count per type and window, summing values where events carry them', () => {
  const sweep: AnalyticsEvent = { ...health(1000, 'x'), eventType: 'sweep', value: 4, discriminator: 'temp' };
  const deltas = rollupDeltas([
    { subDomain: 'device', event: health(0, 'online') }, { subDomain: 'device', event: health(1, 'online') },
    { subDomain: 'device', event: health(2, 'offline') }, { subDomain: 'sweep', event: sweep }, { subDomain: 'sweep', event: { ...sweep, value: 6 } },
  ], [60]);
  const by = Object.fromEntries(deltas.map((d) => [d.eventType, d]));
  assert.equal(by['health.online']!.count, 2);
  assert.equal(by['health.offline']!.count, 1);
  assert.deepEqual([by['sweep']!.count, by['sweep']!.sumVal, by['sweep']!.valueN], [2, 10, 2]);
  assert.equal(by['health.online']!.valueN, 0);
});

test('KPI deltas: numerator counts the good samples, denominator all', () => {
  const deltas = kpiDeltas([
    { time: 0, tenantId: 't1', factoryId: 'f1', machineId: 'mc-01', kpi: 'availability', metric: '', good: true },
    { time: 1, tenantId: 't1', factoryId: 'f1', machineId: 'mc-01', kpi: 'availability', metric: '', good: false },
    { time: 2, tenantId: 't1', factoryId: 'f1', machineId: 'mc-01', kpi: 'availability', metric: '', good: true },
  ], [60, 3600]);
  assert.equal(deltas.length, 2);
  assert.ok(deltas.every((d) => d.numerator === 2 && d.denominator === 3));
});

test('detect: out of spec and in-spec samples from the specification; rules from its control limits', () => {
  const specs = new Map([[specKey('t1', 'temp'), { lsl: 20, usl: 26, target: 23, sigma: 1 }]]);
  const ms = [m(0, 23), m(1, 27), m(2, 19.5), m(3, 23.5)].map((x, i) => ({ id: `id-${i}`, m: x }));
  const r = detectAnomalies(ms, specs, new Map(), { window: 30, minHistory: 10 });
  assert.deepEqual(r.anomalies.map((a) => `${a.rule}@${a.m.time}`).sort(), ['out_of_spec@1', 'out_of_spec@2', 'we1@1', 'we1@2']);
  assert.ok(r.anomalies.every((a) => a.basis === 'spec'));
  assert.deepEqual(r.kpis.map((k) => k.good), [true, false, false, true]);
  assert.equal(r.states.size, 1);
});

test('detect: no specification → rolling limits, no in-spec samples', () => {
  const warm = Array.from({ length: 10 }, (_, i) => m(100 + i, 10 + (i % 3) - 1));
  const ms = [...warm, m(1000, 50)].map((x, i) => ({ id: `id-${i}`, m: x }));
  const r = detectAnomalies(ms, new Map(), new Map(), { window: 30, minHistory: 10 });
  assert.deepEqual(r.anomalies.map((a) => `${a.rule}:${a.basis}@${a.m.time}`), ['we1:rolling@1000']);
  assert.equal(r.kpis.length, 0);
});

test('detect: points in the order they arrive, so a batch finds what the same measurements find one batch each', () => {
  // Delivered newest first: the spike comes before any history, as it would alone in its batch.
  const warm = Array.from({ length: 10 }, (_, i) => m(100 + i, 10 + (i % 3) - 1));
  const late = [m(1000, 50), ...warm.reverse()].map((x, i) => ({ id: `id-${i}`, m: x }));
  assert.deepEqual(detectAnomalies(late, new Map(), new Map(), { window: 30, minHistory: 10 }).anomalies, []);
});

test('detect, property: one batch gives the anomalies and series states of the same measurements split into any batches', () => {
  const rolling = { window: 8, minHistory: 3 };
  const specs = new Map([[specKey('t1', 'temp'), { lsl: 20, usl: 26, target: 23, sigma: 1 }]]);
  const point = fc.record({ machine: fc.constantFrom('mc-01', 'mc-02'), metric: fc.constantFrom('temp', 'rpm'), time: fc.integer({ min: 0, max: 20 }), value: fc.integer({ min: 15, max: 31 }) });
  fc.assert(fc.property(fc.array(point, { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 40, maxLength: 40 }), (points, sizes) => {
    const ms = points.map((p, i) => ({ id: `id-${i}`, m: m(p.time, p.value, { machineId: p.machine, metric: p.metric }) }));
    // What applyAnalyticsBatch does with a result: the series states are stored for the next batch.
    const run = () => ({ states: new Map<string, SeriesState>(), anomalies: [] as string[] });
    const apply = (into: ReturnType<typeof run>, part: typeof ms) => {
      const r = detectAnomalies(part, specs, into.states, rolling);
      for (const [key, s] of r.states) into.states.set(key, s.state);
      // Anomaly ids name the rule and the measurement: the same id is the same finding.
      into.anomalies.push(...r.anomalies.map((a) => a.id));
    };
    const whole = run();
    apply(whole, ms);
    const split = run();
    let from = 0;
    for (const size of sizes) {
      apply(split, ms.slice(from, from + size));
      from += size;
    }
    assert.deepEqual(whole.anomalies.sort(), split.anomalies.sort());
    assert.deepEqual(whole.states, split.states);
  }), { numRuns: 1_000 });
});
