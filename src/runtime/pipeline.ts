import type pg from 'pg';
import type { Decoded, DomainHandler, ApplyStats } from '../domains/types.ts';
import type { DeadLetter, Delivery, DeliveryBatch, OutboundMessage, Source } from '../sources/types.ts';
import { deadLettersFor, writeExtras, type Extras } from './batch-extras.ts';
import { observeMany } from './observe-many.ts';
import { Checkpointer } from './checkpointer.ts';
import { inTransaction } from '../sinks/postgres/pool.ts';
import { writeOutbox } from '../sinks/postgres/outbox.ts';
import { retryWhileTransient } from './retry.ts';
import { IngestError, errorMessage, structural } from './errors.ts';
import type { Readiness } from './health.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface PipelineOptions {
  readonly name: string;
  readonly source: Source;
  /** The domain a delivery belongs to, or undefined (unknown route → dead letter). */
  readonly route: (delivery: Delivery) => DomainHandler | undefined;
  /** Publisher kind the outbox rows are addressed to (`amqp`, `memory`…); null drops derived messages (backfill --no-publish). */
  readonly publisher: string | null;
  readonly pool: pg.Pool;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly log: Logger;
  readonly maxMessageBytes: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** Keyed state between checkpoints, for sources that own keys by partition (config.checkpoint). */
  readonly checkpoint?: { readonly intervalMs: number; readonly maxMessages: number };
  /**
   * Every domain of the pipeline holds its state in memory (DomainHandler.state): only then does
   * it take the checkpointed path; a pipeline that also carries database-backed domains keeps
   * the per-batch path for all of them.
   */
  readonly keyedState?: boolean;
  /** Called after every COMMIT that wrote outbox rows. */
  readonly onOutbox: () => void;
}

/** Per batch, what its metrics need once it settles. */
export interface BatchSummary {
  readonly perDomain: ReadonlyMap<string, number>;
  readonly receivedAt: Float64Array;
  /** Messages that decoded. */
  readonly decoded: number;
  readonly dead: ReadonlyArray<{ readonly domain: string; readonly code: string }>;
}

/** Items by the domain they are routed to, in their order. */
export function groupByHandler(items: ReadonlyArray<Item>): Map<DomainHandler, Item[]> {
  const groups = new Map<DomainHandler, Item[]>();
  for (const item of items) {
    let g = groups.get(item.handler);
    if (g === undefined) groups.set(item.handler, (g = []));
    g.push(item);
  }
  return groups;
}

export interface Item {
  readonly handler: DomainHandler;
  readonly decoded: Decoded<unknown>;
}

/**
 * source → decode → route → domain → unit of work → settle. One batch at a time per source,
 * so acknowledgements follow commits in order. Transient failures pause the pipeline and
 * retry the same batch; poison isolates its message by bisection.
 */
export class Pipeline {
  readonly #o: PipelineOptions;
  /** Resolves when the transactions of the last batch taken have finished (orderedCommits). */
  #lastCommit: Promise<void> = Promise.resolve();

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  get name(): string {
    return this.#o.name;
  }

  /** Kind of its source (`kafka`, `amqp`…), the `source` label of its metrics. */
  get sourceKind(): string {
    return this.#o.source.kind;
  }

