/**
 * e2e-peer: ingestd against the tool a user would run instead of it, on the same readings
 * and the same machine, in the same run. N grid readings (10,000 meters, one reading per meter
 * per second of event time, quick: 200,000, else 1,000,000, or $BENCH_PEER_N) wait in a
 * 4-partition Kafka topic keyed by meter id before the consumer starts; then
 *
 *   ingestd         `bin/ingestd.js run`, DOMAINS_ENABLED=grid-telemetry, on a fresh migrated
 *                   database; its topic filled by `ingestd load` (a child process): raw rows,
 *                   1 m and 15 m windows, EMA alerts, exactly-once
 *   kafka-connect   Kafka Connect 3.9.1 standalone + Debezium JDBC sink 3.1.2.Final + pgjdbc
 *                   (bench/e2e/peer/): upsert on (meter_id, ts), tasks.max=2, batch.size=5000,
 *                   max.poll.records=5000, 4 MiB partition fetches, reWriteBatchedInserts; its
 *                   topic holds the same readings as Connect JSON envelopes: raw rows only
 *
 * drain into PostgreSQL, each watched the same way (peer/watch.ts): rows counted every second,
 * CPU from /proc, peak RSS. Figures per side: steady rows/s (80 % of N over the 10 % → 90 %
 * rows), seconds from launch to the last row, cores of the consumer and of PostgreSQL in the
 * steady window, peak RSS; ratio = ingestd ÷ the peer (the peer is the limit).
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generatorOptions } from '../../src/cli/load/run.ts';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { BIN, fmt, hex, KAFKA_BROKERS, repeat, round, withPg } from './common.ts';
import { ConnectProc, PEER_DIR, PEER_NAME, peerReadiness } from './peer/connect.ts';
import { expectedReadings, produceEnvelopes, type Readings } from './peer/envelopes.ts';
import { describeWatch, waitQuiet, watchDrain, type WatchResult } from './peer/watch.ts';
import { kafkaRig, withKafkaAdmin } from './rigs.ts';
import { createDatabase, logDir, migrateDatabase, Scratch, withSetup } from './scratch.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

const METERS = 10_000;
const PARTITIONS = 4;
/** Event time of the first reading (fixed: the same readings in every run). */
const START_TIME = '2026-01-05T10:00:00Z';
const ANOMALY_RATE = 0.02;

/** Readings per side: $BENCH_PEER_N, else 200,000 with --quick, else 1,000,000. */
export function peerCount(ctx: BenchContext): number {
  const env = process.env['BENCH_PEER_N'];
  if (env !== undefined && env.trim() !== '') {
    const n = Number(env);
    if (!Number.isSafeInteger(n) || n < 10) throw new Error(`BENCH_PEER_N: a whole number >= 10, got "${env}"`);
    return n;
  }
  return ctx.quick ? 200_000 : 1_000_000;
}

/** The generator options `ingestd load` gets from the flags below (same readings on both sides). */
const generator = (seed: number) =>
  generatorOptions({ rate: 0, meters: METERS, anomalyRate: ANOMALY_RATE, invalidRate: 0 }, seed, Date.parse(START_TIME));

/** Give up on a drain after this long: far beyond what either side needs. */
const limitS = (n: number): number => Math.max(300, Math.ceil(n / 2000));

interface Side {
  readonly watch: WatchResult;
  /** Setup and checks, for the notes. */
  readonly notes: string;
}

/** Rows and power total of the side's table must be those of the readings. */
async function verify(url: string, table: string, want: Readings, who: string): Promise<string> {
  const got = await withPg(url, async (c) => (await c.query<{ n: string; p: number }>(`SELECT count(*) AS n, sum(power_kw) AS p FROM ${table}`)).rows[0]!);
  const rows = Number(got.n);
  const power = Number(got.p);
  if (rows !== want.rows || Math.abs(power - want.sumPowerKw) > 1e-6 * Math.max(1, Math.abs(want.sumPowerKw))) {
    throw new Error(`${who}: stored ${fmt(rows)} rows with sum(power_kw) ${power}, expected ${fmt(want.rows)} and ${want.sumPowerKw}`);
  }
  return `verified: ${fmt(rows)} rows, sum(power_kw) ${round(power, 3)} as generated`;
}

