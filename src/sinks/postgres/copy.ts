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
  const sql = `COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  const stream = client.query(copyFrom(sql));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  let buf = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) buf += (i === 0 ? '' : '\t') + encodeCopyValue(row[i]!);
    buf += '\n';
    if (buf.length >= CHUNK) {
      if (!stream.write(buf)) await new Promise((r) => stream.once('drain', r));
      buf = '';
    }
  }
  stream.end(buf);
  await done;
}
