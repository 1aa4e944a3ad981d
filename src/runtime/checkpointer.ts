import type pg from 'pg';
import type { ApplyStats, DomainHandler, KeyedState, StateDelta } from '../domains/types.ts';
import type { Checkpoint, DeadLetter, DeliveryBatch, OutboundMessage, Source } from '../sources/types.ts';
import { inTransaction } from '../sinks/postgres/pool.ts';
import { writeOutbox } from '../sinks/postgres/outbox.ts';
import { deadLettersFor, writeExtras, type Extras } from './batch-extras.ts';
import type { IngestError } from './errors.ts';
import type { Logger } from './logger.ts';
import { retriedAsIs, retryWhileTransient, type RetryOptions } from './retry.ts';
import { groupByHandler, type BatchSummary, type Item } from './pipeline.ts';

/**
 * A batch taken into uncommitted work: what its checkpoint needs, not its messages (the keyed
 * state holds what it made of them; a replay reads them again from the source).
 */
interface Taken {
  readonly settle: DeliveryBatch['settle'];
  readonly checkpoints: ReadonlyArray<Checkpoint>;
  readonly dead: ReadonlyArray<DeadLetter>;
  /** Its dead letters where its source keeps them (written by the checkpoint). */
  readonly deadLetters: Pick<Extras, 'outbox' | 'rows'>;
  readonly summary: BatchSummary;
  /** Order in which batches were taken, across partitions (a replay keeps it). */
  readonly seq: number;
  /** The batch itself, kept where the source cannot rewind (a queue): a replay takes it from here. */
  readonly batch?: DeliveryBatch;
}

/** What the checkpointer needs of its pipeline. */
export interface CheckpointHost {
  decode(batch: DeliveryBatch): { items: Item[]; dead: DeadLetter[] };
  summarize(deliveries: DeliveryBatch['deliveries'], decoded: number, dead: ReadonlyArray<DeadLetter>): BatchSummary;
  /**
   * The database-backed path for one batch: its own transaction, poison bisected, settled.
   * 'fenced': its partition belongs to another worker now; it was released, not committed.
   */
  careful(batch: DeliveryBatch, signal: AbortSignal): Promise<'fenced' | undefined>;
  /** After a checkpoint committed and its batches were settled (metrics). */
  committed(results: ReadonlyArray<{ handler: DomainHandler; stats: ApplyStats }>, taken: ReadonlyArray<Taken>, writeMs: number, wroteOutbox: boolean): void;
  /** A transient failure is being retried (reason), or the retries ended (null). */
  paused(reason: IngestError | null, attempt: number, delayMs: number): void;
}

export interface CheckpointerOptions {
  readonly source: Source;
  readonly pool: pg.Pool;
  /** Publisher kind of derived messages; null drops them. */
  readonly publisher: string | null;
  readonly intervalMs: number;
  readonly maxMessages: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly log: Logger;
  readonly host: CheckpointHost;
}

/** Latest positions per partition: one checkpoint row each, however many batches. */
function latestPositions(taken: ReadonlyArray<Taken>): Checkpoint[] {
  const latest = new Map<string, Checkpoint>();
  for (const t of taken) {
    for (const c of t.checkpoints) {
      const key = `${c.source}|${c.stream}|${c.partition}`;
      const had = latest.get(key);
      if (had === undefined || BigInt(c.offset) > BigInt(had.offset)) latest.set(key, c);
    }
  }
  return [...latest.values()];
}

/** One partition's uncommitted work: it commits on its own, overlapping other partitions' checkpoints. */
interface Lane {
  readonly shard: string;
  pending: Taken[];
  messages: number;
  /** When its oldest uncommitted batch was taken. */
  oldest: number;
  /** Messages left in the partition after its latest batch (0: caught up). */
  backlog: number;
  committing: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
}

type Outcome = 'committed' | 'refused' | 'fenced' | 'aborted';

