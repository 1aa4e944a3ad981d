/**
 * Bad input against every registered domain (src/domains/index.ts): decoding random bytes,
 * hostile bodies and mutated valid messages gives a value or a structural IngestError with a
 * reason, never another exception; free text comes out verbatim; no NaN or Infinity reaches
 * the records the pure steps plan; every timestamp that decodes is one PostgreSQL can store.
 * A domain registered without a case in test/fixtures/bad-input/corpus.ts still gets the
 * byte-level properties, and the coverage test below names it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type pg from 'pg';
import {
  CONTROL_STRINGS, DOMAIN_CASES, EXTREME_NUMBERS, HOSTILE_BODIES, TIMESTAMP_SHAPES, TRICKY_STRINGS, UNSTORABLE_STRINGS,
  derivedBodies, mutationArb, numberTextArb, textArb, timestampTextArb, withRaw, withValue, type DomainCase, type Path,
} from '../../test/fixtures/bad-input/corpus.ts';
import { requireConfig } from '../config/index.ts';
import { isoTime } from '../lib/iso-time.ts';
import { emaStep, EMPTY_EMA, type EmaState } from '../processors/anomaly/ema.ts';
import { MIN_TIMESTAMP_MS } from '../processors/timestamps.ts';
import type { WindowAggregate } from '../processors/windows/tumbling.ts';
import { IngestError } from '../runtime/errors.ts';
import { createLogger } from '../runtime/logger.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { Pipeline } from '../runtime/pipeline.ts';
import { Readiness } from '../runtime/health.ts';
import type { Delivery, DeliveryBatch, Outcome, Source } from '../sources/types.ts';
import { collect } from './analytics/index.ts';
import type { AnalyticsMessage } from './analytics/decode.ts';
import { detectAnomalies } from './analytics/detect.ts';
import { availabilitySamples, kpiDeltas, measurementDeltas, rollupDeltas, type AggDelta, type RollupDelta } from './analytics/rollup.ts';
import type { ChatEvent } from './chat-events/decode.ts';
import type { MeterMessage } from './energy-meter/decode.ts';
import { planMeterBatch } from './energy-meter/plan.ts';
import type { GridReading } from './grid-telemetry/decode.ts';
import { readingEnergyKwh } from './grid-telemetry/energy.ts';
import { windowDeltas } from './grid-telemetry/windows.ts';
import type { Transaction } from './smart-grid/decode.ts';
import { transactionPoint } from './smart-grid/points.ts';
import { regionMinuteDeltas, secondDeltas, type RegionMinuteDelta, type SecondDelta } from './smart-grid/rollup.ts';
import { planMeters } from './smart-grid/status.ts';
import { DOMAINS } from './index.ts';
import type { Decoded, DomainHandler } from './types.ts';

const config = requireConfig({ DATABASE_URL: 'postgres://ingestd@127.0.0.1:5432/unused' });
const log = createLogger({ service: 'test', level: 'silent' });
// Decoding never touches the pool; a call on it would fail the test loudly.
const pool = new Proxy({}, { get: () => { throw new Error('decode must not use the database'); } }) as pg.Pool;

/** A batch of the same message, as if sent this many times with distinct ids: window sums and spike histories add up. */
const REPEAT = 12;

/**
 * The pure steps between decode and the database, per domain: what they return is what the
 * rows, aggregates and outbound messages are made of.
 */
interface PurePlan {
  plan(batch: ReadonlyArray<Decoded<any>>): any;
  /** Instants of the message written to timestamptz columns (and to monthly partitions). */
  times(value: any): number[];
  /** Bounds of the windows it lands in. */
  windows?(out: any): number[];
}

