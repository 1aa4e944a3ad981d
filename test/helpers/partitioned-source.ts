import pg from 'pg';
import { requireConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { createRuntime, startWorker } from '../../src/runtime/worker.ts';
import type { MemoryPublisher } from '../../src/sources/memory/broker.ts';
import { createTestDatabase } from './db.ts';
import { claimPartitions, readPositions } from '../../src/sinks/postgres/checkpoints.ts';
import { Doorbell } from '../../src/runtime/doorbell.ts';
import type { DeliveryBatch, Source, SourceStatus } from '../../src/sources/types.ts';

const SOURCE = 'test-log';

/**
 * A Kafka-like source over in-memory partition logs, for the checkpointing path without a
 * broker: partitions keep their messages (a rewind re-reads them), positions are claimed with
 * a fencing epoch on start and on `reassign()`, batches are handed out pipelined (the next
 * one of a partition as soon as the previous one was accepted).
 */
export class PartitionedLogSource implements Source {
  readonly name = 'test-log';
  readonly kind = 'memory';
  readonly partitioned = true;
  readonly #pool: pg.Pool;
  readonly #topic: string;
  readonly #logs: Buffer[][];
  readonly #batchSize: number;
  readonly #next: number[];
  readonly #epochs: Array<string | undefined>;
  readonly #bell = new Doorbell();
  #barrier: DeliveryBatch | undefined;
  #turn = 0;
  rewinds = 0;
  /** Settled outcomes, for assertions. */
  readonly outcomes = { ack: 0, release: 0 };

  constructor(o: { pool: pg.Pool; topic: string; partitions: number; batchSize: number }) {
    this.#pool = o.pool;
    this.#topic = o.topic;
    this.#logs = Array.from({ length: o.partitions }, () => []);
    this.#next = this.#logs.map(() => 0);
    this.#epochs = this.#logs.map(() => undefined);
    this.#batchSize = o.batchSize;
  }

  append(partition: number, bodies: ReadonlyArray<Buffer>): void {
    this.#logs[partition]!.push(...bodies);
    this.#bell.ring();
  }

  /** Messages not yet handed out. */
  get backlog(): number {
    return this.#logs.reduce((n, log, p) => n + log.length - this.#next[p]!, 0);
  }

  async start(): Promise<void> {
    await this.#claim();
  }

  /** A rebalance that gives this worker the same partitions again: barrier, then a new claim. */
  async reassign(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#barrier = { deliveries: [], reassigned: true, settle: async () => resolve() };
      this.#bell.ring();
    });
    await this.#claim();
  }

  async #claim(): Promise<void> {
    const claims = await claimPartitions(this.#pool, SOURCE, this.#topic, this.#logs.map((_, p) => p));
    for (const [p, c] of claims) {
      this.#epochs[p] = c.epoch;
      this.#next[p] = c.offset === undefined ? 0 : Number(c.offset);
    }
    this.#bell.ring();
  }

  async rewind(): Promise<void> {
    this.rewinds++;
    const stored = await readPositions(this.#pool, SOURCE, this.#topic);
    this.#logs.forEach((_, p) => {
      const s = stored.get(p);
      if (s?.epoch !== this.#epochs[p]) this.#epochs[p] = undefined; // claimed by another: stop reading it
      this.#next[p] = s?.offset === undefined ? 0 : Number(s.offset);
    });
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    while (!signal.aborted) {
      if (this.#barrier !== undefined) {
        const b = this.#barrier;
        this.#barrier = undefined;
        yield b;
        continue;
      }
      const batch = this.#take();
      if (batch === undefined) await this.#bell.wait(signal, 50);
      else yield batch;
    }
  }

  #take(): DeliveryBatch | undefined {
    for (let i = 0; i < this.#logs.length; i++) {
      const p = (this.#turn + i) % this.#logs.length;
      const log = this.#logs[p]!;
      const from = this.#next[p]!;
      const epoch = this.#epochs[p];
      if (from >= log.length || epoch === undefined) continue;
      this.#turn = p + 1;
      const to = Math.min(log.length, from + this.#batchSize);
      this.#next[p] = to;
      const receivedAt = Date.now();
      return {
        deliveries: log.slice(from, to).map((body, i) => ({
          id: undefined, route: this.#topic, body, headers: {}, receivedAt, origin: { partition: p, offset: String(from + i), attempts: 1 },
        })),
        checkpoints: [{ source: SOURCE, stream: this.#topic, partition: p, offset: String(to), epoch }],
        backlog: log.length - to,
        accept: () => undefined,
        settle: async (outcome) => {
          this.outcomes[outcome.kind]++;
        },
      };
    }
    return undefined;
  }

  status(): SourceStatus {
    return { connected: true };
  }

  async close(): Promise<void> {
    this.#bell.ring();
  }
}

/**
 * The worker against a fresh database, fed by a PartitionedLogSource of `partitions` logs
 * (the Kafka path without a broker); `stop()` stops it and drops the database.
 */
export async function startPartitionedWorker(o: { env: Record<string, string>; topic: string; partitions: number; batchSize: number; published: MemoryPublisher }) {
  const db = await createTestDatabase();
  const config = requireConfig({ DATABASE_URL: db.url, ...o.env });
  const pool = new pg.Pool({ connectionString: db.url, max: 6 });
  const source = new PartitionedLogSource({ pool, topic: o.topic, partitions: o.partitions, batchSize: o.batchSize });
  const worker = await startWorker(config, createLogger({ service: 'test', level: 'silent' }), createRuntime((err) => { throw err; }), {
    source: () => source,
    publisher: o.published,
  });
  const stop = async (): Promise<void> => {
    await worker.stop();
    await pool.end();
    await db.drop();
  };
  return { db, pool, source, worker, stop };
}
