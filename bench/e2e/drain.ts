/**
 * End to end, per source: a backlog of N messages waits in the broker (published with the
 * load command's transports, seed = --seed) before a real `ingestd run` child process starts
 * against a fresh database; readings/s from its first to its last commit.
 *
 *   e2e/kafka/grid-telemetry      topic of 8 partitions, worker defaults (4 at once, chunks of 2000)
 *   e2e/rabbitmq/energy-meter     RABBITMQ_PREFETCH=1000, 2 readings per message
 *   e2e/nats/grid-telemetry       GRID_TELEMETRY_SOURCE=nats, one durable pull consumer
 *   e2e/mqtt/grid-telemetry       GRID_TELEMETRY_SOURCE=mqtt, Mosquitto on 1884, persistent session
 *   e2e/<…>/peak-rss              the worker's VmHWM at the end of the drain, MB (MiB)
 *
 * Commit times are exact to the commit clock's resolution (~5 ms, see commit-clock.ts): every
 * row's xmin is mapped to the moment its transaction became visible. The readings of the first
 * commit are not counted (the interval starts with it).
 *
 * Limit, in the same run: the same client library consuming the same backlog with no
 * processing, in its own process (kafkajs eachBatch + offset commits; amqplib prefetch
 * 1000 + multiple acks; JetStream pull fetch + ack; mqtt.js QoS 1 resuming a persistent
 * session), converted to readings/s with the backlog's readings per message.
 */
import os from 'node:os';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { CommitClock, commitSpan, waitForRows, type CommitSpan } from './commit-clock.ts';
import { fmt, repeat, SOURCES, startOfHour, type SourceName } from './common.ts';
import { CpuSample } from './cpu.ts';
import { rawConsume } from './raw-consume.ts';
import { rigFor, type Rig } from './rigs.ts';
import { withSetup } from './scratch.ts';
import { publishAll, traffic, type Traffic } from './traffic.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

/** Messages per drain (quick: a fifth): each source's part stays well under a minute on the 2-core machine. */
const DRAIN_COUNT: Record<SourceName, number> = { kafka: 200_000, rabbitmq: 50_000, nats: 50_000, mqtt: 20_000 };
/** The README's Performance runs: 2000 meters for grid-telemetry, 1000 for energy-meter. */
const METERS: Record<SourceName, number> = { kafka: 2000, rabbitmq: 1000, nats: 2000, mqtt: 2000 };

/** Messages in a drain of this source (e2e-scaling drains the Kafka one). */
export const drainCount = (ctx: BenchContext, source: SourceName): number => (ctx.quick ? DRAIN_COUNT[source] / 5 : DRAIN_COUNT[source]);

/**
 * The source's backlog (`count` messages, the generator seeded with --seed, the current hour
 * as start time), published through the rig's sender and confirmed by the broker.
 */
export async function preload(ctx: BenchContext, rig: Rig, count: number, raw: boolean, what: string): Promise<{ t: Traffic; publishRate: number }> {
  ctx.progress(`${what}: generating and pre-loading ${fmt(count)} ${rig.domain} messages (seed ${ctx.seed})`);
  const t = traffic(rig.domain, { seed: ctx.seed, count, meters: METERS[rig.source], startTime: startOfHour() });
  await rig.prepare(raw);
  const sender = await rig.openSender();
  const publishRate = await publishAll(sender, t.messages, ctx.signal);
  await sender.close();
  return { t, publishRate };
}

/**
 * Until all `rows` are stored (or the drain stalls), with where the CPU went from the first
 * stored row on and the load average at the end.
 */
export async function waitForDrain(
  ctx: BenchContext, url: string, rig: Rig, rows: number, pids: ReadonlyArray<number>, what: string,
): Promise<{ count: number; complete: boolean; cpu: string; load1: number }> {
  let cpu0: CpuSample | undefined;
  const done = await waitForRows(url, rig.table, rows, {
    timeoutMs: 180_000, signal: ctx.signal, progress: (n) => ctx.progress(`${what}: ${fmt(n)} / ${fmt(rows)} readings stored`),
    onFirst: async () => void (cpu0 = await CpuSample.take(url, pids, rig.source)),
  });
  const cpu = cpu0 === undefined ? 'CPU not sampled' : CpuSample.describe(await cpu0.until());
  return { ...done, cpu, load1: os.loadavg()[0]! };
}