const PLANS: Record<string, PurePlan> = {
  'energy-meter': {
    plan: (batch: ReadonlyArray<Decoded<MeterMessage>>) => {
      const { rows, outbound, stats } = planMeterBatch(batch, new Map(), config.energyMeter);
      // The entry as received goes to a jsonb column as JSON text (where `1e400`, parsed to Infinity, is null).
      const stored = rows.map((r) => ({ ...r, reading: { ...r.reading, raw: JSON.stringify(r.reading.raw ?? null) } }));
      return { rows: stored, stats, events: outbound.map((o) => JSON.parse(o.body as string) as unknown) };
    },
    times: (m: MeterMessage) => [m.receivedAt, ...m.readings.map((r) => r.timestamp)],
  },
  'grid-telemetry': {
    plan: (batch: ReadonlyArray<Decoded<GridReading>>) => {
      const readings = batch.map((d) => d.value);
      let ema: EmaState = EMPTY_EMA;
      const steps = readings.map((r) => {
        const step = emaStep(ema, r.powerKw, config.gridTelemetry.ema);
        ema = step.next;
        return step;
      });
      return { energy: readings.map(readingEnergyKwh), w1: windowDeltas(readings, 60_000), w15: windowDeltas(readings, 900_000), steps };
    },
    times: (r: GridReading) => [r.timestampMs],
    windows: (out: { w1: WindowAggregate[]; w15: WindowAggregate[] }) => [...out.w1, ...out.w15].flatMap((w) => [w.windowStart, w.windowEnd]),
  },
  analytics: {
    plan: (batch: ReadonlyArray<Decoded<AnalyticsMessage>>) => {
      const s = config.analytics;
      const { measurements, events } = collect(batch);
      const detected = detectAnomalies(measurements, new Map(), new Map(), s.rolling);
      return {
        measurements, events, detected,
        aggs: measurementDeltas(measurements.map((r) => r.m), s.windowsS),
        rollups: rollupDeltas(events, s.windowsS),
        kpis: kpiDeltas([...detected.kpis, ...availabilitySamples(events, s.upStatuses)], s.windowsS),
      };
    },
    times: (m: AnalyticsMessage) => m.records.map((r) => r.record.time),
    windows: (out: { aggs: Map<string, AggDelta>; rollups: Map<string, RollupDelta> }) =>
      [...out.aggs.values(), ...out.rollups.values()].flatMap((d) => [d.bucketStart, d.bucketStart + d.windowS * 1000]),
  },
  'chat-events': {
    plan: (batch: ReadonlyArray<Decoded<ChatEvent>>) => batch.map((d) => d.value.items),
    times: (e: ChatEvent) => e.items.map((i) => i.updatedAt),
  },
  'smart-grid': {
    plan: (batch: ReadonlyArray<Decoded<Transaction>>) => {
      const txs = batch.map((d) => d.value);
      return { seconds: secondDeltas(txs), regions: regionMinuteDeltas(txs), meters: planMeters(new Map(), txs), points: txs.map(transactionPoint) };
    },
    times: (t: Transaction) => [t.timestampMs],
    windows: (out: { seconds: SecondDelta[]; regions: RegionMinuteDelta[] }) => [...out.seconds.map((d) => d.bucket), ...out.regions.map((d) => d.bucket + 60_000)],
  },
};

const handlers = new Map<string, DomainHandler>(DOMAINS.map((d) => [d.name, d.create({ config, log, pool, source: d.defaultSource })]));

