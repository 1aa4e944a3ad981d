/** The `ingestd load` command (SPEC §8): command line → LoadOptions → runLoad → summary. */
import type { Command } from 'commander';
import { randomSeed } from '../../sim/random.ts';
import { loadEnv } from '../context.ts';
import {
  OptionError, parseDuration, parseNonNegativeNumber, parsePort, parsePositiveInt, parseRate, parseSeed, parseTimestamp,
} from '../options.ts';
import { DEFAULT_AMQP_URL, DEFAULT_EXCHANGE, DEFAULT_ROUTING_KEY } from './amqp.ts';
import { transportFor } from './brokers.ts';
import { checkGeneratorOptions, LOAD_DOMAINS, loadDomain } from './generators.ts';
import { DEFAULT_PARTITIONS } from './kafka.ts';
import { DEFAULT_COUNT, defaultStartTime, generatorOptions, MAX_CONCURRENCY, runLoad } from './run.ts';
import type { LoadOptions } from './run.ts';
import { formatMs, formatSummary } from './summary.ts';
import { redactText } from '../../runtime/redact.ts';

export interface RawOptions {
  broker?: string; domain: string; exchange?: string; routingKey?: string; topic?: string; partitions?: string; rate: string;
  duration?: string; count?: string; concurrency: string; batchSize: string; meters: string; anomalyRate: string;
  invalidRate: string; outOfOrderRate?: string; lateRate?: string; seed?: string; startTime?: string; interval?: string;
  idsFile?: string; metricsPort?: string; progress: boolean; declare?: boolean;
  subjects?: string; companyIds?: string; company_ids?: string; historyCount?: string;
}

/** Turns the command line into LoadOptions, throwing OptionError (exit 2) on bad values. */
export const loadOptionsFromCli = (raw: RawOptions, stderrIsTty: boolean, env: NodeJS.ProcessEnv = process.env): LoadOptions => {
  if (raw.topic !== undefined && raw.routingKey !== undefined && raw.topic !== raw.routingKey) {
    throw new OptionError('--topic', `conflicts with --routing-key ("${raw.topic}" vs "${raw.routingKey}"); give one of them`);
  }
  const domain = loadDomain(raw.domain);
  const opt = <T>(value: string | undefined, parse: (v: string) => T): T | undefined => (value === undefined ? undefined : parse(value));
  const o = {
    domain: domain.name,
    broker: raw.broker?.trim(),
    exchange: raw.exchange,
    routingKey: raw.routingKey,
    topic: raw.topic,
    partitions: opt(raw.partitions, (v) => parsePositiveInt(v, '--partitions')),
    rate: parseNonNegativeNumber(raw.rate, '--rate'),
    durationMs: opt(raw.duration, (v) => parseDuration(v, '--duration')),
    count: opt(raw.count, (v) => parsePositiveInt(v, '--count')),
    concurrency: parsePositiveInt(raw.concurrency, '--concurrency'),
    batchSize: parsePositiveInt(raw.batchSize, '--batch-size'),
    meters: parsePositiveInt(raw.meters, '--meters'),
    anomalyRate: parseRate(raw.anomalyRate, '--anomaly-rate'),
    invalidRate: parseRate(raw.invalidRate, '--invalid-rate'),
    outOfOrderRate: opt(raw.outOfOrderRate, (v) => parseRate(v, '--out-of-order-rate')),
    lateRate: opt(raw.lateRate, (v) => parseRate(v, '--late-rate')),
    seed: opt(raw.seed, (v) => parseSeed(v, '--seed')),
    startTime: opt(raw.startTime, (v) => parseTimestamp(v, '--start-time')),
    intervalMs: opt(raw.interval, (v) => (v.trim() === '0' ? 0 : parseDuration(v, '--interval'))),
    idsFile: raw.idsFile,
    metricsPort: opt(raw.metricsPort, (v) => parsePort(v, '--metrics-port')),
    progress: raw.progress && stderrIsTty ? 'bar' : 'lines',
    declare: raw.declare ?? true,
    subjects: opt(raw.subjects, (v) => v.split(',').map((x) => x.trim()).filter((x) => x !== '')),
    companyIds: opt(raw.companyIds ?? raw.company_ids, (v) => v.split(',').map((x) => x.trim()).filter((x) => x !== '')),
    historyCount: opt(raw.historyCount, (v) => parsePositiveInt(v, '--history-count')),
  } as const;
  if (o.concurrency > MAX_CONCURRENCY) throw new OptionError('--concurrency', `at most ${MAX_CONCURRENCY} channels or producers`);
  // Drop unset keys: LoadOptions properties are optional, not undefined-able.
  const options = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LoadOptions;
  // Broker, destination and generator options are checked now, before anything connects.
  const { transport, url } = transportFor(options.broker, domain, env);
  transport.prepare(url, domain, options, env);
  checkGeneratorOptions(domain, generatorOptions(options, options.seed ?? 1, options.startTime ?? defaultStartTime()));
  return options;
};

const domains = LOAD_DOMAINS.map((d) => d.name).join(', ');

