/**
 * Publish → commit latency per source at a steady offered rate (5,000 msg/s) with the worker
 * already running and caught up: a warm-up at the same rate (5 s; quick 2 s), a pause until the
 * worker has stored all of it, then 20 s (quick 4 s) measured.
 *
 *   publish time  stamped per message id at the producer, just before its publish call
 *                 (broker confirms are awaited in the background, as `ingestd load` does)
 *   commit time   when the transaction that stored the message became visible: the row's
 *                 xmin looked up in the commit clock (pg_current_snapshot() + clock_timestamp()
 *                 polled every 5 ms on the server: commit-clock.ts); same host, same clock
 *
 *   latency/<source>/p50|p95|p99   ms, of every message published in the measured window
 *
 * BENCH_LATENCY_DUMP=FILE writes every measured message's publish time and latency (JSON).
 *
 * The "limit" column holds the 50 ms target (a goal, not a measurement): ratio > 1 misses it.
 * Same sources and worker settings as e2e-drain (Kafka: 8 partitions; RabbitMQ: energy-meter,
 * prefetch 1000; NATS and MQTT: grid-telemetry rebound). grid-telemetry runs 5000 meters at
 * one reading per second of event time each, so event time follows the wall clock.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { result, type BenchContext, type BenchResult, type Benchmark } from '../lib.ts';
import { CommitClock, commitTimesById, waitForRows } from './commit-clock.ts';
import { fmt, repeat, SOURCES, type SourceName } from './common.ts';
import { CpuSample } from './cpu.ts';
import { rigFor } from './rigs.ts';
import { withSetup } from './scratch.ts';
import { publishPaced, traffic } from './traffic.ts';
import { WorkerMetrics, WorkerProc } from './worker.ts';

const RATE = 5000;
const TARGET_MS = 50;

interface LatencyRun {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly n: number;
  readonly notes: string;
}

/** Nearest-rank percentile of sorted values. */
const pct = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

