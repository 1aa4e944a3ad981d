/**
 * smart-grid end to end, Kafka → PostgreSQL and InfluxDB: a backlog of N transactions waits in
 * a 32-partition topic (SPEC §5.5) before `ingestd run` starts against a fresh database and a
 * fresh InfluxDB database; transactions/s from its first to its last commit (each checkpoint
 * writes its raw points to InfluxDB before it commits, so a committed transaction is in both).
 *
 *   e2e/kafka/smart-grid            transactions/s, first → last commit
 *   e2e/kafka/smart-grid/peak-rss   the worker's VmHWM at the end of the drain, MB (MiB)
 *
 * Limit, in the same run: InfluxDB's own write rate for the same points. The raw points of the
 * same transactions, encoded to line protocol beforehand (not timed), are written to another
 * fresh database in requests of INFLUXDB_BATCH_SIZE (5,000) points, one at a time, as the
 * worker writes them: points/s over the whole write.
 */
import { decodeTransaction } from '../../src/domains/smart-grid/decode.ts';
import { transactionPoint } from '../../src/domains/smart-grid/points.ts';
import { encodePoint } from '../../src/sinks/influxdb/line-protocol.ts';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { CommitClock, commitSpan } from './commit-clock.ts';
import { fmt, hex, INFLUX_URL, repeat, sleep } from './common.ts';
import { describeSpan, preload, waitForDrain } from './drain.ts';
import { influxQuery, smartGridRig } from './rigs.ts';
import { withSetup } from './scratch.ts';
import type { Traffic } from './traffic.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

const COUNT = 200_000;
const INFLUX_BATCH = 5000;

interface Run {
  readonly rate: number;
  readonly limit: number;
  readonly rssMb: number;
  readonly rows: number;
  readonly notes: string;
}

/** Raw points in a database's default retention policy. */
async function pointsIn(db: string): Promise<number> {
  const [r] = await influxQuery('SELECT count(consumption_kwh) FROM energy_consumption', db);
  return Number(r?.series?.[0]?.values[0]?.[1] ?? 0);
}

/** InfluxDB's write rate for the raw points of these messages: points/s, and how many. */
async function influxWriteRate(t: Traffic): Promise<{ rate: number; points: number; requests: number }> {
  const lines: string[] = [];
  for (const m of t.messages) {
    try {
      lines.push(encodePoint(transactionPoint(decodeTransaction(m.body).value)));
    } catch {
      // a dead letter: no point
    }
  }
  const db = `e2e_${hex(4)}_limit`;
  await influxQuery(`CREATE DATABASE "${db}"`);
  try {
    const bodies: string[] = [];
    for (let i = 0; i < lines.length; i += INFLUX_BATCH) bodies.push(`${lines.slice(i, i + INFLUX_BATCH).join('\n')}\n`);
    const url = `${INFLUX_URL}/write?${new URLSearchParams({ db, precision: 'ms' }).toString()}`;
    const started = performance.now();
    for (const body of bodies) {
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' } });
      if (res.status !== 204) throw new Error(`InfluxDB write ${res.status}: ${await res.text()}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const stored = await pointsIn(db);
    if (stored < lines.length * 0.99) throw new Error(`InfluxDB kept ${stored} of ${lines.length} points written`);
    return { rate: lines.length / seconds, points: lines.length, requests: bodies.length };
  } finally {
    await influxQuery(`DROP DATABASE "${db}"`).catch(() => undefined);
  }
}

const drainOnce = (ctx: BenchContext, count: number): Promise<Run> =>
  withSetup(ctx, (scratch) => smartGridRig(scratch), async ({ scratch, rig, db, dir }) => {
    const what = 'e2e-smart-grid';
    const { t, publishRate } = await preload(ctx, rig, count, false, what);
    const clock = await CommitClock.start(db.url);
    let rssMb: number | null;
    let drained: Awaited<ReturnType<typeof waitForDrain>>;
    let metrics: string;
    let points = 0;
    try {
      const worker = await WorkerProc.start(scratch, 'smart-grid-drain', { ...rig.env, DATABASE_URL: db.url }, dir);
      drained = await waitForDrain(ctx, db.url, rig, t.rows, [worker.pid], what);
      rssMb = await worker.peakRssMb();
      metrics = WorkerMetrics.describe((await worker.metrics()).since());
      if (!drained.complete) throw new Error(`smart-grid: ${drained.count} of ${t.rows} transactions stored before the drain stalled; log: ${worker.logFile}`);
      // Written before each commit: every committed transaction's point is there already.
      points = await pointsIn(rig.influxDatabase);
      for (let i = 0; i < 20 && points < t.rows; i++) {
        await sleep(500);
        points = await pointsIn(rig.influxDatabase);
      }
      const code = await worker.stop();
      if (code !== 0) throw new Error(`smart-grid: worker exited ${code} on SIGTERM; log: ${worker.logFile}`);
    } finally {
      await clock.stop();
    }
    if (points !== t.rows) throw new Error(`smart-grid: ${points} raw points in InfluxDB for ${t.rows} stored transactions`);
    const span = await commitSpan(db.url, rig.table, clock, false);
    ctx.progress(`${what}: InfluxDB writes of the same points`);
    const influx = await influxWriteRate(t);
    const notes = [
      `${fmt(count)} messages (${fmt(t.rows)} transactions, ${fmt(count - t.decodable)} dead letters) pre-loaded at ${fmt(publishRate)} msg/s into 32 partitions`,
      describeSpan(span).replace('readings', 'transactions'),
      `${fmt(points)} raw points in InfluxDB`,
      metrics,
      drained.cpu,
      `limit: ${fmt(influx.points)} points in ${influx.requests} requests of ${fmt(INFLUX_BATCH)}, one at a time, ${fmt(influx.rate)} points/s`,
      `${clock.describe()}, load ${drained.load1.toFixed(2)}`,
    ].join('; ');
    return { rate: span.rate, limit: influx.rate, rssMb: rssMb ?? Number.NaN, rows: t.rows, notes };
  });

export const e2eSmartGrid: Benchmark = {
  name: 'e2e-smart-grid',
  description: 'smart-grid Kafka → PostgreSQL + InfluxDB: `ingestd run` drains a pre-loaded backlog, first→last commit; limit: InfluxDB writing the same points',
  async run(ctx) {
    const count = ctx.quick ? COUNT / 5 : COUNT;
    const runs = await repeat(ctx, () => drainOnce(ctx, count));
    const out = [
      result({
        name: 'e2e/kafka/smart-grid', unit: 'transactions/s', runs: runs.map((r) => r.rate), limitRuns: runs.map((r) => r.limit),
        limitName: 'InfluxDB line-protocol writes of the same points', n: runs[0]!.rows, notes: runs.map((r) => r.notes).join(' | '),
      }),
      result({
        name: 'e2e/kafka/smart-grid/peak-rss', unit: 'MB', runs: runs.map((r) => r.rssMb), n: runs[0]!.rows,
        notes: 'VmHWM (peak resident set) of the worker process at the end of the drain, MiB',
      }),
    ] satisfies BenchResult[];
    for (const r of out) ctx.report(r);
    return out;
  },
};
