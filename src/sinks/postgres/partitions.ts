import type pg from 'pg';
import type { Logger } from '../../runtime/logger.ts';
import { qualified, quoteIdent, quoteLiteral } from './sql-text.ts';

/**
 * Monthly range partitions for tables that are natively partitioned (no TimescaleDB).
 * Rows never fail for want of a partition: each table has a DEFAULT partition, and the
 * month of a new timestamp gets its own partition before the batch that needs it.
 */
export class MonthlyPartitions {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #table: string;
  readonly #schema: string | undefined;
  readonly #retentionMonths: number;
  readonly #known = new Set<string>();
  /** [start, end) in epoch ms of a month known to have its partition. */
  #lastMonth: [number, number] = [0, 0];
  #partitioned: boolean | undefined;

  constructor(pool: pg.Pool, log: Logger, table: string, retentionMonths: number, schema?: string) {
    this.#pool = pool;
    this.#log = log;
    this.#table = table;
    this.#schema = schema;
    this.#retentionMonths = retentionMonths;
  }

  async #isPartitioned(): Promise<boolean> {
    if (this.#partitioned === undefined) {
      const { rows } = await this.#pool.query(
        `SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
          WHERE c.relname = $1 AND c.relnamespace = to_regnamespace(coalesce($2, current_schema()))::oid`,
        [this.#table, this.#schema === undefined ? null : quoteIdent(this.#schema)],
      );
      this.#partitioned = rows.length > 0;
    }
    return this.#partitioned;
  }

  /** Makes sure the months of these epoch-ms timestamps have a partition. */
  async ensure(timestamps: Iterable<number>): Promise<void> {
    const months = new Set<string>();
    // Called for every batch: a time inside the last known month costs two comparisons.
    let [from, to] = this.#lastMonth;
    for (const t of timestamps) {
      if (t >= from && t < to) continue;
      const d = new Date(t);
      const key = monthKey(d.getUTCFullYear(), d.getUTCMonth());
      if (!this.#known.has(key)) months.add(key);
      else [from, to] = this.#lastMonth = [Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)];
    }
    if (months.size === 0 || !(await this.#isPartitioned())) return;
    for (const key of months) await this.#create(key);
  }

  /** Partitions for this month and the next `ahead`, and drops those past retention. */
  async maintain(ahead = 2, now = Date.now()): Promise<void> {
    if (!(await this.#isPartitioned())) return;
    const d = new Date(now);
    for (let i = 0; i <= ahead; i++) await this.#create(monthKey(d.getUTCFullYear(), d.getUTCMonth() + i));
    const cutoff = monthKey(d.getUTCFullYear(), d.getUTCMonth() - this.#retentionMonths);
    const { rows } = await this.#pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname = $1 AND p.relnamespace = to_regnamespace(coalesce($2, current_schema()))::oid AND c.relname ~ '_p[0-9]{6}$'`,
      [this.#table, this.#schema === undefined ? null : quoteIdent(this.#schema)],
    );
    for (const { name } of rows) {
      const key = name.slice(-6);
      if (key < cutoff) {
        await this.#pool.query(`DROP TABLE IF EXISTS ${qualified(name, this.#schema)}`);
        this.#known.delete(key);
        this.#log.info({ table: this.#table, partition: name }, 'partition past retention dropped');
      }
    }
  }

  async #create(key: string): Promise<void> {
    if (this.#known.has(key)) return;
    const y = Number(key.slice(0, 4));
    const m = Number(key.slice(4, 6));
    const from = new Date(Date.UTC(y, m - 1, 1)).toISOString();
    const to = new Date(Date.UTC(y, m, 1)).toISOString();
    const name = `${this.#table}_p${key}`;
    try {
      // Partition bounds cannot be bind parameters (DDL): quoted literals.
      await this.#pool.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(name, this.#schema)} PARTITION OF ${qualified(this.#table, this.#schema)} FOR VALUES FROM (${quoteLiteral(from)}) TO (${quoteLiteral(to)})`,
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      // 23514: the DEFAULT partition already holds rows of that month; they stay there and
      // so will new ones. 42P07: another instance created it first. 42501: the worker runs
      // as a role that may write but not create tables; the DEFAULT partition holds the rows.
      if (code !== '23514' && code !== '42P07' && code !== '23505' && code !== '42501') throw err;
      if (code === '23514' || code === '42501') {
        this.#log.warn({ table: this.#table, month: key, reason: code === '42501' ? 'no privilege to create partitions' : 'default partition holds rows of the month' }, 'month kept in the default partition');
      }
    }
    this.#known.add(key);
  }
}

const monthKey = (year: number, month0: number): string => {
  const d = new Date(Date.UTC(year, month0, 1));
  return `${String(d.getUTCFullYear()).padStart(4, '0')}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};