/** Concrete routes of a domain: its registered ones (wildcards left out) and those of its cases. */
function routesOf(name: string): string[] {
  const plugin = DOMAINS.find((d) => d.name === name)!;
  const registered = plugin.routes(config, plugin.defaultSource).filter((r) => !/[*>#]/.test(r));
  return [...new Set([...registered, ...(DOMAIN_CASES[name] ?? []).map((c) => c.route)])];
}

const delivery = (route: string, body: Buffer): Delivery => ({ id: undefined, route, body, headers: {}, receivedAt: 0, origin: { attempts: 1 } });

type Decoding = { ok: true; messageId: string; value: unknown } | { ok: false; error: IngestError };

/** Decodes, and fails the property on anything but a value or a structural IngestError with a reason. */
function decode(domain: string, route: string, body: Buffer): Decoding {
  let result: { messageId: string; value: unknown };
  try {
    result = handlers.get(domain)!.decode(delivery(route, body));
  } catch (err) {
    assert.ok(err instanceof IngestError, `${domain} decode threw ${String(err)} (${(err as Error)?.constructor?.name}) for ${preview(body)}`);
    assert.equal(err.errorClass, 'structural', `${domain}: ${err.code} for ${preview(body)}`);
    assert.ok(err.message.trim().length > 0, 'a reason');
    assert.ok(err.message.isWellFormed(), 'the reason can go in a header');
    return { ok: false, error: err };
  }
  assert.equal(typeof result.messageId, 'string');
  assert.ok(result.messageId.length > 0, 'a message id');
  return { ok: true, ...result };
}

const preview = (body: Buffer): string => JSON.stringify(body.subarray(0, 200).toString());

/** The first number that is not finite, by path; null when there is none. Iterative: inputs nest deep. */
function nonFinite(root: unknown): string | null {
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${at || '/'} = ${v}`;
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push([x, `${at}/${String(k)}`]);
    } else if (v instanceof Set) {
      for (const x of v) stack.push([x, `${at}/*`]);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) stack.push([x, `${at}/${k}`]);
    }
  }
  return null;
}

/** Whether `s` appears as a whole string anywhere in `root` (values, keys, Map/Set members). */
function holds(root: unknown, s: string): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === s) return true;
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) stack.push(k, x);
  }
  return false;
}

/**
 * What a decoded message becomes: REPEAT copies through the domain's pure steps. Nothing there
 * throws, every number is finite, every instant is one a timestamptz column stores as written,
 * and the value serializes to JSON (what jsonb columns get).
 */
function planned(domain: string, route: string, ok: { messageId: string; value: unknown }): unknown {
  assert.doesNotThrow(() => JSON.stringify(ok.value), 'the decoded value serializes');
  const p = PLANS[domain];
  if (p === undefined) {
    assert.equal(nonFinite(ok.value), null, `${domain}: non-finite number in the decoded value`);
    return undefined;
  }
  const batch = Array.from({ length: REPEAT }, (_, index) => ({ index, delivery: delivery(route, Buffer.alloc(0)), messageId: `${ok.messageId}#${index}`, value: ok.value }));
  const out = p.plan(batch);
  const bad = nonFinite(out);
  assert.equal(bad, null, `${domain}: non-finite number at ${bad}`);
  // What PostgreSQL reads: years 0001-9999 with four digits (toISOString writes `+010000-…`
  // past them), for each instant, the end of its month (monthly partitions) and its windows.
  const instants = p.times(ok.value).flatMap((t) => {
    const d = new Date(t);
    return [t, Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)];
  });
  for (const t of [...instants, ...(p.windows?.(out) ?? [])]) {
    assert.ok(Number.isInteger(t) && t >= MIN_TIMESTAMP_MS, `${domain}: instant ${t} before year 0001`);
    assert.match(isoTime(t), /^\d{4}-\d{2}-\d{2}T/, `${domain}: instant ${t} past year 9999`);
  }
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
  return out;
}

/** Decode, and plan what decoded; the outcome for further checks. */
function run(domain: string, route: string, body: Buffer | string): Decoding & { out?: unknown } {
  const r = decode(domain, route, typeof body === 'string' ? Buffer.from(body) : body);
  return r.ok ? { ...r, out: planned(domain, route, r) } : r;
}

const casesOf = (domain: string): ReadonlyArray<DomainCase> => DOMAIN_CASES[domain] ?? [];

test('every registered domain has bad-input cases and a pure plan', () => {
  for (const d of DOMAINS) {
    assert.ok(casesOf(d.name).length > 0, `add cases for "${d.name}" to test/fixtures/bad-input/corpus.ts`);
    assert.ok(PLANS[d.name] !== undefined, `add the pure steps of "${d.name}" to PLANS`);
  }
  for (const d of DOMAINS) for (const c of casesOf(d.name)) assert.equal(run(d.name, c.route, JSON.stringify(c.valid)).ok, true, `${d.name} ${c.route}: the valid sample decodes`);
});

