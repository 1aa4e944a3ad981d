import type { Consumer, EachBatchPayload, IHeaders, Kafka } from 'kafkajs';
import type pg from 'pg';
import type { KafkaSettings } from '../../config/index.ts';
import { readCheckpoints } from '../../sinks/postgres/checkpoints.ts';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import { errorMessage } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Metrics } from '../../runtime/metrics.ts';
import type { DeadLetterTarget, Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';
import { ensureTopics } from './client.ts';

export const CHECKPOINT_SOURCE = 'kafka';
const FETCH_SILENCE_MS = 15_000;

/** Kafka header values (Buffers, or arrays of them when repeated) as strings. */
function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}

/**
 * A consumer group member. kafkajs runs one eachBatch per partition at a time (up to
 * `concurrency` partitions at once); each hands its messages over in chunks of
 * KAFKA_BATCH_SIZE and waits until the pipeline has committed them, so a partition's order
 * is kept and a rebalance waits for the chunk in flight. The position that counts is the
 * one committed with the data (worker_checkpoints); the group offset follows for lag
 * tooling, and a newly assigned partition seeks to the stored checkpoint.
 */
export class KafkaSource implements Source {
  readonly name: string;
  readonly kind = 'kafka';
  readonly concurrency: number;
  readonly #s: KafkaSettings;
  readonly #kafka: Kafka;
  readonly #consumer: Consumer;
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #topics: ReadonlyArray<string>;
  readonly #queue: Array<{ batch: DeliveryBatch; release: () => void }> = [];
  readonly #bell = new Doorbell();
  #joined = false;
  /** Partitions (`topic|partition`) this worker has reported lag for: dropped when no longer assigned. */
  readonly #lagSeries = new Set<string>();
  /** Fetches return every KAFKA_BATCH_TIMEOUT even when idle: silence means the broker is gone. */
  #lastFetch = 0;
  #lastError = 'not connected yet';
  #closing = false;

