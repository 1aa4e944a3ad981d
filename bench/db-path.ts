/**
 * Database path per domain: pre-decoded batches through the handler's real prepare() and
 * apply() in one transaction each (inTransaction), plus what the pipeline's unit of work
 * writes with them (the outbox row of apply()'s messages; Kafka checkpoints), against a
 * fresh database migrated with the project's migrate(). With 1 and with 4 transactions at
 * once: 4 is the Kafka source's default (KAFKA_CONSUMER_COUNT), each taking the batches of
 * one partition, the messages spread over partitions by key as a producer keyed by meter
 * would.
 *
 * Limit, in the same run: COPY (the project's copyRows) of the same raw rows, in the same
 * batches and with the same concurrency, into an unindexed table with the raw table's
 * columns. ratio = how much of bare bulk-insert speed the domain's transaction keeps.
 *
 * Every pass starts from empty tables (TRUNCATE, then CHECKPOINT), so all repetitions do
 * the same work: new rows, no redeliveries.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../src/config/index.ts';
import { findDomain } from '../src/domains/index.ts';
import type { Decoded, DomainHandler } from '../src/domains/types.ts';
import { readingIdOf, type MeterMessage } from '../src/domains/energy-meter/decode.ts';
import { detectReadings } from '../src/domains/energy-meter/detect.ts';
import type { GridReading } from '../src/domains/grid-telemetry/decode.ts';
import type { Transaction } from '../src/domains/smart-grid/decode.ts';
import { writeCheckpoints } from '../src/sinks/postgres/checkpoints.ts';
import { copyRows, type CopyValue } from '../src/sinks/postgres/copy.ts';
import { migrate } from '../src/sinks/postgres/migrate.ts';
import { writeOutbox } from '../src/sinks/postgres/outbox.ts';
import { createPool, inTransaction } from '../src/sinks/postgres/pool.ts';
import { migrationSets, enabledDomains } from '../src/runtime/worker.ts';
import { benchConfig, chunk, partitionOf, result, silentLogger, timed, type BenchContext, type BenchResult, type Benchmark } from './lib.ts';
import { traffic, type DomainName } from './messages.ts';

const BASE_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PARTITIONS = 4;
const CONCURRENCY = [1, PARTITIONS] as const;
const LIMIT_NAME = 'COPY of the same rows into an unindexed table';

const iso = (ms: number): string => new Date(ms).toISOString();

interface DbDomain {
  readonly name: DomainName;
  /**
   * Messages per pass (quick: a fifth) and per batch. Sized so that a pass takes a few
   * seconds at one transaction at a time on the 2-core reference machine (the README's
   * 200 000-message drains take half a minute or more there, too long to repeat).
   */
  readonly count: number;
  readonly batch: number;
  /** Raw table and its columns, copied by the limit. */
  readonly rawTable: string;
  readonly columns: ReadonlyArray<string>;
  /** Every table apply() writes, emptied before each pass. */
  readonly tables: ReadonlyArray<string>;
  /** The Kafka key (partition) of a decoded message. */
  keyOf(value: any): string;
  /** The raw rows of the decoded messages, in order, one list per message. */
  rows(decoded: ReadonlyArray<Decoded<any>>, config: Config): CopyValue[][][];
}

