import type { PoolClient } from 'pg';
import type { OutboundMessage } from '../../sources/types.ts';

/** One outbox row per batch and publisher: a batch's events cost one INSERT, not one per event. */
export async function writeOutbox(tx: PoolClient, publisher: string, messages: ReadonlyArray<OutboundMessage>): Promise<void> {
  await tx.query('INSERT INTO ingestd_outbox (publisher, messages, message_count) VALUES ($1, $2, $3)', [
    publisher,
    JSON.stringify(messages),
    messages.length,
  ]);
}

export interface OutboxRow {
  readonly id: string;
  readonly publisher: string;
  readonly messages: OutboundMessage[];
}

/**
 * Locks the oldest unpublished rows (SKIP LOCKED: several instances relay in parallel
 * without publishing the same row twice at once).
 */
export async function claimOutbox(tx: PoolClient, limit: number): Promise<OutboxRow[]> {
  const { rows } = await tx.query<{ id: string; publisher: string; messages: string }>(
    'SELECT id, publisher, messages FROM ingestd_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
    [limit],
  );
  return rows.map((r) => ({ id: r.id, publisher: r.publisher, messages: JSON.parse(r.messages) as OutboundMessage[] }));
}

export async function deleteOutbox(tx: PoolClient, ids: ReadonlyArray<string>): Promise<void> {
  if (ids.length > 0) await tx.query('DELETE FROM ingestd_outbox WHERE id = ANY($1::bigint[])', [ids]);
}

export async function countOutbox(client: { query: PoolClient['query'] }): Promise<number> {
  return (await outboxBacklog(client)).rows;
}

/** Rows waiting, and how long the oldest has waited (0 when none). */
export async function outboxBacklog(client: { query: PoolClient['query'] }): Promise<{ rows: number; oldestSeconds: number }> {
  const { rows } = await client.query<{ n: string; oldest: number | null }>(
    'SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest FROM ingestd_outbox',
  );
  return { rows: Number(rows[0]?.n ?? 0), oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
}
