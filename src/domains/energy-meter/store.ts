import type { PoolClient } from 'pg';
import { arrayLiteral, arrayParams } from '../../sinks/postgres/array-literal.ts';
import { isoTime } from '../../lib/iso-time.ts';
import { copyLine, copyText } from '../../sinks/postgres/copy.ts';
import { quoteIdent } from '../../sinks/postgres/sql-text.ts';
import type { DetectedReading } from './detect.ts';
import { compareText } from '../../lib/order.ts';

/** Which messages of the batch are already stored (a redelivery): probed by their first reading. */
export async function storedMessages(tx: PoolClient, probes: ReadonlyArray<{ id: string; timestamp: number }>): Promise<Set<string>> {
  if (probes.length === 0) return new Set();
  const { rows } = await tx.query<{ id: string }>(
    // LATERAL … LIMIT 1 keeps the plan a primary-key probe per message with partition
    // pruning; a plain EXISTS lets the planner hash-join the whole table (50× slower).
    `SELECT k.id::text AS id FROM unnest($1::uuid[], $2::timestamptz[]) AS k(id, ts)
       CROSS JOIN LATERAL (SELECT 1 FROM meter_readings_raw r WHERE r.id = k.id AND r.reading_timestamp = k.ts LIMIT 1) AS hit`,
    arrayParams([probes.map((p) => p.id), probes.map((p) => isoTime(p.timestamp))]),
  );
  return new Set(rows.map((r) => r.id));
}

export interface ClientSighting {
  readonly id: string;
  readonly fingerprint: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** Creates unseen clients and moves last_seen_at forward (never back). Sorted by id: no deadlocks. */
export async function upsertClients(tx: PoolClient, clients: ReadonlyArray<ClientSighting>): Promise<void> {
  if (clients.length === 0) return;
  const sorted = [...clients].sort((a, b) => compareText(a.id, b.id));
  await tx.query(
    `INSERT INTO meter_clients AS c (id, client_fingerprint, first_seen_at, last_seen_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[])
     ON CONFLICT (id) DO UPDATE SET
       first_seen_at = least(c.first_seen_at, excluded.first_seen_at),
       last_seen_at  = greatest(c.last_seen_at, excluded.last_seen_at),
       updated_at    = now()
     WHERE excluded.last_seen_at > c.last_seen_at OR excluded.first_seen_at < c.first_seen_at`,
    arrayParams([
      sorted.map((c) => c.id),
      sorted.map((c) => c.fingerprint),
      sorted.map((c) => isoTime(c.firstSeen)),
      sorted.map((c) => isoTime(c.lastSeen)),
    ]),
  );
}

export interface SeriesRef {
  readonly clientId: string;
  readonly metric: string;
}

/**
 * Loads and locks the spike history of these series. Rows are created first, then locked
 * in key order, so two instances on the same series take turns instead of deadlocking.
 */
export async function lockHistories(tx: PoolClient, series: ReadonlyArray<SeriesRef>): Promise<Array<SeriesRef & { recent: number[] }>> {
  if (series.length === 0) return [];
  const sorted = [...series].sort((a, b) => (a.clientId === b.clientId ? (a.metric < b.metric ? -1 : 1) : a.clientId < b.clientId ? -1 : 1));
  const ids = sorted.map((s) => s.clientId);
  const metrics = sorted.map((s) => s.metric);
  await tx.query(
    `INSERT INTO meter_metric_history (client_id, metric_name)
     SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING`,
    [ids, metrics],
  );
  const { rows } = await tx.query<{ client_id: string; metric_name: string; recent: number[] }>(
    `SELECT h.client_id::text, h.metric_name, h.recent FROM meter_metric_history h
       JOIN unnest($1::uuid[], $2::text[]) AS k(c, m) ON h.client_id = k.c AND h.metric_name = k.m
      ORDER BY h.client_id, h.metric_name FOR UPDATE OF h`,
    [ids, metrics],
  );
  return rows.map((r) => ({ clientId: r.client_id, metric: r.metric_name, recent: r.recent }));
}

export interface ReadingRow {
  readonly id: string;
  readonly messageId: string;
  readonly clientId: string;
  readonly receivedAt: number;
  readonly reading: DetectedReading;
}

const COLUMNS = [
  'id', 'message_id', 'client_id', 'metric_name', 'metric_value', 'reading_timestamp',
  'received_at', 'validation_status', 'anomaly_reason', 'raw_payload',
] as const;

export async function insertReadings(tx: PoolClient, rows: ReadonlyArray<ReadingRow>): Promise<void> {
  if (rows.length === 0) return;
  await copyReadingText(tx, [readingLines(rows)]);
}

/**
 * Raw readings by COPY, as text encoded when they were planned. A reading stored already
 * fails the transaction with a unique violation (the keyed-state path then replays carefully).
 */
export async function copyReadingText(tx: PoolClient, chunks: ReadonlyArray<string>): Promise<void> {
  if (chunks.length === 0) return;
  await copyText(tx, quoteIdent('meter_readings_raw'), COLUMNS, chunks);
}

/** Readings as lines of COPY text. */
export function readingLines(rows: ReadonlyArray<ReadingRow>): string {
  let text = '';
  for (const r of rows) {
    text += copyLine([
      r.id, r.messageId, r.clientId, r.reading.name, r.reading.value,
      isoTime(r.reading.timestamp), isoTime(r.receivedAt),
      r.reading.status, r.reading.reason,
      // jsonb of the entry as received; `null` entries stay JSON null.
      JSON.stringify(r.reading.raw ?? null),
    ]);
  }
  return text;
}

/** The stored spike histories of these series (absent: none stored yet). */
export async function readHistories(client: { query: PoolClient['query'] }, series: ReadonlyArray<SeriesRef>): Promise<Array<SeriesRef & { recent: number[] }>> {
  if (series.length === 0) return [];
  const { rows } = await client.query<{ client_id: string; metric_name: string; recent: number[] }>(
    `SELECT h.client_id::text, h.metric_name, h.recent FROM meter_metric_history h
       JOIN unnest($1::uuid[], $2::text[]) AS k(c, m) ON h.client_id = k.c AND h.metric_name = k.m`,
    [series.map((s) => s.clientId), series.map((s) => s.metric)],
  );
  return rows.map((r) => ({ clientId: r.client_id, metric: r.metric_name, recent: r.recent }));
}

/** Spike histories as they are after a checkpoint (the series' rows may not exist yet). */
export async function writeHistories(tx: PoolClient, histories: ReadonlyArray<SeriesRef & { recent: ReadonlyArray<number> }>): Promise<void> {
  if (histories.length === 0) return;
  await tx.query(
    `INSERT INTO meter_metric_history AS h (client_id, metric_name, recent)
     SELECT k.c, k.m, k.recent::double precision[] FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(c, m, recent)
     ON CONFLICT (client_id, metric_name) DO UPDATE SET recent = excluded.recent, updated_at = now()`,
    arrayParams([histories.map((h) => h.clientId), histories.map((h) => h.metric), histories.map((h) => arrayLiteral(h.recent))]),
  );
}
