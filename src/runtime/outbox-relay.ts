import type pg from 'pg';
import type { OutboundMessage, Publisher } from '../sources/types.ts';
import { claimOutbox, countOutbox, deleteOutbox, outboxBacklog } from '../sinks/postgres/outbox.ts';
import { inTransaction } from '../sinks/postgres/pool.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { Doorbell } from './doorbell.ts';
import { errorMessage } from './errors.ts';
import type { Readiness } from './health.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface RelayOptions {
  readonly pool: pg.Pool;
  readonly publishers: ReadonlyMap<string, Publisher>;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly log: Logger;
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** Failing this long (ms) makes the worker unready: derived messages are not leaving. */
  readonly stallMs: number;
  /** Rows claimed per transaction. */
  readonly claim?: number;
  /** Poll for rows left by other instances or by a crash (ms). */
  readonly pollMs?: number;
}

/** A publish that failed, with the publisher it failed on (for the failure metric). */
class PublishFailure extends Error {
  readonly publisher: string;

  constructor(publisher: string, cause: unknown) {
    super(errorMessage(cause), { cause });
    this.publisher = publisher;
  }
}

/**
 * Publishes outbox rows after COMMIT: claim, publish with confirms, delete, commit. A crash
 * between the confirm and the delete republishes the row; messages carry stable ids, so
 * consumers dedupe (at-least-once downstream, never lost). A broker that refuses for longer
 * than `stallMs` shows in readiness; the backlog's size and age are gauges.
 */
export class OutboxRelay {
  readonly #o: RelayOptions;
  readonly #bell = new Doorbell();
  #dirty = true;
  #running: Promise<void> | undefined;

  constructor(options: RelayOptions) {
    this.#o = options;
  }

  /** New rows were committed: publish soon. */
  poke(): void {
    this.#dirty = true;
    this.#bell.ring();
  }

  start(signal: AbortSignal): void {
    this.#running = this.#loop(signal);
  }

  /** Resolves when the loop has stopped (after the signal aborted). */
  async stopped(): Promise<void> {
    await this.#running;
  }

  /** Publishes everything pending now; used by graceful shutdown. Returns rows left. */
  async drain(deadline: number): Promise<number> {
    while (Date.now() < deadline) {
      const n = await this.#relayOnce().catch((err: unknown) => {
        this.#o.log.warn({ err: errorMessage(err) }, 'outbox drain failed');
        return -1;
      });
      if (n === 0) break;
      if (n < 0) await sleep(200);
    }
    return countOutbox(this.#o.pool).catch(() => -1);
  }

  async #observe(): Promise<void> {
    const backlog = await outboxBacklog(this.#o.pool);
    this.#o.metrics.outboxPending.set(backlog.rows);
    this.#o.metrics.outboxOldest.set(backlog.oldestSeconds);
  }

  async #loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let failingSince = 0;
    while (!signal.aborted) {
      if (!this.#dirty) {
        await this.#bell.wait(signal, this.#o.pollMs ?? 1000);
        this.#dirty = true; // a poll always looks
      }
      try {
        this.#dirty = false;
        const n = await this.#relayOnce();
        await this.#observe();
        if (n > 0) this.#dirty = true; // maybe more behind
        if (failures > 0) this.#o.readiness.set('outbox relay', null);
        failures = 0;
      } catch (err) {
        if (failures++ === 0) failingSince = Date.now();
        this.#dirty = true;
        if (err instanceof PublishFailure) this.#o.metrics.outboxFailures.inc({ publisher: err.publisher });
        // Keep the gauges honest while the broker is down: that is when they grow.
        await this.#observe().catch(() => undefined);
        const delay = backoffDelay(failures, this.#o.retry.initialMs, this.#o.retry.maxMs);
        // Ingest goes on and the outbox keeps the events; only a lasting failure is a readiness one.
        const failingMs = Date.now() - failingSince;
        if (failingMs >= this.#o.stallMs) {
          this.#o.readiness.set('outbox relay', `cannot publish for ${Math.round(failingMs / 1000)} s (OUTBOX_STALL_TIMEOUT): ${errorMessage(err)}`);
        }
        this.#o.log.warn({ err: errorMessage(err), retry_in_ms: delay }, 'outbox publish failed; events stay in the outbox');
        await sleep(delay, signal);
      }
    }
  }

  #count(publisher: string, messages: ReadonlyArray<OutboundMessage>): void {
    const m = this.#o.metrics;
    m.published.inc({ publisher }, messages.length);
    let aggregates = 0;
    let alerts = 0;
    for (const msg of messages) {
      if (msg.kind === 'aggregate') aggregates++;
      else if (msg.kind === 'alert') alerts++;
    }
    if (aggregates > 0) m.aggregatesPublished.inc({ publisher }, aggregates);
    if (alerts > 0) m.alertsPublished.inc({ publisher }, alerts);
  }

  /** One claim-publish-delete transaction; returns how many rows it published. */
  async #relayOnce(): Promise<number> {
    return inTransaction(this.#o.pool, async (tx) => {
      const rows = await claimOutbox(tx, this.#o.claim ?? 50);
      for (const row of rows) {
        const publisher = this.#o.publishers.get(row.publisher);
        if (publisher === undefined) throw new Error(`outbox row ${row.id} is for publisher "${row.publisher}", which is not configured`);
        await publisher.publish(row.messages).catch((err: unknown) => {
          throw new PublishFailure(row.publisher, err);
        });
        this.#count(row.publisher, row.messages);
      }
      await deleteOutbox(tx, rows.map((r) => r.id));
      return rows.length;
    });
  }
}