/** `ingestd load` as a child process (what the reference harness runs), into a new topic of PARTITIONS partitions. */
async function ingestdLoad(topic: string, n: number, seed: number, logFile: string): Promise<number> {
  const args = [
    'load', '--broker', `kafka://${KAFKA_BROKERS.join(',')}`, '--domain', 'grid-telemetry', '--topic', topic, '--partitions', String(PARTITIONS),
    '--meters', String(METERS), '--count', String(n), '--rate', '0', '--seed', String(seed), '--invalid-rate', '0', '--anomaly-rate', String(ANOMALY_RATE),
    '--start-time', START_TIME,
  ];
  const t0 = performance.now();
  const child = spawn(BIN, args, {
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`ingestd load exited ${code}; log: ${logFile}`);
  return n / ((performance.now() - t0) / 1000);
}

const inTopic = (topic: string): Promise<number> =>
  withKafkaAdmin(async (admin) => (await admin.fetchTopicOffsets(topic)).reduce((a, p) => a + Number(p.high) - Number(p.low), 0));

/** ingestd's side: fresh database (migrated), topic filled by `ingestd load`, then `ingestd run` watched to the last row. */
const ingestdOnce = (ctx: BenchContext, n: number, want: Readings): Promise<Side> =>
  withSetup(ctx, (scratch) => kafkaRig(scratch, PARTITIONS), async ({ scratch, rig, db, dir }) => {
    const what = 'e2e-peer: ingestd';
    const env = { ...rig.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
    ctx.progress(`${what}: migrating a fresh database`);
    await migrateDatabase(env);
    const topic = rig.env['KAFKA_TOPIC']!;
    ctx.progress(`${what}: ingestd load of ${fmt(n)} readings into ${topic}`);
    const loadRate = await ingestdLoad(topic, n, ctx.seed, path.join(dir, 'load.log'));
    const loaded = await inTopic(topic);
    if (loaded !== n) throw new Error(`${what}: ${fmt(loaded)} messages in ${topic} after ingestd load, expected ${fmt(n)}`);
    ctx.progress(`${what}: waiting for a quiet machine`);
    const quiet = await waitQuiet(ctx.signal);

    const launchMs = Date.now();
    const worker = await WorkerProc.start(scratch, 'peer-ingestd', env, dir);
    const watch = await watchDrain({
      url: db.url, table: rig.table, pid: worker.pid, launchMs, expected: n, limitS: limitS(n), signal: ctx.signal,
      progress: (count, s) => ctx.progress(`${what}: ${fmt(count)} / ${fmt(n)} rows after ${s.toFixed(0)} s`),
    });
    const metrics = await worker.metrics().then((m) => WorkerMetrics.describe(m.since()), () => 'worker metrics unavailable');
    const code = await worker.stop();
    if (watch.endReason !== 'all rows') throw new Error(`${what}: ${describeWatch(watch)}; log: ${worker.logFile}`);
    if (code !== 0) throw new Error(`${what}: the worker exited ${code} on SIGTERM; log: ${worker.logFile}`);
    const checked = await verify(db.url, rig.table, want, what);
    return {
      watch,
      notes: [
        `ingestd load at ${fmt(loadRate)} msg/s (${PARTITIONS} partitions)`, `machine ${quiet.quiet ? 'quiet' : 'NOT quiet'} at launch (${quiet.busy} cores busy, waited ${quiet.waitedS} s)`,
        metrics, checked,
      ].join('; '),
    };
  });

/** The peer's side: fresh database with grid_raw, topic of envelopes, then the Connect JVM watched to the last row. */
async function peerOnce(ctx: BenchContext, n: number, libs: string, java: string, want: Readings): Promise<Side> {
  const what = 'e2e-peer: kafka-connect';
  const scratch = new Scratch(ctx);
  let ok = false;
  try {
    const db = await createDatabase(scratch);
    const dir = await logDir(scratch, () => ok);
    await withPg(db.url, async (c) => c.query(await readFile(path.join(PEER_DIR, 'grid_raw.sql'), 'utf8')));
    const p = `e2e.${hex(4)}`;
    const topic = `${p}.connect`;
    const connector = `e2e-peer-${hex(4)}`;
    scratch.defer(`kafka topic ${topic}, group connect-${connector}`, () => withKafkaAdmin(async (admin) => {
      await admin.deleteGroups([`connect-${connector}`]).catch(() => undefined);
      if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
    }));
    ctx.progress(`${what}: producing ${fmt(n)} Connect JSON envelopes into ${topic}`);
    const produced = await produceEnvelopes({ brokers: KAFKA_BROKERS, topic, partitions: PARTITIONS, count: n, generator: generator(ctx.seed), signal: ctx.signal });
    if (produced.inTopic !== n) throw new Error(`${what}: ${fmt(produced.inTopic)} records in ${topic}, expected ${fmt(n)}`);
    ctx.progress(`${what}: waiting for a quiet machine`);
    const quiet = await waitQuiet(ctx.signal);

    const launchMs = Date.now();
    const jvm = await ConnectProc.start(scratch, { libs, dir, connector, topic, database: db.name });
    const watch = await watchDrain({
      url: db.url, table: 'grid_raw', pid: jvm.pid, launchMs, expected: n, limitS: limitS(n), signal: ctx.signal,
      progress: (count, s) => ctx.progress(`${what}: ${fmt(count)} / ${fmt(n)} rows after ${s.toFixed(0)} s`),
    });
    await jvm.stop();
    if (watch.endReason !== 'all rows') throw new Error(`${what}: ${describeWatch(watch)}; log: ${jvm.logFile}; errors: ${await jvm.errors() || 'none logged'}`);
    const checked = await verify(db.url, 'grid_raw', want, what);
    ok = true;
    return {
      watch,
      notes: [
        `Java ${java}`, `produced at ${fmt(produced.msgsPerS)} msg/s, ${produced.avgValueBytes} B per envelope`, `machine ${quiet.quiet ? 'quiet' : 'NOT quiet'} at launch (${quiet.busy} cores busy, waited ${quiet.waitedS} s)`,
        checked,
      ].join('; '),
    };
  } finally {
    await scratch.cleanup();
  }
}

/** A side's figure from a watch that reached every row (checked before). */
const steady = (s: Side): number => s.watch.steady?.rowsPerS ?? Number.NaN;
const total = (s: Side): number => s.watch.totalS ?? Number.NaN;
const pct = (x: number | null | undefined): number => (x === null || x === undefined ? Number.NaN : Math.round(x * 100));

export const e2ePeer: Benchmark = {
  name: 'e2e-peer',
  description: `the same N grid readings drained from Kafka into PostgreSQL by ingestd and by ${PEER_NAME}; steady rows/s, launch → last row, cores, peak RSS; limit: the peer`,
  async run(ctx) {
    const n = peerCount(ctx);
    const wantIngestd = ctx.wants('ingestd');
    const wantPeer = ctx.wants('kafka-connect');
    let libs = '';
    let java = '';
    if (wantPeer) {
      const ready = await peerReadiness(ctx.progress);
      if ('skip' in ready) {
        ctx.skip(ready.skip);
        return [];
      }
      ({ libs, java } = ready);
    }
    ctx.progress(`e2e-peer: generating the ${fmt(n)} readings' checksums`);
    const want = expectedReadings(generator(ctx.seed), n);

    const runs = await repeat(ctx, async () => ({
      ingestd: wantIngestd ? await ingestdOnce(ctx, n, want) : undefined,
      peer: wantPeer ? await peerOnce(ctx, n, libs, java, want) : undefined,
    }));
    const ing = runs.map((r) => r.ingestd).filter((s) => s !== undefined);
    const peer = runs.map((r) => r.peer).filter((s) => s !== undefined);
    const notes = (sides: ReadonlyArray<Side>): string => sides.map((s) => `${describeWatch(s.watch)}; ${s.notes}`).join(' | ');
    const peerLabel = `${PEER_NAME}, same readings, same run`;
    const shape = `${fmt(n)} readings, ${fmt(METERS)} meters, ${PARTITIONS} partitions`;
    const out: BenchResult[] = [];
    const add = (r: BenchResult): void => {
      ctx.report(r);
      out.push(r);
    };
    const sideRows = (name: string, sides: ReadonlyArray<Side>, withLimit: boolean): void => {
      if (sides.length === 0) return;
      add(result({
        name, unit: 'readings/s', runs: sides.map(steady), n,
        ...(withLimit && peer.length > 0 ? { limitRuns: peer.map(steady), limitName: peerLabel } : {}),
        notes: `steady: 80 % of ${shape} over the 10 % → 90 % rows; ${notes(sides)}`,
      }));
      add(result({ name: `${name}/total`, unit: 's', runs: sides.map(total), n, notes: 'consumer launch → the count that saw the last row (start-up and group join included)' }));
      add(result({
        name: `${name}/cores`, unit: '% of core', runs: sides.map((s) => pct(s.watch.steady?.cores.consumer)), n,
        notes: `CPU of the consumer process in the steady window, percent of one core; broker ${sides.map((s) => s.watch.steady?.cores.broker ?? '?').join(', ')} cores there`,
      }));
      add(result({
        name: `${name}/postgres-cores`, unit: '% of core', runs: sides.map((s) => pct(s.watch.steady?.cores.postgres)), n,
        notes: 'CPU of every PostgreSQL process (the watcher\'s own backend left out) in the steady window, percent of one core',
      }));
      add(result({ name: `${name}/peak-rss`, unit: 'MB', runs: sides.map((s) => s.watch.peakRssMiB ?? Number.NaN), n, notes: 'VmHWM of the consumer process, MiB' }));
    };
    sideRows('peer/ingestd', ing, true);
    sideRows(`peer/kafka-connect`, peer, false);
    return out;
  },
};
