/**
 * `ingestd load` (SPEC §8): publishes generated domain traffic to a broker with publisher
 * confirms, at a target rate or as fast as possible, and reports what was confirmed.
 * `runLoad` is the programmatic entry point used by integration tests.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options as AmqpOptions } from 'amqplib';
import cliProgress from 'cli-progress';
import { redactUrl } from '../runtime/redact.ts';
import { loadEnv } from './context.ts';
import type { Command } from 'commander';
import { Counter, Registry } from 'prom-client';
import { createEnergyMeterGenerator, MESSAGE_KINDS } from '../sim/energy-meter.ts';
import type { MessageGenerator, MessageKind } from '../sim/energy-meter.ts';
import { randomSeed } from '../sim/random.ts';
import {
  OptionError, parseChoice, parseDuration, parseNonNegativeNumber, parsePort, parsePositiveInt, parseRate,
  parseSeed, parseTimestamp, parseUrl,
} from './options.ts';

export const LOAD_DOMAINS = ['energy-meter'] as const;
const PLANNED_DOMAINS = ['grid-telemetry', 'analytics', 'chat-events', 'smart-grid'];
const DEFAULT_BROKER = 'amqp://guest:guest@127.0.0.1:5672';
const DEFAULT_EXCHANGE = 'energy-metering.ingest.exchange';
const DEFAULT_ROUTING_KEY = 'meter.reading.ingested';
const DEFAULT_COUNT = 1000;
const MAX_CONCURRENCY = 512;
const LINE_EVERY_MS = 5000;
/** After Ctrl-C, how long outstanding confirms may take before channels are closed. */
const STOP_GRACE_MS = 10_000;

export interface LoadOptions {
  readonly broker?: string;
  readonly domain?: string;
  readonly exchange?: string;
  readonly routingKey?: string;
  /** Messages per second; 0 = as fast as possible. */
  readonly rate?: number;
  readonly durationMs?: number;
  /** Messages to send; default 1000 when no duration is given, unlimited otherwise. */
  readonly count?: number;
  readonly concurrency?: number;
  readonly batchSize?: number;
  readonly meters?: number;
  readonly anomalyRate?: number;
  readonly invalidRate?: number;
  readonly seed?: number;
  /** received_at of the first message, epoch ms (default: now). */
  readonly startTime?: number;
  /** received_at step between messages (default: 1000/rate, or 1 ms at full speed). */
  readonly intervalMs?: number;
  readonly idsFile?: string;
  readonly metricsPort?: number;
  readonly progress?: 'bar' | 'lines' | 'none';
  /** Assert the exchange as a durable topic exchange first (default true). */
  readonly declare?: boolean;
  readonly signal?: AbortSignal;
}

export interface LoadSummary {
  readonly domain: string;
  readonly broker: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly seed: number;
  readonly startTime: string;
  readonly sent: number;
  readonly confirmed: number;
  readonly failed: number;
  /** Confirmed, but returned by the broker because no queue was bound for the routing key. */
  readonly unroutable: number;
  readonly byKind: Readonly<Record<MessageKind, number>>;
  readonly elapsedMs: number;
  readonly ratePerSec: number;
  readonly interrupted: boolean;
  readonly error: string | null;
  /** Every message sent was confirmed and nothing went wrong. */
  readonly ok: boolean;
}

interface Counts {
  sent: number;
  confirmed: number;
  failed: number;
  unroutable: number;
  byKind: Record<MessageKind, number>;
}

const createGenerator = (domain: string, o: Required<Pick<LoadOptions, 'seed' | 'meters' | 'anomalyRate' | 'invalidRate' | 'startTime' | 'intervalMs'>>): MessageGenerator => {
  switch (parseDomain(domain)) {
    case 'energy-meter':
      return createEnergyMeterGenerator(o);
  }
};

const parseDomain = (domain: string): (typeof LOAD_DOMAINS)[number] => {
  if (PLANNED_DOMAINS.includes(domain)) {
    throw new OptionError('--domain', `load generation for "${domain}" is not available yet (supported: ${LOAD_DOMAINS.join(', ')})`);
  }
  return parseChoice(domain, '--domain', LOAD_DOMAINS);
};

