/**
 * Kafka scale-out: the e2e-drain Kafka case (grid-telemetry, 8 partitions, the same backlog
 * size and seed, a fresh topic and database each) drained by 1, then 2 `ingestd run`
 * processes in one consumer group.
 *
 *   e2e/kafka/grid-telemetry/x1   readings/s, first → last commit (the commit clock)
 *   e2e/kafka/grid-telemetry/x2   the same with two workers; limit = x1 of this run, so
 *                                 ratio = the speed-up of the second process
 *
 * A start gate keeps a group rebalance out of the measurement: the database is migrated
 * first, then a transaction holds `LOCK worker_checkpoints IN ACCESS EXCLUSIVE MODE` while
 * the workers start. Each assigned partition stays paused until its checkpoint is read
 * (src/sources/kafka/source.ts), so nothing is consumed until every worker is in the group
 * (state Stable, all members) and the gate opens (COMMIT): all workers start together on
 * their final assignment.
 */
import pg from 'pg';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { CommitClock, commitSpan } from './commit-clock.ts';
import { fmt, repeat, sleep } from './common.ts';
import { describeSpan, drainCount, preload, waitForDrain } from './drain.ts';
import { kafkaRig, withKafkaAdmin } from './rigs.ts';
import { migrateDatabase, withSetup } from './scratch.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

const PARTITIONS = 8;

interface ScaleRun {
  readonly rate: number;
  readonly rows: number;
  readonly notes: string;
}

/** Until the group is Stable with `members` members (or throws after timeoutMs). */
const waitForGroup = (groupId: string, members: number, signal: AbortSignal, timeoutMs = 60_000): Promise<void> =>
  withKafkaAdmin(async (admin) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal.throwIfAborted();
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      if (g !== undefined && g.state === 'Stable' && g.members.length === members) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId}: ${g?.state} with ${g?.members.length} members after ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  });

const scaleOnce = (ctx: BenchContext, workers: number, count: number): Promise<ScaleRun> =>
  withSetup(ctx, (scratch) => kafkaRig(scratch, PARTITIONS), async ({ scratch, rig, db, dir }) => {
    const what = `e2e-scaling: x${workers}`;
    const env: Record<string, string> = { ...rig.env, DATABASE_URL: db.url };
    const { t } = await preload(ctx, rig, count, false, what);
    await migrateDatabase(env);

    const gate = new pg.Client({ connectionString: db.url, application_name: 'ingestd-bench-gate' });
    await gate.connect();
    scratch.defer('start gate', () => gate.end());
    await gate.query('BEGIN');
    await gate.query('LOCK TABLE worker_checkpoints IN ACCESS EXCLUSIVE MODE');
    const procs: WorkerProc[] = [];
    for (let i = 0; i < workers; i++) procs.push(await WorkerProc.start(scratch, `scaling-x${workers}-${i}`, env, dir));
    for (const w of procs) await w.waitReady(ctx.signal);
    await waitForGroup(env['KAFKA_GROUP_ID']!, workers, ctx.signal);
    const clock = await CommitClock.start(db.url);
    let rss: Array<number | null>;
    let perWorker: Array<ReturnType<WorkerMetrics['since']>>;
    let drained: Awaited<ReturnType<typeof waitForDrain>>;
    try {
      ctx.progress(`${what}: gate open, draining`);
      await gate.query('COMMIT');
      drained = await waitForDrain(ctx, db.url, rig, t.rows, procs.map((w) => w.pid), what);
      if (!drained.complete) throw new Error(`x${workers}: ${drained.count} of ${t.rows} readings stored before the drain stalled`);
      rss = await Promise.all(procs.map((w) => w.peakRssMb()));
      perWorker = (await Promise.all(procs.map((w) => w.metrics()))).map((m) => m.since());
      for (const w of procs) await w.stop();
    } finally {
      await clock.stop();
    }
    const span = await commitSpan(db.url, rig.table, clock);
    const notes = `${fmt(count)} messages, ${fmt(t.rows)} readings, ${workers} worker(s) × KAFKA_CONSUMER_COUNT 4 on ${PARTITIONS} partitions; ` +
      `${describeSpan(span)}; ` +
      `per worker: ${perWorker.map((m) => `${m.transactions} transactions, ${m.meanTxMs.toFixed(0)} ms each`).join(' + ')}; ` +
      `${drained.cpu}; peak RSS ${rss.join(', ')} MB; ${clock.describe()}; load ${drained.load1.toFixed(2)}`;
    return { rate: span.rate, rows: t.rows, notes };
  });

export const e2eScaling: Benchmark = {
  name: 'e2e-scaling',
  description: 'Kafka grid-telemetry drain with 1 and 2 worker processes in one group (start gate, fresh topic each); ratio = speed-up',
  async run(ctx) {
    if (!ctx.wants('kafka')) return [];
    const count = drainCount(ctx, 'kafka');
    // x1 then x2 in each repetition.
    const pairs = await repeat(ctx, async () => ({ one: await scaleOnce(ctx, 1, count), two: await scaleOnce(ctx, 2, count) }));
    const one = pairs.map((p) => p.one);
    const two = pairs.map((p) => p.two);
    const out: BenchResult[] = [
      result({ name: 'e2e/kafka/grid-telemetry/x1', unit: 'readings/s', runs: one.map((r) => r.rate), n: one[0]!.rows, notes: one.map((r) => r.notes).join(' | ') }),
      result({
        name: 'e2e/kafka/grid-telemetry/x2', unit: 'readings/s', runs: two.map((r) => r.rate), limitRuns: one.map((r) => r.rate),
        limitName: 'one worker (x1), same run: ratio = speed-up', n: two[0]!.rows, notes: two.map((r) => r.notes).join(' | '),
      }),
    ];
    for (const r of out) ctx.report(r);
    return out;
  },
};
