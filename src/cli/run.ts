import type { Command } from 'commander';
import { createHttpServer } from '../http/server.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { createRuntime, startWorker } from '../runtime/worker.ts';
import { describeUnknown, unknownVariables } from '../config/unknown.ts';
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
      // The read API has its own small pool, so dashboards never wait behind ingestion batches
      // (and an API-only instance, ENABLE_WORKER=false, needs no worker).
      const apiPool = createPool({ ...config.database, poolMax: 4, applicationName: `${config.serviceName}-api` }, log);
      let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
      const common = {
        log,
        metrics: runtime.metrics,
        readiness: runtime.readiness,
        opsTokens: { metrics: config.ops.metricsToken, health: config.ops.healthToken },
      };
      const separateOps = config.ops.port !== undefined;
      const http = createHttpServer({ ...common, api: { pool: apiPool, config, pipelines: () => worker?.pipelines ?? [] }, serve: separateOps ? 'api' : 'all' });
      const ops = separateOps ? createHttpServer({ ...common, serve: 'ops' }) : undefined;
      if (config.api.tokens.length === 0) log.warn('API_TOKENS is not set: the read API and the dashboard are open to anyone who can reach the port');
      for (const u of unknownVariables(process.env)) log.warn({ variable: u.name, suggestion: u.suggestion }, describeUnknown(u));
      await http.listen({ port: config.port, host: config.apiHost });
      log.info({ url: `http://${config.apiHost}:${config.port}` }, 'http listening');
      if (ops !== undefined) {
        await ops.listen({ port: config.ops.port!, host: config.ops.host });
        log.info({ url: `http://${config.ops.host}:${config.ops.port}` }, 'health, readiness and metrics listening (OPS_PORT)');
      }
      onSignals(async () => {
        await worker?.stop();
        await http.close();
        await ops?.close();
        await apiPool.end().catch(() => undefined);
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