/**
 * Keyed state between checkpoints (SPEC §1) for a source that owns its keys, fenced: Kafka
 * partitions, or a RabbitMQ queue with a single active consumer (one lane). Each
 * batch is decoded and absorbed into its domains' in-memory state as it arrives, then
 * accepted, so the source fetches on while earlier batches commit. A checkpoint is one
 * partition's transaction: the batches' raw rows, the state they changed (each key once),
 * derived rows, dead letters and the fenced source position; then its batches are settled in
 * order. A partition working through a backlog commits on its own, once CHECKPOINT_INTERVAL has
 * passed since its oldest uncommitted batch (or its share of CHECKPOINT_MAX_MESSAGES is held), so
 * that a key changed many times in a backlog is written once; partitions own disjoint keys, so
 * such checkpoints run side by side on their own connections. Partitions that have caught up
 * commit together, as soon as the previous such checkpoint ended: one transaction for all of
 * them, with their states' changes merged (a key changed in several written once). A state
 * whose shards share rows (`KeyedState.sharedRows`) has every due checkpoint take all lanes.
 *
 * A checkpoint that fails transiently is retried as is. When the database refuses one (a raw
 * row stored already, poison) or it is fenced (another worker claimed the partition), every
 * partition's uncommitted work is recovered at once, after the checkpoints in flight ended and
 * the state was reset: refused, it is replayed batch by batch in the order it was taken through
 * the careful path; fenced, it is dropped and the source rewinds to the stored checkpoints. A
 * queue cannot rewind: its held batches are kept and replayed from memory (released, they would
 * come back as redeliveries, an attempt more each). A batch the state cannot absorb (the database
 * rejects a read of its keys, or a message makes the domain throw) is recovered the same way,
 * and a redelivered queue batch goes to the careful path once what is held has committed.
 */
export class Checkpointer {
  readonly #o: CheckpointerOptions;
  readonly #states: Array<{ handler: DomainHandler; state: KeyedState<unknown> }> = [];
  readonly #lanes = new Map<string, Lane>();
  #pendingMessages = 0;
  #seq = 0;
  /** The checkpoint of caught-up lanes in flight: the others caught up meanwhile wait and join the next one. */
  #together: Promise<void> | undefined;
  /** Checkpoint transactions in flight (their outcome, not the recovery that may follow). */
  readonly #writes = new Set<Promise<Outcome>>();
  /** Set while uncommitted work is recovered; absorbing and new checkpoints wait for it. */
  #recovering: Promise<void> | undefined;
  #failed: Taken[] = [];
  #replayNeeded = false;
  /** While a batch is being taken (see absorb). */
  #absorbing: Promise<void> | undefined;
  /** Per partition (`stream|partition`): offsets below this are replayed on the careful path. */
  readonly #replayUntil = new Map<string, bigint>();
  #failure: unknown;
  readonly #signal: AbortSignal;
  readonly #retrying: RetryOptions;

  constructor(options: CheckpointerOptions, signal: AbortSignal) {
    this.#o = options;
    this.#signal = signal;
    this.#retrying = { retry: options.retry, signal, paused: (reason, attempt, delayMs) => options.host.paused(reason, attempt, delayMs) };
  }

  /** One worker at a time owns each key of the source, fenced: state may live in memory. */
  static suits(source: Source): boolean {
    return source.partitioned === true;
  }

  /** Takes a batch into uncommitted work; resolves once it may take the next (backpressure). */
  async absorb(batch: DeliveryBatch): Promise<void> {
    this.#rethrow();
    // Taken while uncommitted work was being recovered: fetched before the source rewound, so
    // the source reads it again; processing this copy too would store its dead letters twice.
    const stale = this.#recovering !== undefined && batch.reassigned !== true && this.#o.source.rewind !== undefined;
    while (this.#recovering !== undefined) await this.#recovering;
    if (stale) {
      await batch.settle({ kind: 'release' });
      return;
    }
    if (batch.reassigned === true) return this.#barrier(batch);
    if (batch.redelivered === true) {
      // Some of it may be stored already: the careful path reads and writes the state in the
      // database, so what is held is committed and forgotten first.
      await this.#quiesce();
      return this.#carefully(batch);
    }
    if (this.#replaying(batch)) return this.#carefully(batch);
    const refused = await this.#absorbingWhile(async () => {
      const taken = await this.#take(batch);
      // The state could not take it (the database rejected a read of its keys, or a message
      // made the domain throw): it is recovered with the rest and replayed on the careful path,
      // whose bisection isolates the message. Marked failed while still absorbing, so that a
      // recovery already waiting for this batch finds it (it must not be left unsettled).
      if (taken !== undefined) {
        this.#failed.push(taken);
        this.#replayNeeded = true;
      }
      return taken;
    });
    if (refused !== undefined) return this.#recover();
    while (this.#pendingMessages >= this.#o.maxMessages && this.#writes.size > 0) {
      await Promise.race(this.#writes);
      while (this.#recovering !== undefined) await this.#recovering;
      this.#rethrow();
    }
  }

  /**
   * One batch on the careful path. Fenced, every partition's uncommitted work is dropped and
   * the source rewinds (a recovery): rewinding the source alone would re-read partitions whose
   * work is still held here, and that work would then commit twice (its dead letters too).
   */
  async #carefully(batch: DeliveryBatch): Promise<void> {
    const outcome = await this.#absorbingWhile(() => this.#o.host.careful(batch, this.#signal));
    if (outcome === 'fenced') return this.#recover();
  }

  /**
   * Runs one batch's work with #absorbing set. A recovery starting meanwhile waits for it: it
   * never resets the state under a batch half absorbed (the batch is then recovered with the
   * rest), and never rewinds past a careful-path batch that has not committed yet (its position
   * would be read before the commit and the batch delivered and processed again).
   */
  async #absorbingWhile<T>(work: () => Promise<T>): Promise<T> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#absorbing = promise;
    try {
      return await work();
    } finally {
      this.#absorbing = undefined;
      resolve();
    }
  }

