/**
 * Core pipeline per domain, one core, no I/O: simulated messages, encoded to Buffers before
 * any timing, run through the path the worker runs on each message, in batches of 1000.
 *
 *   core/<domain>              the domain's decode (bytes → validated value) + the pure
 *                              calls its apply() makes on the batch (pure-steps.ts)
 *   core/<domain>/decode       the decode alone (where the domain has pure batch steps)
 *   core/<domain>/worker-path  the same through the real Pipeline.process(): size limit,
 *                              routing, in-batch duplicates, metrics, settle; its
 *                              transaction goes to a pool that answers every query at once
 *
 * Limit, measured in the same run over the same Buffers: `JSON.parse(body.toString())`,
 * which every decode has to do anyway. ratio = how much of the bare parse rate is left.
 */
import pg from 'pg';
import type { Config } from '../src/config/index.ts';
import { findDomain } from '../src/domains/index.ts';
import { emptyStats, type Decoded, type DomainHandler } from '../src/domains/types.ts';
import { Readiness } from '../src/runtime/health.ts';
import { createMetrics } from '../src/runtime/metrics.ts';
import { Pipeline } from '../src/runtime/pipeline.ts';
import type { Delivery, DeliveryBatch, Source } from '../src/sources/types.ts';
import { benchConfig, chunk, result, silentLogger, timed, type BenchContext, type BenchResult, type Benchmark } from './lib.ts';
import { DOMAIN_NAMES, traffic, type DomainName } from './messages.ts';
import { pureSteps, type PureSteps } from './pure-steps.ts';

const BATCH = 1000;

/**
 * Messages per timed pass (quick: a fifth): about half a second to two seconds each on the
 * 2-core reference machine, so five repetitions of every pass keep the run bounded.
 */
const COUNT: Record<DomainName, number> = {
  'energy-meter': 30_000,
  'grid-telemetry': 60_000,
  analytics: 30_000,
  'chat-events': 15_000, // history events carry 10 items each
  'smart-grid': 80_000,
};

const LIMIT_NAME = 'JSON.parse(body.toString()) alone';
/** Shortest timed pass, seconds (quick runs: no minimum). */
const MIN_PASS_S = 0.4;

export const corePipeline: Benchmark = {
  name: 'core-pipeline',
  description: 'per domain: decode + pure batch steps, one core, no I/O; limit: bare JSON.parse of the same Buffers',
  async run(ctx) {
    const config = benchConfig();
    // The handlers' constructors keep a pool for prepare()/maintain(); it never connects here.
    const idlePool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/unused', max: 1 });
    const metrics = createMetrics();
    const out: BenchResult[] = [];
    try {
      for (const domain of DOMAIN_NAMES) {
        if (!ctx.wants(domain)) continue;
        for (const r of await runDomain(ctx, domain, config, idlePool, metrics)) {
          ctx.report(r);
          out.push(r);
        }
      }
    } finally {
      await idlePool.end();
    }
    return out;
  },
};

type Metrics = ReturnType<typeof createMetrics>;

