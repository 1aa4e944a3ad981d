import { classifyDbError } from '../sinks/postgres/classify.ts';
import { backoffDelay, sleep } from './backoff.ts';
import type { IngestError } from './errors.ts';

/** How a retried piece of database work ended. */
export type Retried<T> =
  | { readonly kind: 'done'; readonly value: T }
  /** Failed for a reason waiting will not fix (poison, fenced, a conflict): the caller decides. */
  | { readonly kind: 'failed'; readonly error: IngestError }
  /** A transient failure, and the worker is stopping: not tried again. */
  | { readonly kind: 'aborted'; readonly error: IngestError };

export interface RetryOptions {
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** Stopping: the work is still tried once (shutdown commits what it holds), never retried. */
  readonly signal: AbortSignal;
  /** Readiness and metrics: a transient failure being retried, then null once the retries are over. */
  readonly paused: (reason: IngestError | null, attempt: number, delayMs: number) => void;
  /** Which failures are retried as they are (default: transient ones but fencing). */
  readonly retryable?: (error: IngestError) => boolean;
}

/**
 * Transient, but not fenced: fencing is transient for the message (another worker will store
 * it), never for this worker's transaction, which would be refused again.
 */
export const retriedAsIs = (error: IngestError): boolean => error.errorClass === 'transient' && error.code !== 'INGESTD_ERR_FENCED';

/**
 * Runs database work until it succeeds or fails for good, with jittered backoff between
 * transient failures (SPEC §4: the pipeline pauses, it never drops the batch). However the
 * retries end (committed, poison, fenced, stopping), `paused(null)` is reported: a pipeline
 * must not stay unready on a retry that is over.
 */
export async function retryWhileTransient<T>(work: () => Promise<T>, o: RetryOptions): Promise<Retried<T>> {
  const retryable = o.retryable ?? retriedAsIs;
  let paused = false;
  for (let attempt = 0; ; attempt++) {
    let outcome: Retried<T>;
    try {
      outcome = { kind: 'done', value: await work() };
    } catch (err) {
      const error = classifyDbError(err);
      if (!retryable(error)) {
        outcome = { kind: 'failed', error };
      } else if (o.signal.aborted) {
        outcome = { kind: 'aborted', error };
      } else {
        const delay = backoffDelay(attempt, o.retry.initialMs, o.retry.maxMs);
        o.paused(error, attempt, delay);
        paused = true;
        await sleep(delay, o.signal);
        if (!o.signal.aborted) continue;
        outcome = { kind: 'aborted', error };
      }
    }
    if (paused) o.paused(null, attempt, 0);
    return outcome;
  }
}
