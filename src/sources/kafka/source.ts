import type { Consumer, EachBatchPayload, IHeaders, Kafka } from 'kafkajs';
import type pg from 'pg';
import type { KafkaSettings } from '../../config/index.ts';
import { claimPartitions, readPositions, type StuckHolders } from '../../sinks/postgres/checkpoints.ts';
import { backoffDelay, sleep } from '../../runtime/backoff.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import { errorMessage } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Metrics } from '../../runtime/metrics.ts';
import type { DeadLetterTarget, Delivery, DeliveryBatch, Outcome, Source, SourceStatus } from '../types.ts';
import { ensureTopics } from './client.ts';

export const CHECKPOINT_SOURCE = 'kafka';
const FETCH_SILENCE_MS = 15_000;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Kafka header values (Buffers, or arrays of them when repeated) as strings. */
function headersOf(h: IHeaders | undefined): Readonly<Record<string, string>> {
  // Most messages carry none: one shared object instead of one per message.
  if (h === undefined) return NO_HEADERS;
  let any = false;
  for (const _ in h) {
    any = true;
    break;
  }
  if (!any) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}

/** What became of a batch handed over: taken into uncommitted work (pipelined), or settled. */
type HandOver = { readonly kind: 'accepted' } | Outcome;

/**
 * A batch's accept / settle / release. Made apart from the batch: a checkpoint keeps settle
 * until it commits, and a closure made next to the messages would keep them all alive.
 */
function batchEnds(resolve: (h: HandOver) => void, onSettled?: (outcome: Outcome) => void) {
  return {
    accept: (): void => resolve({ kind: 'accepted' }),
    settle: async (outcome: Outcome): Promise<void> => {
      onSettled?.(outcome);
      resolve(outcome);
    },
    release: (): void => resolve({ kind: 'release' }),
  };
}

/** How long batches fetched for another position are taken for stale (#stale). */
const SEEK_SETTLE_MS = 30_000;

/**
 * A consumer group member. kafkajs runs one eachBatch per partition at a time (up to
 * `concurrency` partitions at once); each hands its messages over in chunks of
 * KAFKA_BATCH_SIZE, in order. A checkpointing pipeline accepts a chunk once it holds it in
 * memory, and the partition's next chunk is fetched while it commits; otherwise the chunk
 * waits until it has committed. The position that counts is the one committed with the data
 * (worker_checkpoints), fenced by the epoch this worker claims on assignment; the group
 * offset follows for lag tooling.
 */
export class KafkaSource implements Source {
  readonly name: string;
  readonly kind = 'kafka';
  readonly concurrency: number;
  readonly partitioned = true;
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
  /** Bumped on every assignment: chunks fetched before it are not handed over. */
  #generation = 0;
  /** Bumped on every rewind, likewise. */
  #rewinds = 0;
  /** Between an assignment and the end of its claim. */
  #claiming = false;
  /** What this worker holds now, and the epoch it claimed for each (`topic|partition`). */
  #assigned: Array<{ topic: string; partitions: number[] }> = [];
  readonly #epochs = new Map<string, string>();
  /** Per partition (topic|partition): the offset the next batch must have been fetched at, and since when (see #stale). */
  readonly #expected = new Map<string, { offset: string; at: number }>();
  /** Previous owners stopped mid-checkpoint are ended by the claim (see claimPartitions). */
  readonly #stuck: StuckHolders | undefined;
  /** Group offsets to commit after checkpoints (coalesced: one request per tick). */
  readonly #groupOffsets = new Map<string, { topic: string; partition: number; offset: string }>();
  #groupCommit: NodeJS.Immediate | undefined;

