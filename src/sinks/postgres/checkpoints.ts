import type { PoolClient } from 'pg';
import type { Checkpoint } from '../../sources/types.ts';

/**
 * Source positions, written in the batch's transaction. Never moved back: an instance that
 * lost a partition and commits late cannot rewind the one that took it over.
 */
export async function writeCheckpoints(tx: PoolClient, checkpoints: ReadonlyArray<Checkpoint>): Promise<void> {
  if (checkpoints.length === 0) return;
  await tx.query(
    `INSERT INTO worker_checkpoints AS w (source, stream, partition, "offset")
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
     ON CONFLICT (source, stream, partition) DO UPDATE SET "offset" = greatest(w."offset", excluded."offset"), updated_at = now()`,
    [checkpoints.map((c) => c.source), checkpoints.map((c) => c.stream), checkpoints.map((c) => c.partition), checkpoints.map((c) => c.offset)],
  );
}

/** The stored next offset of each partition of a stream. */
export async function readCheckpoints(client: { query: PoolClient['query'] }, source: string, stream: string): Promise<Map<number, string>> {
  const { rows } = await client.query<{ partition: number; offset: string }>(
    'SELECT partition, "offset"::text AS offset FROM worker_checkpoints WHERE source = $1 AND stream = $2',
    [source, stream],
  );
  return new Map(rows.map((r) => [r.partition, r.offset]));
}
