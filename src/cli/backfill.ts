import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { createWriteStream, statSync, type WriteStream } from 'node:fs';
import { routeOwner } from '../config/pipelines.ts';
import type { Config } from '../config/index.ts';
import { findDomain } from '../domains/index.ts';
import { Readiness } from '../runtime/health.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { Pipeline } from '../runtime/pipeline.ts';
import { redactText } from '../runtime/redact.ts';
import { enabledDomains, migrationSets } from '../runtime/worker.ts';
import { migrate } from '../sinks/postgres/migrate.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { FileSource, type RejectedLine } from '../sources/file/source.ts';
import { EXIT, configOrExit, loggerFor, onSignals } from './context.ts';
import { parsePositiveInt } from './options.ts';

interface BackfillOptions {
  topic: string;
  batchSize?: string;
  publish: boolean;
  rejected?: string;
  progress?: string;
}

/** The domain and source a topic belongs to: only a route a domain registered (no catch-all guess). */
function resolveTopic(config: Config, topic: string): { domain: string; source: string } | string {
  for (const plan of config.pipelines) {
    const owner = plan.domains.find((d) => d.routes.includes(topic));
    if (owner !== undefined) return { domain: owner.domain, source: plan.source };
  }
  // A single-stream domain bound alone to a source accepts any topic name (KAFKA_TOPICS).
  const catchAll = config.pipelines.map((p) => ({ p, owner: routeOwner({ ...p, domains: p.domains.filter((d) => d.catchAll) }, topic) })).filter((x) => x.owner !== undefined);
  if (catchAll.length === 1 && config.pipelines.length === 1) return { domain: catchAll[0]!.owner!, source: catchAll[0]!.p.source };
  const known = config.pipelines.flatMap((p) => p.domains.flatMap((d) => d.routes.map((r) => `${r} (${d.domain})`)));
  return `no enabled handler is registered for topic "${topic}" (enabled: ${known.join(', ') || 'none'}); check DOMAINS_ENABLED`;
}

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('push NDJSON records through the same handlers as the worker (historical import, re-processing); running it twice changes nothing')
    .argument('<file>', 'NDJSON file, one message per line, or - for standard input')
    .requiredOption('--topic <topic>', 'the topic (or routing key) the lines would have arrived on: picks the handler')
    .option('--batch-size <n>', 'lines per transaction (default BATCH_SIZE, 1000)')
    .option('--no-publish', 'do not queue derived messages (anomalies, alerts) for publication')
    .option('--rejected <file>', 'where refused lines go, with the reason (default <file>.rejected.ndjson)')
    .option('--progress <mode>', 'bar, lines or none (default: bar on a terminal, else lines)')
    .addHelpText('after', '\nExample:\n  ingestd backfill history.ndjson --topic sensors.device.readings\n  zcat 2025-*.ndjson.gz | ingestd backfill - --topic lab.results --no-publish\n')
    .action(async (file: string, opts: BackfillOptions) => {
      const config = configOrExit();
      const log = loggerFor(config);
      const target = resolveTopic(config, opts.topic);
      if (typeof target === 'string') {
        process.stderr.write(`ingestd backfill: --topic: ${target}\n`);
        process.exit(EXIT.usage);
      }
      const batchSize = opts.batchSize === undefined ? config.batchSize : parsePositiveInt(opts.batchSize, '--batch-size');
      const mode = opts.progress ?? (process.stderr.isTTY ? 'bar' : 'lines');
      if (!['bar', 'lines', 'none'].includes(mode)) {
        process.stderr.write(`ingestd backfill: --progress: expected bar, lines or none, got "${mode}"\n`);
        process.exit(EXIT.usage);
      }
      let size: number | undefined;
      if (file !== '-') {
        try {
          size = statSync(file).size;
        } catch (err) {
          process.stderr.write(`ingestd backfill: cannot read ${file}: ${(err as Error).message}\n`);
          process.exit(EXIT.usage);
        }
      }
      const rejectedPath = opts.rejected ?? `${file === '-' ? 'backfill' : file}.rejected.ndjson`;

      const pool = createPool({ ...config.database, applicationName: `${config.serviceName}-backfill` }, log);
      const plugin = findDomain(target.domain)!;
      let rejectedOut: WriteStream | undefined;
      const counts = { lines: 0, accepted: 0, rejected: 0 };
      try {
        await migrate(pool, migrationSets(enabledDomains(config), config), log);
        const handler = plugin.create({ config, log: log.child({ domain: plugin.name }), pool, source: target.source as never });
        // No retention pass here: that is the worker's hourly job, and it would drop the very
        // months an import of old history brings back.
        const source = new FileSource({
          path: file, route: opts.topic, batchSize,
          onSettled: (accepted: number, rejected: RejectedLine[]) => {
            counts.accepted += accepted;
            counts.rejected += rejected.length;
            counts.lines += accepted + rejected.length;
            if (rejected.length === 0) return;
            rejectedOut ??= createWriteStream(rejectedPath);
            for (const r of rejected) rejectedOut.write(`${JSON.stringify({ line: r.line, error_class: r.error.errorClass, error_code: r.error.code, reason: r.error.message, body: r.body })}\n`);
          },
        });
        const metrics = createMetrics();
        const pipeline = new Pipeline({
          name: plugin.name, source, route: () => handler, publisher: opts.publish ? target.source : null, pool, metrics,
          readiness: new Readiness(), log: log.child({ component: 'backfill' }), maxMessageBytes: config.maxMessageBytes, retry: config.retry, onOutbox: () => undefined,
        });
        const stopping = new AbortController();
        onSignals(async () => stopping.abort(), config.shutdownTimeoutMs, log);
        const stopProgress = startProgress(mode, () => ({ bytes: source.bytesRead, ...counts }), size);
        const started = performance.now();
        await pipeline.run(stopping.signal);
        stopProgress();
        const seconds = (performance.now() - started) / 1000;
        const stored = await counter(metrics, 'stream_readings_total');
        const duplicates = await counter(metrics, 'stream_duplicates_skipped_total');
        process.stdout.write([
          `backfill ${stopping.signal.aborted ? 'interrupted' : 'done'}: ${counts.lines} lines in ${seconds.toFixed(1)} s (${Math.round(counts.lines / Math.max(seconds, 1e-3))} lines/s) → ${plugin.name} (${opts.topic})`,
          `  new records stored   ${stored}`,
          `  already stored       ${duplicates}  (skipped: a rerun changes nothing)`,
          `  rejected lines       ${counts.rejected}${counts.rejected > 0 ? `  → ${rejectedPath}` : ''}`,
          '',
        ].join('\n'));
        if (stopping.signal.aborted) process.exitCode = EXIT.failure;
      } catch (err) {
        process.stderr.write(`ingestd backfill: ${redactText((err as Error).message)}\n`);
        process.exitCode = EXIT.failure;
      } finally {
        rejectedOut?.end();
        await pool.end().catch(() => undefined);
      }
    });
}

