/**
 * The limit of e2e-drain: the client library alone on the same backlog, no processing, in a
 * child process of its own (as the worker is one). The child runs this very file:
 * `node bench/e2e/raw-consume.ts raw '<json spec>'` prints one JSON line (RawResult).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { MQTT_SESSION_OPTIONS, round, sleep } from './common.ts';
import { fixKafkajsRequestQueue } from '../../src/sources/kafka/request-queue-fix.ts';

const SELF = fileURLToPath(import.meta.url);

/** What the raw consumer child needs to read the rig's backlog. */
export type RawSpec =
  | { kind: 'kafka'; brokers: string[]; topic: string; groupId: string; expected: number; concurrency: number }
  | { kind: 'rabbitmq'; url: string; queue: string; prefetch: number; ackEvery: number; expected: number }
  | { kind: 'nats'; url: string; stream: string; subject: string; durable: string; batch: number; maxAckPending: number; expected: number }
  | { kind: 'mqtt'; url: string; clientId: string; topic: string; receiveMaximum: number; expected: number };

export interface RawResult {
  readonly messages: number;
  /**
   * Messages per second from the first delivery (or batch) to the last, the first one's
   * messages excluded; Kafka: from the first fetch request to the last offset commit, every
   * message counted.
   */
  readonly rate: number;
  readonly seconds: number;
  /** From connecting to the first delivery (group join, consumer creation). */
  readonly startSeconds: number;
  readonly rssMb: number;
}

/** Runs the raw consumer of `spec` in its own Node process (as the worker is one), with a deadline. */
export async function rawConsume(spec: RawSpec, signal: AbortSignal, timeoutMs = 120_000): Promise<RawResult> {
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', SELF, 'raw', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const kill = (): void => void child.kill('SIGKILL');
  const timer = setTimeout(kill, timeoutMs);
  signal.addEventListener('abort', kill, { once: true });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  signal.removeEventListener('abort', kill);
  signal.throwIfAborted();
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`raw ${spec.kind} consumer failed (exit ${code}): ${err.trim().slice(-500) || 'timed out'}`);
  return JSON.parse(line) as RawResult;
}

/** Arrival bookkeeping shared by the raw consumers. */
class Tally {
  count = 0;
  first = 0;
  firstCount = 0;
  last = 0;
  readonly started = performance.now();
  readonly #expected: number;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(expected: number) {
    this.#expected = expected;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  /**
   * Starts the interval now, before any message (Kafka: the first fetch request, since a
   * fetch can bring a whole partition's backlog at once): every message then counts.
   */
  startNow(): void {
    if (this.first === 0 && this.count === 0) this.first = performance.now();
  }

  /** n messages handled now; true once all expected have been. */
  add(n: number): boolean {
    const t = performance.now();
    if (this.count === 0 && this.first === 0) {
      this.first = t;
      this.firstCount = n;
    }
    this.count += n;
    this.last = t;
    if (this.count >= this.#expected) {
      this.#resolve();
      return true;
    }
    return false;
  }

  result(rssMb: number): RawResult {
    const span = (this.last - this.first) / 1000;
    return {
      messages: this.count,
      rate: span > 0 ? (this.count - this.firstCount) / span : Number.NaN,
      seconds: round(span, 3),
      startSeconds: round((this.first - this.started) / 1000, 3),
      rssMb,
    };
  }
}

/** kafkajs configured as the worker's source (1 MiB per partition, 50 ms max wait, 4 partitions at once), no processing: each batch's offset committed. */
async function rawKafka(s: Extract<RawSpec, { kind: 'kafka' }>): Promise<Tally> {
  fixKafkajsRequestQueue();
  const kafka = new Kafka({ clientId: 'ingestd-bench-raw', brokers: s.brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: s.groupId, sessionTimeout: 30_000, rebalanceTimeout: 60_000, heartbeatInterval: 3_000, maxBytesPerPartition: 1 << 20, maxWaitTimeInMs: 50 });
  const tally = new Tally(s.expected);
  consumer.on(consumer.events.FETCH_START, () => tally.startNow());
  await consumer.connect();
  await consumer.subscribe({ topics: [s.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: s.concurrency,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
      const n = batch.messages.length;
      if (n === 0) return;
      const last = batch.messages[n - 1]!.offset;
      resolveOffset(last);
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
      tally.add(n);
      await heartbeat();
    },
  });
  await tally.done;
  await consumer.disconnect();
  return tally;
}

/** amqplib: one channel, prefetch as the worker's, manual acks, one multiple-ack every `ackEvery` deliveries. */
async function rawAmqp(s: Extract<RawSpec, { kind: 'rabbitmq' }>): Promise<Tally> {
  const conn = await amqp.connect(s.url);
  const ch = await conn.createChannel();
  await ch.prefetch(s.prefetch);
  const tally = new Tally(s.expected);
  let since = 0;
  await ch.consume(s.queue, (msg) => {
    if (msg === null) return;
    since++;
    const done = tally.add(1);
    if (since >= s.ackEvery || done) {
      ch.ack(msg, true);
      since = 0;
    }
  }, { noAck: false });
  await tally.done;
  await ch.close();
  await conn.close();
  return tally;
}

/** JetStream: a durable pull consumer like the worker's (explicit ack, same MaxAckPending), fetch() batches, each message acked. */
async function rawNats(s: Extract<RawSpec, { kind: 'nats' }>): Promise<Tally> {
  const nc = await natsConnect({ servers: s.url });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(s.stream, { durable_name: s.durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: s.subject, max_ack_pending: s.maxAckPending });
  const consumer = await jetstream(nc).consumers.get(s.stream, s.durable);
  const tally = new Tally(s.expected);
  while (tally.count < s.expected) {
    const batch = await consumer.fetch({ max_messages: s.batch, expires: 2000 });
    let n = 0;
    for await (const m of batch) {
      m.ack();
      n++;
    }
    if (n > 0) tally.add(n);
  }
  await nc.flush();
  await jsm.consumers.delete(s.stream, s.durable).catch(() => undefined);
  await nc.close();
  return tally;
}

/** mqtt.js resuming its persistent session (subscribed before the backlog), QoS 1: the library sends each PUBACK. */
async function rawMqtt(s: Extract<RawSpec, { kind: 'mqtt' }>): Promise<Tally> {
  const tally = new Tally(s.expected);
  const client = mqtt.connect(s.url, { ...MQTT_SESSION_OPTIONS, clientId: s.clientId, properties: { sessionExpiryInterval: 3600, receiveMaximum: s.receiveMaximum } });
  client.on('message', () => void tally.add(1));
  await tally.done;
  await sleep(100); // the last PUBACKs out
  await client.endAsync();
  return tally;
}

async function rawMain(spec: RawSpec): Promise<void> {
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  const tally = spec.kind === 'kafka' ? await rawKafka(spec)
    : spec.kind === 'rabbitmq' ? await rawAmqp(spec)
    : spec.kind === 'nats' ? await rawNats(spec)
    : await rawMqtt(spec);
  clearInterval(sample);
  let rss = peak;
  try {
    rss = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1]) * 1024;
  } catch {
    // not Linux: the sampled peak
  }
  console.log(JSON.stringify(tally.result(round(rss / 1024 / 1024))));
  process.exit(0);
}

if (import.meta.main && process.argv[2] === 'raw') {
  await rawMain(JSON.parse(process.argv[3]!) as RawSpec);
}
