import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { describeUnknown, unknownVariables } from '../config/unknown.ts';
import { redactUrl } from '../runtime/redact.ts';
import { EXIT, loadEnv } from './context.ts';
import { securitySummary } from './security-summary.ts';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('validate the configuration and print the resolved pipelines (exit 2 on error)')
    .option('--json', 'print the resolved configuration as JSON (secrets redacted)')
    .option('--strict', 'also fail (exit 2) on variables ingestd does not read, e.g. a misspelt KAFKA_BROKER')
    .action((opts: { json?: boolean; strict?: boolean }) => {
      const env = loadEnv();
      const { config, problems } = loadConfig(env);
      const unknown = unknownVariables(env).map(describeUnknown);
      if (opts.strict === true) problems.push(...unknown);
      else for (const u of unknown) process.stderr.write(`ingestd: warning: ${u}\n`);
      if (problems.length > 0) {
        process.stderr.write(`ingestd: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
        process.exit(EXIT.usage);
      }
      const pipelines = config.pipelines.map((p) => ({
        source: p.source,
        subscription: p.subscription,
        domains: p.domains.map((d) => ({
          domain: d.domain,
          routes: d.routes,
          ...(d.domain === 'analytics' ? { sub_domains: config.analytics.subDomains, schema: config.analytics.schema, windows_s: config.analytics.windowsS } : {}),
        })),
        ...(p.source === 'amqp'
          ? { queue: config.rabbitmq.ingestQueue, exchange: config.rabbitmq.ingestExchange, prefetch: config.rabbitmq.prefetch, dlq: config.rabbitmq.dlqQueue, output_exchange: config.rabbitmq.workerExchange }
          : {}),
        ...(p.source === 'kafka' ? { brokers: config.kafka.brokers, group: config.kafka.groupId } : {}),
        outputs: p.outputs.map((o) => o.name),
        ...(p.source === 'nats' ? { output_stream: config.nats.outputStream } : {}),
      }));
      const resolved = {
        database: redactUrl(config.database.url),
        rabbitmq: redactUrl(config.rabbitmq.url),
        http: `${config.apiHost}:${config.port}`,
        ...(config.domains.includes('smart-grid') ? { influxdb: config.smartGrid.influx === undefined ? 'not set (smart-grid writes PostgreSQL only)' : `${redactUrl(config.smartGrid.influx.url)} database ${config.smartGrid.influx.database}` } : {}),
        pipelines,
        ...securitySummary(config),
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
        return;
      }
      process.stdout.write(`configuration OK\n  database  ${resolved.database}\n  rabbitmq  ${resolved.rabbitmq}\n  http      ${resolved.http}\n`);
      if (resolved.influxdb !== undefined) process.stdout.write(`  influxdb  ${resolved.influxdb}\n`);
      for (const [k, v] of Object.entries(resolved.servers)) process.stdout.write(`  ${k.padEnd(8)}  ${v}\n`);
      const a = resolved.access;
      process.stdout.write(`  access    read API ${a.read_api}; metrics ${a.metrics}; health ${a.health}; health and metrics ${a.ops_listener}\n`);
      process.stdout.write(`  tls       ${Object.entries(resolved.tls).map(([k, v]) => `${k}: ${v}`).join('; ')}\n`);
      for (const p of pipelines) {
        const where = 'queue' in p
          ? `queue ${p.queue} (prefetch ${p.prefetch}, DLQ ${p.dlq}) bound to ${p.exchange} with ${p.subscription.join(', ')}`
          : `topics ${p.subscription.join(', ')}`;
        process.stdout.write(`  pipeline  ${p.source}: ${where}\n`);
        for (const d of p.domains) {
          const extra = 'sub_domains' in d ? ` [sub-domains ${(d.sub_domains ?? []).join(', ')}; tables in schema ${d.schema}; windows ${(d.windows_s ?? []).join(', ')} s]` : '';
          process.stdout.write(`            → ${d.domain} ← ${d.routes.join(', ')}${extra}\n`);
        }
        if (p.outputs.length > 0) {
          const stream = 'output_stream' in p ? ` (in their stream, or ${p.output_stream})` : '';
          process.stdout.write(`            ⇒ ${p.outputs.join(', ')}${stream}\n`);
        }
      }
    });
}
