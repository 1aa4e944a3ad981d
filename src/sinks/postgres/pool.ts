import pg from 'pg';
import type { Logger } from '../../runtime/logger.ts';
import { redactUrl } from '../../runtime/redact.ts';

export interface DatabaseSettings {
  readonly url: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
}

// timestamptz and bigint come back as strings: the worker never needs them as Date, and
// Date would lose microseconds.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export function createPool(s: DatabaseSettings, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: s.url,
    max: s.poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: s.statementTimeoutMs,
    application_name: s.applicationName,
  });
  // An idle client losing its connection (database restart) must not crash the process:
  // the next query fails, is classified transient and retried.
  pool.on('error', (err) => log.warn({ err: err.message, database: redactUrl(s.url) }, 'idle database connection lost'));
  return pool;
}

/** Runs fn inside BEGIN … COMMIT on one pooled connection; rolls back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // the connection is gone; release(true) discards it
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