  constructor(o: { settings: KafkaSettings; kafka: Kafka; topics: ReadonlyArray<string>; pool: pg.Pool; log: Logger; metrics?: Metrics; stuck?: Omit<StuckHolders, 'onEnded'> }) {
    this.#s = o.settings;
    this.#stuck = o.stuck === undefined ? undefined : {
      ...o.stuck,
      onEnded: (pid, secs) => this.#log.warn({ pid, transaction_s: Math.round(secs) }, 'ended a stuck checkpoint of the partitions\' previous owner (a stopped worker)'),
    };
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
      minBytes: o.settings.fetchMinBytes,
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
   * handler, so the partitions are paused first; the pipeline then commits or drops what it
   * holds (a barrier), and only then does this worker claim the partitions (raising their
   * epochs, which fences out any previous owner) and seek them to their checkpoints.
   */
  #onAssigned(assignment: Record<string, number[]>): void {
    this.#joined = true;
    const generation = ++this.#generation;
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
    const topicPartitions = pairs.map(([topic, partitions]) => ({ topic, partitions }));
    if (topicPartitions.length > 0) this.#consumer.pause(topicPartitions);
    this.#assigned = topicPartitions;
    this.#epochs.clear();
    this.#expected.clear();
    // Chunks of the previous assignment that the pipeline has not taken yet are not its to take.
    for (const q of this.#queue.splice(0)) q.release();
    this.#claiming = true;
    const claimAll = async (): Promise<void> => {
      await this.#handOver({ deliveries: [], reassigned: true });
      for (let attempt = 0; !this.#closing && generation === this.#generation; attempt++) {
        try {
          for (const { topic, partitions } of topicPartitions) {
            const claims = await claimPartitions(this.#pool, CHECKPOINT_SOURCE, topic, partitions, this.#stuck);
            if (generation !== this.#generation) return;
            for (const [p, claim] of claims) {
              this.#epochs.set(`${topic}|${p}`, claim.epoch);
              if (claim.offset !== undefined) this.#seek(topic, p, claim.offset);
            }
          }
          this.#claiming = false;
          if (topicPartitions.length > 0) this.#consumer.resume(topicPartitions);
          this.#log.info({ epochs: Object.fromEntries(this.#epochs) }, 'kafka partitions claimed; consuming from their checkpoints');
          return;
        } catch (err) {
          this.#lastError = `checkpoint lookup failed: ${errorMessage(err)}`;
          this.#log.warn({ err: errorMessage(err) }, 'kafka: cannot claim partitions yet; they stay paused');
          await sleep(backoffDelay(attempt, 500, 10_000));
        }
      }
    };
    void claimAll();
  }

  /**
   * Restarts every held partition from its stored checkpoint (the pipeline dropped what it
   * had not committed). Chunks queued for the pipeline are dropped and chunks being fetched
   * are stale. A partition whose stored epoch is no longer this worker's was claimed by
   * another: it stays paused until the group assigns partitions again. While a claim of a new
   * assignment is under way, that claim seeks every partition itself.
   */
  async rewind(): Promise<void> {
    const rewinds = ++this.#rewinds;
    for (const q of this.#queue.splice(0)) {
      if (q.batch.reassigned === true) this.#queue.push(q);
      else q.release();
    }
    const held = this.#assigned;
    if (held.length === 0 || this.#claiming) return;
    this.#consumer.pause(held);
    for (let attempt = 0; !this.#closing && rewinds === this.#rewinds && !this.#claiming; attempt++) {
      try {
        const resumed: Array<{ topic: string; partitions: number[] }> = [];
        for (const { topic, partitions } of held) {
          const stored = await readPositions(this.#pool, CHECKPOINT_SOURCE, topic);
          const earliest = partitions.some((p) => stored.get(p)?.offset === undefined) ? await this.#earliest(topic) : new Map<number, string>();
          const ours: number[] = [];
          for (const p of partitions) {
            const mine = this.#epochs.get(`${topic}|${p}`);
            if (mine === undefined || stored.get(p)?.epoch !== mine) {
              this.#epochs.delete(`${topic}|${p}`);
              continue;
            }
            const offset = stored.get(p)?.offset ?? earliest.get(p);
            if (offset !== undefined) this.#seek(topic, p, offset);
            ours.push(p);
          }
          if (ours.length > 0) resumed.push({ topic, partitions: ours });
        }
        if (rewinds !== this.#rewinds || this.#claiming) return;
        if (resumed.length > 0) this.#consumer.resume(resumed);
        this.#log.info({ resumed, held }, 'kafka partitions rewound to their checkpoints (partitions claimed by another worker stay paused)');
        return;
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'kafka: cannot rewind partitions yet; they stay paused');
        await sleep(backoffDelay(attempt, 500, 10_000));
      }
    }
  }

  async #earliest(topic: string): Promise<Map<number, string>> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low]));
    } finally {
      await admin.disconnect();
    }
  }

  #seek(topic: string, partition: number, offset: string): void {
    this.#expected.set(`${topic}|${partition}`, { offset, at: Date.now() });
    this.#consumer.seek({ topic, partition, offset });
  }

  /**
   * Whether kafkajs fetched this batch for another position than the partition's current one.
   * It applies a seek at its next fetch, but batches of earlier fetches still queued are handed
   * over afterwards, and `isStale()` is false for them by then: after a rewind they would be
   * processed beside the same messages read again from the seek (twice, dead letters included).
   * Each fetch asks for the offset after the last one resolved, or for the seeked one, so a
   * batch fetched elsewhere is stale. Unless that offset was out of range (kafkajs then restarts
   * from the earliest or latest): a mismatch older than SEEK_SETTLE_MS is taken as that.
   */
  #stale(topic: string, partition: number, fetchedOffset: string | undefined): boolean {
    const expected = this.#expected.get(`${topic}|${partition}`);
    return expected !== undefined && fetchedOffset !== expected.offset && Date.now() - expected.at < SEEK_SETTLE_MS;
  }

