import type pg from 'pg';
import { matches, recordOf, type DeadLetterFilter, type DeadLetterRecord } from './types.ts';

/** Dead letters the retry worker gave up on, kept in exhausted_events. */
export async function storeExhausted(pool: pg.Pool, records: ReadonlyArray<DeadLetterRecord>): Promise<void> {
  if (records.length === 0) return;
  await pool.query(
    `INSERT INTO exhausted_events (source, dlq, route, body, headers, error_class, error_code, reason, attempts, tenant, first_failed_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::timestamptz[])`,
    [
      records.map((r) => r.kind), records.map((r) => r.dlq), records.map((r) => r.route), records.map((r) => r.body), records.map((r) => JSON.stringify(r.headers)),
      records.map((r) => r.errorClass), records.map((r) => r.errorCode), records.map((r) => r.reason), records.map((r) => r.attempts), records.map((r) => r.tenant ?? null),
      records.map((r) => r.firstFailedAt ?? null),
    ],
  );
}

export async function listExhausted(pool: pg.Pool, filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
  const { rows } = await pool.query<{ id: string; source: string; dlq: string; route: string; body: Buffer; headers: Record<string, string>; exhausted_at: string | Date }>(
    'SELECT id::text, source, dlq, route, body, headers, exhausted_at FROM exhausted_events ORDER BY id',
  );
  return rows
    .map((r) => ({ ...recordOf({ ref: `exhausted:${r.id}`, kind: r.source, dlq: r.dlq, route: r.route, body: r.body, headers: r.headers, deadLetteredAt: undefined }), deadLetteredAt: Date.parse(String(r.exhausted_at)) }))
    .filter((r) => matches(r, filter));
}

export async function deleteExhausted(pool: pg.Pool, records: ReadonlyArray<DeadLetterRecord>): Promise<number> {
  const r = await pool.query('DELETE FROM exhausted_events WHERE id = ANY($1::bigint[])', [records.map((x) => x.ref.slice('exhausted:'.length))]);
  return r.rowCount ?? 0;
}
