import type { Command } from 'commander';
import { resolve } from 'node:path';
import { requireConfig } from '../config/index.ts';
import { createHttpServer } from '../http/server.ts';
import { sleep } from '../runtime/backoff.ts';
import { createRuntime, startWorker } from '../runtime/worker.ts';
import { createEnergyMeterGenerator } from '../sim/energy-meter.ts';
import { createGridTelemetryGenerator } from '../sim/grid-telemetry.ts';
import { createAnalyticsGenerator, SIM_SPECS } from '../sim/analytics.ts';
import { createChatGenerator } from '../sim/chat-events.ts';
import { tenantSchema } from '../domains/chat-events/subjects.ts';
import { createSmartGridGenerator } from '../sim/smart-grid.ts';
import { qualified } from '../sinks/postgres/sql-text.ts';
import { MemoryBroker, MemoryPublisher } from '../sources/memory/broker.ts';
import { EXIT, loadEnv, loggerFor, onSignals } from './context.ts';
import { embeddedPostgresMissing, shownUrl, startEmbeddedPostgres } from './embedded-postgres.ts';
import { parsePositiveInt } from './options.ts';

const DEMO_COMPANIES = ['CompanyAAA01', 'CompanyBBB02'];
const DEMO_DOMAINS = ['energy-meter', 'grid-telemetry', 'analytics', 'chat-events', 'smart-grid'];
/** Smart-grid transactions per second of the live simulation (and of event time). */
const SMART_GRID_RATE = 20;