  constructor(o: { settings: KafkaSettings; kafka: Kafka; topics: ReadonlyArray<string>; pool: pg.Pool; log: Logger; metrics?: Metrics }) {
    this.#s = o.settings;
    this.#kafka = o.kafka;
    this.#pool = o.pool;
    this.#log = o.log;
    this.#metrics = o.metrics;
    this.#topics = o.topics;
    this.concurrency = o.settings.concurrency;
    this.name = `kafka:${o.topics.join(',')}`;
    this.#consumer = o.kafka.consumer({
      groupId: o.settings.groupId,
      sessionTimeout: o.settings.sessionTimeoutMs,
      rebalanceTimeout: 60_000,
      // Kafka's guidance: heartbeats at most a third of the session timeout.
      heartbeatInterval: Math.min(3_000, Math.floor(o.settings.sessionTimeoutMs / 3)),
      // Smaller than kafkajs' defaults (1 MiB per partition, 10 MB per response): a fetch is
      // decoded whole, so these bound the consumer's memory; batches stay large enough.
      maxBytesPerPartition: o.settings.partitionFetchMaxBytes,
      maxBytes: o.settings.fetchMaxBytes,
      maxWaitTimeInMs: o.settings.batchTimeoutMs,
    });
    const c = this.#consumer;
    c.on(c.events.GROUP_JOIN, ({ payload }) => this.#onAssigned(payload.memberAssignment));
    c.on(c.events.CRASH, ({ payload }) => {
      this.#joined = false;
      this.#lastError = errorMessage(payload.error);
      this.#log.warn({ err: this.#lastError, restart: payload.restart }, 'kafka consumer failed; it rejoins by itself');
    });
    c.on(c.events.DISCONNECT, () => {
      this.#joined = false;
    });
    c.on(c.events.REBALANCING, () => this.#log.info('kafka group rebalancing'));
    c.on(c.events.FETCH, () => {
      this.#lastFetch = Date.now();
    });
  }

  /** Joins the group, retrying while the brokers are unreachable (the worker stays unready). */
  async start(): Promise<void> {
    for (let attempt = 0; !this.#closing; attempt++) {
      try {
        await ensureTopics(this.#kafka, this.#topics);
        await this.#consumer.connect();
        await this.#consumer.subscribe({ topics: [...this.#topics], fromBeginning: true });
        await this.#consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: this.concurrency,
          eachBatch: (payload) => this.#eachBatch(payload),
        });
        return;
      } catch (err) {
        this.#lastError = errorMessage(err);
        await this.#consumer.disconnect().catch(() => undefined);
        const delay = backoffDelay(attempt, 500, 10_000);
        this.#log.warn({ err: this.#lastError, retry_in_ms: delay }, 'kafka unavailable; retrying');
        await sleep(delay);
      }
    }
  }

  status(): SourceStatus {
    if (!this.#joined) return { connected: false, detail: `kafka consumer: ${this.#lastError}` };
    const silent = Date.now() - this.#lastFetch;
    // A long batch in the pipeline also pauses fetching: only a silence well past any batch counts.
    if (this.#lastFetch > 0 && silent > FETCH_SILENCE_MS) return { connected: false, detail: `kafka consumer: no fetch for ${Math.round(silent / 1000)} s` };
    return { connected: true };
  }

  /**
   * Assigned partitions start where the database says they are. kafkajs does not await this
   * handler, so the partitions are paused first and resumed once the seek is done.
   */
  #onAssigned(assignment: Record<string, number[]>): void {
    this.#joined = true;
    const pairs = Object.entries(assignment).filter(([, partitions]) => partitions.length > 0);
    // A partition that moved to another member is its lag to report now: a stale series here
    // would count its lag twice (and hold a lag-driven autoscaler up).
    const owned = new Set(pairs.flatMap(([topic, partitions]) => partitions.map((p) => `${topic}|${p}`)));
    for (const key of this.#lagSeries) {
      if (owned.has(key)) continue;
      const [topic, partition] = key.split('|') as [string, string];
      this.#metrics?.kafkaLag.remove({ topic, partition });
      this.#lagSeries.delete(key);
    }
    this.#log.info({ assignment }, 'kafka partitions assigned');
    if (pairs.length === 0) return;
    const topicPartitions = pairs.map(([topic, partitions]) => ({ topic, partitions }));
    this.#consumer.pause(topicPartitions);
    const seekAll = async (): Promise<void> => {
      for (let attempt = 0; !this.#closing; attempt++) {
        try {
          for (const [topic, partitions] of pairs) {
            const stored = await readCheckpoints(this.#pool, CHECKPOINT_SOURCE, topic);
            for (const p of partitions) {
              const offset = stored.get(p);
              if (offset !== undefined) this.#consumer.seek({ topic, partition: p, offset });
            }
          }
          this.#consumer.resume(topicPartitions);
          return;
        } catch (err) {
          this.#lastError = `checkpoint lookup failed: ${errorMessage(err)}`;
          this.#log.warn({ err: errorMessage(err) }, 'kafka: cannot read checkpoints yet; partitions stay paused');
          await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
        }
      }
    };
    void seekAll();
  }

  async #eachBatch({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const size = this.#s.batchSize;
    for (let i = 0; i < batch.messages.length; i += size) {
      if (!isRunning() || isStale() || this.#closing) return;
      const chunk = batch.messages.slice(i, i + size);
      const last = chunk[chunk.length - 1]!.offset;
      const next = (BigInt(last) + 1n).toString();
      const receivedAt = Date.now();
      const deliveries: Delivery[] = chunk.map((m) => {
        const headers = headersOf(m.headers);
        const replayed = Number(headers['x-attempts']);
        const origin: { partition: number; offset: string; attempts: number; firstFailedAt?: string } = {
          partition, offset: m.offset, attempts: (Number.isFinite(replayed) ? replayed : 0) + 1,
        };
        if (headers['x-first-failed-at'] !== undefined) origin.firstFailedAt = headers['x-first-failed-at'];
        return { id: m.key?.toString(), route: topic, body: m.value ?? Buffer.alloc(0), headers, receivedAt, origin };
      });
      const outcome = await this.#handOver({
        deliveries,
        checkpoints: [{ source: CHECKPOINT_SOURCE, stream: topic, partition, offset: next }],
      });
      if (outcome.kind === 'release') return; // shutdown: left uncommitted, redelivered later
      resolveOffset(last);
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] }).catch((err: unknown) =>
        this.#log.debug({ err: errorMessage(err) }, 'group offset commit failed (the database checkpoint stands)'),
      );
      this.#metrics?.kafkaLag.set({ topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
      this.#lagSeries.add(`${topic}|${partition}`);
      await heartbeat().catch(() => undefined); // throws when a rebalance started: handled by kafkajs
    }
  }

  /** Queues a batch for the pipeline and resolves with its outcome once settled. */
  #handOver(b: Omit<DeliveryBatch, 'settle'>): Promise<Outcome> {
    return new Promise((resolve) => {
      const batch: DeliveryBatch = { ...b, settle: async (outcome) => resolve(outcome) };
      this.#queue.push({ batch, release: () => resolve({ kind: 'release' }) });
      this.#bell.ring();
    });
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const taken of batchesOf(() => this.#queue, 1, this.#bell, signal)) yield taken[0]!.batch;
  }

  deadLetterTarget(d: Delivery): DeadLetterTarget {
    return { kind: 'outbox', publisher: 'kafka', destination: `${d.route}.dlq`, key: d.id ?? '' };
  }

  async close(): Promise<void> {
    this.#closing = true;
    // Batches the pipeline never took: their eachBatch returns without committing.
    for (const q of this.#queue.splice(0)) q.release();
    await this.#consumer.disconnect().catch(() => undefined);
  }
}