for (const { name } of DOMAINS) {
  describe(`bad input: ${name}`, () => {
    const routes = routesOf(name);
    const cases = casesOf(name);

    test('random bytes and random text decode or are structural', () => {
      fc.assert(
        fc.property(fc.constantFrom(...routes), fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)), fc.json().map((s) => Buffer.from(s))), (route, body) => {
          run(name, route, body);
        }),
        { numRuns: 200 },
      );
    });

    test('hostile bodies are structural, however deep, long or malformed', () => {
      for (const route of routes) {
        for (const { name: what, body } of HOSTILE_BODIES) {
          const r = decode(name, route, body);
          assert.equal(r.ok, false, `${what} on ${route} decoded`);
        }
      }
    });

    test('truncated, stripped, retyped and padded variants of a valid message decode or are structural', () => {
      for (const c of cases) for (const { body } of derivedBodies(c)) run(name, c.route, body);
    });

    test('mutated valid messages decode or are structural', () => {
      if (cases.length === 0) return;
      fc.assert(
        fc.property(fc.constantFrom(...cases), mutationArb(), (c, mutate) => {
          run(name, c.route, mutate(c));
        }),
        { numRuns: 200 },
      );
    });

    test('tricky text is accepted in every free-text field and kept verbatim', () => {
      for (const c of cases) {
        for (const path of c.text) {
          for (const s of TRICKY_STRINGS) {
            const r = run(name, c.route, JSON.stringify(withValue(c.valid, path, s)));
            assert.ok(r.ok, `${c.route} ${path.join('.')} = ${JSON.stringify(s)}: ${r.ok ? '' : r.error.message}`);
            assert.ok(holds({ messageId: r.messageId, value: r.value }, s), `${path.join('.')}: ${JSON.stringify(s)} not kept verbatim`);
          }
        }
      }
    });

    test('any text in a free-text field is kept verbatim or refused with a reason; lone surrogates are refused', () => {
      if (cases.length === 0) return;
      const fixed = [...CONTROL_STRINGS, ...UNSTORABLE_STRINGS];
      fc.assert(
        fc.property(fc.constantFrom(...cases), fc.nat(), fc.oneof(textArb, fc.constantFrom(...fixed)), (c, pick, s) => {
          if (c.text.length === 0) return;
          const path = c.text[pick % c.text.length]!;
          const r = run(name, c.route, JSON.stringify(withValue(c.valid, path, s)));
          // A history item that fails its schema is skipped and counted, not the event.
          const skipped = r.ok && name === 'chat-events' && (r.value as ChatEvent).items.length < (r.value as ChatEvent).itemsTotal;
          if (r.ok && !skipped) assert.ok(holds({ messageId: r.messageId, value: r.value }, s), `${path.join('.')}: ${JSON.stringify(s)} altered`);
          if (!s.isWellFormed()) assert.equal(r.ok, false, `${path.join('.')}: a lone surrogate in ${JSON.stringify(s)} was accepted; no UTF-8 column can hold it`);
        }),
        { numRuns: 200 },
      );
    });

    test('extreme numbers are data, data-level invalid with a reason, or structural; never NaN or Infinity in a record', () => {
      atEveryPath(cases, (c) => c.numbers, EXTREME_NUMBERS, numberTextArb, (c, path, raw) => checkNumber(name, c, path, raw));
    });

    test('every timestamp shape gives a storable instant or a reason', () => {
      atEveryPath(cases, (c) => c.timestamps, TIMESTAMP_SHAPES, timestampTextArb, (c, path, raw) => checkTimestamp(name, c, path, raw));
    });
  });
}

/** `check` with every fixed raw value at every path `pathsOf` gives, then with random ones at random paths. */
function atEveryPath(
  cases: ReadonlyArray<DomainCase>,
  pathsOf: (c: DomainCase) => ReadonlyArray<Path>,
  fixed: ReadonlyArray<string>,
  arb: fc.Arbitrary<string>,
  check: (c: DomainCase, path: Path, raw: string) => void,
): void {
  const withPaths = cases.filter((c) => pathsOf(c).length > 0);
  if (withPaths.length === 0) return;
  for (const c of withPaths) for (const path of pathsOf(c)) for (const raw of fixed) check(c, path, raw);
  fc.assert(
    fc.property(fc.constantFrom(...withPaths), fc.nat(), arb, (c, pick, raw) => check(c, pathsOf(c)[pick % pathsOf(c).length]!, raw)),
    { numRuns: 200 },
  );
}

