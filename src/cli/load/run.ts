/**
 * `runLoad` (SPEC §8), the programmatic entry point of `ingestd load`: generates a
 * domain's messages, paces them, hands them to the broker's transport, and reports what
 * the broker confirmed. Everything here is transport-agnostic.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { redactText } from '../../runtime/redact.ts';
import { randomSeed } from '../../sim/random.ts';
import { OptionError } from '../options.ts';
import { transportFor } from './brokers.ts';
import { createCounts } from './counts.ts';
import type { Counts } from './counts.ts';
import { createLoadGenerator, loadDomain } from './generators.ts';
import type { GeneratorOptions, LoadGenerator, LoadMessage } from './generators.ts';
import { startMetrics } from './metrics.ts';
import type { MetricsServer } from './metrics.ts';
import { createPacer } from './pacer.ts';
import type { Pacer } from './pacer.ts';
import { startReporter } from './reporter.ts';
import type { ProgressMode } from './reporter.ts';
import type { LoadSummary } from './summary.ts';
import type { Connection, Sender, SendEvents } from './transport.ts';

export type { LoadSummary } from './summary.ts';

export const DEFAULT_COUNT = 1000;
export const MAX_CONCURRENCY = 512;
/** After Ctrl-C, how long outstanding confirms may take before the senders are abandoned. */
const STOP_GRACE_MS = 10_000;

export interface LoadOptions {
  /** amqp://… / amqps://… / kafka://host:port[,host:port] (default: the domain's broker from the environment). */
  readonly broker?: string;
  readonly domain?: string;
  /** AMQP exchange. */
  readonly exchange?: string;
  /** AMQP routing key. */
  readonly routingKey?: string;
  /** Kafka topic; on AMQP the same as routingKey. */
  readonly topic?: string;
  /** Partitions of a Kafka topic this run creates (default 4). */
  readonly partitions?: number;
  /** Messages per second; 0 = as fast as possible. */
  readonly rate?: number;
  readonly durationMs?: number;
  /** Messages to send; default 1000 when no duration is given, unlimited otherwise. */
  readonly count?: number;
  /** AMQP channels or Kafka producers publishing in parallel. */
  readonly concurrency?: number;
  /** Messages published between waits for broker confirms (Kafka: most messages per produce request). */
  readonly batchSize?: number;
  readonly meters?: number;
  readonly anomalyRate?: number;
  readonly invalidRate?: number;
  /** grid-telemetry: share of readings delivered a few seconds behind newer ones. */
  readonly outOfOrderRate?: number;
  /** grid-telemetry: share of readings delivered minutes behind newer ones. */
  readonly lateRate?: number;
  /** chat-events: base subjects, companies, items per history batch. */
  readonly subjects?: ReadonlyArray<string>;
  readonly companyIds?: ReadonlyArray<string>;
  readonly historyCount?: number;
  readonly seed?: number;
  /** received_at (energy-meter) or event time (grid-telemetry) of the first message, epoch ms (default: now). */
  readonly startTime?: number;
  /**
   * energy-meter: received_at step between messages (default: 1000/rate, or 1 ms at full speed);
   * grid-telemetry: event time between two readings of one meter (default 1000).
   */
  readonly intervalMs?: number;
  readonly idsFile?: string;
  readonly metricsPort?: number;
  readonly progress?: ProgressMode;
  /** Declare the destination first (AMQP: assert a durable topic exchange; Kafka: create the topic if missing). Default true. */
  readonly declare?: boolean;
  readonly signal?: AbortSignal;
}

/** The generator options of a run, defaults filled in. */
export const generatorOptions = (options: LoadOptions, seed: number, startTime: number): GeneratorOptions => ({
  seed, startTime,
  rate: options.rate ?? 0,
  meters: options.meters ?? 100,
  anomalyRate: options.anomalyRate ?? 0.02,
  invalidRate: options.invalidRate ?? 0.01,
  outOfOrderRate: options.outOfOrderRate ?? 0,
  lateRate: options.lateRate ?? 0,
  intervalMs: options.intervalMs,
  ...(options.subjects === undefined ? {} : { subjects: options.subjects }),
  ...(options.companyIds === undefined ? {} : { companyIds: options.companyIds }),
  ...(options.historyCount === undefined ? {} : { historyCount: options.historyCount }),
});

/** Start time of a run without --start-time: now, to the second. */
export const defaultStartTime = (): number => Math.floor(Date.now() / 1000) * 1000;

interface LoopContext {
  readonly batchSize: number;
  readonly generator: LoadGenerator;
  readonly pacer: Pacer;
  readonly counts: Counts;
  readonly ids: WriteStream | null;
}

/**
 * One sender's loop: publishes up to batchSize messages as the pacer allows, waits until
 * the broker has confirmed them, writes their ids, and starts over until the pacer stops.
 */
