import type { Command } from 'commander';
import { migrate } from '../sinks/postgres/migrate.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { enabledDomains, migrationSets } from '../runtime/worker.ts';
import { redactText } from '../runtime/redact.ts';
import { findDomain } from '../domains/index.ts';
import { COMPANY_ID, tenantSchema } from '../domains/chat-events/subjects.ts';
import { tenantMigrations } from '../domains/chat-events/tenants.ts';
import { EXIT, configOrExit, loggerFor } from './context.ts';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations of the enabled domains (idempotent; safe to run from several instances)')
    .option('--tenant <company_id>', 'also create and migrate one chat-events company schema (tenant_<id>) ahead of its first event')
    .action(async (opts: { tenant?: string }) => {
      if (opts.tenant !== undefined && !COMPANY_ID.test(opts.tenant)) {
        process.stderr.write(`ingestd migrate: --tenant: must match ${COMPANY_ID.source}, got "${opts.tenant}"\n`);
        process.exit(EXIT.usage);
      }
      const config = configOrExit();
      const log = loggerFor(config);
      const pool = createPool({ ...config.database, applicationName: `${config.serviceName}-migrate` }, log);
      try {
        const sets = migrationSets(enabledDomains(config), config);
        if (opts.tenant !== undefined) {
          if (!sets.some((x) => x.scope === 'chat-events')) sets.push(...migrationSets([findDomain('chat-events')!], config).slice(1));
          sets.push(tenantMigrations(tenantSchema(opts.tenant)));
        }
        const applied = await migrate(pool, sets, log);
        process.stdout.write(applied.length === 0
          ? 'migrations: up to date\n'
          : `migrations: applied ${applied.map((m) => `${m.scope}/${String(m.version).padStart(3, '0')}_${m.name}`).join(', ')}\n`);
      } catch (err) {
        process.stderr.write(`ingestd migrate: ${redactText((err as Error).message)}\n`);
        process.exitCode = EXIT.failure;
      } finally {
        await pool.end();
      }
    });
}
