import type { Command } from 'commander';
import { createHttpServer } from '../http/server.ts';
import { createRuntime, startWorker } from '../runtime/worker.ts';
import { EXIT, configOrExit, loggerFor, onSignals } from './context.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the worker: every enabled pipeline, the outbox relay and the HTTP server (migrations first, under an advisory lock)')
    .action(async () => {
      const config = configOrExit();
      const log = loggerFor(config);
      const runtime = createRuntime((err) => {
        log.fatal({ err: err.message }, 'fatal broker error');
        process.exit(EXIT.failure);
      });
      const http = createHttpServer({ log, metrics: runtime.metrics, readiness: runtime.readiness });
      await http.listen({ port: config.port, host: config.apiHost });
      log.info({ url: `http://${config.apiHost}:${config.port}` }, 'http listening');
      let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
      onSignals(async () => {
        await worker?.stop();
        await http.close();
      }, config.shutdownTimeoutMs, log);
      if (!config.enableWorker) {
        log.info('ENABLE_WORKER=false: serving HTTP only');
        return;
      }
      try {
        worker = await startWorker(config, log, runtime);
      } catch (err) {
        log.fatal({ err }, 'worker failed to start');
        process.exit(EXIT.failure);
      }
    });
}
