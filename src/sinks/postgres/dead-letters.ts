import type { PoolClient } from 'pg';
import type { DeadLetterContent } from '../../runtime/dead-letter.ts';

/** A dead letter stored in `ingestd_dead_letters` (the DLQ of brokers that have none: MQTT); headers as a DLQ message's (SPEC §4). */
export interface DeadLetterRow extends DeadLetterContent {
  readonly source: string;
}

// PostgreSQL text and jsonb refuse U+0000, which an error reason can quote from a body.
const storable = (text: string): string => text.replaceAll('\u0000', '\uFFFD');

const storableHeaders = (headers: Readonly<Record<string, string>>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(headers).map(([k, v]) => [storable(k), storable(v)])));

/** One statement per batch, in the batch's transaction: a dead letter commits with the data or not at all. */
export async function insertDeadLetters(tx: PoolClient, rows: ReadonlyArray<DeadLetterRow>): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO ingestd_dead_letters (source, route, body, headers, error_class, error_code, reason)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[], $5::text[], $6::text[], $7::text[])`,
    [
      rows.map((r) => r.source), rows.map((r) => storable(r.route)), rows.map((r) => r.body), rows.map((r) => storableHeaders(r.headers)),
      rows.map((r) => r.errorClass), rows.map((r) => r.errorCode), rows.map((r) => storable(r.reason)),
    ],
  );
}
