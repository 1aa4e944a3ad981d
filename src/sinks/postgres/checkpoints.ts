import type pg from 'pg';
import type { PoolClient } from 'pg';
import { IngestError } from '../../runtime/errors.ts';
import type { Checkpoint } from '../../sources/types.ts';

/**
 * Source positions, written in the batch's transaction. Never moved back: an instance that
 * lost a partition and commits late cannot rewind the one that took it over. A checkpoint
 * that carries the epoch its worker claimed is fenced: it is written only while that epoch
 * is still the partition's, otherwise the whole transaction fails with INGESTD_ERR_FENCED.
 */
export async function writeCheckpoints(tx: PoolClient, checkpoints: ReadonlyArray<Checkpoint>): Promise<void> {
  const fenced = checkpoints.filter((c) => c.epoch !== undefined);
  const open = checkpoints.filter((c) => c.epoch === undefined);
  if (fenced.length > 0) {
    // First in the transaction's writes, so a fenced worker fails before writing anything else.
    const { rows } = await tx.query<{ stream: string; partition: number }>(
      `UPDATE worker_checkpoints AS w SET "offset" = greatest(w."offset", k.o), updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS k(s, st, p, o, e)
        WHERE w.source = k.s AND w.stream = k.st AND w.partition = k.p AND w.owner_epoch = k.e
        RETURNING w.stream, w.partition`,
      [fenced.map((c) => c.source), fenced.map((c) => c.stream), fenced.map((c) => c.partition), fenced.map((c) => c.offset), fenced.map((c) => c.epoch!)],
    );
    if (rows.length < fenced.length) {
      const kept = new Set(rows.map((r) => `${r.stream}|${r.partition}`));
      const lost = fenced.filter((c) => !kept.has(`${c.stream}|${c.partition}`)).map((c) => `${c.stream}[${c.partition}]`);
      const what = lost.length === 1 ? `partition ${lost[0]} was` : `partitions ${lost.join(', ')} were`;
      throw new IngestError('INGESTD_ERR_FENCED', `${what} claimed by another worker; this worker's uncommitted work is dropped`, {
        context: { partitions: lost.join(',') },
      });
    }
  }
  if (open.length === 0) return;
  await tx.query(
    `INSERT INTO worker_checkpoints AS w (source, stream, partition, "offset")
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
     ON CONFLICT (source, stream, partition) DO UPDATE SET "offset" = greatest(w."offset", excluded."offset"), updated_at = now()`,
    [open.map((c) => c.source), open.map((c) => c.stream), open.map((c) => c.partition), open.map((c) => c.offset)],
  );
}

/** The stored next offset of each partition of a stream (partitions never committed are absent). */
export async function readCheckpoints(client: { query: PoolClient['query'] }, source: string, stream: string): Promise<Map<number, string>> {
  const { rows } = await client.query<{ partition: number; offset: string }>(
    'SELECT partition, "offset"::text AS offset FROM worker_checkpoints WHERE source = $1 AND stream = $2 AND "offset" >= 0',
    [source, stream],
  );
  return new Map(rows.map((r) => [r.partition, r.offset]));
}

export interface PartitionClaim {
  /** The epoch this worker's checkpoints must carry. */
  readonly epoch: string;
  /** Where the partition resumes; undefined when nothing of it was ever committed. */
  readonly offset: string | undefined;
}

/** How a claim treats a transaction that holds the rows it waits for. */
export interface StuckHolders {
  /** A holder whose transaction is older than this is stuck. */
  readonly afterMs: number;
  /** Only sessions with this application_name are ended (other workers of this deployment). */
  readonly applicationName: string;
  /** Told about each session ended. */
  readonly onEnded?: (pid: number, xactSeconds: number) => void;
}

const CLAIM = `INSERT INTO worker_checkpoints AS w (source, stream, partition, "offset", owner_epoch)
     SELECT $1, $2, p, -1, 1 FROM unnest($3::int[]) AS p
     ON CONFLICT (source, stream, partition) DO UPDATE SET owner_epoch = w.owner_epoch + 1, updated_at = now()
     RETURNING partition, owner_epoch::text AS epoch, "offset"::text AS offset`;

/**
 * Claims partitions just assigned to this worker: raises each one's owner epoch (fencing out
 * the previous owner's late commits) and returns where it resumes. A claim waits for a
 * checkpoint of the previous owner that is committing, and then sees its offset.
 *
 * With `stuck`, a claim also ends a previous owner that is stopped in the middle of a
 * checkpoint (SIGSTOP, a frozen VM). Such a worker holds the partition's row lock for as long as
 * it is stopped. While its COPY waits for data from it, neither statement_timeout (cancels are
 * held off during COPY input) nor idle_in_transaction_session_timeout (it is not idle) ends the
 * transaction. Ending that session is safe: its transaction rolls back, and the partition is
 * now this worker's.
 */
export async function claimPartitions(
  pool: pg.Pool, source: string, stream: string, partitions: ReadonlyArray<number>, stuck?: StuckHolders,
): Promise<Map<number, PartitionClaim>> {
  if (partitions.length === 0) return new Map();
  const sorted = [...partitions].sort((a, b) => a - b); // one lock order for every claimer
  const client = await pool.connect();
  let watching = true;
  let watchdog: Promise<void> = Promise.resolve();
  try {
    if (stuck !== undefined) {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      watchdog = endStuckHolders(pool, rows[0]!.pid, stuck, () => watching);
    }
    const { rows } = await client.query<{ partition: number; epoch: string; offset: string }>(CLAIM, [source, stream, sorted]);
    return new Map(rows.map((r) => [r.partition, { epoch: r.epoch, offset: Number(r.offset) >= 0 ? r.offset : undefined }]));
  } finally {
    watching = false;
    client.release();
    await watchdog;
  }
}

/** While `watching()`: ends the stuck sessions of `applicationName` that block `pid`. */
async function endStuckHolders(pool: pg.Pool, pid: number, stuck: StuckHolders, watching: () => boolean): Promise<void> {
  const poll = Math.min(1_000, stuck.afterMs / 2);
  while (watching()) {
    await new Promise((r) => setTimeout(r, poll));
    if (!watching()) return;
    const { rows } = await pool.query<{ pid: number; secs: number }>(
      `SELECT a.pid, extract(epoch FROM now() - a.xact_start)::float8 AS secs
         FROM unnest(pg_blocking_pids($1)) AS b(pid) JOIN pg_stat_activity a ON a.pid = b.pid
        WHERE a.application_name = $2 AND a.xact_start < now() - make_interval(secs => $3::float8 / 1000)`,
      [pid, stuck.applicationName, stuck.afterMs],
    ).catch(() => ({ rows: [] as Array<{ pid: number; secs: number }> }));
    for (const r of rows) {
      await pool.query('SELECT pg_terminate_backend($1)', [r.pid]).catch(() => undefined);
      stuck.onEnded?.(r.pid, r.secs);
    }
  }
}

/** Each stored partition's next offset (undefined: never committed) and owner epoch. */
export async function readPositions(client: { query: PoolClient['query'] }, source: string, stream: string): Promise<Map<number, PartitionClaim>> {
  const { rows } = await client.query<{ partition: number; offset: string; epoch: string }>(
    'SELECT partition, "offset"::text AS offset, owner_epoch::text AS epoch FROM worker_checkpoints WHERE source = $1 AND stream = $2',
    [source, stream],
  );
  return new Map(rows.map((r) => [r.partition, { epoch: r.epoch, offset: Number(r.offset) >= 0 ? r.offset : undefined }]));
}