/** The commit span for the notes. */
export const describeSpan = (span: CommitSpan): string =>
  `first→last commit ${((span.lastMs - span.firstMs) / 1000).toFixed(2)} s, ${span.transactions} transactions of ${span.rowsPerTx.toFixed(0)} readings`;

interface DrainRun {
  /** `e2e/<source>/<domain>` */
  readonly name: string;
  readonly limitName: string;
  readonly rate: number;
  readonly limit: number;
  readonly rssMb: number;
  readonly rows: number;
  readonly notes: string;
}

const drainOnce = (ctx: BenchContext, source: SourceName, count: number): Promise<DrainRun> =>
  withSetup(ctx, (scratch) => rigFor(source, scratch), async ({ scratch, rig, db, dir }) => {
    const what = `e2e-drain: ${source}`;
    const { t, publishRate } = await preload(ctx, rig, count, true, what);

    const clock = await CommitClock.start(db.url);
    let rssMb: number | null;
    let drained: Awaited<ReturnType<typeof waitForDrain>>;
    let metrics: string;
    try {
      const worker = await WorkerProc.start(scratch, `${source}-drain`, { ...rig.env, DATABASE_URL: db.url }, dir);
      drained = await waitForDrain(ctx, db.url, rig, t.rows, [worker.pid], what);
      rssMb = await worker.peakRssMb();
      metrics = WorkerMetrics.describe((await worker.metrics()).since());
      if (!drained.complete) throw new Error(`${source}: ${drained.count} of ${t.rows} readings stored before the drain stalled; log: ${worker.logFile}`);
      const code = await worker.stop();
      if (code !== 0) throw new Error(`${source}: worker exited ${code} on SIGTERM; log: ${worker.logFile}`);
    } finally {
      await clock.stop();
    }
    const span = await commitSpan(db.url, rig.table, clock);

    ctx.progress(`${what}: raw consume of the same backlog`);
    const raw = await rawConsume(rig.rawSpec(count), ctx.signal);
    const perMessage = t.rows / count;
    const notes = [
      `${fmt(count)} messages (${fmt(t.rows)} readings, ${fmt(count - t.decodable)} dead letters) pre-loaded at ${fmt(publishRate)} msg/s`,
      describeSpan(span),
      `created_at method ${fmt(span.createdAtRate)} readings/s`,
      metrics,
      drained.cpu,
      `raw: ${fmt(raw.rate)} msg/s over ${raw.seconds} s (×${perMessage.toFixed(3)} readings/msg), first delivery after ${raw.startSeconds} s, raw RSS ${raw.rssMb} MB`,
      `${clock.describe()}, load ${drained.load1.toFixed(2)}`,
    ].join('; ');
    return {
      name: `e2e/${source}/${rig.domain}`, limitName: rig.limitName, rate: span.rate, limit: raw.rate * perMessage, rssMb: rssMb ?? Number.NaN, rows: t.rows, notes,
    };
  });

export const e2eDrain: Benchmark = {
  name: 'e2e-drain',
  description: 'per source: `ingestd run` drains a pre-loaded backlog into a fresh database, first→last commit; limit: the client library raw-consuming the same backlog',
  async run(ctx) {
    const out: BenchResult[] = [];
    for (const source of SOURCES) {
      if (!ctx.wants(source)) continue;
      const runs = await repeat(ctx, () => drainOnce(ctx, source, drainCount(ctx, source)));
      const rate = result({
        name: runs[0]!.name, unit: 'readings/s', runs: runs.map((r) => r.rate), limitRuns: runs.map((r) => r.limit), limitName: runs[0]!.limitName,
        n: runs[0]!.rows, notes: runs.map((r) => r.notes).join(' | '),
      });
      const rss = result({
        name: `${runs[0]!.name}/peak-rss`, unit: 'MB', runs: runs.map((r) => r.rssMb), n: runs[0]!.rows,
        notes: 'VmHWM (peak resident set) of the worker process at the end of the drain, MiB',
      });
      for (const r of [rate, rss]) {
        ctx.report(r);
        out.push(r);
      }
    }
    return out;
  },
};