export const registerLoad = (program: Command): Command =>
  program
    .command('load')
    .description('publish generated traffic for a domain to a broker (RabbitMQ, Kafka, NATS JetStream or MQTT), with broker confirms, and report what was confirmed')
    .option(
      '--broker <url>',
      `amqp[s]://…, kafka://host:port[,host:port], nats://… or mqtt[s]://… (default: energy-meter → $RABBITMQ_URL or ${DEFAULT_AMQP_URL}; ` +
        'grid-telemetry → kafka:// on $KAFKA_BROKERS or 127.0.0.1:9092)',
    )
    .option('--domain <name>', `domain whose messages to generate (${domains})`, 'energy-meter')
    .option('--exchange <name>', `AMQP exchange to publish to (default: $RABBITMQ_INGEST_EXCHANGE or ${DEFAULT_EXCHANGE})`)
    .option('--routing-key <key>', `AMQP routing key (default: energy-meter → $RABBITMQ_INGEST_ROUTING_KEY or ${DEFAULT_ROUTING_KEY}; grid-telemetry → raw_readings)`)
    .option('--topic <name>', 'Kafka topic (default: energy-meter → energy-meter; grid-telemetry → raw_readings); on AMQP the same as --routing-key')
    .option('--partitions <n>', `partitions of the Kafka topic when this run creates it (default: ${DEFAULT_PARTITIONS})`)
    .option('--rate <msgs/s>', 'target publish rate; 0 = as fast as possible', '0')
    .option('--duration <time>', 'stop after this long, e.g. 30s, 2m (with --count: whichever comes first)')
    .option('--count <n>', `messages to send (default: ${DEFAULT_COUNT} unless --duration is given)`)
    .option('--concurrency <n>', 'parallel publishers: AMQP channels or Kafka producers', '1')
    .option('--batch-size <n>', 'messages published between waits for broker confirms (Kafka: most messages per produce request)', '500')
    .option('--meters <n>', 'distinct meters', '100')
    .option('--anomaly-rate <0..1>', 'share of anomalous readings (energy-meter: spike or negative value; grid-telemetry: spike, drop or outage)', '0.02')
    .option(
      '--invalid-rate <0..1>',
      'share of invalid messages (energy-meter: 80% an invalid reading, 20% undecodable; grid-telemetry: 30% undecodable, 70% failing the schema)',
      '0.01',
    )
    .option('--out-of-order-rate <0..1>', 'grid-telemetry: share of readings delivered 1-5 s of event time behind newer ones (default: 0)')
    .option('--late-rate <0..1>', 'grid-telemetry: share of readings delivered 2-10 min of event time behind newer ones (default: 0)')
    .option('--seed <n>', 'random seed: the same seed and options give the same messages (default: random, printed)')
    .option('--start-time <rfc3339>', 'received_at (energy-meter) or event time (grid-telemetry) of the first message (default: now)')
    .option(
      '--interval <time>',
      'energy-meter: received_at step between messages (default: 1/rate, or 1ms when --rate is 0); ' +
        'grid-telemetry: event time between two readings of one meter (default: 1s)',
    )
    .option('--ids-file <path>', 'write the id of every message sent, one per line (energy-meter: request_id; grid-telemetry: meter@epoch-ms, with #invalidN on a garbled copy)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port while running')
    .option('--subjects <list>', 'chat-events: base subjects to draw from, e.g. v1.chats.upsert,v1.history.messages (default: all)')
    .option('--company-ids <list>', 'chat-events: companies, comma-separated (default: CompanyAAA01,CompanyBBB02)')
    .option('--company_ids <list>', 'alias of --company-ids')
    .option('--history-count <n>', 'chat-events: items per history batch (default: 10)')
    .option('--no-progress', 'no progress bar; print a status line every 5 s instead')
    .option('--declare', 'declare the destination first: assert the exchange as a durable topic exchange, or create the Kafka topic if missing (default)')
    .option('--no-declare', 'publish to the exchange or topic as it is')
    .action(async (raw: RawOptions) => {
      loadEnv(); // the same .env as the worker, for RABBITMQ_* and KAFKA_BROKERS defaults
      process.exitCode = await runCli(raw);
    });

/** The `load` command; returns the exit code (0 all confirmed, 1 otherwise, 2 bad usage). */
const runCli = async (raw: RawOptions): Promise<number> => {
  let options: LoadOptions;
  let broker: string;
  let destination: string;
  try {
    options = loadOptionsFromCli(raw, process.stderr.isTTY === true);
    const domain = loadDomain(options.domain ?? 'energy-meter');
    const { transport, url } = transportFor(options.broker, domain, process.env);
    const prepared = transport.prepare(url, domain, options, process.env);
    broker = prepared.broker;
    destination = transport.kind === 'kafka' ? ` topic ${prepared.destination['topic']}` : '';
  } catch (err) {
    process.stderr.write(`ingestd load: ${redactText(err instanceof Error ? err.message : String(err))}\n`);
    return err instanceof OptionError ? 2 : 1;
  }
  options = { ...options, seed: options.seed ?? randomSeed() };
  const target = options.count !== undefined ? `${options.count} messages` : options.durationMs !== undefined ? `for ${formatMs(options.durationMs)}` : `${DEFAULT_COUNT} messages`;
  process.stderr.write(
    `ingestd load: ${options.domain ?? 'energy-meter'} → ${broker}${destination}, ` +
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
    process.stderr.write(`ingestd load: ${redactText(err instanceof Error ? err.message : String(err))}\n`);
    return err instanceof OptionError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};
