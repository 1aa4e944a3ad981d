import type pg from 'pg';
import type { Decoded, DomainHandler, ApplyStats } from '../domains/types.ts';
import type { Checkpoint, DeadLetter, DeadLetterTarget, Delivery, DeliveryBatch, OutboundMessage, Source } from '../sources/types.ts';
import { uuidV5 } from '../lib/ids.ts';
import { writeCheckpoints } from '../sinks/postgres/checkpoints.ts';
import { insertDeadLetters, type DeadLetterRow } from '../sinks/postgres/dead-letters.ts';
import { deadLetterHeaders } from './dead-letter.ts';
import { classifyDbError } from '../sinks/postgres/classify.ts';
import { inTransaction } from '../sinks/postgres/pool.ts';
import { writeOutbox } from '../sinks/postgres/outbox.ts';
import { backoffDelay, sleep } from './backoff.ts';
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
  /** Called after every COMMIT that wrote outbox rows. */
  readonly onOutbox: () => void;
}

interface Extras {
  readonly checkpoints: ReadonlyArray<Checkpoint>;
  /** Dead letters the outbox relay publishes (Kafka's DLQ topics). */
  readonly outbox: ReadonlyArray<{ publisher: string; message: OutboundMessage }>;
  /** Dead letters stored as rows (brokers without a DLQ). */
  readonly rows: ReadonlyArray<DeadLetterRow>;
}

/** Each dead letter where its source sends it: the original bytes, its headers plus the error headers. */
function deadLettersFor(
  deliveries: ReadonlyArray<Delivery>,
  dead: ReadonlyArray<DeadLetter>,
  target: (d: Delivery) => DeadLetterTarget,
): Pick<Extras, 'outbox' | 'rows'> {
  const outbox: Array<{ publisher: string; message: OutboundMessage }> = [];
  const rows: DeadLetterRow[] = [];
  for (const { index, error } of dead) {
    const d = deliveries[index]!;
    const t = target(d);
    if (t.kind === 'table') {
      rows.push({ source: t.source, route: d.route, body: d.body, headers: deadLetterHeaders(d, error), errorClass: error.errorClass, errorCode: error.code, reason: error.message });
      continue;
    }
    const where = d.origin.partition === undefined ? (d.id ?? String(index)) : `${d.origin.partition}/${d.origin.offset ?? ''}`;
    outbox.push({
      publisher: t.publisher,
      message: {
        id: uuidV5(`dead-letter:${d.route}:${where}`),
        destination: t.destination,
        key: t.key,
        body: d.body.toString('base64'),
        bodyEncoding: 'base64',
        headers: { ...d.headers, ...deadLetterHeaders(d, error) },
        kind: 'dead-letter',
      },
    });
  }
  return { outbox, rows };
}

function groupByPublisher(letters: ReadonlyArray<{ publisher: string; message: OutboundMessage }>): Map<string, OutboundMessage[]> {
  const out = new Map<string, OutboundMessage[]>();
  for (const { publisher, message } of letters) {
    let list = out.get(publisher);
    if (list === undefined) out.set(publisher, (list = []));
    list.push(message);
  }
  return out;
}

interface Item {
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

  /** Processes and settles one batch (exported for tests and the file source). */
  async process(batch: DeliveryBatch, signal: AbortSignal): Promise<void> {
    const { items, dead } = this.#decode(batch.deliveries);
    const turn = this.#takeTurn();
    let poisoned: DeadLetter[] | 'aborted';
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
    if (poisoned === 'aborted') {
      await batch.settle({ kind: 'release' });
      return;
    }
    const deadLetter = [...dead, ...poisoned].sort((a, b) => a.index - b.index);
    await batch.settle({ kind: 'ack', deadLetter });
    this.#countSettled(batch.deliveries, items, deadLetter);
  }

  /** When this batch's transactions may start, and the call that lets the next batch's start. */
  #takeTurn(): { ready: Promise<void>; done: () => void } {
    if (this.#o.source.orderedCommits !== true) return { ready: Promise.resolve(), done: () => undefined };
    const ready = this.#lastCommit;
    let done!: () => void;
    this.#lastCommit = new Promise<void>((resolve) => (done = resolve));
    return { ready, done };
  }

