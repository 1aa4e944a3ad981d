import type { PoolClient } from 'pg';
import { arrayParams } from './array-literal.ts';

/** What an insert of alerts or anomalies stored: the ids that were new, and when they were detected. */
export interface Detections {
  readonly ids: Set<string>;
  /** ISO 8601 UTC with milliseconds: the rows' detected_at (their transaction's start). */
  readonly detectedAt: string;
}

/**
 * Inserts detections (alerts, anomalies) keyed by a deterministic id: `insert` is the
 * `INSERT INTO … SELECT …` without its conflict clause; a redelivered detection conflicts and
 * is not returned, so it is never published twice. `count` is the number of rows offered.
 */
export async function insertDetections(tx: PoolClient, insert: string, idColumn: string, params: unknown[], count: number): Promise<Detections> {
  if (count === 0) return { ids: new Set(), detectedAt: new Date().toISOString() };
  const { rows } = await tx.query<{ id: string; detected_at: string }>(
    `${insert}
     ON CONFLICT DO NOTHING
     RETURNING ${idColumn}::text AS id, to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS detected_at`,
    arrayParams(params),
  );
  return { ids: new Set(rows.map((r) => r.id)), detectedAt: rows[0]?.detected_at ?? new Date().toISOString() };
}