/** Hands out permission to publish, paced on a virtual clock so high rates stay exact without per-message sleeps. */
const createPacer = (rate: number, limit: number, deadline: number, stopped: () => boolean) => {
  const perMs = rate / 1000;
  // Catch-up after a stall is bounded to one second of traffic, so a pause is not followed by a huge burst.
  const maxDebt = Math.max(1, Math.ceil(rate));
  let t0 = performance.now();
  let issued = 0;
  return async (max: number): Promise<number> => {
    for (;;) {
      if (stopped() || issued >= limit) return 0;
      const now = performance.now();
      if (now >= deadline) return 0;
      let n = Math.min(max, limit - issued);
      if (rate > 0) {
        let due = Math.floor((now - t0) * perMs) + 1 - issued;
        if (due > maxDebt) {
          t0 = now - (issued + maxDebt - 1) / perMs;
          due = maxDebt;
        }
        if (due <= 0) {
          await sleep(Math.max(1, Math.min(t0 + issued / perMs - now, deadline - now, 250)));
          continue;
        }
        n = Math.min(n, due);
      }
      issued += n;
      return n;
    }
  };
};

/** Resolves on 'drain', or when the channel closes (the next publish then throws). */
const drained = (ch: ConfirmChannel): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.on('drain', done);
    ch.on('close', done);
  });

const startMetrics = async (port: number, counts: Counts): Promise<Server> => {
  const registry = new Registry();
  const counter = (name: string, help: string, value: () => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  };
  counter('ingestd_load_messages_sent_total', 'Messages published by ingestd load', () => counts.sent);
  counter('ingestd_load_messages_confirmed_total', 'Messages confirmed (ack) by the broker', () => counts.confirmed);
  counter('ingestd_load_messages_failed_total', 'Messages nacked or lost before confirmation', () => counts.failed);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics' && req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  server.listen(port);
  await once(server, 'listening');
  return server;
};

