import { Command, CommanderError } from 'commander';

// kafkajs schedules timers with negative delays, which Node 24 reports on every run; the
// warning is harmless and would only confuse operators.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === 'TimeoutNegativeWarning' || (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
import { registerCheckConfig } from './check-config.ts';
import { registerDemo } from './demo.ts';
import { registerLoad } from './load/command.ts';
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
