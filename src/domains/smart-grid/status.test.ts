import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { uuidV5 } from '../../lib/ids.ts';
import type { Transaction } from './decode.ts';
import { SMART_GRID_STATUSES, type MeterStatus } from './schema.ts';
import { planMeters, type MeterHead, type StatusAlert } from './status.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const tx = (id: string, meter: string, ms: number, status: MeterStatus, kwh = 1): Transaction => ({
  transactionId: id, meterId: meter, region: 'north', status, buildingType: 'residential', consumptionKwh: kwh, latitude: 52, longitude: 5, peakLoad: 1, timestampMs: ms,
});
const head = (status: MeterStatus, sinceMs: number, lastMs: number, id = 'z'): MeterHead => ({ status, statusSinceMs: sinceMs, lastSeenMs: lastMs, lastTransactionId: id });
const brief = (a: StatusAlert) => [a.meterId, a.type, a.previousStatus, a.timestampMs - T0];

describe('smart-grid meter status, one transaction at a time', () => {
  it('a fault that starts and ends inside one batch alerts, and status_since follows the last change', () => {
    const stored = new Map([['M1', head('active', T0, T0 + 1_000)]]);
    const plan = planMeters(stored, [tx('a', 'M1', T0 + 59_600, 'fault', 0.2), tx('b', 'M1', T0 + 59_900, 'active')]);
    assert.deepEqual(plan.alerts.map(brief), [['M1', 'fault', 'active', 59_600]]);
    assert.equal(plan.alerts[0]!.consumptionKwh, 0.2);
    assert.deepEqual(plan.rows.map((r) => [r.meterId, r.status, r.previousStatus, r.statusSinceMs - T0, r.lastSeenMs - T0, r.lastTransactionId]),
      [['M1', 'active', 'fault', 59_900, 59_900, 'b']]);
  });

  it('alerts on entering fault or offline (first seen that way included), not while the status stays', () => {
    const stored = new Map([['A', head('active', T0, T0)], ['B', head('fault', T0, T0)], ['D', head('fault', T0, T0)]]);
    const plan = planMeters(stored, [
      tx('1', 'A', T0 + 1, 'fault'), tx('2', 'B', T0 + 1, 'fault'), tx('3', 'C', T0 + 1, 'offline'), tx('4', 'D', T0 + 1, 'active'),
      tx('5', 'C', T0 + 2, 'offline'), tx('6', 'A', T0 + 3, 'offline'),
    ]);
    assert.deepEqual(plan.alerts.map(brief), [['A', 'fault', 'active', 1], ['C', 'offline', null, 1], ['A', 'offline', 'fault', 3]]);
    assert.deepEqual(plan.rows.map((r) => [r.meterId, r.status, r.statusSinceMs - T0]), [['A', 'offline', 3], ['B', 'fault', 0], ['C', 'offline', 1], ['D', 'active', 1]]);
    // The id names the transition (as it always has: alerts stored before stay deduplicated), so
    // a redelivery of the same transaction plans the same alert.
    assert.equal(plan.alerts[0]!.alertId, uuidV5(`smart-grid-alert:A:${T0 + 1}:fault`));
    assert.equal(planMeters(stored, [tx('other', 'A', T0 + 1, 'fault')]).alerts[0]!.alertId, plan.alerts[0]!.alertId);
  });

  it('a transaction not newer than the state changes nothing, in the batch or against the stored row (ties by id)', () => {
    const stored = new Map([['M1', head('active', T0, T0 + 500, 'm')]]);
    const plan = planMeters(stored, [
      tx('a', 'M1', T0 + 400, 'fault'), // older than the stored row
      tx('c', 'M1', T0 + 500, 'fault'), // same time, smaller id than the stored one
      tx('x', 'M1', T0 + 900, 'active'),
      tx('w', 'M1', T0 + 700, 'offline'), // older than the batch's 900
    ]);
    assert.deepEqual(plan.alerts, []);
    assert.deepEqual(plan.rows.map((r) => [r.status, r.statusSinceMs - T0, r.lastTransactionId]), [['active', 0, 'x']]);
    assert.deepEqual(planMeters(stored, [tx('n', 'M1', T0 + 500, 'fault')]).alerts.map(brief), [['M1', 'fault', 'active', 500]]);
  });

  it('the same transition twice in a batch (same meter, time and status) alerts once, as in batches of its own', () => {
    const plan = planMeters(new Map(), [tx('a', 'M1', T0, 'fault'), tx('b', 'M1', T0, 'active'), tx('c', 'M1', T0, 'fault')]);
    assert.deepEqual(plan.alerts.map(brief), [['M1', 'fault', null, 0]]);
    assert.deepEqual(plan.rows.map((r) => [r.status, r.previousStatus, r.lastTransactionId]), [['fault', 'active', 'c']]);
  });

  it('property: one batch gives the same rows and alerts as the same transactions split into any batches', () => {
    const status = fc.constantFrom(...SMART_GRID_STATUSES);
    const meter = fc.constantFrom('M1', 'M2', 'M3');
    // Few distinct times and ids: ties, repeats and late transactions are common.
    const transaction = fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e'), meter, ms: fc.integer({ min: 0, max: 6 }), status })
      .map((t) => tx(t.id, t.meter, T0 + t.ms * 100, t.status));
    const storedArb = fc.dictionary(meter, fc.record({ status, since: fc.integer({ min: 0, max: 3 }), last: fc.integer({ min: 3, max: 4 }), id: fc.constantFrom('a', 'c', 'e') }))
      .map((d) => new Map(Object.entries(d).map(([m, h]) => [m, head(h.status, T0 + h.since * 100, T0 + h.last * 100, h.id)] as const)));
    fc.assert(fc.property(storedArb, fc.array(transaction, { maxLength: 25 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 25, maxLength: 25 }), (stored, txs, sizes) => {
      // What applyBatch does with a plan: rows replace the heads; alerts whose id was not stored
      // before the batch are stored and published.
      const run = () => ({ state: new Map(stored), stored: new Set<string>(), published: [] as StatusAlert[] });
      const apply = (into: ReturnType<typeof run>, part: ReadonlyArray<Transaction>) => {
        const plan = planMeters(into.state, part);
        for (const r of plan.rows) into.state.set(r.meterId, r);
        const fresh = plan.alerts.filter((a) => !into.stored.has(a.alertId));
        for (const a of fresh) into.stored.add(a.alertId);
        into.published.push(...fresh);
      };
      const whole = run();
      apply(whole, txs);
      const split = run();
      let from = 0;
      for (const size of sizes) {
        apply(split, txs.slice(from, from + size));
        from += size;
      }
      assert.deepEqual(whole, split);
    }), { numRuns: 2_000 });
  });
});
