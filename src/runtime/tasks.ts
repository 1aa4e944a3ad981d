import type pg from 'pg';
import type { DomainHandler, DomainTask } from '../domains/types.ts';
import { inTransaction } from '../sinks/postgres/pool.ts';
import { writeOutbox } from '../sinks/postgres/outbox.ts';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

interface Scheduled {
  readonly domain: string;
  readonly publisher: string;
  readonly task: DomainTask;
}

/**
 * Runs the domains' periodic tasks, each in its own transaction with its outbox rows, so a
 * closed window is marked published and queued for publishing atomically. A failed run is
 * logged and tried again at the next interval.
 */
export class TaskRunner {
  readonly #pool: pg.Pool;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #onOutbox: () => void;
  readonly #tasks: Scheduled[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(options: { pool: pg.Pool; metrics: Metrics; log: Logger; onOutbox: () => void }) {
    this.#pool = options.pool;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#onOutbox = options.onOutbox;
  }

  add(handler: DomainHandler, publisher: string): void {
    for (const task of handler.tasks ?? []) this.#tasks.push({ domain: handler.name, publisher, task });
  }

  start(): void {
    for (const s of this.#tasks) {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return; // a slow run is not stacked on itself
        busy = true;
        const run = this.run(s).finally(() => {
          busy = false;
          this.#running.delete(run);
        });
        this.#running.add(run);
      }, s.task.intervalMs);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /** Stops the timers, waits for running tasks, then runs the shutdown tasks once. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await Promise.all(this.#running);
    for (const s of this.#tasks) if (s.task.onShutdown) await this.run(s);
  }

  async run(s: Scheduled): Promise<void> {
    const started = performance.now();
    try {
      const wrote = await inTransaction(this.#pool, async (tx) => {
        const { outbound } = await s.task.run(tx);
        if (outbound.length > 0) await writeOutbox(tx, s.publisher, outbound);
        return outbound.length;
      });
      this.#metrics.flushDuration.observe({ domain: s.domain, task: s.task.name }, (performance.now() - started) / 1000);
      if (wrote > 0) this.#onOutbox();
      await s.task.observe?.(this.#pool);
    } catch (err) {
      this.#log.warn({ domain: s.domain, task: s.task.name, err: errorMessage(err) }, 'periodic task failed; retrying at the next interval');
    }
  }
}
