/**
 * When each PostgreSQL transaction became visible: a thread of its own polls
 * `pg_current_snapshot()` with `clock_timestamp()` every 5 ms; afterwards a row's commit time
 * is looked up by its xmin (bench/README.md, "End-to-end benchmarks"). Also the row counts
 * that tell when a drain is complete.
 *
 * The polling thread runs this very file: `new Worker(import.meta.url)` with `workerData`
 * `{ commitClock }` (the entry at the bottom).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';
import { sleep, withPg } from './common.ts';

interface Poll {
  /** clock_timestamp() right after the snapshot was taken, epoch ms. */
  readonly t: number;
  readonly xmin: number;
  readonly xmax: number;
  readonly xip: ReadonlySet<number>;
}

/**
 * When transactions became visible. Every `intervalMs` one cheap statement reads the
 * server's current snapshot and clock (`SELECT pg_current_snapshot(), clock_timestamp()`);
 * afterwards, a row's xmin (its inserting transaction) is looked up: its commit lies
 * between the last snapshot that did not see it and the first that did. Nothing is added
 * to the worker's transactions, no table is scanned while it runs.
 */
export class CommitClock {
  readonly #thread: Worker;
  #polls: Poll[] = [];

  private constructor(thread: Worker) {
    this.#thread = thread;
  }

  /**
   * Starts polling in a worker thread of its own, so that a busy main thread (the
   * publisher of e2e-latency) cannot delay a poll. Resolves after the first poll.
   */
  static async start(url: string, intervalMs = 5): Promise<CommitClock> {
    const thread = new Worker(new URL(import.meta.url), { workerData: { commitClock: { url, intervalMs } } });
    const [first] = (await once(thread, 'message')) as [string];
    if (first !== 'ready') throw new Error(`commit clock: ${first}`);
    return new CommitClock(thread);
  }

