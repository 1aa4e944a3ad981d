/**
 * The bad-input corpus (test/fixtures/bad-input/corpus.ts) through the real worker, mixed with
 * good messages: energy-meter over RabbitMQ, grid-telemetry and smart-grid over Kafka. The
 * worker never exits and ends ready; every published message ends stored (invalid ones with a
 * reason) or dead-lettered with x-error-class and x-error-reason, none missing and none both;
 * free text is stored byte for byte as sent; no NaN or Infinity reaches a table.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  CONTROL_STRINGS, DOMAIN_CASES, EXTREME_NUMBERS, HOSTILE_BODIES, TIMESTAMP_SHAPES, TRICKY_STRINGS, UNSTORABLE_STRINGS,
  derivedBodies, mutationArb, withRaw, withValue, type DomainCase, type Path,
} from '../fixtures/bad-input/corpus.ts';
import { clientIdOf, readingIdOf } from '../../src/domains/energy-meter/decode.ts';
import { AMQP_URL, TestBroker, uniqueTopology } from '../helpers/amqp.ts';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { createTopic, KAFKA_BROKERS, produce, readTopic, topicSize, uniqueKafkaNames } from '../helpers/kafka.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const MAX_MESSAGE_BYTES = 65_536;
const SEED = 20_260_105;

/** One message to publish; `id` is what its stored rows are found by, `texts` what must be stored as sent. */
interface Sent {
  readonly body: Buffer;
  readonly id: string | undefined;
  readonly texts: ReadonlyArray<{ readonly path: Path; readonly value: string }>;
}

const hex = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b).toString('hex');

function parsed(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The corpus for one domain case: hostile bodies, variants of the valid message, every
 * listed string, number and timestamp in each of its fields, random mutations, and good
 * messages in between. Each message gets its own id (`idPath`), so that none is taken for
 * a redelivery of another; `idOf` gives the id a stored message is found by.
 */
function corpus(c: DomainCase, idPath: Path, prefix: string, idOf: (body: Buffer) => string | undefined, good: number): Sent[] {
  const sample = String((c.valid as Record<string, unknown>)[idPath[0]!]);
  let n = 0;
  const fresh = (): string => `${prefix}-${n++}`;
  const unique = (): DomainCase => ({ ...c, valid: withValue(c.valid, idPath, fresh()) });
  const out: Array<{ body: Buffer; texts: Sent['texts'] }> = [];
  const add = (body: Buffer | string, texts: Sent['texts'] = []): void => void out.push({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), texts });
  const addGood = (): void => add(JSON.stringify(unique().valid));

  for (const { body } of HOSTILE_BODIES) add(body);
  for (const { body } of derivedBodies(c)) add(body.toString('utf8').replace(JSON.stringify(sample), () => JSON.stringify(fresh())));
  addGood();
  for (const path of c.text) {
    for (const s of [...TRICKY_STRINGS, ...CONTROL_STRINGS, ...UNSTORABLE_STRINGS]) add(JSON.stringify(withValue(unique().valid, path, s)), [{ path, value: s }]);
  }
  addGood();
  for (const path of c.numbers) for (const raw of EXTREME_NUMBERS) add(withRaw(unique().valid, path, raw));
  addGood();
  for (const path of c.timestamps) for (const raw of TIMESTAMP_SHAPES) add(withRaw(unique().valid, path, raw));
  for (const mutate of fc.sample(mutationArb(), { seed: SEED, numRuns: 60 })) add(mutate(unique()));
  add(JSON.stringify(withValue(unique().valid, ['extra'], 'z'.repeat(MAX_MESSAGE_BYTES))));
  for (let i = 0; i < good; i++) addGood();

  // Identical bodies and shared ids would be deduplicated (a redelivery): keep the first.
  const seen = new Set<string>();
  const sent: Sent[] = [];
  for (const { body, texts } of out) {
    const id = idOf(body);
    const key = id === undefined ? `body:${hex(body)}` : `id:${id}`;
    if (seen.has(key) || seen.has(`body:${hex(body)}`)) continue;
    seen.add(key);
    seen.add(`body:${hex(body)}`);
    sent.push({ body, id, texts });
  }
  // Interleave good and bad: batches mix them.
  const rnd = fc.sample(fc.array(fc.nat(), { minLength: sent.length, maxLength: sent.length }), { seed: SEED, numRuns: 1 })[0]!;
  return sent.map((s, i) => ({ s, k: rnd[i]! })).sort((a, b) => a.k - b.k).map(({ s }) => s);
}

