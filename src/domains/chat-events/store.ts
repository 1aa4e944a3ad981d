import type { PoolClient } from 'pg';
import { arrayParams } from '../../sinks/postgres/array-literal.ts';
import { qualified, quoteIdent } from '../../sinks/postgres/sql-text.ts';
import { ENTITY_DEFS, type ColumnType, type Entity } from './entities.ts';

/** One item to apply: the entity's data, and the event id that carried it (the tie-break). */
export interface ItemRow {
  readonly data: Readonly<Record<string, unknown>>;
  readonly eventId: string;
}

const CAST: Record<ColumnType, string> = { text: 'text', boolean: 'boolean', integer: 'integer', timestamptz: 'timestamptz' };

/**
 * Last-write-wins upsert of one entity's items, one statement. A newer (updated_at,
 * event_id) replaces the row: fields present in `data` are written (null clears), absent
 * ones keep their value, message status only moves forward. An older or equal one changes
 * nothing, so a redelivery is a no-op. Items must have distinct ids (the caller splits a
 * batch into rounds). Returns how many rows were inserted or updated.
 */
export function upsertStatement(schema: string, entity: Entity): string {
  const def = ENTITY_DEFS[entity];
  const cols = Object.entries(def.columns);
  const t = qualified(entity, schema);
  const select = [
    `d->>${lit(def.key)}`,
    ...cols.map(([c, type]) => `(d->>${lit(c)})::${CAST[type]}`),
    `(d->>'updated_at')::timestamptz`, 'e', 'd',
  ];
  const set = cols.map(([c]) => {
    const q = quoteIdent(c);
    const value = entity === 'messages' && c === 'status' ? `ingestd_chat_status_next(t.status, excluded.status)` : `excluded.${q}`;
    return `${q} = CASE WHEN excluded.payload ? ${lit(c)} THEN ${value} ELSE t.${q} END`;
  });
  return `INSERT INTO ${t} AS t (${[def.key, ...cols.map(([c]) => c), 'updated_at', 'last_event_id', 'payload'].map(quoteIdent).join(', ')})
    SELECT ${select.join(', ')} FROM unnest($1::jsonb[], $2::text[]) AS x(d, e)
    ON CONFLICT (${quoteIdent(def.key)}) DO UPDATE SET ${set.join(', ')},
      updated_at = excluded.updated_at, last_event_id = excluded.last_event_id, payload = excluded.payload
    WHERE (excluded.updated_at, excluded.last_event_id) > (t.updated_at, t.last_event_id)`;
}

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export async function upsertItems(tx: PoolClient, schema: string, entity: Entity, rows: ReadonlyArray<ItemRow>): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await tx.query(upsertStatement(schema, entity), arrayParams([rows.map((x) => JSON.stringify(x.data)), rows.map((x) => x.eventId)]));
  return r.rowCount ?? 0;
}

/** History events of these ids already imported (acknowledged again without re-import). */
export async function importedEvents(tx: PoolClient, schema: string, eventIds: ReadonlyArray<string>): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await tx.query<{ event_id: string }>(
    `SELECT event_id FROM ${qualified('onboarding_log', schema)} WHERE event_id = ANY($1::text[]) AND status = 'done'`,
    [eventIds],
  );
  return new Set(rows.map((r) => r.event_id));
}

/**
 * The database's clock at this moment: clock_timestamp(), not now() (the transaction's
 * start, earlier than anything done in it). As text: a JS Date would drop the microseconds.
 */
export async function dbClock(tx: PoolClient): Promise<string> {
  const { rows } = await tx.query<{ at: string }>('SELECT clock_timestamp()::text AS at');
  return rows[0]!.at;
}

/**
 * Logs history imports as done: started at `startedAt` (from dbClock before their items were
 * applied), finished now on the same clock, so finished_at >= started_at.
 */
export async function logImports(tx: PoolClient, schema: string, startedAt: string, rows: ReadonlyArray<{ eventId: string; entity: Entity; total: number; applied: number }>): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO ${qualified('onboarding_log', schema)} (event_id, entity_type, items_total, items_applied, started_at, finished_at, status)
     SELECT e, t, n, a, $5::timestamptz, clock_timestamp(), 'done' FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS x(e, t, n, a)
     ON CONFLICT (event_id) DO UPDATE SET items_total = excluded.items_total, items_applied = excluded.items_applied,
       started_at = excluded.started_at, finished_at = excluded.finished_at, status = 'done'`,
    arrayParams([rows.map((r) => r.eventId), rows.map((r) => r.entity), rows.map((r) => r.total), rows.map((r) => r.applied), startedAt]),
  );
}
