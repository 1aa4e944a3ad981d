import { IngestError, errorMessage } from '../../runtime/errors.ts';

/**
 * Sorts a PostgreSQL failure into the SPEC §4 classes by SQLSTATE class, as Telegraf's
 * postgresql output does: the database being away or busy is transient (retry the batch);
 * the database refusing the data is poison (bisect to find the message).
 */
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '58', '40', '55', 'XX']);
const POISON_CLASSES = new Set(['22', '23', '54', '2F', '39']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|the database system is|terminating connection/i;

export function classifyDbError(err: unknown): IngestError {
  if (err instanceof IngestError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  const message = errorMessage(err);
  const context = code === '' ? {} : { sqlstate: code };
  if (NETWORK_CODES.has(code) || (code === '' && CONNECTION_MESSAGES.test(message))) {
    return new IngestError('INGESTD_ERR_DB_UNAVAILABLE', `database unavailable: ${message}`, { cause: err, context });
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    const cls = code.slice(0, 2);
    // A unique violation means another instance committed the same rows first: retrying
    // the batch finds them stored and skips them.
    if (code === '23505' || TRANSIENT_CLASSES.has(cls)) {
      return new IngestError('INGESTD_ERR_DB_UNAVAILABLE', `database error (retrying): ${message}`, { cause: err, context });
    }
    if (POISON_CLASSES.has(cls)) {
      return new IngestError('INGESTD_ERR_DB_REJECTED', `database rejected the data: ${message}`, { cause: err, context });
    }
    // Anything else (missing table, permissions) is a deployment problem, not a message's
    // fault: keep retrying with readiness false rather than dead-letter good data.
    return new IngestError('INGESTD_ERR_DB_UNAVAILABLE', `database error (retrying): ${message}`, { cause: err, context });
  }
  // Not from the database: a message made our own code throw. Bisection isolates it.
  return new IngestError('INGESTD_ERR_PROCESSING', `processing failed: ${message}`, { cause: err });
}