  async #eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    // Left unresolved: the partition goes on from where it is.
    const fetchedOffset = (batch as { fetchedOffset?: string }).fetchedOffset;
    if (this.#stale(topic, partition, fetchedOffset)) {
      this.#log.debug({ topic, partition, fetchedOffset, expected: this.#expected.get(`${topic}|${partition}`)?.offset }, 'kafka batch fetched for another position; skipped');
      return;
    }
    const generation = this.#generation;
    const rewinds = this.#rewinds;
    const size = this.#s.batchSize;
    for (let i = 0; i < batch.messages.length; i += size) {
      if (!isRunning() || isStale() || this.#closing || generation !== this.#generation || rewinds !== this.#rewinds) return;
      const epoch = this.#epochs.get(`${topic}|${partition}`);
      if (epoch === undefined) {
        this.#log.debug({ topic, partition }, 'kafka batch of a partition not claimed yet; fetched again once it is');
        return;
      }
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
      const lag = Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next)));
      const outcome = await this.#handOver(
        { deliveries, backlog: lag, checkpoints: [{ source: CHECKPOINT_SOURCE, stream: topic, partition, offset: next, epoch }] },
        (settled) => {
          if (settled.kind === 'ack') this.#committed(topic, partition, next, lag);
        },
      );
      if (outcome.kind === 'release') return; // left uncommitted: fetched again (shutdown, rewind)
      // A rewind while the chunk was handed over seeked the partition to its stored checkpoint.
      // kafkajs applies a seek at its next fetch as a resolved offset: resolving this chunk
      // after it would move the position past the seek, and the rewound messages (committed or
      // not) would never be fetched again. The seek alone says where the partition resumes.
      if (rewinds !== this.#rewinds || generation !== this.#generation) return;
      resolveOffset(last);
      this.#expected.set(`${topic}|${partition}`, { offset: next, at: Date.now() });
      await heartbeat().catch(() => undefined); // throws when a rebalance started: handled by kafkajs
    }
  }

  /** After a chunk's checkpoint committed: its lag, and the group offset (coalesced) for lag tooling. */
  #committed(topic: string, partition: number, next: string, lag: number): void {
    this.#metrics?.kafkaLag.set({ topic, partition: String(partition) }, lag);
    this.#lagSeries.add(`${topic}|${partition}`);
    this.#groupOffsets.set(`${topic}|${partition}`, { topic, partition, offset: next });
    this.#groupCommit ??= setImmediate(() => {
      this.#groupCommit = undefined;
      const offsets = [...this.#groupOffsets.values()];
      this.#groupOffsets.clear();
      this.#consumer.commitOffsets(offsets).catch((err: unknown) =>
        this.#log.debug({ err: errorMessage(err) }, 'group offset commit failed (the database checkpoint stands)'),
      );
    });
  }

  /**
   * Queues a batch for the pipeline; resolves when the pipeline accepts it (pipelined) or
   * settles it. `onSettled` sees the settlement, also when it comes after the acceptance.
   */
  #handOver(b: Omit<DeliveryBatch, 'settle' | 'accept'>, onSettled?: (outcome: Outcome) => void): Promise<HandOver> {
    const { promise, resolve } = Promise.withResolvers<HandOver>();
    const ends = batchEnds(resolve, onSettled);
    this.#queue.push({ batch: { ...b, accept: ends.accept, settle: ends.settle }, release: ends.release });
    this.#bell.ring();
    return promise;
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const taken of batchesOf(() => this.#queue, 1, this.#bell, signal)) yield taken[0]!.batch;
  }

  deadLetterTarget(d: Delivery): DeadLetterTarget {
    return { kind: 'outbox', publisher: 'kafka', destination: `${d.route}.dlq`, key: d.id ?? '' };
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#groupCommit !== undefined) clearImmediate(this.#groupCommit);
    // Batches the pipeline never took: their eachBatch returns without committing.
    for (const q of this.#queue.splice(0)) q.release();
    await this.#consumer.disconnect().catch(() => undefined);
  }
}