/** Energy-meter: a reading stored without a value says why. */
function meterReadingsExplained(value: unknown): void {
  for (const r of (value as MeterMessage).readings) {
    if (r.value === null) assert.ok(r.reasons.some((x) => x.startsWith('invalid metric value: ')), `no reason for ${JSON.stringify(r.raw)}`);
  }
}

function checkNumber(domain: string, c: DomainCase, path: Path, raw: string): void {
  const r = run(domain, c.route, withRaw(c.valid, path, raw));
  if (r.ok && domain === 'energy-meter') meterReadingsExplained(r.value);
}

function checkTimestamp(domain: string, c: DomainCase, path: Path, raw: string): void {
  const r = run(domain, c.route, withRaw(c.valid, path, raw));
  if (!r.ok) return;
  if (domain === 'energy-meter') {
    // A reading date is data-level: a reading without a reason was read and is within tolerance.
    const m = r.value as MeterMessage;
    for (const reading of m.readings) {
      if (reading.reasons.length === 0) assert.ok(Math.abs(reading.timestamp - m.receivedAt) <= config.energyMeter.rules.toleranceMs, `${raw} valid without a reason`);
    }
  }
  if (domain === 'chat-events') {
    // Chat timestamps reach PostgreSQL as written: its timestamptz input refuses year 0000 and offsets past ±15:59.
    for (const item of (r.value as ChatEvent).items) {
      for (const [field, v] of Object.entries(item.data)) {
        if (field.endsWith('_at') && typeof v === 'string') assert.doesNotMatch(v, /^0000-|[+-](?:1[6-9]|2\d):\d\d$/, `${field} = ${v} would make PostgreSQL reject the batch`);
      }
    }
  }
}

describe('bad input: the pipeline', () => {
  test('a message over MAX_MESSAGE_BYTES is structural on every route; one at the limit goes on to decode', async () => {
    const maxMessageBytes = 4096;
    const route = new Map<string, DomainHandler>();
    for (const { name } of DOMAINS) for (const r of routesOf(name)) route.set(r, handlers.get(name)!);
    const source = { name: 'test', kind: 'memory' } as unknown as Source;
    const pipeline = new Pipeline({
      name: 'bad-input', source, route: (d) => route.get(d.route), publisher: null, pool, metrics: createMetrics(), readiness: new Readiness(), log,
      maxMessageBytes, retry: { initialMs: 1, maxMs: 1 }, onOutbox: () => undefined,
    });
    const deliveries: Delivery[] = [];
    for (const [name, r] of [...route.keys()].map((r) => [DOMAINS.find((d) => routesOf(d.name).includes(r))!.name, r] as const)) {
      const valid = casesOf(name).find((c) => c.route === r)?.valid ?? casesOf(name)[0]?.valid ?? {};
      deliveries.push(delivery(r, Buffer.from(JSON.stringify(withValue(valid, ['extra'], 'x'.repeat(maxMessageBytes))))));
      deliveries.push(delivery(r, Buffer.alloc(maxMessageBytes + 1, '[')));
      // Exactly at the limit: not too large, but not JSON either.
      deliveries.push(delivery(r, Buffer.alloc(maxMessageBytes, '{')));
    }
    const settled: Outcome[] = [];
    const batch: DeliveryBatch = { deliveries, settle: async (o) => void settled.push(o) };
    await pipeline.process(batch, new AbortController().signal);
    assert.equal(settled.length, 1);
    const dead = settled[0]!.kind === 'ack' ? settled[0]!.deadLetter : [];
    assert.equal(dead.length, deliveries.length);
    for (const { index, error } of dead) {
      assert.equal(error.errorClass, 'structural');
      assert.equal(error.code, deliveries[index]!.body.length > maxMessageBytes ? 'INGESTD_ERR_TOO_LARGE' : 'INGESTD_ERR_NOT_JSON', deliveries[index]!.route);
    }
  });
});