  /**
   * Decodes a batch, advances the keyed state with it and holds it for its partition's
   * checkpoint. Returns the batch when the state refused it (recovered by the caller).
   */
  async #take(batch: DeliveryBatch): Promise<Taken | undefined> {
    const shard = shardOf(batch);
    const { items, dead } = this.#o.host.decode(batch);
    const groups = groupByHandler(items);
    // Only what the checkpoint still needs stays referenced until it commits.
    const target = this.#o.source.deadLetterTarget?.bind(this.#o.source);
    const taken: Taken = {
      settle: batch.settle, checkpoints: batch.checkpoints ?? [], dead,
      deadLetters: target === undefined || dead.length === 0 ? { outbox: [], rows: [] } : deadLettersFor(batch.deliveries, dead, target),
      summary: this.#o.host.summarize(batch.deliveries, items.length, dead),
      seq: this.#seq++,
      ...(this.#o.source.rewind === undefined ? { batch } : {}),
    };
    // Known before it absorbs anything: a recovery must reset a state that failed halfway
    // through its very first batch too.
    for (const handler of groups.keys()) if (handler.state !== undefined && !this.#states.some((s) => s.handler === handler)) this.#states.push({ handler, state: handler.state });
    // Reads of keys not held yet happen before any state changes: a failure here is retried whole.
    const absorbed = await retryWhileTransient(async () => {
      for (const [handler, messages] of groups) await handler.prepare?.(messages.map((i) => i.decoded));
      for (const [handler, messages] of groups) {
        if (handler.state !== undefined) await handler.state.absorb(messages.map((i) => i.decoded), shard);
      }
    }, this.#retrying);
    if (absorbed.kind === 'aborted' || (absorbed.kind === 'failed' && this.#signal.aborted)) throw absorbed.error;
    if (absorbed.kind === 'failed') return taken;
    const lane = this.#lane(shard);
    if (lane.pending.length === 0) lane.oldest = Date.now();
    lane.pending.push(taken);
    lane.messages += batch.deliveries.length;
    lane.backlog = batch.backlog ?? 0;
    this.#pendingMessages += batch.deliveries.length;
    batch.accept?.();
    this.#schedule(lane);
    return undefined;
  }

  /** Commits what is held (shutdown); what cannot commit before the signal is released. */
  async close(): Promise<void> {
    await this.#flushAll();
    this.#rethrow();
  }

  #rethrow(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  #lane(shard: string): Lane {
    let lane = this.#lanes.get(shard);
    if (lane === undefined) {
      lane = { shard, pending: [], messages: 0, oldest: 0, backlog: 0, committing: undefined, timer: undefined };
      this.#lanes.set(shard, lane);
    }
    return lane;
  }

  #schedule(lane: Lane): void {
    if (lane.committing !== undefined || lane.pending.length === 0 || this.#recovering !== undefined) return;
    const shared = this.#states.some(({ state }) => state.sharedRows === true);
    const wait = lane.oldest + this.#o.intervalMs - Date.now();
    const share = this.#o.maxMessages / Math.max(1, this.#lanes.size);
    const due = wait <= 0 || lane.messages >= share;
    if (lane.backlog === 0 || (due && shared)) {
      // Caught up: one transaction for every caught-up lane instead of one each (a commit's
      // round trips and WAL flush cost more than its rows at this rate). A state whose shards
      // share rows: one for every lane holding work, or they would wait on each other's locks.
      // One such checkpoint at a time: lanes due meanwhile join the next.
      if (this.#together === undefined) this.#start(shared ? this.#idle() : this.#caughtUp(), true);
      return;
    }
    if (due) {
      this.#start([lane], false);
      return;
    }
    lane.timer ??= setTimeout(() => {
      lane.timer = undefined;
      this.#schedule(lane);
    }, wait);
  }

  /** Lanes that have caught up with their partition and hold work, none committing. */
  #caughtUp(): Lane[] {
    return this.#idle().filter((l) => l.backlog === 0);
  }

  /** Lanes holding work, none committing. */
  #idle(): Lane[] {
    return [...this.#lanes.values()].filter((l) => l.pending.length > 0 && l.committing === undefined);
  }

  /** One checkpoint for these lanes' held work; `together`: the caught-up lanes' (see #schedule). */
  #start(lanes: ReadonlyArray<Lane>, together: boolean): void {
    const taken: Taken[] = [];
    for (const lane of lanes) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
      taken.push(...lane.pending.splice(0));
      this.#pendingMessages -= lane.messages;
      lane.messages = 0;
    }
    taken.sort((a, b) => a.seq - b.seq); // settled in the order taken
    const committing = this.#commit(lanes.map((l) => l.shard), taken)
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => {
        for (const lane of lanes) lane.committing = undefined;
        if (this.#together === committing) this.#together = undefined;
        for (const lane of this.#lanes.values()) this.#schedule(lane);
      });
    for (const lane of lanes) lane.committing = committing;
    if (together) this.#together = committing;
  }

  /** Every partition's held work committed, one checkpoint each, side by side (barrier, shutdown). */
  async #flushAll(): Promise<void> {
    for (;;) {
      while (this.#recovering !== undefined) await this.#recovering;
      const busy = [...this.#lanes.values()].map((l) => l.committing).filter((c) => c !== undefined);
      if (busy.length > 0) {
        await Promise.all(busy);
        continue;
      }
      const held = [...this.#lanes.values()].filter((l) => l.pending.length > 0);
      if (held.length === 0) return;
      this.#start(held, false);
    }
  }

  /** An assignment change: commit what is held (or drop it if fenced), forget state, settle the barrier. */
  async #barrier(barrier: DeliveryBatch): Promise<void> {
    await this.#quiesce();
    await barrier.settle({ kind: 'ack', deadLetter: [] });
  }

  /** Commits what is held (or drops it if fenced) and forgets the state: keys are read again when next seen. */
  async #quiesce(): Promise<void> {
    await this.#flushAll();
    this.#rethrow();
    for (const { state } of this.#states) state.reset();
    this.#lanes.clear();
  }

  /** One checkpoint of these partitions; recovery follows if it was refused or fenced. */
  async #commit(shards: ReadonlyArray<string>, taken: Taken[]): Promise<void> {
    const write = this.#write(shards, taken);
    this.#writes.add(write);
    let outcome: Outcome;
    try {
      outcome = await write;
    } finally {
      this.#writes.delete(write);
    }
    if (outcome === 'committed') return;
    this.#failed.push(...taken);
    if (outcome === 'refused') this.#replayNeeded = true;
    await this.#recover();
  }

  async #write(shards: ReadonlyArray<string>, taken: ReadonlyArray<Taken>): Promise<Outcome> {
    const deltas = this.#states.map(({ handler, state }) => ({ handler, state, delta: state.take(shards) }));
    let writeMs = 0;
    const result = await retryWhileTransient(async () => {
      const started = performance.now();
      const written = await this.#transaction(taken, deltas);
      for (const t of taken) await t.settle({ kind: 'ack', deadLetter: t.dead });
      writeMs = performance.now() - started;
      return written;
    }, {
      ...this.#retrying,
      // A raw row stored already (23505) is not retried as is: the checkpoint is replayed.
      retryable: (e) => retriedAsIs(e) && e.context.sqlstate !== '23505',
    });
    if (result.kind === 'done') {
      this.#o.host.committed(result.value.results, taken, writeMs, result.value.wroteOutbox);
      return 'committed';
    }
    // Shutting down with the database away: nothing of this checkpoint is kept.
    if (result.kind === 'aborted') return 'aborted';
    if (result.error.code === 'INGESTD_ERR_FENCED') {
      this.#o.log.warn({ err: result.error.message }, 'checkpoint fenced');
      return 'fenced';
    }
    this.#o.log.info({ err: result.error.message, batches: taken.length }, 'checkpoint refused; its work is replayed batch by batch');
    return 'refused';
  }

  async #transaction(
    taken: ReadonlyArray<Taken>,
    deltas: ReadonlyArray<{ handler: DomainHandler; state: KeyedState<unknown>; delta: StateDelta }>,
  ): Promise<{ results: Array<{ handler: DomainHandler; stats: ApplyStats }>; wroteOutbox: boolean }> {
    const extras: Extras = {
      checkpoints: latestPositions(taken),
      outbox: taken.flatMap((t) => t.deadLetters.outbox),
      rows: taken.flatMap((t) => t.deadLetters.rows),
    };
    return inTransaction(this.#o.pool, async (tx) => {
      const wroteDeadLetters = await writeExtras(tx, extras);
      const results: Array<{ handler: DomainHandler; stats: ApplyStats }> = [];
      const outbound: OutboundMessage[] = [];
      for (const { handler, state, delta } of deltas) {
        if (delta.messages === 0) continue;
        const r = await state.write(tx, delta);
        results.push({ handler, stats: r.stats });
        outbound.push(...r.outbound);
      }
      const publish = this.#o.publisher !== null && outbound.length > 0;
      if (publish) await writeOutbox(tx, this.#o.publisher!, outbound);
      return { results, wroteOutbox: publish || wroteDeadLetters };
    });
  }

