// Raw consume rate of a Kafka client library: how many messages per second a
// consumer-group member receives with no processing at all, and its RSS.
//
//   bash scripts/kafka.sh start
//   node bench/kafka-raw-consume.ts kafkajs
//   node bench/kafka-raw-consume.ts @platformatic/kafka
//
// Options (after the library name):
//   --messages N   messages in the topic and to consume (500000)
//   --topic NAME   topic (bench_raw_consume); created with 4 partitions and
//                  pre-loaded with ~150-byte JSON readings by the same library
//                  when it holds fewer than N messages
//   --max-bytes B  fetch response size cap (1 MiB for @platformatic/kafka, whose
//                  50 MB default decodes in quadratic time; kafkajs default 10 MB)
//   --brokers H:P  (KAFKA_BROKERS or 127.0.0.1:9092)
//
// Prints one JSON line: {library, messages, seconds, rate, rssMb, ...}; `seconds`
// runs from the first message received to the N-th (group join excluded, shown
// as joinSeconds), rssMb is the peak RSS sampled every 100 ms while consuming.
//
// kafkajs on Node 24 prints a harmless TimeoutNegativeWarning to stderr; add
// --disable-warning=TimeoutNegativeWarning to hide it.
//
// Only the library the worker uses is in package.json; to measure the other:
//   npm install --no-save kafkajs        (or @platformatic/kafka)
// Both are loaded with a dynamic import of a computed name so this file
// type-checks whichever of them is installed.

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { fixKafkajsRequestQueue } from '../src/sources/kafka/request-queue-fix.ts';

type Library = 'kafkajs' | '@platformatic/kafka';

interface Result {
  library: Library;
  libraryVersion: string;
  messages: number;
  seconds: number;
  rate: number;
  rssMb: number;
  joinSeconds: number;
  maxBytes: number;
  preloadSeconds: number | null;
}

const PARTITIONS = 4;
const LOAD_CHUNK = 1000;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '500000' },
    topic: { type: 'string', default: 'bench_raw_consume' },
    'max-bytes': { type: 'string' },
    brokers: { type: 'string', default: process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092' },
  },
});

const library = positionals[0];
if (library !== 'kafkajs' && library !== '@platformatic/kafka') {
  console.error('usage: node bench/kafka-raw-consume.ts kafkajs|@platformatic/kafka [--messages N] [--topic T] [--max-bytes B]');
  process.exit(2);
}
const total = Number(values.messages);
const topic = values.topic;
const brokers = values.brokers.split(',');
const maxBytes = values['max-bytes'] !== undefined
  ? Number(values['max-bytes'])
  : library === 'kafkajs' ? 10 * 1024 * 1024 : 1024 * 1024;

// ~150-byte grid-telemetry reading (SPEC §5.2), keyed by meter id.
function reading(i: number): { key: string; value: string } {
  const meter = `M-${String(i % 5000).padStart(4, '0')}`;
  const ts = new Date(Date.UTC(2026, 0, 5, 10) + i * 1000).toISOString();
  const value = JSON.stringify({
    meter_id: meter,
    region: ['north', 'south', 'east', 'west'][i % 4],
    timestamp: ts,
    power_kw: Math.round(((i * 7919) % 10000) / 10) / 100 + 0.5,
    voltage: 230 + (i % 50) / 10,
    energy_kwh: 0.00089,
    interval_s: 1,
    seq: i,
  });
  return { key: meter, value };
}

let peakRss = 0;
// Called when consumption starts: the pre-load's memory is not counted.
function resetPeakRss(): void {
  peakRss = process.memoryUsage.rss();
}
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);

async function importLib(name: Library): Promise<any> {
  try {
    return await import(name);
  } catch (err) {
    throw new Error(`${name} is not installed (npm install --no-save ${name}): ${(err as Error).message}`);
  }
}