const sendLoop = async (sender: Sender, ctx: LoopContext): Promise<void> => {
  const { counts, generator, pacer } = ctx;
  const batchIds: string[] = [];
  let open = true;
  while (open) {
    let inBatch = 0;
    while (inBatch < ctx.batchSize && open) {
      const n = await pacer(ctx.batchSize - inBatch);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const msg: LoadMessage = generator.next();
        const taken = sender.publish(msg);
        if (taken === false) {
          open = false;
          break;
        }
        counts.sent++;
        counts.byKind[msg.kind] = (counts.byKind[msg.kind] ?? 0) + 1;
        if (ctx.ids !== null) batchIds.push(msg.id);
        if (taken !== true) await taken;
      }
      inBatch += n;
    }
    await sender.flush();
    if (batchIds.length > 0) {
      ctx.ids?.write(`${batchIds.join('\n')}\n`);
      batchIds.length = 0;
    }
    if (inBatch === 0) break;
  }
};

export const runLoad = async (options: LoadOptions = {}): Promise<LoadSummary> => {
  const env = process.env;
  const domain = loadDomain(options.domain ?? 'energy-meter');
  const { transport, url } = transportFor(options.broker, domain, env);
  const prepared = transport.prepare(url, domain, options, env);
  const rate = options.rate ?? 0;
  const durationMs = options.durationMs ?? Number.POSITIVE_INFINITY;
  const limit = options.count ?? (options.durationMs === undefined ? DEFAULT_COUNT : Number.POSITIVE_INFINITY);
  const concurrency = options.concurrency ?? 1;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new OptionError('--concurrency', `must be a whole number between 1 and ${MAX_CONCURRENCY}`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OptionError('--batch-size', 'must be a whole number >= 1');
  if (!(rate >= 0 && Number.isFinite(rate))) throw new OptionError('--rate', 'must be a number >= 0');
  const seed = options.seed ?? randomSeed();
  const startTime = options.startTime ?? defaultStartTime();
  const generator = createLoadGenerator(domain, generatorOptions(options, seed, startTime));

  const counts = createCounts(domain.kinds);
  let ids: WriteStream | null = null;
  let metrics: MetricsServer | null = null;
  let connection: Connection | null = null;
  let stopReporter = (): void => {};
  let error: string | null = null;
  let stopping = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Confirms normally arrive within milliseconds; if the broker stalls, give up on them.
    graceTimer = setTimeout(() => connection?.abandon(), STOP_GRACE_MS).unref();
  };
  const fail = (err: unknown): void => {
    error ??= redactText(err instanceof Error ? err.message : String(err));
    stop();
  };
  const events: SendEvents = {
    confirmed: (n) => void (counts.confirmed += n),
    failed: (n) => void (counts.failed += n),
    unroutable: (n) => void (counts.unroutable += n),
    error: fail,
  };
  const onAbort = (): void => stop();

  let started = performance.now();
  let elapsedMs = 0;
  try {
    if (options.idsFile !== undefined) {
      ids = createWriteStream(options.idsFile);
      await once(ids, 'open').catch((err: unknown) => {
        throw new OptionError('--ids-file', err instanceof Error ? err.message : String(err));
      });
      ids.on('error', fail);
    }
    if (options.metricsPort !== undefined) {
      metrics = await startMetrics(options.metricsPort, counts).catch((err: unknown) => {
        throw new Error(`--metrics-port ${options.metricsPort}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      });
    }
    connection = await prepared.open({ concurrency, batchSize, events });

    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) stop();
    started = performance.now();
    const pacer = createPacer({ rate, limit, deadline: started + durationMs, stopped: () => stopping });
    stopReporter = startReporter(options.progress ?? 'none', counts, limit, durationMs);

    const context: LoopContext = { batchSize, generator, pacer, counts, ids };
    await Promise.all(connection.senders.map((sender) => sendLoop(sender, context)));
  } finally {
    elapsedMs = performance.now() - started;
    clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
    stopReporter();
    stopping = true;
    if (connection !== null) await connection.close();
    if (ids !== null && !ids.destroyed) {
      ids.end();
      await once(ids, 'close').catch(() => {});
    }
    if (metrics !== null) await metrics.close();
  }
  const interrupted = options.signal?.aborted ?? false;
  const missed = counts.sent - counts.confirmed - counts.failed;
  return {
    domain: domain.name,
    broker: prepared.broker,
    destination: prepared.destination,
    seed,
    startTime: new Date(startTime).toISOString(),
    sent: counts.sent,
    confirmed: counts.confirmed,
    failed: counts.failed + missed,
    unroutable: counts.unroutable,
    byKind: { ...counts.byKind },
    elapsedMs,
    ratePerSec: elapsedMs > 0 ? (counts.sent * 1000) / elapsedMs : 0,
    interrupted,
    error,
    // Unroutable messages were confirmed but dropped by the broker: nothing bound to the route.
    ok: error === null && counts.failed + missed === 0 && counts.confirmed === counts.sent && counts.unroutable === 0,
  };
};
