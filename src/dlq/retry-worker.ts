import type pg from 'pg';
import { backoffDelay, sleep } from '../runtime/backoff.ts';
import { errorMessage } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { storeExhausted } from './exhausted.ts';
import { replayDeadLetters, type DeadLetterQueue, type DeadLetterRecord } from './types.ts';

export interface RetrySettings {
  readonly enabled: boolean;
  /** Retries after the first failure; then the dead letter moves to exhausted_events. */
  readonly maxRetries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** How often the dead letters are scanned. */
  readonly intervalMs: number;
}

// One instance scans at a time (per database); the others skip the round.
const RETRY_LOCK = 0x1d6e57d1;

/** The delay before retry number `attempts` (the dead letter has been delivered that often). */
export const retryDelay = (attempts: number, s: RetrySettings): number =>
  Math.min(s.maxDelayMs, s.initialDelayMs * 2 ** Math.max(0, attempts - 1));

/** What to do with each poison dead letter now: retry it, give up on it, or wait. */
export function planRetries(records: ReadonlyArray<DeadLetterRecord>, s: RetrySettings, now: number): { retry: DeadLetterRecord[]; exhaust: DeadLetterRecord[] } {
  const retry: DeadLetterRecord[] = [];
  const exhaust: DeadLetterRecord[] = [];
  for (const r of records) {
    if (r.errorClass !== 'poison') continue; // structural dead letters wait for an operator
    if (r.attempts > s.maxRetries) exhaust.push(r);
    else if ((r.deadLetteredAt ?? 0) + retryDelay(r.attempts, s) <= now) retry.push(r);
  }
  return { retry, exhaust };
}

/**
 * SPEC §4's retry worker: dead letters of the retryable class (poison: the database may
 * accept them after a fix) go back to their original route with growing delays; past
 * DLQ_MAX_RETRIES they are stored in exhausted_events and leave the broker.
 */
export class DeadLetterRetryWorker {
  readonly #queues: ReadonlyArray<DeadLetterQueue>;
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #s: RetrySettings;

  constructor(o: { queues: ReadonlyArray<DeadLetterQueue>; pool: pg.Pool; log: Logger; metrics?: Metrics; settings: RetrySettings }) {
    this.#queues = o.queues;
    this.#pool = o.pool;
    this.#log = o.log;
    this.#metrics = o.metrics;
    this.#s = o.settings;
  }

  async run(signal: AbortSignal): Promise<void> {
    for (let failures = 0; !signal.aborted; ) {
      try {
        await this.scan();
        failures = 0;
        await sleep(this.#s.intervalMs, signal);
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'dead-letter retry scan failed; trying again');
        await sleep(backoffDelay(failures++, this.#s.intervalMs, 10 * this.#s.intervalMs), signal);
      }
    }
    for (const q of this.#queues) await q.close().catch(() => undefined);
  }

  /** One round over every dead-letter queue (when this instance holds the lock). */
  async scan(now = Date.now()): Promise<{ retried: number; exhausted: number }> {
    const client = await this.#pool.connect();
    let retried = 0;
    let exhausted = 0;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RETRY_LOCK]);
      if (!rows[0]!.locked) return { retried, exhausted };
      try {
        for (const q of this.#queues) {
          try {
            const plan = planRetries(await q.list(), this.#s, now);
            if (plan.exhaust.length > 0) {
              await storeExhausted(this.#pool, plan.exhaust);
              exhausted += await q.remove(plan.exhaust);
              this.#metrics?.dlqExhausted.inc({ source: q.kind }, plan.exhaust.length);
              this.#log.warn({ source: q.kind, dead_letters: plan.exhaust.length, max_retries: this.#s.maxRetries }, 'dead letters exhausted their retries; moved to exhausted_events');
            }
            if (plan.retry.length > 0) {
              retried += await replayDeadLetters(q, plan.retry);
              this.#metrics?.dlqRetried.inc({ source: q.kind }, plan.retry.length);
              this.#log.info({ source: q.kind, dead_letters: plan.retry.length }, 'poison dead letters retried');
            }
          } finally {
            await q.close(); // AMQP: what was listed and not taken goes back to the queue
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [RETRY_LOCK]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
    return { retried, exhausted };
  }
}
