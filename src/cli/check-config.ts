import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { enabledDomains } from '../runtime/worker.ts';
import { redactUrl } from '../runtime/redact.ts';
import { EXIT, loadEnv } from './context.ts';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('validate the configuration and print the resolved pipelines (exit 2 on error)')
    .option('--json', 'print the resolved configuration as JSON (secrets redacted)')
    .action((opts: { json?: boolean }) => {
      const { config, problems } = loadConfig(loadEnv());
      if (problems.length > 0) {
        process.stderr.write(`ingestd: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
        process.exit(EXIT.usage);
      }
      const pipelines = enabledDomains(config).map((d) => ({
        domain: d.name,
        source: d.defaultSource,
        ...(d.defaultSource === 'amqp'
          ? { queue: config.rabbitmq.ingestQueue, exchange: config.rabbitmq.ingestExchange, routing_key: config.rabbitmq.ingestRoutingKey, prefetch: config.rabbitmq.prefetch, dlq: config.rabbitmq.dlqQueue, output_exchange: config.rabbitmq.workerExchange }
          : {}),
      }));
      const resolved = {
        database: redactUrl(config.database.url),
        rabbitmq: redactUrl(config.rabbitmq.url),
        http: `${config.apiHost}:${config.port}`,
        pipelines,
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
        return;
      }
      process.stdout.write(`configuration OK\n  database  ${resolved.database}\n  rabbitmq  ${resolved.rabbitmq}\n  http      ${resolved.http}\n`);
      for (const p of pipelines) {
        process.stdout.write(`  pipeline  ${p.domain} ← ${p.source}${'queue' in p ? ` queue ${p.queue} (prefetch ${p.prefetch}, DLQ ${p.dlq}) → events to ${p.output_exchange}` : ''}\n`);
      }
    });
}