  async run(signal: AbortSignal): Promise<void> {
    const checkpoint = this.#o.keyedState === true && Checkpointer.suits(this.#o.source) ? this.#o.checkpoint : undefined;
    // Which guarantee path a pipeline took (docs/architecture.md) is otherwise invisible to an operator.
    this.#o.log.info({ pipeline: this.#o.name, source: this.#o.source.kind, state: checkpoint !== undefined ? 'keyed, checkpointed' : 'database, per batch' }, 'pipeline running');
    if (checkpoint !== undefined) return this.#runCheckpointed(signal, checkpoint);
    const limit = Math.max(1, this.#o.source.concurrency ?? 1);
    const inFlight = new Set<Promise<void>>();
    try {
      const labels = this.#labels();
      for await (const batch of this.#o.source.batches(signal)) {
        const n = batch.deliveries.length;
        this.#o.metrics.inFlight.inc(labels, n);
        const p: Promise<void> = this.process(batch, signal).finally(() => {
          inFlight.delete(p);
          this.#o.metrics.inFlight.dec(labels, n);
        });
        inFlight.add(p);
        if (inFlight.size >= limit) await Promise.race(inFlight);
      }
    } finally {
      await Promise.all(inFlight);
    }
  }

  /** Keyed state in memory, committed at checkpoints (see Checkpointer). */
  async #runCheckpointed(signal: AbortSignal, settings: { intervalMs: number; maxMessages: number }): Promise<void> {
    const labels = this.#labels();
    const o = this.#o;
    const checkpointer = new Checkpointer({
      source: o.source, pool: o.pool, publisher: o.publisher, intervalMs: settings.intervalMs, maxMessages: settings.maxMessages,
      retry: o.retry, log: o.log,
      host: {
        decode: (batch) => this.#decode(batch.deliveries, false),
        summarize: (deliveries, decoded, dead) => this.summarize(deliveries, decoded, dead),
        careful: (batch, s) => this.#processBatch(batch, s),
        committed: (results, taken, writeMs, wroteOutbox) => {
          o.metrics.dbWrite.observe(labels, writeMs);
          o.metrics.batchSize.observe(labels, taken.reduce((n, t) => n + t.summary.decoded, 0));
          for (const { handler, stats } of results) this.#countApplied(handler.name, stats);
          for (const t of taken) this.#countSettled(t.summary);
          if (wroteOutbox) o.onOutbox();
        },
        paused: (error, attempt, delayMs) => this.#paused(error, attempt, delayMs),
      },
    }, signal);
    for await (const batch of o.source.batches(signal)) {
      const n = batch.deliveries.length;
      o.metrics.inFlight.inc(labels, n);
      let settled = false;
      // Detached: what the checkpointer keeps of a batch must not hold on to its messages.
      const settle = batch.settle;
      await checkpointer.absorb({
        ...batch,
        settle: async (outcome) => {
          if (!settled) o.metrics.inFlight.dec(labels, n);
          settled = true;
          return settle(outcome);
        },
      });
    }
    await checkpointer.close();
  }