  /** Stops polling and takes the polls over. */
  async stop(): Promise<void> {
    this.#thread.postMessage('stop');
    const [polls] = (await once(this.#thread, 'message')) as [Array<{ t: number; xmin: number; xmax: number; xip: number[] }>];
    this.#polls = polls.map((p) => ({ t: p.t, xmin: p.xmin, xmax: p.xmax, xip: new Set(p.xip) }));
    await this.#thread.terminate();
  }

  #gaps(): number[] {
    const d: number[] = [];
    for (let i = 1; i < this.#polls.length; i++) d.push(this.#polls[i]!.t - this.#polls[i - 1]!.t);
    return d.sort((a, b) => a - b);
  }

  /** Median time between two polls, ms (a commit time is within ± half of its gap). */
  get resolutionMs(): number {
    const d = this.#gaps();
    return d.length === 0 ? Number.NaN : d[d.length >> 1]!;
  }

  /** The longest gap between two polls, ms. */
  get worstGapMs(): number {
    const d = this.#gaps();
    return d.length === 0 ? Number.NaN : d[d.length - 1]!;
  }

  /** One line for the notes. */
  describe(): string {
    return `commit clock: a poll every ${this.resolutionMs.toFixed(1)} ms (median), longest gap ${this.worstGapMs.toFixed(1)} ms`;
  }

  /** 32-bit xid (a row's xmin) → 64-bit, in the epoch of the last snapshot. */
  #full(xid: number): number {
    const ref = this.#polls[this.#polls.length - 1]!.xmax;
    const epoch = Math.floor(ref / 2 ** 32);
    const full = epoch * 2 ** 32 + xid;
    return full > ref ? full - 2 ** 32 : full;
  }

  /**
   * Estimated commit time (epoch ms) of a transaction, from a row's xmin: the midpoint
   * between the last poll that did not see it and the first that did (so within
   * ±resolution/2). undefined if it committed before the clock started or is not visible yet.
   */
  commitTime(xmin32: number): number | undefined {
    const x = this.#full(xmin32);
    const visible = (p: Poll): boolean => x < p.xmin || (x < p.xmax && !p.xip.has(x));
    const polls = this.#polls;
    let lo = 0;
    let hi = polls.length; // first visible index in [lo, hi]
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (visible(polls[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    if (lo === 0 || lo === polls.length) return undefined;
    return (polls[lo - 1]!.t + polls[lo]!.t) / 2;
  }
}

/** The first-to-last-commit figures of a drain. */
export interface CommitSpan {
  readonly rows: number;
  readonly transactions: number;
  readonly firstMs: number;
  readonly lastMs: number;
  /** Rows per second between the first and the last commit (the rows of the first commit excluded). */
  readonly rate: number;
  /** The README's method: all rows / (max(created_at) − min(created_at)), for comparison. */
  readonly createdAtRate: number;
  /** Mean rows per transaction. */
  readonly rowsPerTx: number;
}

/** `createdAt`: the table has a created_at column (createdAtRate is NaN without it). */
export function commitSpan(url: string, table: string, clock: CommitClock, createdAt = true): Promise<CommitSpan> {
  const stamp = (f: 'min' | 'max'): string => (createdAt ? `(extract(epoch FROM ${f}(created_at)) * 1000)::float8` : 'NULL::float8');
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ x: string; n: number; c0: number | null; c1: number | null }>(
      `SELECT xmin::text AS x, count(*)::int AS n, ${stamp('min')} AS c0, ${stamp('max')} AS c1 FROM ${table} GROUP BY 1`,
    );
    let total = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let c0 = Number.POSITIVE_INFINITY;
    let c1 = Number.NEGATIVE_INFINITY;
    const timed: Array<{ t: number; n: number }> = [];
    for (const r of rows) {
      total += r.n;
      if (r.c0 !== null) c0 = Math.min(c0, r.c0);
      if (r.c1 !== null) c1 = Math.max(c1, r.c1);
      const t = clock.commitTime(Number(r.x));
      if (t === undefined) throw new Error(`${table}: transaction ${r.x} has no commit time (clock not running through the drain?)`);
      timed.push({ t, n: r.n });
      first = Math.min(first, t);
      last = Math.max(last, t);
    }
    const after = timed.filter((x) => x.t > first).reduce((n, x) => n + x.n, 0);
    return {
      rows: total,
      transactions: rows.length,
      firstMs: first,
      lastMs: last,
      rate: last > first ? (after * 1000) / (last - first) : Number.NaN,
      createdAtRate: c1 > c0 ? (total * 1000) / (c1 - c0) : Number.NaN,
      rowsPerTx: rows.length === 0 ? 0 : total / rows.length,
    };
  });
}

/**
 * Polls `count(*)` of a table every 500 ms until it reaches `expected` (true), or it has not
 * moved for `stallMs` / `timeoutMs` passed (false). The table may not exist yet (migrations).
 */
export async function waitForRows(
  url: string, table: string, expected: number,
  o: { timeoutMs: number; stallMs?: number; signal: AbortSignal; progress?: (n: number) => void; onFirst?: () => Promise<void> },
): Promise<{ count: number; complete: boolean }> {
  return withPg(url, async (c) => {
    const deadline = Date.now() + o.timeoutMs;
    let count = 0;
    let moved = Date.now();
    let shown = Date.now();
    for (;;) {
      o.signal.throwIfAborted();
      try {
        const n = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
        if (count === 0 && n > 0) await o.onFirst?.();
        if (n !== count) moved = Date.now();
        count = n;
      } catch (err) {
        if ((err as { code?: string }).code !== '42P01') throw err; // undefined_table: not migrated yet
      }
      if (count >= expected) return { count, complete: true };
      if (Date.now() > deadline || (count > 0 && Date.now() - moved > (o.stallMs ?? 20_000))) return { count, complete: false };
      if (Date.now() - shown >= 5000) {
        o.progress?.(count);
        shown = Date.now();
      }
      await sleep(500);
    }
  }, 'ingestd-bench-count');
}

/** Commit times of every stored message, by LoadMessage.id. */
export function commitTimesById(url: string, rig: { readonly idSql: string }, clock: CommitClock): Promise<Map<string, number>> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ id: string; x: string }>(rig.idSql);
    const byXid = new Map<string, number | undefined>();
    const out = new Map<string, number>();
    for (const r of rows) {
      if (!byXid.has(r.x)) byXid.set(r.x, clock.commitTime(Number(r.x)));
      const t = byXid.get(r.x);
      if (t !== undefined) out.set(r.id, t);
    }
    return out;
  });
}

/** The commit clock's thread: polls until told to stop, then hands the polls over. */
async function clockThread(url: string, intervalMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'ingestd-bench-clock' });
  const polls: Array<{ t: number; xmin: number; xmax: number; xip: number[] }> = [];
  let running = true;
  parentPort!.once('message', () => (running = false));
  const poll = async (): Promise<void> => {
    const { rows } = await client.query<{ s: string; t: number }>(
      'SELECT pg_current_snapshot()::text AS s, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t',
    );
    const [xmin, xmax, xip] = rows[0]!.s.split(':');
    polls.push({ t: rows[0]!.t, xmin: Number(xmin), xmax: Number(xmax), xip: xip === undefined || xip === '' ? [] : xip.split(',').map(Number) });
  };
  try {
    await client.connect();
    await poll();
  } catch (err) {
    parentPort!.postMessage(String(err));
    return;
  }
  parentPort!.postMessage('ready');
  while (running) {
    const t0 = performance.now();
    await poll();
    await sleep(Math.max(0, intervalMs - (performance.now() - t0)));
  }
  await client.end().catch(() => undefined);
  parentPort!.postMessage(polls);
}

const clockData = (workerData as { commitClock?: { url: string; intervalMs: number } } | null)?.commitClock;
if (!isMainThread && clockData !== undefined) {
  await clockThread(clockData.url, clockData.intervalMs);
}
