/**
 * The peer's topic: the very readings `ingestd load` sends to ingestd's topic (the same
 * generator, seed and options, decoded with the worker's own decoder), each re-encoded as a
 * Kafka Connect JsonConverter envelope (`schemas.enable=true`: the schema travels with every
 * record, which the JDBC sink needs to map fields to columns), keyed by meter id and sent with
 * the default (murmur2) partitioner to a new topic of the same partition count.
 *
 * Also: the checksums the stored table must match (rows, sum of power_kw), computed from the
 * readings themselves, so both sides can be checked against the same figures.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type Message } from 'kafkajs';
import { createLoadGenerator, loadDomain, type GeneratorOptions } from '../../../src/cli/load/generators.ts';
import { decodeGridReading } from '../../../src/domains/grid-telemetry/decode.ts';
import { round } from '../common.ts';
import { fixKafkajsRequestQueue } from '../../../src/sources/kafka/request-queue-fix.ts';

/** The Connect schema of one reading: the columns of grid_raw (grid_raw.sql). */
const SCHEMA = JSON.stringify({
  type: 'struct', name: 'ingestd.bench.GridReading', optional: false,
  fields: [
    { field: 'meter_id', type: 'string', optional: false },
    { field: 'region', type: 'string', optional: false },
    { field: 'ts', type: 'int64', name: 'org.apache.kafka.connect.data.Timestamp', version: 1, optional: false },
    { field: 'power_kw', type: 'double', optional: false },
    { field: 'voltage', type: 'double', optional: true },
    { field: 'energy_kwh', type: 'double', optional: true },
    { field: 'interval_s', type: 'double', optional: false },
  ],
});

export interface Readings {
  /** Decodable readings (all of them with --invalid-rate 0). */
  readonly rows: number;
  /** Sum of power_kw over the readings: what `SELECT sum(power_kw)` must give on either side. */
  readonly sumPowerKw: number;
}

/** The same readings as `ingestd load` with these generator options, one at a time. */
export function* readings(o: GeneratorOptions): Generator<{ key: string; value: ReturnType<typeof decodeGridReading>['value'] }> {
  const gen = createLoadGenerator(loadDomain('grid-telemetry'), o);
  for (;;) {
    const m = gen.next();
    yield { key: m.key, value: decodeGridReading(m.body).value };
  }
}

/** What the worker would store for `count` messages: rows and their power total. */
export function expectedReadings(o: GeneratorOptions, count: number): Readings {
  let rows = 0;
  let sum = 0;
  const it = readings(o);
  for (let i = 0; i < count; i++) {
    const r = it.next().value!;
    rows++;
    sum += r.value.powerKw;
  }
  return { rows, sumPowerKw: sum };
}

export interface Produced extends Readings {
  readonly seconds: number;
  readonly msgsPerS: number;
  readonly avgValueBytes: number;
  /** Offsets in the topic after producing (must equal the count). */
  readonly inTopic: number;
}

/**
 * Creates `topic` with `partitions` partitions and sends `count` envelopes: produce requests
 * of 2000 records, 4 in flight, acks from all in-sync replicas, no compression.
 */
export async function produceEnvelopes(o: {
  brokers: ReadonlyArray<string>; topic: string; partitions: number; count: number; generator: GeneratorOptions; signal: AbortSignal;
}): Promise<Produced> {
  fixKafkajsRequestQueue();
  const kafka = new Kafka({ clientId: 'ingestd-bench-peer', brokers: [...o.brokers], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: o.topic, numPartitions: o.partitions }], waitForLeaders: true });
    const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const it = readings(o.generator);
    let made = 0;
    let sum = 0;
    let valueBytes = 0;
    const nextBatch = (size: number): Message[] => {
      const out: Message[] = [];
      for (let i = 0; i < size && made < o.count; i++, made++) {
        const { key, value: r } = it.next().value!;
        sum += r.powerKw;
        const payload = JSON.stringify({
          meter_id: r.meterId, region: r.region, ts: r.timestampMs, power_kw: r.powerKw, voltage: r.voltage, energy_kwh: r.energyKwh, interval_s: r.intervalS,
        });
        const value = `{"schema":${SCHEMA},"payload":${payload}}`;
        valueBytes += Buffer.byteLength(value);
        out.push({ key, value });
      }
      return out;
    };
    const t0 = performance.now();
    try {
      const lane = async (): Promise<void> => {
        while (made < o.count) {
          o.signal.throwIfAborted();
          const messages = nextBatch(2000);
          await producer.send({ topic: o.topic, acks: -1, compression: CompressionTypes.None, messages });
        }
      };
      await Promise.all(Array.from({ length: 4 }, lane));
    } finally {
      await producer.disconnect();
    }
    const seconds = (performance.now() - t0) / 1000;
    const offsets = await admin.fetchTopicOffsets(o.topic);
    return {
      rows: made, sumPowerKw: sum, seconds: round(seconds, 2), msgsPerS: Math.round(made / seconds), avgValueBytes: round(valueBytes / Math.max(1, made)),
      inTopic: offsets.reduce((a, p) => a + Number(p.high) - Number(p.low), 0),
    };
  } finally {
    await admin.disconnect();
  }
}