  /** Readiness and the paused gauge while a transient failure is retried; null once the retries are over. */
  #paused(error: IngestError | null, attempt: number, delayMs: number): void {
    const labels = this.#labels();
    if (error === null) {
      this.#o.readiness.set(`pipeline ${this.#o.name}`, null);
      this.#o.metrics.paused.set(labels, 0);
      this.#o.log.info({ pipeline: this.#o.name, attempts: attempt + 1 }, 'retries over (committed, or handed to recovery); resuming');
      return;
    }
    this.#o.readiness.set(`pipeline ${this.#o.name}`, `paused, retrying: ${error.message}`);
    this.#o.metrics.paused.set(labels, 1);
    this.#o.metrics.retries.inc({ ...labels, reason: error.code });
    this.#o.log.warn({ pipeline: this.#o.name, attempt: attempt + 1, retry_in_ms: delayMs, err: error.message }, 'transient failure; batch will be retried');
  }

  /** Processes and settles one batch (exported for tests and the file source). */
  async process(batch: DeliveryBatch, signal: AbortSignal): Promise<void> {
    // Nothing else is held on this path: the source restarts from the stored positions at once.
    if ((await this.#processBatch(batch, signal)) === 'fenced') await this.#o.source.rewind?.();
  }

  /**
   * Processes and settles one batch; 'fenced' when its partition belongs to another worker now
   * (released, not committed). The caller rewinds: with keyed state, only after the work it
   * still holds for other partitions has been dropped too (see Checkpointer).
   */
  async #processBatch(batch: DeliveryBatch, signal: AbortSignal): Promise<'fenced' | undefined> {
    if (batch.reassigned === true) {
      // Nothing is held between batches on this path: the source may claim at once.
      await batch.settle({ kind: 'ack', deadLetter: [] });
      return undefined;
    }
    const { items, dead } = this.#decode(batch.deliveries);
    const turn = this.#takeTurn();
    let poisoned: DeadLetter[] | 'aborted' | 'fenced';
    try {
      await turn.ready;
      poisoned = await this.#commitAll(items, this.#extrasFor(batch, dead), signal);
    } catch (err) {
      // Nothing committed: hand the batch back (redelivered later) so that a source which
      // settles in order is not left waiting for it, then let the error stop the pipeline.
      await batch.settle({ kind: 'release' }).catch(() => undefined);
      throw err;
    } finally {
      turn.done();
    }
    if (poisoned === 'aborted' || poisoned === 'fenced') {
      await batch.settle({ kind: 'release' });
      return poisoned === 'fenced' ? 'fenced' : undefined;
    }
    const deadLetter = [...dead, ...poisoned].sort((a, b) => a.index - b.index);
    await batch.settle({ kind: 'ack', deadLetter });
    this.#countSettled(this.summarize(batch.deliveries, items.length, deadLetter));
    return undefined;
  }

  /** When this batch's transactions may start, and the call that lets the next batch's start. */
  #takeTurn(): { ready: Promise<void>; done: () => void } {
    if (this.#o.source.orderedCommits !== true) return { ready: Promise.resolve(), done: () => undefined };
    const ready = this.#lastCommit;
    let done!: () => void;
    this.#lastCommit = new Promise<void>((resolve) => (done = resolve));
    return { ready, done };
  }

  /**
   * Bytes → routed, decoded items; structural failures as dead letters. `dedupe` drops a
   * message repeated within the batch (not needed where keyed state recognises repeats).
   */
  #decode(deliveries: ReadonlyArray<Delivery>, dedupe = true): { items: Item[]; dead: DeadLetter[] } {
    const items: Item[] = [];
    const dead: DeadLetter[] = [];
    const seen = new Set<string>();
    deliveries.forEach((delivery, index) => {
      try {
        if (delivery.body.length > this.#o.maxMessageBytes) {
          throw structural('INGESTD_ERR_TOO_LARGE', `message of ${delivery.body.length} bytes exceeds MAX_MESSAGE_BYTES (${this.#o.maxMessageBytes})`);
        }
        const handler = this.#o.route(delivery);
        if (handler === undefined) throw structural('INGESTD_ERR_UNKNOWN_ROUTE', `no domain is bound to "${delivery.route}"`);
        const { messageId, value } = handler.decode(delivery);
        // The same message twice in one batch (a publisher retry): keep the first.
        if (dedupe || handler.state === undefined) {
          const key = `${handler.name}\u0000${messageId}`;
          if (seen.has(key)) return;
          seen.add(key);
        }
        items.push({ handler, decoded: { index, delivery, messageId, value } });
      } catch (err) {
        const error = err instanceof IngestError && err.errorClass === 'structural'
          ? err
          : new IngestError('INGESTD_ERR_SCHEMA', `could not decode: ${errorMessage(err)}`, { cause: err });
        dead.push({ index, error });
      }
    });
    return { items, dead };
  }

  /**
   * What must commit with the batch besides its data: checkpoints, and the dead letters of
   * sources that commit them with the batch (outbox or table). Undefined when there is nothing.
   */
  #extrasFor(batch: DeliveryBatch, dead: ReadonlyArray<DeadLetter>): ((poisoned: ReadonlyArray<DeadLetter>) => Extras) | undefined {
    const target = this.#o.source.deadLetterTarget?.bind(this.#o.source);
    if (batch.checkpoints === undefined && target === undefined) return undefined;
    return (poisoned) => ({
      checkpoints: batch.checkpoints ?? [],
      ...(target === undefined ? { outbox: [], rows: [] } : deadLettersFor(batch.deliveries, [...dead, ...poisoned], target)),
    });
  }

  /**
   * Commits every item, bisecting around poison. Returns the poison dead letters. The
   * extras ride with the whole batch; after a bisection they commit in a last transaction,
   * once every poison message is known.
   */
  async #commitAll(items: ReadonlyArray<Item>, extras: ((poisoned: ReadonlyArray<DeadLetter>) => Extras) | undefined, signal: AbortSignal): Promise<DeadLetter[] | 'aborted' | 'fenced'> {
    const poisoned: DeadLetter[] = [];
    const pending: Item[][] = items.length > 0 ? [[...items]] : [];
    let extrasCommitted = false;
    while (pending.length > 0) {
      const part = pending.shift()!;
      const whole = part.length === items.length;
      const result = await this.#commitWithRetry(part, whole ? extras?.([]) : undefined, signal);
      if (result === 'ok' && whole) extrasCommitted = true;
      if (result === 'aborted' || result === 'fenced') return result;
      if (result === 'ok') continue;
      if (part.length === 1) {
        const item = part[0]!;
        poisoned.push({ index: item.decoded.index, error: result });
        this.#o.log.warn(
          { message_id: item.decoded.messageId, err: result.message },
          'poison message isolated; dead-lettering it',
        );
        continue;
      }
      const mid = Math.ceil(part.length / 2);
      pending.unshift(part.slice(0, mid), part.slice(mid));
    }
    if (extras !== undefined && !extrasCommitted) {
      const result = await this.#commitWithRetry([], extras(poisoned), signal);
      if (result === 'aborted' || result === 'fenced') return result;
      if (result !== 'ok') throw result; // checkpoints and dead letters alone cannot be poison
    }
    return poisoned;
  }

  /** ok, a poison error for this part, aborted, or fenced (another worker owns the partition). Transient errors never leave here. */
  async #commitWithRetry(part: ReadonlyArray<Item>, extras: Extras | undefined, signal: AbortSignal): Promise<'ok' | 'aborted' | 'fenced' | IngestError> {
    const result = await retryWhileTransient(() => this.#unitOfWork(part, extras), {
      retry: this.#o.retry, signal,
      paused: (reason, attempt, delayMs) => this.#paused(reason, attempt, delayMs),
    });
    if (result.kind === 'done') return 'ok';
    if (result.kind === 'aborted') return 'aborted';
    if (result.error.code === 'INGESTD_ERR_FENCED') {
      this.#o.log.warn({ pipeline: this.#o.name, err: result.error.message }, 'batch not committed: its partition belongs to another worker now');
      return 'fenced';
    }
    return result.error;
  }

  async #unitOfWork(part: ReadonlyArray<Item>, extras: Extras | undefined): Promise<void> {
    const groups = new Map([...groupByHandler(part)].map(([handler, items]) => [handler, items.map((i) => i.decoded)]));
    for (const [handler, messages] of groups) await handler.prepare?.(messages);

    const started = performance.now();
    const results = await inTransaction(this.#o.pool, async (tx) => {
      const out: Array<{ handler: DomainHandler; stats: ApplyStats }> = [];
      const outbound: OutboundMessage[] = [];
      for (const [handler, messages] of groups) {
        const r = await handler.apply(tx, messages);
        out.push({ handler, stats: r.stats });
        for (const m of r.outbound) outbound.push(m);
      }
      const publish = this.#o.publisher !== null && outbound.length > 0;
      if (publish) await writeOutbox(tx, this.#o.publisher!, outbound);
      const wroteDeadLetters = extras === undefined ? false : await writeExtras(tx, extras);
      return { out, wroteOutbox: publish || wroteDeadLetters };
    });
    const labels = this.#labels();
    this.#o.metrics.dbWrite.observe(labels, performance.now() - started);
    this.#o.metrics.batchSize.observe(labels, part.length);
    for (const { handler, stats } of results.out) this.#countApplied(handler.name, stats);
    if (results.wroteOutbox) this.#o.onOutbox();
  }

  #labels(domain = this.#o.name): { domain: string; source: string } {
    return { domain, source: this.#o.source.kind };
  }

  #countApplied(domain: string, stats: ApplyStats): void {
    const m = this.#o.metrics;
    const labels = this.#labels(domain);
    if (stats.readings.valid > 0) m.readings.inc({ ...labels, status: 'valid' }, stats.readings.valid);
    if (stats.readings.invalid > 0) m.readings.inc({ ...labels, status: 'invalid' }, stats.readings.invalid);
    for (const [type, n] of Object.entries(stats.anomalies)) m.anomalies.inc({ ...labels, type }, n);
    if (stats.duplicates > 0) m.duplicates.inc(labels, stats.duplicates);
    if (stats.aggregatesWritten > 0) m.aggregatesWritten.inc(labels, stats.aggregatesWritten);
  }

  /** The domain a delivery counts under: its route's, or the pipeline's when unrouted. */
  #domainOf(d: Delivery): string {
    return this.#o.route(d)?.name ?? this.#o.name;
  }

  /** What the metrics of a settled batch need: a batch held for a checkpoint lets its messages go. */
  summarize(deliveries: ReadonlyArray<Delivery>, decoded: number, dead: ReadonlyArray<DeadLetter>): BatchSummary {
    // One counter update per domain and batch, not per message (a labelled inc costs ~1 µs).
    const perDomain = new Map<string, number>();
    const receivedAt = new Float64Array(deliveries.length);
    deliveries.forEach((d, i) => {
      const domain = this.#domainOf(d);
      perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
      receivedAt[i] = d.receivedAt;
    });
    return { perDomain, receivedAt, decoded, dead: dead.map((d) => ({ domain: this.#domainOf(deliveries[d.index]!), code: d.error.code })) };
  }

  #countSettled(summary: BatchSummary): void {
    const m = this.#o.metrics;
    const now = Date.now();
    const labels = this.#labels();
    for (const [domain, n] of summary.perDomain) m.messages.inc(this.#labels(domain), n);
    for (const d of summary.dead) {
      const l = this.#labels(d.domain);
      m.dlq.inc(l);
      m.failed.inc({ ...l, reason: d.code });
    }
    let newest = 0;
    // Messages received together (one fetch) are observed at once: one call per run of equal times.
    const at = summary.receivedAt;
    for (let i = 0; i < at.length; ) {
      const t = at[i]!;
      let j = i + 1;
      while (j < at.length && at[j] === t) j++;
      observeMany(m.latency, labels, (now - t) / 1000, j - i);
      if (t > newest) newest = t;
      i = j;
    }
    if (summary.decoded > 0 || summary.dead.length > 0) m.lag.set(labels, Math.max(0, (now - newest) / 1000));
  }
}