async function latencyOnce(ctx: BenchContext, source: SourceName): Promise<LatencyRun> {
  const warmS = ctx.quick ? 2 : 5;
  const measureS = ctx.quick ? 4 : 20;
  return withSetup(ctx, (scratch) => rigFor(source, scratch), async ({ scratch, rig, db, dir }) => {
    await rig.prepare(false);
    const total = RATE * (warmS + measureS);
    const warm = RATE * warmS;
    const perMessage = rig.domain === 'energy-meter' ? 2 : 1; // invalid rate 0: every message stored, whole
    // Event time (grid) / received_at (meter) starting now, one message every 1/RATE s.
    const t = rig.domain === 'grid-telemetry'
      ? traffic(rig.domain, { seed: ctx.seed, count: total, meters: RATE, startTime: Math.ceil(Date.now() / 1000) * 1000, intervalMs: 1000, invalidRate: 0 })
      : traffic(rig.domain, { seed: ctx.seed, count: total, meters: 1000, startTime: Math.ceil(Date.now() / 1000) * 1000, rate: RATE, invalidRate: 0 });

    const warmRows = warm * perMessage;
    if (t.rows !== total * perMessage) throw new Error(`${source}: ${t.rows} readings expected from ${total} messages`);
    const worker = await WorkerProc.start(scratch, `${source}-latency`, { ...rig.env, DATABASE_URL: db.url }, dir);
    await worker.waitReady(ctx.signal);
    const clock = await CommitClock.start(db.url);
    let times: Map<string, number>;
    let stamps: Float64Array;
    let confirms: Float64Array;
    let seconds: number;
    let load1: number;
    let complete: boolean;
    let rssMb: number | null;
    let catchUpS: number;
    let metrics: string;
    let cpu: string;
    try {
      const sender = await rig.openSender();
      // Warm-up at the same rate (JIT, first sight of every meter, partitions), then let the
      // worker catch up with it: the measured window starts with nothing queued.
      ctx.progress(`e2e-latency: ${source}: ${RATE} msg/s for ${warmS} s warm-up`);
      await publishPaced(sender, t.messages.slice(0, warm), RATE, ctx.signal);
      const c0 = Date.now();
      const warmed = await waitForRows(db.url, rig.table, warmRows, { timeoutMs: 60_000, stallMs: 10_000, signal: ctx.signal });
      if (!warmed.complete) throw new Error(`${source}: worker did not catch up with the warm-up (${warmed.count} of ${warmRows} readings)`);
      catchUpS = (Date.now() - c0) / 1000;
      const m0 = await worker.metrics();
      ctx.progress(`e2e-latency: ${source}: ${RATE} msg/s for ${measureS} s (caught up ${catchUpS.toFixed(1)} s after the warm-up)`);
      const cpu0 = await CpuSample.take(db.url, [worker.pid], source);
      ({ stamps, confirms, seconds } = await publishPaced(sender, t.messages.slice(warm), RATE, ctx.signal));
      cpu = CpuSample.describe(await cpu0.until());
      load1 = os.loadavg()[0]!;
      await sender.close();
      const done = await waitForRows(db.url, rig.table, t.rows, { timeoutMs: 90_000, stallMs: 10_000, signal: ctx.signal });
      complete = done.complete;
      await new Promise((r) => setTimeout(r, 50));
      rssMb = await worker.peakRssMb();
      metrics = WorkerMetrics.describe((await worker.metrics()).since(m0));
    } finally {
      await clock.stop();
    }
    times = await commitTimesById(db.url, rig, clock);
    await worker.stop();

    const lat: number[] = [];
    // Median latency of each fifth of the window, in publish order: rising = not keeping up.
    const fifths: number[][] = [[], [], [], [], []];
    let missing = 0;
    for (let i = warm; i < t.messages.length; i++) {
      const c = times.get(t.messages[i]!.id);
      if (c === undefined) missing++;
      else {
        lat.push(c - stamps[i - warm]!);
        fifths[Math.min(4, Math.floor(((i - warm) * 5) / (total - warm)))]!.push(c - stamps[i - warm]!);
      }
    }
    // Every measured message's publish stamp and latency, to see how latency moves over the window.
    const dump = process.env['BENCH_LATENCY_DUMP'];
    if (dump !== undefined) {
      const latencyMs = t.messages.slice(warm).map((m, i) => {
        const c = times.get(m.id);
        return c === undefined ? null : c - stamps[i]!;
      });
      writeFileSync(dump, JSON.stringify({ stamps: Array.from(stamps), latencyMs }));
    }
    if (lat.length === 0) throw new Error(`${source}: no measured message was stored`);
    const sorted = Float64Array.from(lat).sort();
    const confirmLat = Float64Array.from(confirms.map((c, i) => c - stamps[i]!)).sort();
    const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
    const notes = [
      `${fmt(lat.length)} messages measured of ${fmt(total - warm)} published in ${seconds.toFixed(1)} s (${fmt((total - warm) / seconds)} msg/s), after ${warmS} s of warm-up and ${catchUpS.toFixed(1)} s to catch up`,
      missing > 0 ? `${missing} NOT STORED within 90 s (excluded)` : 'all stored',
      `mean ${mean.toFixed(1)} ms, min ${sorted[0]!.toFixed(1)}, p99.9 ${pct(sorted, 99.9).toFixed(1)}, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`,
      `p50 by fifth of the window ${fifths.map((f) => (f.length === 0 ? '-' : pct(Float64Array.from(f).sort(), 50).toFixed(0))).join(' / ')} ms`,
      `publish→broker confirm p50 ${pct(confirmLat, 50).toFixed(1)} ms, p99 ${pct(confirmLat, 99).toFixed(1)} ms`,
      metrics,
      `${cpu} while publishing`,
      clock.describe(),
      `worker peak RSS ${rssMb ?? '?'} MB, load ${load1.toFixed(2)}${complete ? '' : ', drain incomplete'}`,
    ].join('; ');
    return { p50: pct(sorted, 50), p95: pct(sorted, 95), p99: pct(sorted, 99), n: lat.length, notes };
  });
}

export const e2eLatency: Benchmark = {
  name: 'e2e-latency',
  description: `per source: publish → commit latency p50/p95/p99 at ${RATE} msg/s offered to a running worker; target ${TARGET_MS} ms`,
  async run(ctx) {
    const out: BenchResult[] = [];
    for (const source of SOURCES) {
      if (!ctx.wants(source)) continue;
      const runs = await repeat(ctx, () => latencyOnce(ctx, source));
      for (const p of ['p50', 'p95', 'p99'] as const) {
        const r = result({
          name: `latency/${source}/${p}`, unit: 'ms', runs: runs.map((x) => x[p]), limitRuns: runs.map(() => TARGET_MS),
          limitName: `target ${TARGET_MS} ms (a goal, not measured)`, n: runs[0]!.n,
          ...(p === 'p50' ? { notes: runs.map((x) => x.notes).join(' | ') } : {}),
        });
        ctx.report(r);
        out.push(r);
      }
    }
    return out;
  },
};