/** Progress bar (TTY) or a status line every 5 s; returns a stop function. */
const startReporter = (mode: 'bar' | 'lines' | 'none', counts: Counts, total: number, durationMs: number): (() => void) => {
  if (mode === 'none') return () => {};
  const started = performance.now();
  const samples: Array<[number, number]> = [[started, 0]];
  const liveRate = (now: number): number => {
    samples.push([now, counts.sent]);
    while (samples.length > 2 && now - samples[0]![0] > 2000) samples.shift();
    const [t, sent] = samples[0]!;
    return now > t ? ((counts.sent - sent) * 1000) / (now - t) : 0;
  };
  const byCount = Number.isFinite(total);
  if (mode === 'lines') {
    const timer = setInterval(() => {
      const now = performance.now();
      const of = byCount ? `/${total}` : '';
      process.stderr.write(
        `load: sent ${counts.sent}${of} confirmed ${counts.confirmed} failed ${counts.failed} ` +
          `rate ${Math.round(liveRate(now))} msg/s elapsed ${((now - started) / 1000).toFixed(0)}s\n`,
      );
    }, LINE_EVERY_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `load |{bar}| {percentage}% | {sent}${byCount ? `/${total}` : ''} sent | {rate} msg/s | confirmed {confirmed} | failed {failed} | {time}`,
      stream: process.stderr,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (now: number) => ({
    sent: counts.sent, confirmed: counts.confirmed, failed: counts.failed, rate: Math.round(liveRate(now)),
    time: `${((now - started) / 1000).toFixed(1)}s${byCount ? '' : `/${formatMs(durationMs)}`}`,
  });
  bar.start(byCount ? total : durationMs, 0, payload(started));
  const timer = setInterval(() => {
    const now = performance.now();
    bar.update(byCount ? counts.sent : Math.min(durationMs, now - started), payload(now));
  }, 200);
  timer.unref();
  return () => {
    clearInterval(timer);
    const now = performance.now();
    bar.update(byCount ? counts.sent : Math.min(durationMs, now - started), payload(now));
    bar.stop();
  };
};

interface PublishContext {
  readonly exchange: string;
  readonly routingKey: string;
  readonly batchSize: number;
  readonly generator: MessageGenerator;
  readonly pacer: (max: number) => Promise<number>;
  readonly counts: Counts;
  readonly ids: WriteStream | null;
  readonly fail: (err: unknown) => void;
}

/**
 * One publisher channel: publishes up to batchSize messages, waiting for 'drain' when the
 * channel's write buffer is full, then waits until the broker has confirmed them all.
 */
const publishOnChannel = async (ch: ConfirmChannel, ctx: PublishContext): Promise<void> => {
  const { counts, generator, pacer } = ctx;
  let outstanding = 0;
  let allConfirmed: (() => void) | null = null;
  let closed = false;
  // One callback for every message: amqplib calls it with null (ack) or an error (nack, channel closed).
  const onConfirm = (err: unknown): void => {
    outstanding--;
    if (err === null || err === undefined) counts.confirmed++;
    else counts.failed++;
    if (outstanding === 0 && allConfirmed !== null) {
      const resolve = allConfirmed;
      allConfirmed = null;
      resolve();
    }
  };
  ch.on('error', ctx.fail);
  ch.on('close', () => {
    closed = true;
  });
  ch.on('return', () => {
    counts.unroutable++;
  });
  // amqplib copies the options while encoding, so one object serves every publish.
  const props: AmqpOptions.Publish = { persistent: true, contentType: 'application/json', mandatory: true, messageId: '' };
  const batchIds: string[] = [];
  while (!closed) {
    let inBatch = 0;
    while (inBatch < ctx.batchSize && !closed) {
      const n = await pacer(ctx.batchSize - inBatch);
      if (n === 0) break;
      for (let i = 0; i < n && !closed; i++) {
        const msg = generator.next();
        props.messageId = msg.id;
        let flowing: boolean;
        try {
          flowing = ch.publish(ctx.exchange, ctx.routingKey, msg.body, props, onConfirm);
        } catch (err) {
          ctx.fail(err);
          closed = true;
          break;
        }
        outstanding++;
        counts.sent++;
        counts.byKind[msg.kind]++;
        if (ctx.ids !== null) batchIds.push(msg.id);
        if (!flowing && !closed) await drained(ch);
      }
      inBatch += n;
    }
    if (outstanding > 0) await new Promise<void>((resolve) => (allConfirmed = resolve));
    if (batchIds.length > 0) {
      ctx.ids?.write(`${batchIds.join('\n')}\n`);
      batchIds.length = 0;
    }
    if (inBatch === 0) break;
  }
};

const declareExchange = async (conn: ChannelModel, exchange: string): Promise<void> => {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertExchange(exchange, 'topic', { durable: true });
  } catch (err) {
    throw new Error(`cannot declare exchange "${exchange}" as a durable topic exchange: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  await ch.close();
};

export const runLoad = async (options: LoadOptions = {}): Promise<LoadSummary> => {
  const domain = options.domain ?? 'energy-meter';
  const brokerUrl = options.broker ?? process.env['RABBITMQ_URL'] ?? DEFAULT_BROKER;
  parseUrl(brokerUrl, '--broker', ['amqp:', 'amqps:']);
  const exchange = options.exchange ?? process.env['RABBITMQ_INGEST_EXCHANGE'] ?? DEFAULT_EXCHANGE;
  const routingKey = options.routingKey ?? process.env['RABBITMQ_INGEST_ROUTING_KEY'] ?? DEFAULT_ROUTING_KEY;
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
  const startTime = options.startTime ?? Math.floor(Date.now() / 1000) * 1000;
  const generator = createGenerator(domain, {
    seed, startTime,
    meters: options.meters ?? 100,
    anomalyRate: options.anomalyRate ?? 0.02,
    invalidRate: options.invalidRate ?? 0.01,
    intervalMs: options.intervalMs ?? (rate > 0 ? 1000 / rate : 1),
  });

  const counts: Counts = { sent: 0, confirmed: 0, failed: 0, unroutable: 0, byKind: { valid: 0, anomaly: 0, 'invalid-reading': 0, undecodable: 0 } };
  let ids: WriteStream | null = null;
  let metrics: Server | null = null;
  let conn: ChannelModel | null = null;
  let stopReporter = (): void => {};
  let error: string | null = null;
  let stopping = false;
  const channels: ConfirmChannel[] = [];
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Confirms normally arrive within milliseconds; if the broker stalls, give up on them.
    graceTimer = setTimeout(() => {
      for (const ch of channels) ch.close().catch(() => {});
    }, STOP_GRACE_MS).unref();
  };
  const fail = (err: unknown): void => {
    error ??= err instanceof Error ? err.message : String(err);
    stop();
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
    try {
      conn = await amqp.connect(brokerUrl, { clientProperties: { connection_name: 'ingestd-load' } });
    } catch (err) {
      throw new Error(`cannot connect to ${redactUrl(brokerUrl)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    conn.on('error', fail);
    conn.on('close', () => {
      if (!stopping) fail(new Error('connection closed by the broker'));
    });
    if (options.declare ?? true) await declareExchange(conn, exchange);
    for (let i = 0; i < concurrency; i++) channels.push(await conn.createConfirmChannel());

    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) stop();
    started = performance.now();
    const pacer = createPacer(rate, limit, started + durationMs, () => stopping);
    stopReporter = startReporter(options.progress ?? 'none', counts, limit, durationMs);

    const context: PublishContext = { exchange, routingKey, batchSize, generator, pacer, counts, ids, fail };
    await Promise.all(channels.map((ch) => publishOnChannel(ch, context)));
  } finally {
    elapsedMs = performance.now() - started;
    clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
    stopReporter();
    stopping = true;
    // Closing an open connection also closes its channels; errors here change nothing.
    if (conn !== null) await conn.close().catch(() => {});
    if (ids !== null && !ids.destroyed) {
      ids.end();
      await once(ids, 'close').catch(() => {});
    }
    if (metrics !== null) {
      const server = metrics;
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      });
    }
  }
  const interrupted = options.signal?.aborted ?? false;
  const missed = counts.sent - counts.confirmed - counts.failed;
  return {
    domain,
    broker: redactUrl(brokerUrl),
    exchange,
    routingKey,
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

const formatMs = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`);

export const formatSummary = (s: LoadSummary): string => {
  const rows: Array<[string, string | number]> = [
    ['domain', s.domain],
    ['broker', s.broker],
    ['exchange', s.exchange],
    ['routing key', s.routingKey],
    ['sent', s.sent],
    ['confirmed', s.confirmed],
    ['failed', s.failed],
    ['unroutable', s.unroutable],
    ...MESSAGE_KINDS.map((k): [string, number] => [`  ${k}`, s.byKind[k]]),
    ['elapsed', formatMs(s.elapsedMs)],
    ['rate', `${Math.round(s.ratePerSec)} msg/s`],
    ['seed', s.seed],
    ['start time', s.startTime],
  ];
  const lines = [`ingestd load ${s.ok ? 'finished' : 'finished with problems'}${s.interrupted ? ' (interrupted)' : ''}`];
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(17)} ${v}`);
  if (s.error !== null) lines.push(`  error             ${s.error}`);
  if (s.unroutable > 0) lines.push(`  warning           ${s.unroutable} messages had no queue bound to "${s.exchange}" for "${s.routingKey}" and were dropped by the broker`);
  lines.push(`  repeat with       --seed ${s.seed} --start-time ${s.startTime}`);
  return `${lines.join('\n')}\n`;
};