interface DemoOptions {
  dataDir: string;
  pgPort: string;
  rate: string;
  meters: string;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the embedded default: a real PostgreSQL under ./.ingestd/, an in-process transport, simulated meters (with anomalies and bad messages), the worker and its HTTP server')
    .option('--data-dir <dir>', 'where the demo keeps its data', '.ingestd')
    .option('--pg-port <port>', 'port of the embedded PostgreSQL', '54329')
    .option('--rate <msgs/s>', 'simulated messages per second', '50')
    .option('--meters <n>', 'simulated meters', '25')
    .action(async (opts: DemoOptions) => {
      const rate = parsePositiveInt(opts.rate, '--rate');
      const meters = parsePositiveInt(opts.meters, '--meters');
      const pgPort = parsePositiveInt(opts.pgPort, '--pg-port');
      const env = loadEnv();
      const missing = await embeddedPostgresMissing();
      if (missing !== undefined) {
        process.stderr.write(`ingestd demo: ${missing}\n`);
        process.exit(EXIT.failure);
      }
      process.stdout.write(`ingestd demo: starting embedded PostgreSQL (data in ${resolve(opts.dataDir)}) …\n`);
      const db = await startEmbeddedPostgres(opts.dataDir, pgPort);
      const config = requireConfig({
        LOG_LEVEL: 'warn',
        // Windows close within seconds so the demo shows aggregates soon; env can override.
        FLUSH_INTERVAL_1M: '10s',
        FLUSH_INTERVAL_15M: '60s',
        ALLOWED_LATENESS: '5s',
        ...env,
        DATABASE_URL: db.url,
        DOMAINS_ENABLED: DEMO_DOMAINS.join(','),
      });
      const log = loggerFor(config);
      const deadLetterFile = resolve(opts.dataDir, 'dead-letters.ndjson');
      // One in-process queue per source kind, as in production: energy-meter on its RabbitMQ
      // queue, grid-telemetry and analytics on Kafka topics (routed by topic).
      const brokers = new Map(config.pipelines.map((p) => [p.source as string, new MemoryBroker({ deadLetterFile })]));
      const broker = (kind: string): MemoryBroker => brokers.get(kind)!;
      const sourceOf = (domain: string): string => config.sources[domain] ?? 'kafka';
      const deadLetters = (): number => [...brokers.values()].reduce((n, b) => n + b.deadLetters, 0);
      const publisher = new MemoryPublisher();
      const runtime = createRuntime((err) => {
        log.fatal({ err: err.message }, 'fatal');
        process.exit(EXIT.failure);
      });
      const worker = await startWorker(config, log, runtime, {
        source: (kind) => broker(kind).source(`memory:${kind}`),
        publisher,
      });
      const http = createHttpServer({
        log,
        metrics: runtime.metrics,
        readiness: runtime.readiness,
        opsTokens: { metrics: config.ops.metricsToken, health: config.ops.healthToken },
        api: { pool: worker.pool, config, pipelines: () => worker.pipelines },
        status: () => ({
          transport: 'in-process',
          queue_depth: Object.fromEntries([...brokers].map(([d, b]) => [d, b.depth])),
          dead_letters: deadLetters(),
          events_published: publisher.published,
        }),
      });
      await http.listen({ port: config.port, host: '127.0.0.1' });

      const simulating = new AbortController();
      const started = Date.now();
      const seed = started % 0x7fff_ffff;
      const energy = createEnergyMeterGenerator({ seed, meters, anomalyRate: 0.03, invalidRate: 0.03, startTime: started, intervalMs: 1000 / rate });
      const grid = createGridTelemetryGenerator({
        seed, meters, startTime: started, intervalMs: 1000, anomalyRate: 0.02, outOfOrderRate: 0.02, lateRate: 0.005, invalidRate: 0.005,
      });
      const factory = createAnalyticsGenerator({ seed, machines: 8, startTime: started, intervalMs: 100, anomalyRate: 0.03, invalidRate: 0.01 });
      await loadDemoSpecs(worker.pool, config.analytics.schema);
      const chat = createChatGenerator({ seed, companies: DEMO_COMPANIES, historyCount: 20, startTime: started, invalidRate: 0.02, staleRate: 0.05 });
      const smartMeters = Math.max(40, meters);
      const smart = createSmartGridGenerator({ seed, meters: smartMeters, startTime: started, intervalMs: 1000 / SMART_GRID_RATE, faultRate: 0.002, invalidRate: 0.002 });
      const smartBroker = broker(sourceOf('smart-grid'));
      // A first start also gets the last 24 hours (a transaction per meter every 2 minutes), so the power trend has a day to show.
      const history = await backfillSmartGrid(worker.pool, smartBroker, config.smartGrid.topics.input, seed, smartMeters, started, simulating.signal);
      const simulators = [
        paced(rate, () => broker(sourceOf('energy-meter')).publish(config.rabbitmq.ingestRoutingKey, energy.next().body), simulating.signal),
        // One reading per meter per second of event time, which keeps pace with the clock.
        paced(meters, () => broker(sourceOf('grid-telemetry')).publish(config.gridTelemetry.topics.input, grid.next().body), simulating.signal),
        // Ten factory messages per second of event time across the four analytics topics.
        paced(10, () => {
          const m = factory.next();
          return broker(sourceOf('analytics')).publish(config.analytics.topicPrefix + m.topic, m.body);
        }, simulating.signal),
        paced(SMART_GRID_RATE, () => smartBroker.publish(config.smartGrid.topics.input, smart.next().body), simulating.signal),
        paced(5, () => {
          const m = chat.next();
          return broker(sourceOf('chat-events')).publish(m.subject, m.body);
        }, simulating.signal),
      ];
      const base = `http://127.0.0.1:${config.port}`;
      process.stdout.write([
        '',
        `ingestd demo is running (${db.fresh ? 'new data folder' : 'reusing the data folder'}):`,
        `  database     ${shownUrl(db.url)}  (embedded; PGPASSWORD=ingestd-demo psql -h 127.0.0.1 -p ${pgPort} -U postgres ingestd)`,
        `  transport    in-process queues; dead letters → ${deadLetterFile}`,
        `  simulator    energy-meter: ${meters} meters, ${rate} msgs/s with spikes, negatives, bad timestamps and undecodable messages`,
        `               grid-telemetry: ${meters} meters, 1 reading/s each, with spikes, drops, outages, late and out-of-order readings`,
        '               analytics: 8 machines, 10 msgs/s over sensors, health, sweeps and lab results, with drifts and out-of-spec values',
        `               smart-grid: ${smartMeters} meters in 5 regions, ${SMART_GRID_RATE} transactions/s with faults and offline spells${history > 0 ? ` (and the last 24 h: ${history} transactions, loading in the background)` : ''}`,
        `               chat-events: companies ${DEMO_COMPANIES.join(', ')}, 5 events/s (realtime, history batches, late and malformed events)`,
        `  dashboard    ${base}/`,
        `  health       ${base}/health`,
        `  readiness    ${base}/ready`,
        `  metrics      ${base}/metrics`,
        `  status       ${base}/v1/status`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'));

      const report = setInterval(() => {
        void summary(worker.pool, config.analytics.schema).then(
          (s) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${s}; dead letters ${deadLetters()}; messages published ${publisher.published}\n`),
          () => undefined,
        );
      }, 10_000);

      onSignals(async () => {
        clearInterval(report);
        simulating.abort();
        await Promise.all(simulators);
        await worker.stop();
        await http.close();
        await db.stop();
        process.stdout.write('ingestd demo stopped; data kept for the next start.\n');
      }, config.shutdownTimeoutMs, log);
    });
}

/** Calls `send` `rate` times per second until the signal aborts (waits when the queue is full). */
async function paced(rate: number, send: () => Promise<void>, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  let sent = 0;
  while (!signal.aborted) {
    const due = Math.floor(((Date.now() - started) * rate) / 1000);
    while (sent < due && !signal.aborted) {
      await send();
      sent++;
    }
    await sleep(100, signal);
  }
}

/**
 * When the store has no smart-grid history yet, publishes the last 24 hours in the background
 * (a transaction per meter every 2 minutes, and the last 5 minutes at the live rate so the live
 * chart starts full); returns how many transactions.
 */
async function backfillSmartGrid(pool: import('pg').Pool, broker: MemoryBroker, topic: string, seed: number, meters: number, now: number, signal: AbortSignal): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM smart_grid_consumption_1s WHERE bucket < now() - interval '1 hour'`);
  if (Number(rows[0]?.n ?? 0) > 0) return 0;
  const every = 120_000 / meters;
  const recentMs = 300_000;
  const sparse = Math.floor((86_400_000 - recentMs) / every);
  const dense = (recentMs / 1000) * SMART_GRID_RATE;
  // Live, each meter transacts every meters / SMART_GRID_RATE seconds; a sparse transaction stands for 2 minutes of it.
  const kwhScale = 120 / (meters / SMART_GRID_RATE);
  const old = createSmartGridGenerator({ seed: seed + 1, meters, startTime: now - 86_400_000, intervalMs: every, faultRate: 0.002, invalidRate: 0, kwhScale });
  const recent = createSmartGridGenerator({ seed: seed + 2, meters, startTime: now - recentMs, intervalMs: 1000 / SMART_GRID_RATE, faultRate: 0.002, invalidRate: 0 });
  void (async () => {
    for (let i = 0; i < sparse && !signal.aborted; i++) await broker.publish(topic, old.next().body);
    for (let i = 0; i < dense && !signal.aborted; i++) await broker.publish(topic, recent.next().body);
  })();
  return sparse + dense;
}

/** Specifications for the simulated metrics, so out-of-spec and the spec-based rules show. */
async function loadDemoSpecs(pool: import('pg').Pool, schema: string): Promise<void> {
  for (const tenant of ['t1', 't2']) {
    for (const s of SIM_SPECS) {
      await pool.query(
        `INSERT INTO ${qualified('analytics_spec_limits', schema)} (tenant_id, metric, lsl, usl, target, sigma, unit)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [tenant, s.metric, s.lsl, s.usl, s.target, s.sigma, s.unit],
      );
    }
  }
}

async function summary(pool: import('pg').Pool, schema: string): Promise<string> {
  const { rows } = await pool.query<{ status: string; n: string }>(
    'SELECT validation_status AS status, count(*) AS n FROM meter_readings_raw GROUP BY 1',
  );
  const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  const { rows: [grid] } = await pool.query<{ readings: string; windows: string; alerts: string }>(
    `SELECT (SELECT count(*) FROM telemetry_readings) AS readings,
            (SELECT count(*) FROM aggregates_1m WHERE revision > 0) + (SELECT count(*) FROM aggregates_15m WHERE revision > 0) AS windows,
            (SELECT count(*) FROM grid_alerts) AS alerts`,
  );
  const { rows: [factory] } = await pool.query<{ records: string; anomalies: string }>(
    `SELECT (SELECT count(*) FROM ${qualified('analytics_measurement', schema)}) + (SELECT count(*) FROM ${qualified('analytics_event', schema)}) AS records,
            (SELECT count(*) FROM ${qualified('analytics_anomaly', schema)}) AS anomalies`,
  );
  const perCompany = DEMO_COMPANIES.map((c) => `SELECT count(*) AS n FROM ${qualified('messages', tenantSchema(c))}`).join(' UNION ALL ');
  const { rows: [chat] } = await pool.query<{ messages: string }>(
    `SELECT coalesce(sum(n), 0) AS messages FROM (${perCompany}) x`,
  ).catch(() => ({ rows: [{ messages: '0' }] }));
  const { rows: [smart] } = await pool.query<{ transactions: string; down: string }>(
    `SELECT (SELECT coalesce(sum(reading_count), 0) FROM smart_grid_consumption_1s) AS transactions,
            (SELECT count(*) FROM smart_grid_meters WHERE status <> 'active') AS down`,
  );
  return `meter readings ${by.valid ?? 0} valid, ${by.invalid ?? 0} invalid; grid readings ${grid?.readings ?? 0}, windows closed ${grid?.windows ?? 0}, alerts ${grid?.alerts ?? 0}; ` +
    `factory records ${factory?.records ?? 0}, anomalies ${factory?.anomalies ?? 0}; chat messages ${chat?.messages ?? 0}; ` +
    `smart-grid transactions ${smart?.transactions ?? 0}, meters in fault/offline ${smart?.down ?? 0}`;
}
