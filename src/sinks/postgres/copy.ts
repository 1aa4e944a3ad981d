import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent } from './sql-text.ts';

/** One COPY value: null → NULL; objects are written as JSON (for jsonb columns). */
export type CopyValue = string | number | boolean | null | Date | object;

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY text format. */
export function encodeCopyValue(v: CopyValue): string {
  if (v === null) return '\\N';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
  else if (typeof v === 'boolean') return v ? 't' : 'f';
  else if (v instanceof Date) return v.toISOString();
  else s = JSON.stringify(v);
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : s;
}

const CHUNK = 1 << 20;

/** One row as a line of COPY text format (with its newline). */
export function copyLine(row: ReadonlyArray<CopyValue>): string {
  let line = '';
  for (let i = 0; i < row.length; i++) line += (i === 0 ? '' : '\t') + encodeCopyValue(row[i]!);
  return `${line}\n`;
}

/**
 * Bulk insert with COPY … FROM STDIN: one round trip for the whole batch. `table` must be
 * quoted already (see `qualified`).
 */
export async function copyRows(
  client: PoolClient,
  table: string,
  columns: ReadonlyArray<string>,
  rows: Iterable<ReadonlyArray<CopyValue>>,
): Promise<void> {
  await copyText(client, table, columns, (function* () {
    let buf = '';
    for (const row of rows) {
      buf += copyLine(row);
      if (buf.length >= CHUNK) {
        yield buf;
        buf = '';
      }
    }
    if (buf !== '') yield buf;
  })());
}

/** COPY of text already in COPY format (whole lines), e.g. encoded as the rows arrived. */
export async function copyText(client: PoolClient, table: string, columns: ReadonlyArray<string>, chunks: Iterable<string>): Promise<void> {
  const sql = `COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  const stream = client.query(copyFrom(sql));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  // The connection can fail while a chunk waits for 'drain' (the server ended the session):
  // that failure ends the wait and is thrown here, never left as an unhandled rejection.
  done.catch(() => undefined);
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await Promise.race([new Promise((r) => stream.once('drain', r)), done]);
  }
  stream.end();
  await done;
}