/** Counts what ended where; every message exactly once. */
function account(sent: ReadonlyArray<Sent>, stored: ReadonlySet<string>, letters: ReadonlyArray<Buffer>): { stored: number; dead: number; missing: Sent[]; both: Sent[] } {
  const dead = new Map<string, number>();
  for (const l of letters) dead.set(hex(l), (dead.get(hex(l)) ?? 0) + 1);
  let s = 0;
  let d = 0;
  const missing: Sent[] = [];
  const both: Sent[] = [];
  for (const m of sent) {
    const inDb = m.id !== undefined && stored.has(m.id);
    const inDlq = (dead.get(hex(m.body)) ?? 0) > 0;
    if (inDlq) dead.set(hex(m.body), dead.get(hex(m.body))! - 1);
    if (inDb && inDlq) both.push(m);
    else if (inDb) s++;
    else if (inDlq) d++;
    else missing.push(m);
  }
  return { stored: s, dead: d, missing, both };
}

function assertLetterHeaders(headers: ReadonlyArray<Record<string, unknown>>): void {
  for (const h of headers) {
    assert.ok(h['x-error-class'] === 'structural' || h['x-error-class'] === 'poison', `x-error-class ${String(h['x-error-class'])}`);
    assert.ok(String(h['x-error-reason'] ?? '').trim().length > 0, 'x-error-reason');
  }
}

const preview = (m: Sent): string => JSON.stringify(m.body.subarray(0, 160).toString('utf8'));

