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
    // A worker paused inside a transaction (a stopped process, a long GC pause) would hold its
    // row locks, among them the checkpoint rows a new partition owner must claim: the server
    // ends such a transaction after as long as a statement may take.
    idle_in_transaction_session_timeout: s.statementTimeoutMs,
    application_name: s.applicationName,
  });
  // An idle client losing its connection (database restart) must not crash the process:
  // the next query fails, is classified transient and retried.
  pool.on('error', (err) => log.warn({ err: err.message, database: redactUrl(s.url) }, 'idle database connection lost'));
  return pool;
}

/**
 * A pooled connection for the duration of fn. A connection the server drops while it is
 * checked out (restart, failover) emits 'error' outside any query; without a listener that
 * would crash the process. The error is kept and the connection discarded on release.
 */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    lost ??= isConnectionGone(err) ? (err as Error) : undefined;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(lost);
  }
}

const isConnectionGone = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code ?? '';
  return code.startsWith('08') || code.startsWith('57P') || /Connection terminated|ECONNRESET|EPIPE/.test(String(err));
};

/** Runs fn inside BEGIN … COMMIT on one pooled connection; rolls back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // If the connection is gone, ROLLBACK fails too; withClient discards it.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
