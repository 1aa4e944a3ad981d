/**
 * Hands out permission to publish, paced on a virtual clock so high rates stay exact
 * without per-message sleeps.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';

export interface PacerOptions {
  /** Messages per second; 0 = as fast as possible. */
  readonly rate: number;
  /** Messages to hand out in all (may be Infinity). */
  readonly limit: number;
  /** Clock time after which nothing more is handed out (may be Infinity). */
  readonly deadline: number;
  /** Polled before every grant: true stops the pacer. */
  readonly stopped: () => boolean;
  /** Clock in ms (default performance.now); injectable for tests. */
  readonly now?: () => number;
  /** Waits ms (default a timer); injectable for tests. */
  readonly sleep?: (ms: number) => Promise<unknown>;
}

/**
 * `pace(max)` resolves with how many messages (1..max) may be sent now, waiting until at
 * least one is due, or 0 when the run is over (limit reached, deadline passed, stopped).
 */
export type Pacer = (max: number) => Promise<number>;

/** Longest single wait, so a stop or the deadline is noticed promptly. */
const MAX_WAIT_MS = 250;

export const createPacer = (o: PacerOptions): Pacer => {
  const { rate, limit, deadline, stopped } = o;
  const now = o.now ?? (() => performance.now());
  const sleep = o.sleep ?? sleepMs;
  const perMs = rate / 1000;
  // Catch-up after a stall is bounded to one second of traffic, so a pause is not followed by a huge burst.
  const maxDebt = Math.max(1, Math.ceil(rate));
  let t0 = now();
  let issued = 0;
  return async (max: number): Promise<number> => {
    for (;;) {
      if (stopped() || issued >= limit) return 0;
      const t = now();
      if (t >= deadline) return 0;
      let n = Math.min(max, limit - issued);
      if (rate > 0) {
        let due = Math.floor((t - t0) * perMs) + 1 - issued;
        if (due > maxDebt) {
          t0 = t - (issued + maxDebt - 1) / perMs;
          due = maxDebt;
        }
        if (due <= 0) {
          await sleep(Math.max(1, Math.min(t0 + issued / perMs - t, deadline - t, MAX_WAIT_MS)));
          continue;
        }
        n = Math.min(n, due);
      }
      issued += n;
      return n;
    }
  };
};