  #decode(deliveries: ReadonlyArray<Delivery>): { items: Item[]; dead: DeadLetter[] } {
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
        const key = `${handler.name}\u0000${messageId}`;
        if (seen.has(key)) return;
        seen.add(key);
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
  async #commitAll(items: ReadonlyArray<Item>, extras: ((poisoned: ReadonlyArray<DeadLetter>) => Extras) | undefined, signal: AbortSignal): Promise<DeadLetter[] | 'aborted'> {
    const poisoned: DeadLetter[] = [];
    const pending: Item[][] = items.length > 0 ? [[...items]] : [];
    let extrasCommitted = false;
    while (pending.length > 0) {
      const part = pending.shift()!;
      const whole = part.length === items.length;
      const result = await this.#commitWithRetry(part, whole ? extras?.([]) : undefined, signal);
      if (result === 'ok' && whole) extrasCommitted = true;
      if (result === 'aborted') return 'aborted';
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
      if (result === 'aborted') return 'aborted';
      if (result !== 'ok') throw result; // checkpoints and dead letters alone cannot be poison
    }
    return poisoned;
  }

  /** ok, a poison error for this part, or aborted. Transient errors never leave here. */
  async #commitWithRetry(part: ReadonlyArray<Item>, extras: Extras | undefined, signal: AbortSignal): Promise<'ok' | 'aborted' | IngestError> {
    const labels = this.#labels();
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted && attempt > 0) return 'aborted';
      try {
        await this.#unitOfWork(part, extras);
        if (attempt > 0) {
          this.#o.readiness.set(`pipeline ${this.#o.name}`, null);
          this.#o.metrics.paused.set(labels, 0);
          this.#o.log.info({ pipeline: this.#o.name, attempts: attempt + 1 }, 'batch committed after retry; resuming');
        }
        return 'ok';
      } catch (err) {
        const error = classifyDbError(err);
        if (error.errorClass !== 'transient') return error;
        const delay = backoffDelay(attempt, this.#o.retry.initialMs, this.#o.retry.maxMs);
        this.#o.readiness.set(`pipeline ${this.#o.name}`, `paused, retrying: ${error.message}`);
        this.#o.metrics.paused.set(labels, 1);
        this.#o.metrics.retries.inc({ ...labels, reason: error.code });
        this.#o.log.warn({ pipeline: this.#o.name, attempt: attempt + 1, retry_in_ms: delay, err: error.message }, 'transient failure; batch will be retried');
        await sleep(delay, signal);
      }
    }
  }

  async #unitOfWork(part: ReadonlyArray<Item>, extras: Extras | undefined): Promise<void> {
    const groups = new Map<DomainHandler, Decoded<unknown>[]>();
    for (const { handler, decoded } of part) {
      let g = groups.get(handler);
      if (g === undefined) groups.set(handler, (g = []));
      g.push(decoded);
    }
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
      let wroteDeadLetters = false;
      if (extras !== undefined) {
        for (const [publisher, messages] of groupByPublisher(extras.outbox)) await writeOutbox(tx, publisher, messages);
        wroteDeadLetters = extras.outbox.length > 0;
        await insertDeadLetters(tx, extras.rows);
        await writeCheckpoints(tx, extras.checkpoints);
      }
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

  #countSettled(deliveries: ReadonlyArray<Delivery>, items: ReadonlyArray<Item>, dead: ReadonlyArray<DeadLetter>): void {
    const m = this.#o.metrics;
    const now = Date.now();
    const labels = this.#labels();
    // One counter update per domain and batch, not per message (a labelled inc costs ~1 µs).
    const perDomain = new Map<string, number>();
    for (const d of deliveries) {
      const domain = this.#domainOf(d);
      perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
    }
    for (const [domain, n] of perDomain) m.messages.inc(this.#labels(domain), n);
    for (const d of dead) {
      const l = this.#labels(this.#domainOf(deliveries[d.index]!));
      m.dlq.inc(l);
      m.failed.inc({ ...l, reason: d.error.code });
    }
    let newest = 0;
    // Bound once: a labelled observe hashes its labels on every call.
    const latency = m.latency.labels(labels);
    for (const d of deliveries) {
      latency.observe((now - d.receivedAt) / 1000);
      if (d.receivedAt > newest) newest = d.receivedAt;
    }
    if (items.length > 0 || dead.length > 0) m.lag.set(labels, Math.max(0, (now - newest) / 1000));
  }
}