interface RawOptions {
  broker?: string; domain: string; exchange?: string; routingKey?: string; topic?: string; rate: string;
  duration?: string; count?: string; concurrency: string; batchSize: string; meters: string; anomalyRate: string;
  invalidRate: string; seed?: string; startTime?: string; interval?: string; idsFile?: string; metricsPort?: string;
  progress: boolean; declare?: boolean;
}

/** Turns the command line into LoadOptions, throwing OptionError (exit 2) on bad values. */
export const loadOptionsFromCli = (raw: RawOptions, stderrIsTty: boolean): LoadOptions => {
  if (raw.topic !== undefined && raw.routingKey !== undefined && raw.topic !== raw.routingKey) {
    throw new OptionError('--topic', `conflicts with --routing-key ("${raw.topic}" vs "${raw.routingKey}"); give one of them`);
  }
  parseDomain(raw.domain);
  const routingKey = raw.routingKey ?? raw.topic;
  const opt = <T>(value: string | undefined, parse: (v: string) => T): T | undefined => (value === undefined ? undefined : parse(value));
  const o = {
    domain: raw.domain,
    broker: opt(raw.broker, (v) => (parseUrl(v, '--broker', ['amqp:', 'amqps:']), v.trim())),
    exchange: raw.exchange,
    routingKey,
    rate: parseNonNegativeNumber(raw.rate, '--rate'),
    durationMs: opt(raw.duration, (v) => parseDuration(v, '--duration')),
    count: opt(raw.count, (v) => parsePositiveInt(v, '--count')),
    concurrency: parsePositiveInt(raw.concurrency, '--concurrency'),
    batchSize: parsePositiveInt(raw.batchSize, '--batch-size'),
    meters: parsePositiveInt(raw.meters, '--meters'),
    anomalyRate: parseRate(raw.anomalyRate, '--anomaly-rate'),
    invalidRate: parseRate(raw.invalidRate, '--invalid-rate'),
    seed: opt(raw.seed, (v) => parseSeed(v, '--seed')),
    startTime: opt(raw.startTime, (v) => parseTimestamp(v, '--start-time')),
    intervalMs: opt(raw.interval, (v) => (v.trim() === '0' ? 0 : parseDuration(v, '--interval'))),
    idsFile: raw.idsFile,
    metricsPort: opt(raw.metricsPort, (v) => parsePort(v, '--metrics-port')),
    progress: raw.progress && stderrIsTty ? 'bar' : 'lines',
    declare: raw.declare ?? true,
  } as const;
  if (o.anomalyRate + o.invalidRate > 1) throw new OptionError('--anomaly-rate', '--anomaly-rate plus --invalid-rate must not exceed 1');
  if (o.concurrency > MAX_CONCURRENCY) throw new OptionError('--concurrency', `at most ${MAX_CONCURRENCY} channels`);
  // Drop unset keys: LoadOptions properties are optional, not undefined-able.
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LoadOptions;
};

