import type { Command } from 'commander';
import { migrate } from '../sinks/postgres/migrate.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { enabledDomains, migrationSets } from '../runtime/worker.ts';
import { redactText } from '../runtime/redact.ts';
import { EXIT, configOrExit, loggerFor } from './context.ts';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations of the enabled domains (idempotent; safe to run from several instances)')
    .action(async () => {
      const config = configOrExit();
      const log = loggerFor(config);
      const pool = createPool({ ...config.database, applicationName: `${config.serviceName}-migrate` }, log);
      try {
        const applied = await migrate(pool, migrationSets(enabledDomains(config), config), log);
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