  /**
   * Recovers every partition's uncommitted work once no checkpoint is in flight: the state is
   * reset, then the work is replayed on the careful path (refused) or dropped and re-read from
   * the stored checkpoints (fenced, shutdown). Checkpoints failing meanwhile join the same recovery.
   */
  #recover(): Promise<void> {
    if (this.#recovering !== undefined) return this.#recovering;
    const recovering = this.#recoverAll();
    this.#recovering = recovering;
    void recovering.finally(() => {
      if (this.#recovering === recovering) this.#recovering = undefined;
    });
    return recovering;
  }

  async #recoverAll(): Promise<void> {
    await null; // #recovering is set before anything below runs
    while (this.#writes.size > 0 || this.#absorbing !== undefined) {
      await Promise.allSettled([...this.#writes, this.#absorbing]);
    }
    const all = [...this.#failed];
    this.#failed = [];
    for (const lane of this.#lanes.values()) {
      clearTimeout(lane.timer);
      // Emptied, not only forgotten: the lane whose refused checkpoint started this recovery
      // schedules itself again once the recovery ends, and would commit this work a second
      // time (its dead letters too, and positions behind the replay's).
      all.push(...lane.pending.splice(0));
      lane.messages = 0;
    }
    this.#lanes.clear();
    this.#pendingMessages = 0;
    all.sort((a, b) => a.seq - b.seq);
    for (const { state } of this.#states) state.reset();
    const replay = this.#replayNeeded && !this.#signal.aborted;
    this.#replayNeeded = false;
    if (replay && this.#o.source.rewind === undefined) {
      // A queue redelivers what is released as redelivered (an attempt more): its batches are
      // held, so they are replayed from memory, in order, before anything after them.
      for (const t of all) await this.#o.host.careful(t.batch!, this.#signal);
      return;
    }
    if (replay) {
      // Read again from the source up to where this work ended, on the careful path.
      for (const c of latestPositions(all)) this.#replayUntil.set(`${c.stream}|${c.partition}`, BigInt(c.offset));
    } else {
      this.#o.log.warn({ batches: all.length }, 'uncommitted work dropped; partitions restart from their checkpoints');
    }
    for (const t of all) await t.settle({ kind: 'release' });
    if (!this.#signal.aborted) await this.#o.source.rewind?.();
  }

  /** Whether a batch lies in work being replayed on the careful path (after a refused checkpoint). */
  #replaying(batch: DeliveryBatch): boolean {
    if (this.#replayUntil.size === 0) return false;
    const c = batch.checkpoints?.[0];
    const first = batch.deliveries[0]?.origin.offset;
    if (c === undefined || first === undefined) return false;
    const key = `${c.stream}|${c.partition}`;
    const until = this.#replayUntil.get(key);
    if (until === undefined) return false;
    if (BigInt(first) < until) return true;
    this.#replayUntil.delete(key);
    return false;
  }
}

const shardOf = (batch: DeliveryBatch): string => String(batch.deliveries[0]?.origin.partition ?? '');