async function runDomain(ctx: BenchContext, domain: DomainName, config: Config, idlePool: pg.Pool, metrics: Metrics): Promise<BenchResult[]> {
  const count = ctx.quick ? COUNT[domain] / 5 : COUNT[domain];
  ctx.progress(`core-pipeline: ${domain}: generating ${count} messages (seed ${ctx.seed})`);
  const deliveries = traffic(domain, config, { seed: ctx.seed, count }).map((m) => m.delivery);
  const batches = chunk(deliveries, BATCH);
  const handler = findDomain(domain)!.create({ config, pool: idlePool, log: silentLogger(), source: config.sources[domain]! });
  const steps = pureSteps(domain, config);

  let sink = 0;
  const parseOnly = (bs: Delivery[][]): void => {
    for (const d of bs.flat()) {
      try {
        sink += JSON.parse(d.body.toString()) === null ? 0 : 1;
      } catch {
        sink--;
      }
    }
  };
  const decodeOnly = (bs: Delivery[][]): void => {
    for (const b of bs) sink += decodeBatch(handler, b).length;
  };
  const core = (bs: Delivery[][]): void => {
    steps?.reset();
    for (const b of bs) {
      const decoded = decodeBatch(handler, b);
      sink += steps === null ? decoded.length : steps.run(decoded);
    }
  };
  const pipeline = workerPipeline(domain, config, handler, steps, metrics);
  const abort = new AbortController();
  const workerPath = async (bs: Delivery[][]): Promise<void> => {
    steps?.reset();
    for (const b of bs) await pipeline.process(batchOf(b), abort.signal);
  };

  const passes: Array<{ key: string; fn: (bs: Delivery[][]) => unknown; loops: number }> = [
    { key: 'limit', fn: parseOnly, loops: 1 },
    { key: 'core', fn: core, loops: 1 },
    ...(steps === null ? [] : [{ key: 'decode', fn: decodeOnly, loops: 1 }]),
    { key: 'worker', fn: workerPath, loops: 1 },
  ];
  ctx.progress(`core-pipeline: ${domain}: warm-up`);
  // Warm-up over a third of the batches; its time also decides how many times a short pass
  // (the bare parse above all) goes over the messages, so that every timed pass lasts at
  // least MIN_PASS_S and a burst of other work on the machine weighs less.
  const third = batches.slice(0, Math.ceil(batches.length / 3));
  for (const p of passes) {
    const t = await timed(() => p.fn(third));
    p.loops = ctx.quick ? 1 : Math.min(20, Math.max(1, Math.ceil(MIN_PASS_S / ((t.wall * batches.length) / third.length))));
  }
  const rates: Record<string, number[]> = { limit: [], core: [], decode: [], worker: [] };
  const wall: Record<string, number[]> = { limit: [], core: [], decode: [], worker: [] };
  const reps = ctx.reps ?? (ctx.quick ? 2 : 5);
  for (let rep = 0; rep < reps; rep++) {
    ctx.signal.throwIfAborted();
    // Rotated, so no pass always runs right after the same other one.
    for (let i = 0; i < passes.length; i++) {
      const p = passes[(i + rep) % passes.length]!;
      const t = await timed(async () => {
        for (let k = 0; k < p.loops; k++) await p.fn(batches);
      });
      rates[p.key]!.push((count * p.loops) / t.cpu);
      wall[p.key]!.push((count * p.loops) / t.wall);
    }
  }
  if (sink === 0.5) console.log(sink); // keeps `sink` observable

  const readings = domain === 'energy-meter' ? ' (2 readings per message)' : '';
  const common = { unit: 'msg/s', limitRuns: rates.limit!, limitName: LIMIT_NAME, n: count, basis: 'thread-cpu' as const, limitWallRuns: wall.limit! };
  const results = [
    result({ ...common, name: `core/${domain}`, runs: rates.core!, wallRuns: wall.core!, notes: `decode + ${steps?.calls ?? 'nothing (no pure batch step exported)'}${readings}` }),
  ];
  if (steps !== null) results.push(result({ ...common, name: `core/${domain}/decode`, runs: rates.decode!, wallRuns: wall.decode!, notes: 'decode alone' }));
  results.push(result({ ...common, name: `core/${domain}/worker-path`, runs: rates.worker!, wallRuns: wall.worker!, notes: 'decode + pure steps inside Pipeline.process(), null I/O' }));
  return results;
}

/** The worker's decode of one batch: every delivery through the handler; failures are dead letters. */
export function decodeBatch(handler: DomainHandler, batch: ReadonlyArray<Delivery>): Decoded<unknown>[] {
  const out: Decoded<unknown>[] = [];
  for (let index = 0; index < batch.length; index++) {
    const delivery = batch[index]!;
    try {
      const { messageId, value } = handler.decode(delivery);
      out.push({ index, delivery, messageId, value });
    } catch {
      // structural: dead-lettered by the pipeline
    }
  }
  return out;
}

const batchOf = (deliveries: ReadonlyArray<Delivery>): DeliveryBatch => ({ deliveries, settle: async () => undefined });

/**
 * The real Pipeline with the domain's decode and its pure steps as apply(), over a pool whose
 * connection answers BEGIN/COMMIT (and anything else) at once with no rows.
 */
function workerPipeline(domain: DomainName, config: Config, handler: DomainHandler, steps: PureSteps | null, metrics: Metrics): Pipeline {
  const pure: DomainHandler = {
    name: handler.name,
    decode: (d) => handler.decode(d),
    apply: async (_tx, messages) => {
      steps?.run(messages);
      const stats = emptyStats();
      stats.readings.valid = messages.length;
      return { outbound: [], stats };
    },
  };
  const client = { query: async () => ({ rows: [], rowCount: 0 }), on: () => client, off: () => client, release: () => undefined };
  const nullPool = { connect: async () => client } as unknown as pg.Pool;
  const kind = config.sources[domain]!;
  const source: Source = {
    name: `bench-${kind}`,
    kind,
    start: async () => undefined,
    batches: async function* () {},
    status: () => ({ connected: true }),
    close: async () => undefined,
  };
  const routes = new Map<string, DomainHandler>();
  return new Pipeline({
    name: domain,
    source,
    route: (d) => routes.get(d.route) ?? pure,
    publisher: kind,
    pool: nullPool,
    metrics,
    readiness: new Readiness(),
    log: silentLogger(),
    maxMessageBytes: config.maxMessageBytes,
    retry: config.retry,
    onOutbox: () => undefined,
  });
}
