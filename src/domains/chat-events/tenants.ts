import type pg from 'pg';
import type { Logger } from '../../runtime/logger.ts';
import { migrate, type MigrationSet } from '../../sinks/postgres/migrate.ts';

export const TENANT_MIGRATIONS = new URL('./tenant/', import.meta.url);

/** The migration set of one company's schema (its own scope in ingestd_migrations). */
export const tenantMigrations = (schema: string): MigrationSet => ({ scope: 'chat-events-tenant', folder: TENANT_MIGRATIONS, schema });

/**
 * Creates and migrates a company's schema the first time one of its valid events arrives,
 * under the migration advisory lock (instances race safely); remembered afterwards.
 */
export class TenantSchemas {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #ready = new Set<string>();

  constructor(pool: pg.Pool, log: Logger) {
    this.#pool = pool;
    this.#log = log;
  }

  async ensure(schemas: Iterable<string>): Promise<void> {
    for (const schema of schemas) {
      if (this.#ready.has(schema)) continue;
      const applied = await migrate(this.#pool, [tenantMigrations(schema)], this.#log);
      if (applied.length > 0) this.#log.info({ tenant: schema }, 'tenant schema provisioned');
      this.#ready.add(schema);
    }
  }
}