const DOMAINS: ReadonlyArray<DbDomain> = [
  {
    name: 'grid-telemetry',
    count: 40_000, // 2000 meters × 20 s
    batch: 2000, // KAFKA_BATCH_SIZE default
    rawTable: 'telemetry_readings',
    columns: ['meter_id', 'region', 'timestamp', 'power_kw', 'voltage', 'energy_kwh', 'interval_s'],
    tables: ['telemetry_readings', 'aggregates_1m', 'aggregates_15m', 'grid_meters', 'grid_alerts', 'stream_watermarks'],
    keyOf: (r: GridReading) => r.meterId,
    rows: (decoded: ReadonlyArray<Decoded<GridReading>>) =>
      decoded.map(({ value: r }) => [[r.meterId, r.region, iso(r.timestampMs), r.powerKw, r.voltage, r.energyKwh, r.intervalS]]),
  },
  {
    name: 'smart-grid',
    count: 40_000,
    batch: 2000,
    rawTable: 'smart_grid_transactions',
    columns: ['transaction_id', 'timestamp', 'meter_id', 'region', 'status', 'building_type', 'consumption_kwh', 'latitude', 'longitude', 'peak_load'],
    tables: ['smart_grid_transactions', 'smart_grid_consumption_1s', 'smart_grid_region_1m', 'smart_grid_region_meters_1m', 'smart_grid_meters', 'smart_grid_alerts'],
    keyOf: (t: Transaction) => t.meterId,
    rows: (decoded: ReadonlyArray<Decoded<Transaction>>) =>
      decoded.map(({ value: t }) => [[t.transactionId, iso(t.timestampMs), t.meterId, t.region, t.status, t.buildingType, t.consumptionKwh, t.latitude, t.longitude, t.peakLoad]]),
  },
  {
    name: 'energy-meter',
    count: 10_000, // 20 000 readings
    batch: 1000, // RABBITMQ_PREFETCH=1000, the README's throughput setting
    rawTable: 'meter_readings_raw',
    columns: ['id', 'message_id', 'client_id', 'metric_name', 'metric_value', 'reading_timestamp', 'received_at', 'validation_status', 'anomaly_reason', 'raw_payload'],
    tables: ['meter_readings_raw', 'meter_metric_history', 'meter_clients'],
    keyOf: (m: MeterMessage) => m.clientId,
    // The rows insertReadings() copies (its rowsOf is not exported: same columns and values).
    rows: (decoded: ReadonlyArray<Decoded<MeterMessage>>, config) => {
      const histories = new Map<string, number[]>();
      return decoded.map(({ messageId, value: m }) =>
        detectReadings(m.clientId, m.readings, histories, config.energyMeter.spike).map((r, i) => [
          readingIdOf(messageId, i), messageId, m.clientId, r.name, r.value, iso(r.timestamp), iso(m.receivedAt), r.status, r.reason, JSON.stringify(r.raw ?? null),
        ]),
      );
    },
  },
];

export const dbPath: Benchmark = {
  name: 'db-path',
  description: 'grid-telemetry, smart-grid, energy-meter: real apply() per batch in a transaction, 1 and 4 at once; limit: COPY of the same rows',
  async run(ctx) {
    const wanted = DOMAINS.filter((d) => ctx.wants(d.name));
    if (wanted.length === 0) return [];
    const admin = new pg.Client({ connectionString: BASE_URL });
    await admin.connect();
    const dbName = `bench_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${dbName}`);
    ctx.progress(`db-path: database ${dbName} created`);
    const url = new URL(BASE_URL);
    url.pathname = `/${dbName}`;
    const config = benchConfig({ DATABASE_URL: url.toString(), DOMAINS_ENABLED: wanted.map((d) => d.name).join(',') });
    const log = silentLogger();
    const pool = createPool({ ...config.database, applicationName: 'ingestd-bench' }, log);
    const out: BenchResult[] = [];
    try {
      await migrate(pool, migrationSets(enabledDomains(config), config), log);
      const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
      ctx.progress(`db-path: PostgreSQL ${rows[0]?.server_version}, migrated`);
      for (const d of wanted) {
        for (const r of await runDomain(ctx, d, config, pool)) {
          ctx.report(r);
          out.push(r);
        }
      }
    } finally {
      await pool.end().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err: unknown) => console.error(`bench: could not drop ${dbName}: ${String(err)}`));
      await admin.end();
      ctx.progress(`db-path: database ${dbName} dropped`);
    }
    return out;
  },
};

/**
 * The batches, by transaction slot. The messages are spread over 4 partitions by key and
 * each partition cut into batches, as a Kafka consumer receives them; 4 slots take one
 * partition each, 1 slot takes the same batches round-robin (one consumer, one batch at a
 * time). So both concurrencies do exactly the same transactions.
 */
function layout(decoded: ReadonlyArray<Decoded<any>>, d: DbDomain, concurrency: number): Decoded<any>[][][] {
  const parts: Decoded<any>[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const m of decoded) parts[partitionOf(d.keyOf(m.value), PARTITIONS)]!.push(m);
  const batches = parts.map((p) => chunk(p, d.batch));
  if (concurrency === PARTITIONS) return batches;
  const one: Decoded<any>[][] = [];
  for (let i = 0; i < Math.max(...batches.map((b) => b.length)); i++) for (const b of batches) if (i < b.length) one.push(b[i]!);
  return [one];
}

