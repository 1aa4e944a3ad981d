import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';
import type { Logger } from '../../runtime/logger.ts';
import { withClient } from './pool.ts';
import { quoteIdent } from './sql-text.ts';

/** One migration folder: `core`, or a domain's name. */
export interface MigrationSet {
  readonly scope: string;
  readonly folder: URL;
  /** Schema the set's tables live in (created if missing, first on the search_path while applying). */
  readonly schema?: string;
}

export interface Migration {
  readonly scope: string;
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly schema?: string;
}

// Every instance takes this lock before migrating, so concurrent starts apply each file once.
const MIGRATION_LOCK = 0x1d6e57d0;
const FILE = /^(\d{3,})_([\w-]+)\.sql$/;

export async function readMigrations(set: MigrationSet): Promise<Migration[]> {
  const files = (await readdir(set.folder)).filter((f) => f.endsWith('.sql')).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = FILE.exec(file);
    if (m === null) throw new Error(`migration file name must look like 001_name.sql: ${file} in ${set.folder.pathname}`);
    out.push({
      scope: set.schema === undefined ? set.scope : `${set.scope}@${set.schema}`,
      version: Number(m[1]),
      name: m[2]!,
      sql: await readFile(new URL(file, set.folder), 'utf8'),
      ...(set.schema === undefined ? {} : { schema: set.schema }),
    });
  }
  return out;
}

/**
 * Applies pending migrations, each in its own transaction, under an advisory lock.
 * Returns the migrations applied now.
 */
export async function migrate(pool: pg.Pool, sets: ReadonlyArray<MigrationSet>, log: Logger): Promise<Migration[]> {
  const all = (await Promise.all(sets.map(readMigrations))).flat();
  return withClient(pool, async (client) => {
    const applied: Migration[] = [];
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query(`CREATE TABLE IF NOT EXISTS ingestd_migrations (
        scope text NOT NULL, version int NOT NULL, name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, version))`);
      const { rows } = await client.query<{ scope: string; version: number }>('SELECT scope, version FROM ingestd_migrations');
      const done = new Set(rows.map((r) => `${r.scope}/${r.version}`));
      for (const m of all) {
        if (done.has(`${m.scope}/${m.version}`)) continue;
        try {
          await client.query('BEGIN');
          if (m.schema !== undefined) {
            await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(m.schema)}`);
            // Unqualified names in the file resolve to (and create in) the set's schema; the
            // core tables and functions stay reachable behind it.
            await client.query(`SELECT set_config('search_path', $1 || ', ' || current_setting('search_path'), true)`, [quoteIdent(m.schema)]);
          }
          await client.query(m.sql);
          await client.query('INSERT INTO ingestd_migrations (scope, version, name) VALUES ($1, $2, $3)', [m.scope, m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.scope}/${String(m.version).padStart(3, '0')}_${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m);
        log.info({ scope: m.scope, version: m.version, migration: m.name }, 'migration applied');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
    return applied;
  });
}