async function counter(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((n, v) => n + Number(v.value), 0);
}

function startProgress(mode: string, state: () => { bytes: number; lines: number; accepted: number; rejected: number }, size: number | undefined): () => void {
  if (mode === 'none') return () => undefined;
  if (mode === 'lines') {
    const timer = setInterval(() => {
      const s = state();
      process.stderr.write(`backfill: ${s.lines} lines (${s.rejected} rejected)${size === undefined ? '' : ` ${Math.floor((100 * s.bytes) / Math.max(size, 1))}%`}\n`);
    }, 5000);
    timer.unref();
    return () => clearInterval(timer);
  }
  const bar = new cliProgress.SingleBar({
    format: size === undefined ? 'backfill | {lines} lines | {rejected} rejected | {duration}s' : 'backfill |{bar}| {percentage}% | {lines} lines | {rejected} rejected | ETA {eta}s',
    stream: process.stderr, hideCursor: true, fps: 5,
  }, cliProgress.Presets.shades_classic);
  bar.start(size ?? 0, 0, { lines: 0, rejected: 0 });
  const timer = setInterval(() => {
    const s = state();
    bar.update(Math.min(s.bytes, size ?? s.bytes), { lines: s.lines, rejected: s.rejected });
  }, 200);
  return () => {
    clearInterval(timer);
    const s = state();
    bar.update(size ?? s.bytes, { lines: s.lines, rejected: s.rejected });
    bar.stop();
  };
}
