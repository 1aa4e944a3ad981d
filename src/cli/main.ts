import { Command, CommanderError } from 'commander';

// kafkajs schedules timers with negative delays, which Node 24 reports on every run; the
// warning is harmless and would only confuse operators. Node prints warnings from a
// 'warning' listener of its own: replace it with one that skips this warning only.
process.removeAllListeners('warning');
process.on('warning', (warning: Error) => {
  if (warning.name === 'TimeoutNegativeWarning') return;
  process.stderr.write(`(node:${process.pid}) ${warning.name}: ${redactText(warning.message)}\n`);
});
// An error nothing caught is printed as Node would, minus URL passwords, and exits 1 as Node would.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    process.stderr.write(`${redactText(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
    process.exit(1);
  });
}
import { redactText } from '../runtime/redact.ts';
import { registerBackfill } from './backfill.ts';
import { registerCheckConfig } from './check-config.ts';
import { registerDemo } from './demo.ts';
import { registerDlq } from './dlq.ts';
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
registerBackfill(program);
registerDlq(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2 (SPEC §2).
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  throw err;
}