describe('bad input through the real worker', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('energy-meter over RabbitMQ, grid-telemetry and smart-grid over Kafka: every message stored or dead-lettered, text verbatim', { timeout: 120_000 }, async (t) => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const topo = uniqueTopology();
    const broker = await TestBroker.open(topo);
    cleanups.push(() => broker.close());
    const names = uniqueKafkaNames();
    const smartTopic = `t.${randomBytes(4).toString('hex')}.smart-grid`;
    await createTopic(names.KAFKA_TOPIC!, 2);
    await createTopic(smartTopic, 2);
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-bad-input-'));
    const w = new WorkerProcess({
      DATABASE_URL: db.url, DOMAINS_ENABLED: 'energy-meter,grid-telemetry,smart-grid', LOG_LEVEL: 'warn',
      RABBITMQ_URL: AMQP_URL, ...topo,
      KAFKA_BROKERS: KAFKA_BROKERS.join(','), KAFKA_GROUP_ID: names.KAFKA_GROUP_ID!, KAFKA_TOPICS: `${names.KAFKA_TOPIC},${smartTopic}`,
      GRID_AGGREGATES_TOPIC: names.GRID_AGGREGATES_TOPIC!, GRID_ALERTS_TOPIC: names.GRID_ALERTS_TOPIC!,
      SMART_GRID_TOPIC: smartTopic, SMART_GRID_ALERTS_TOPIC: `${smartTopic}.alerts`,
      MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), DLQ_RETRY_ENABLED: 'false', RETRY_MAX: '1s',
    }, 18_741, join(dir, 'worker.log'));
    cleanups.push(() => w.kill());
    w.start();
    await w.waitReady();

    const [meterCase] = DOMAIN_CASES['energy-meter']!;
    const [gridCase] = DOMAIN_CASES['grid-telemetry']!;
    const [smartCase] = DOMAIN_CASES['smart-grid']!;
    const meterId = (b: Buffer): string | undefined => {
      const doc = parsed(b);
      if (doc === undefined) return undefined;
      return typeof doc.request_id === 'string' ? doc.request_id : `sha256:${createHash('sha256').update(b).digest('hex')}`;
    };
    const stringField = (field: string) => (b: Buffer): string | undefined => {
      const v = parsed(b)?.[field];
      return typeof v === 'string' ? v : undefined;
    };
    const meters = corpus(meterCase!, ['request_id'], 'bi', meterId, 40)
      // An empty PM array is acknowledged with nothing to store (SPEC §5.1): nothing to count it by.
      .filter((m) => { const pm = (parsed(m.body)?.payload as { PM?: unknown } | undefined)?.PM; return !(Array.isArray(pm) && pm.length === 0); });
    const grid = corpus(gridCase!, ['meter_id'], 'bi', stringField('meter_id'), 40);
    const smart = corpus(smartCase!, ['transaction_id'], 'bi', stringField('transaction_id'), 40);

    await broker.publish(meters.map((m) => m.body));
    await produce(names.KAFKA_TOPIC!, grid.map((m, i) => ({ key: String(i), body: m.body })));
    await produce(smartTopic, smart.map((m, i) => ({ key: String(i), body: m.body })));

    // energy-meter: rows by message id; dead letters from the RabbitMQ DLQ.
    const meterLetters: Array<{ body: Buffer; headers: Record<string, unknown> }> = [];
    const storedMeters = async () => new Set((await queryRows<{ id: string }>(db.url, 'SELECT DISTINCT message_id AS id FROM meter_readings_raw')).map((r) => r.id));
    await eventually(async () => {
      for (const l of await broker.drain(topo.RABBITMQ_DLQ_QUEUE!)) meterLetters.push({ body: l.content, headers: l.properties.headers ?? {} });
      const a = account(meters, await storedMeters(), meterLetters.map((l) => l.body));
      return a.missing.length === 0;
    }, 60_000, 'every energy-meter message settled').catch(async (err: unknown) => {
      const a = account(meters, await storedMeters(), meterLetters.map((l) => l.body));
      throw new Error(`${String(err)}; ${a.missing.length} missing, e.g. ${a.missing.slice(0, 3).map(preview).join(', ')}`);
    });

    // Kafka: rows by id; dead letters from `<topic>.dlq`, read once they are all there.
    const kafkaSide = async (topic: string, sent: Sent[], sql: string) => {
      const stored = async () => new Set((await queryRows<{ id: string }>(db.url, sql)).map((r) => r.id));
      await eventually(async () => (await stored()).size + (await topicSize(`${topic}.dlq`)) >= sent.length, 60_000, `every message of ${topic} settled`)
        .catch(async (err: unknown) => {
          const a = account(sent, await stored(), (await readTopic(`${topic}.dlq`).catch(() => [])).map((l) => l.value));
          throw new Error(`${String(err)}; ${a.missing.length} missing, e.g. ${a.missing.slice(0, 3).map(preview).join(', ')}`);
        });
      return { letters: await readTopic(`${topic}.dlq`), stored: await stored() };
    };
    const gridEnd = await kafkaSide(names.KAFKA_TOPIC!, grid, 'SELECT DISTINCT meter_id AS id FROM telemetry_readings');
    const smartEnd = await kafkaSide(smartTopic, smart, 'SELECT transaction_id AS id FROM smart_grid_transactions');

    // Exactly once each: stored + dead-lettered == published, none in both, no stray letters.
    const meterCount = account(meters, await storedMeters(), meterLetters.map((l) => l.body));
    for (const [what, sent, a, letters] of [
      ['energy-meter', meters, meterCount, meterLetters.length],
      ['grid-telemetry', grid, account(grid, gridEnd.stored, gridEnd.letters.map((l) => l.value)), gridEnd.letters.length],
      ['smart-grid', smart, account(smart, smartEnd.stored, smartEnd.letters.map((l) => l.value)), smartEnd.letters.length],
    ] as const) {
      assert.deepEqual(a.both.map(preview), [], `${what}: stored and dead-lettered`);
      assert.equal(a.stored + a.dead, sent.length, `${what}: stored ${a.stored} + dead-lettered ${a.dead} != published ${sent.length}`);
      assert.equal(letters, a.dead, `${what}: dead letters that match no published message`);
      assert.ok(a.stored > 40 && a.dead > 40, `${what}: ${a.stored} stored, ${a.dead} dead-lettered`);
      t.diagnostic(`${what}: ${sent.length} published = ${a.stored} stored + ${a.dead} dead-lettered`);
    }
    assertLetterHeaders(meterLetters.map((l) => l.headers));
    assertLetterHeaders([...gridEnd.letters, ...smartEnd.letters].map((l) => l.headers));

    // Invalid rows say why; no table holds NaN or Infinity.
    const count = async (sql: string): Promise<number> => Number((await queryRows<{ n: string }>(db.url, sql))[0]!.n);
    assert.equal(await count(`SELECT count(*) AS n FROM meter_readings_raw WHERE (validation_status = 'invalid') <> (coalesce(anomaly_reason, '') <> '')`), 0);
    assert.ok(await count(`SELECT count(*) AS n FROM meter_readings_raw WHERE validation_status = 'invalid'`) > 100);
    const nonFinite = (cols: string[]) => cols.map((c) => `${c} IN ('NaN', 'Infinity', '-Infinity')`).join(' OR ');
    for (const [table, cols] of [
      ['meter_readings_raw', ['metric_value']],
      ['telemetry_readings', ['power_kw', 'voltage', 'energy_kwh', 'interval_s']],
      ['aggregates_1m', ['avg_power', 'max_power', 'min_power', 'total_energy', 'sum_power']],
      ['aggregates_15m', ['avg_power', 'max_power', 'min_power', 'total_energy', 'sum_power']],
      ['grid_meters', ['baseline']],
      ['smart_grid_transactions', ['consumption_kwh', 'latitude', 'longitude', 'peak_load']],
      ['smart_grid_consumption_1s', ['total_kwh', 'max_kwh', 'min_kwh']],
      ['smart_grid_region_1m', ['total_kwh', 'max_consumption']],
    ] as const) {
      assert.equal(await count(`SELECT count(*) AS n FROM ${table} WHERE ${nonFinite([...cols])}`), 0, `${table}: NaN or Infinity`);
    }

    // Free text byte for byte: what was sent is what the columns hold.
    const bytes = async (sql: string, param: string): Promise<string | undefined> =>
      (await queryRows<{ h: string }>(db.url, sql, [param]))[0]?.h;
    const mustStore = new Set([...TRICKY_STRINGS, ...CONTROL_STRINGS]);
    const meterIds = await storedMeters();
    let checked = 0;
    for (const m of meters) {
      for (const { path, value } of m.texts) {
        if (!mustStore.has(value)) continue;
        assert.ok(m.id !== undefined && meterIds.has(m.id), `energy-meter ${path.join('.')} = ${JSON.stringify(value)} not stored`);
        const field = path.join('.');
        const got = field === 'request_id'
          ? await bytes(`SELECT encode(convert_to(message_id, 'UTF8'), 'hex') AS h FROM meter_readings_raw WHERE message_id = $1 LIMIT 1`, m.id!)
          : field === 'client_fingerprint'
            ? await bytes(`SELECT encode(convert_to(client_fingerprint, 'UTF8'), 'hex') AS h FROM meter_clients WHERE id = $1`, clientIdOf(value))
            : await bytes(`SELECT encode(convert_to(metric_name, 'UTF8'), 'hex') AS h FROM meter_readings_raw WHERE id = $1`, readingIdOf(m.id!, 0));
        assert.equal(got, hex(value), `energy-meter ${field}: ${JSON.stringify(value)}`);
        if (field === 'payload.PM.0.name') {
          const [raw] = await queryRows<{ name: string }>(db.url, `SELECT raw_payload->>'name' AS name FROM meter_readings_raw WHERE id = $1`, [readingIdOf(m.id!, 0)]);
          assert.equal(raw?.name, value, 'raw_payload keeps the name');
        }
        checked++;
      }
    }
    for (const [sent, table, key] of [[grid, 'telemetry_readings', 'meter_id'], [smart, 'smart_grid_transactions', 'transaction_id']] as const) {
      const ids = key === 'meter_id' ? gridEnd.stored : smartEnd.stored;
      for (const m of sent) {
        for (const { path, value } of m.texts) {
          const column = String(path[0]);
          // smart-grid refuses control characters in its text (InfluxDB tags cannot carry them).
          if (!TRICKY_STRINGS.includes(value) && !(table === 'telemetry_readings' && CONTROL_STRINGS.includes(value))) continue;
          assert.ok(m.id !== undefined && ids.has(m.id), `${table} ${column} = ${JSON.stringify(value)} not stored`);
          assert.equal(await bytes(`SELECT encode(convert_to(${column}, 'UTF8'), 'hex') AS h FROM ${table} WHERE ${key} = $1 LIMIT 1`, m.id!), hex(value), `${table}.${column}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 150, `${checked} strings compared`);

    // Lone surrogates are dead-lettered as structural, never stored as U+FFFD.
    const kafkaLetters = (end: typeof gridEnd) => end.letters.map((l) => ({ body: l.value, h: l.headers as Record<string, unknown> }));
    for (const [sent, letters] of [[meters, meterLetters.map((l) => ({ body: l.body, h: l.headers }))], [grid, kafkaLetters(gridEnd)], [smart, kafkaLetters(smartEnd)]] as const) {
      for (const m of sent.filter((x) => x.texts.some((t) => !t.value.isWellFormed()))) {
        const letter = letters.find((l) => l.body.equals(m.body));
        assert.ok(letter !== undefined, `lone surrogate not dead-lettered: ${preview(m)}`);
        assert.equal(letter.h['x-error-class'], 'structural');
        assert.match(String(letter.h['x-error-reason']), /lone surrogate/);
      }
    }

    assert.equal(w.child?.exitCode, null, 'the worker never exited');
    assert.equal(w.child?.signalCode, null);
    assert.equal((await w.http('/ready')).status, 200);
    assert.equal(await w.kill('SIGTERM'), 0);
  });
});
