/**
 * Memory through a steady run: grid-telemetry over Kafka (8 partitions, as e2e-drain) at 5,000
 * msg/s offered to a running worker for 10 minutes (quick: 1 minute), 5,000 meters at one
 * reading per second of event time each, so windows open and close as in production. The
 * worker's resident set is sampled every 5 s.
 *
 *   steady/kafka/peak-rss     MB, VmHWM at the end; limit: the 300 MB target (a goal)
 *   steady/kafka/rss-growth   MB, mean RSS of the last fifth of the run minus that of the second
 *                             fifth (after warm-up): near 0 when nothing accumulates
 *
 * The traffic is generated in 30 s chunks (a whole run held at once would be 3,000,000 messages
 * in the bench process); each chunk continues event time where the previous one ended.
 */
import { readFile } from 'node:fs/promises';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { waitForRows } from './commit-clock.ts';
import { fmt, round } from './common.ts';
import { rigFor } from './rigs.ts';
import { withSetup } from './scratch.ts';
import { publishPaced, traffic } from './traffic.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

const RATE = 5000;
const CHUNK_S = 30;
const SAMPLE_MS = 5000;
const TARGET_MB = 300;

async function rssMb(pid: number): Promise<number | null> {
  try {
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : null;
  } catch {
    return null;
  }
}

const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function steadyOnce(ctx: BenchContext): Promise<{ peak: number; growth: number; n: number; notes: string }> {
  const minutes = ctx.quick ? 1 : 10;
  const chunks = (minutes * 60) / CHUNK_S;
  return withSetup(ctx, (scratch) => rigFor('kafka', scratch), async ({ scratch, rig, db, dir }) => {
    await rig.prepare(false);
    const worker = await WorkerProc.start(scratch, 'kafka-steady', { ...rig.env, DATABASE_URL: db.url }, dir);
    await worker.waitReady(ctx.signal);
    const m0 = await worker.metrics();
    const samples: number[] = [];
    const sampler = setInterval(() => {
      void rssMb(worker.pid).then((mb) => mb !== null && samples.push(mb));
    }, SAMPLE_MS);
    let rows = 0;
    let startTime = Math.ceil(Date.now() / 1000) * 1000;
    const sender = await rig.openSender();
    try {
      for (let c = 0; c < chunks; c++) {
        ctx.progress(`e2e-steady: kafka: ${RATE} msg/s, minute ${((c * CHUNK_S) / 60 + 1).toFixed(0)} of ${minutes} (${samples.length ? `RSS ${samples.at(-1)!.toFixed(0)} MB` : 'starting'})`);
        const t = traffic(rig.domain, { seed: ctx.seed + c, count: RATE * CHUNK_S, meters: RATE, startTime, intervalMs: 1000 });
        rows += t.rows;
        startTime += CHUNK_S * 1000;
        await publishPaced(sender, t.messages, RATE, ctx.signal);
      }
    } finally {
      await sender.close();
    }
    const done = await waitForRows(db.url, rig.table, rows, { timeoutMs: 120_000, stallMs: 20_000, signal: ctx.signal });
    clearInterval(sampler);
    const peak = await worker.peakRssMb();
    const metrics = WorkerMetrics.describe((await worker.metrics()).since(m0));
    await worker.stop();
    if (!done.complete) throw new Error(`kafka: ${done.count} of ${rows} readings stored; log: ${worker.logFile}`);
    if (peak === null || samples.length < 10) throw new Error(`kafka: worker memory not sampled (${samples.length} samples)`);
    const fifth = Math.floor(samples.length / 5);
    const growth = mean(samples.slice(-fifth)) - mean(samples.slice(fifth, 2 * fifth));
    const notes = [
      `${fmt(rows)} readings offered at ${fmt(RATE)} msg/s for ${minutes} min, all stored`,
      `RSS every ${SAMPLE_MS / 1000} s: min ${Math.min(...samples).toFixed(0)}, mean ${mean(samples).toFixed(0)}, max ${Math.max(...samples).toFixed(0)} MB; ` +
        `by fifth ${[0, 1, 2, 3, 4].map((i) => mean(samples.slice(i * fifth, (i + 1) * fifth)).toFixed(0)).join(' / ')} MB`,
      metrics,
    ].join('; ');
    return { peak, growth: round(growth), n: rows, notes };
  });
}

export const e2eSteady: Benchmark = {
  name: 'e2e-steady',
  description: `grid-telemetry over Kafka at ${RATE} msg/s for 10 minutes (quick: 1): worker RSS peak and growth; target ${TARGET_MB} MB`,
  async run(ctx) {
    const out: BenchResult[] = [];
    if (!ctx.wants('kafka')) return out;
    const r = await steadyOnce(ctx);
    out.push(result({ name: 'steady/kafka/peak-rss', unit: 'MB', runs: [r.peak], limitRuns: [TARGET_MB], limitName: `target ${TARGET_MB} MB (a goal, not measured)`, n: r.n, notes: r.notes }));
    out.push(result({ name: 'steady/kafka/rss-growth', unit: 'MB', runs: [r.growth], n: r.n, notes: 'mean RSS of the last fifth minus the second fifth' }));
    for (const x of out) ctx.report(x);
    return out;
  },
};