async function runDomain(ctx: BenchContext, d: DbDomain, config: Config, pool: pg.Pool): Promise<BenchResult[]> {
  const count = ctx.quick ? d.count / 5 : d.count;
  const source = config.sources[d.name]!;
  const handler: DomainHandler = findDomain(d.name)!.create({ config, pool, log: silentLogger(), source });
  ctx.progress(`db-path: ${d.name}: generating and decoding ${count} messages (seed ${ctx.seed})`);
  // Decoded before timing, as the pipeline would: dead letters out, in-batch duplicates once.
  const seen = new Set<string>();
  const decoded: Decoded<any>[] = [];
  traffic(d.name, config, { seed: ctx.seed, count }).forEach(({ delivery }, index) => {
    try {
      const { messageId, value } = handler.decode(delivery);
      if (!seen.has(messageId)) decoded.push({ index, delivery, messageId, value });
      seen.add(messageId);
    } catch {
      // dead letter
    }
  });
  const rowsOf = new Map<Decoded<any>, CopyValue[][]>();
  const all = d.rows(decoded, config);
  decoded.forEach((m, i) => rowsOf.set(m, all[i]!));
  const rowCount = all.reduce((n, r) => n + r.length, 0);
  const copyTable = `bench_copy_${d.rawTable}`;
  await pool.query(`CREATE TABLE ${copyTable} (LIKE ${d.rawTable} INCLUDING DEFAULTS)`);

  const route = decoded[0]!.delivery.route;
  const apply = async (batch: Decoded<any>[], partition: number): Promise<void> => {
    // Pipeline#unitOfWork: prepare() outside, then apply(), outbox and checkpoints in one transaction.
    await handler.prepare?.(batch);
    await inTransaction(pool, async (tx) => {
      const r = await handler.apply(tx, batch);
      if (r.outbound.length > 0) await writeOutbox(tx, source, r.outbound);
      if (source === 'kafka') {
        await writeCheckpoints(tx, [{ source: 'kafka', stream: route, partition, offset: String(batch[batch.length - 1]!.index + 1) }]);
      }
    });
  };
  const copy = async (batch: Decoded<any>[]): Promise<void> => {
    await inTransaction(pool, (tx) => copyRows(tx, copyTable, d.columns, batch.flatMap((m) => rowsOf.get(m)!)));
  };
  const reset = async (): Promise<void> => {
    await pool.query(`TRUNCATE ${[...d.tables, copyTable, 'ingestd_outbox', 'worker_checkpoints'].join(', ')} CASCADE`);
    await pool.query('CHECKPOINT');
  };
  const drive = async (slots: Decoded<any>[][][], work: (b: Decoded<any>[], slot: number) => Promise<void>): Promise<void> => {
    await Promise.all(slots.map(async (batches, slot) => {
      for (const b of batches) {
        ctx.signal.throwIfAborted();
        await work(b, slot);
      }
    }));
  };

  // Warm-up: JIT, partitions, plan and catalog caches.
  ctx.progress(`db-path: ${d.name}: warm-up`);
  const warm = layout(decoded.slice(0, d.batch * 8), d, 4);
  await drive(warm, apply);
  await drive(warm, (b) => copy(b));
  await reset();

  const reps = ctx.reps ?? (ctx.quick ? 1 : 3);
  const results: BenchResult[] = [];
  for (const c of CONCURRENCY) {
    const slots = layout(decoded, d, c);
    const value: number[] = [];
    const limit: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      ctx.progress(`db-path: ${d.name}: ${c} at once, repetition ${rep + 1}/${reps}`);
      value.push(rowCount / (await timed(() => drive(slots, apply))).wall);
      const stored = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${d.rawTable}`);
      if (Number(stored.rows[0]!.n) !== rowCount) throw new Error(`${d.name}: ${stored.rows[0]!.n} raw rows stored, expected ${rowCount}`);
      await reset();
      limit.push(rowCount / (await timed(() => drive(slots, (b) => copy(b)))).wall);
      await reset();
    }
    const batches = slots.reduce((n, s) => n + s.length, 0);
    results.push(result({
      name: `db/${d.name}/x${c}`,
      unit: 'rows/s',
      runs: value,
      limitRuns: limit,
      limitName: LIMIT_NAME,
      n: rowCount,
      notes: `${decoded.length} messages, ${rowCount} raw rows, ${batches} transactions of <= ${d.batch} messages, ${c} at once`,
    }));
    ctx.report(results[results.length - 1]!);
  }
  await pool.query(`DROP TABLE ${copyTable}`);
  return results;
}