async function libVersion(name: Library): Promise<string> {
  // Walk up from the resolved entry point: not every package exports ./package.json.
  const { readFile } = await import('node:fs/promises');
  let url = new URL('.', import.meta.resolve(name));
  for (let i = 0; i < 6; i++, url = new URL('..', url)) {
    try {
      const pkg = JSON.parse(await readFile(new URL('package.json', url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return pkg.version;
    } catch {
      // no package.json at this level
    }
  }
  return 'unknown';
}

// ---------------------------------------------------------------- kafkajs

async function runKafkajs(): Promise<Omit<Result, 'library' | 'libraryVersion' | 'rssMb'>> {
  const mod = await importLib('kafkajs');
  const { Kafka, logLevel, Partitioners } = mod.default ?? mod;
  fixKafkajsRequestQueue();
  const kafka = new Kafka({ clientId: 'bench-raw-consume', brokers, logLevel: logLevel.WARN });

  // Pre-load.
  const admin = kafka.admin();
  await admin.connect();
  const existing: string[] = await admin.listTopics();
  if (!existing.includes(topic)) {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  }
  const offsets: Array<{ high: string; low: string }> = await admin.fetchTopicOffsets(topic);
  const present = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  let preloadSeconds: number | null = null;
  if (present < total) {
    const t0 = performance.now();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (let i = present; i < total; i += LOAD_CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(total, i + LOAD_CHUNK); j++) messages.push(reading(j));
      await producer.send({ topic, messages });
    }
    await producer.disconnect();
    preloadSeconds = (performance.now() - t0) / 1000;
  }
  await admin.disconnect();

  // Consume.
  resetPeakRss();
  const consumer = kafka.consumer({ groupId: `bench-kafkajs-${process.pid}-${Date.now()}`, maxBytes });
  const start = performance.now();
  let first = 0;
  let count = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => { resolveDone = resolve; });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }: { batch: { messages: unknown[] } }) => {
      if (count === 0) first = performance.now();
      count += batch.messages.length;
      if (count >= total) resolveDone();
    },
  });
  await done;
  const end = performance.now();
  await consumer.disconnect();
  return {
    messages: count,
    seconds: (end - first) / 1000,
    rate: Math.round(count / ((end - first) / 1000)),
    joinSeconds: (first - start) / 1000,
    maxBytes,
    preloadSeconds,
  };
}

// ------------------------------------------------------ @platformatic/kafka

async function runPlatformatic(): Promise<Omit<Result, 'library' | 'libraryVersion' | 'rssMb'>> {
  const { Admin, Producer, Consumer, stringSerializers } = await importLib('@platformatic/kafka');

  // Pre-load.
  const admin = new Admin({ clientId: 'bench-raw-consume', bootstrapBrokers: brokers });
  const existing: string[] = await admin.listTopics();
  if (!existing.includes(topic)) {
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  }
  let preloadSeconds: number | null = null;
  const probe = new Consumer({ clientId: 'bench-raw-consume-probe', groupId: 'bench-probe', bootstrapBrokers: brokers });
  const hi: Map<string, bigint[]> = await probe.listOffsets({ topics: [topic] });
  const lo: Map<string, bigint[]> = await probe.listOffsets({ topics: [topic], timestamp: -2n });
  await probe.close();
  const present = (hi.get(topic) ?? []).reduce((n, h, i) => n + Number(h - (lo.get(topic)?.[i] ?? 0n)), 0);
  if (present < total) {
    const t0 = performance.now();
    const producer = new Producer({ clientId: 'bench-raw-consume', bootstrapBrokers: brokers, serializers: stringSerializers });
    for (let i = present; i < total; i += LOAD_CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(total, i + LOAD_CHUNK); j++) messages.push({ topic, ...reading(j) });
      await producer.send({ messages });
    }
    await producer.close();
    preloadSeconds = (performance.now() - t0) / 1000;
  }
  await admin.close();

  // Consume: no deserializers (values stay Buffers), no autocommit.
  resetPeakRss();
  const consumer = new Consumer({
    clientId: 'bench-raw-consume',
    groupId: `bench-platformatic-${process.pid}-${Date.now()}`,
    bootstrapBrokers: brokers,
    maxBytes,
  });
  const start = performance.now();
  let first = 0;
  let count = 0;
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('data', () => {
      if (count === 0) first = performance.now();
      count++;
      if (count === total) resolve();
    });
  });
  const end = performance.now();
  await stream.close();
  await consumer.close(true);
  return {
    messages: count,
    seconds: (end - first) / 1000,
    rate: Math.round(count / ((end - first) / 1000)),
    joinSeconds: (first - start) / 1000,
    maxBytes,
    preloadSeconds,
  };
}

// ------------------------------------------------------------------- main

let r: Awaited<ReturnType<typeof runKafkajs>>;
try {
  r = library === 'kafkajs' ? await runKafkajs() : await runPlatformatic();
} catch (err) {
  console.error(`kafka-raw-consume: ${(err as Error).message}`);
  process.exit(1);
}
clearInterval(rssTimer);
const result: Result = {
  library,
  libraryVersion: await libVersion(library),
  messages: r.messages,
  seconds: Math.round(r.seconds * 1000) / 1000,
  rate: r.rate,
  rssMb: Math.round(peakRss / 1024 / 1024),
  joinSeconds: Math.round(r.joinSeconds * 1000) / 1000,
  maxBytes: r.maxBytes,
  preloadSeconds: r.preloadSeconds === null ? null : Math.round(r.preloadSeconds * 10) / 10,
};
console.log(JSON.stringify(result));
process.exit(0);