export const registerLoad = (program: Command): Command =>
  program
    .command('load')
    .description('publish generated traffic for a domain to a broker, with publisher confirms, and report what was confirmed')
    .option('--broker <url>', `broker URL (default: $RABBITMQ_URL or ${DEFAULT_BROKER})`)
    .option('--domain <name>', `domain whose messages to generate (supported: ${LOAD_DOMAINS.join(', ')})`, 'energy-meter')
    .option('--exchange <name>', `exchange to publish to (default: $RABBITMQ_INGEST_EXCHANGE or ${DEFAULT_EXCHANGE})`)
    .option('--routing-key <key>', `routing key (default: $RABBITMQ_INGEST_ROUTING_KEY or ${DEFAULT_ROUTING_KEY})`)
    .option('--topic <key>', 'same as --routing-key')
    .option('--rate <msgs/s>', 'target publish rate; 0 = as fast as possible', '0')
    .option('--duration <time>', 'stop after this long, e.g. 30s, 2m (with --count: whichever comes first)')
    .option('--count <n>', `messages to send (default: ${DEFAULT_COUNT} unless --duration is given)`)
    .option('--concurrency <n>', 'publisher channels', '1')
    .option('--batch-size <n>', 'messages published between waits for broker confirms', '500')
    .option('--meters <n>', 'distinct meters (client fingerprints)', '100')
    .option('--anomaly-rate <0..1>', 'share of messages with an anomalous reading (spike or negative value)', '0.02')
    .option('--invalid-rate <0..1>', 'share of invalid messages (80% an invalid reading, 20% undecodable)', '0.01')
    .option('--seed <n>', 'random seed: the same seed and options give the same messages (default: random, printed)')
    .option('--start-time <rfc3339>', 'received_at of the first message (default: now)')
    .option('--interval <time>', 'received_at step between messages (default: 1/rate, or 1ms when --rate is 0)')
    .option('--ids-file <path>', 'write the id of every message sent, one per line')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port while running')
    .option('--no-progress', 'no progress bar; print a status line every 5 s instead')
    .option('--declare', 'assert the exchange as a durable topic exchange before publishing (default)')
    .option('--no-declare', 'publish to the exchange as it is')
    .action(async (raw: RawOptions) => {
      loadEnv(); // the same .env as the worker, for RABBITMQ_* defaults
      process.exitCode = await runCli(raw);
    });

/** The `load` command; returns the exit code (0 all confirmed, 1 otherwise, 2 bad usage). */
const runCli = async (raw: RawOptions): Promise<number> => {
  let options: LoadOptions;
  try {
    options = loadOptionsFromCli(raw, process.stderr.isTTY === true);
  } catch (err) {
    process.stderr.write(`ingestd load: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof OptionError ? 2 : 1;
  }
  options = { ...options, seed: options.seed ?? randomSeed() };
  const target = options.count !== undefined ? `${options.count} messages` : options.durationMs !== undefined ? `for ${formatMs(options.durationMs)}` : `${DEFAULT_COUNT} messages`;
  process.stderr.write(
    `ingestd load: ${options.domain ?? 'energy-meter'} → ${redactUrl(options.broker ?? process.env['RABBITMQ_URL'] ?? DEFAULT_BROKER)}, ` +
      `${target} at ${options.rate ? `${options.rate} msg/s` : 'full speed'}, seed ${options.seed}\n`,
  );
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ningestd load: stopping (waiting for outstanding confirms; Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await runLoad({ ...options, signal: controller.signal });
    process.stdout.write(formatSummary(summary));
    return summary.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`ingestd load: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof OptionError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};
