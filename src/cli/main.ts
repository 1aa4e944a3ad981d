import { Command, CommanderError } from 'commander';
import { registerCheckConfig } from './check-config.ts';
import { registerDemo } from './demo.ts';
import { registerLoad } from './load.ts';
import { registerMigrate } from './migrate.ts';
import { registerRun } from './run.ts';

const program = new Command('ingestd')
  .description('stream-ingestion worker: brokers in, validation, anomalies and windows, PostgreSQL out')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerDemo(program);
registerMigrate(program);
registerCheckConfig(program);
registerLoad(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2 (SPEC §2).
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  throw err;
}
