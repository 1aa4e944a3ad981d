import type { Command } from 'commander';
import { resolve } from 'node:path';
import { requireConfig } from '../config/index.ts';
import { createHttpServer } from '../http/server.ts';
import { sleep } from '../runtime/backoff.ts';
import { createRuntime, startWorker } from '../runtime/worker.ts';
import { createEnergyMeterGenerator } from '../sim/energy-meter.ts';
import { MemoryBroker, MemoryPublisher } from '../sources/memory/broker.ts';
import { EXIT, loadEnv, loggerFor, onSignals } from './context.ts';
import { shownUrl, startEmbeddedPostgres } from './embedded-postgres.ts';
import { parsePositiveInt } from './options.ts';

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
      process.stdout.write(`ingestd demo: starting embedded PostgreSQL (data in ${resolve(opts.dataDir)}) …\n`);
      const db = await startEmbeddedPostgres(opts.dataDir, pgPort);
      const config = requireConfig({
        LOG_LEVEL: 'warn',
        ...env,
        DATABASE_URL: db.url,
        DOMAINS_ENABLED: 'energy-meter',
      });
      const log = loggerFor(config);
      const broker = new MemoryBroker({ deadLetterFile: resolve(opts.dataDir, 'dead-letters.ndjson') });
      const publisher = new MemoryPublisher();
      const runtime = createRuntime((err) => {
        log.fatal({ err: err.message }, 'fatal');
        process.exit(EXIT.failure);
      });
      const http = createHttpServer({
        log,
        metrics: runtime.metrics,
        readiness: runtime.readiness,
        status: () => ({ transport: 'in-process', queue_depth: broker.depth, dead_letters: broker.deadLetters, events_published: publisher.published }),
      });
      const worker = await startWorker(config, log, runtime, {
        source: (domain) => broker.source(`memory:${domain.name}`),
        publisher,
      });
      await http.listen({ port: config.port, host: '127.0.0.1' });

      const simulating = new AbortController();
      const simulator = simulate(broker, rate, meters, simulating.signal);
      const base = `http://127.0.0.1:${config.port}`;
      process.stdout.write([
        '',
        `ingestd demo is running (${db.fresh ? 'new data folder' : 'reusing the data folder'}):`,
        `  database     ${shownUrl(db.url)}  (embedded; PGPASSWORD=ingestd-demo psql -h 127.0.0.1 -p ${pgPort} -U postgres ingestd)`,
        `  transport    in-process queue; dead letters → ${resolve(opts.dataDir, 'dead-letters.ndjson')}`,
        `  simulator    energy-meter, ${meters} meters, ${rate} msgs/s with spikes, negatives, bad timestamps and undecodable messages`,
        `  health       ${base}/health`,
        `  readiness    ${base}/ready`,
        `  metrics      ${base}/metrics`,
        `  status       ${base}/v1/status`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'));

      const report = setInterval(() => {
        void summary(worker.pool).then((s) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${s}; dead letters ${broker.deadLetters}; events published ${publisher.published}\n`));
      }, 10_000);

      onSignals(async () => {
        clearInterval(report);
        simulating.abort();
        await simulator;
        await worker.stop();
        await http.close();
        await db.stop();
        process.stdout.write('ingestd demo stopped; data kept for the next start.\n');
      }, config.shutdownTimeoutMs, log);
    });
}

async function simulate(broker: MemoryBroker, rate: number, meters: number, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const gen = createEnergyMeterGenerator({
    seed: started % 0x7fffffff,
    meters,
    anomalyRate: 0.03,
    invalidRate: 0.03,
    startTime: started,
    intervalMs: 1000 / rate,
  });
  let sent = 0;
  while (!signal.aborted) {
    const due = Math.floor(((Date.now() - started) * rate) / 1000);
    while (sent < due && !signal.aborted) {
      await broker.publish('energy-meter', gen.next().body);
      sent++;
    }
    await sleep(100, signal);
  }
}

async function summary(pool: import('pg').Pool): Promise<string> {
  const { rows } = await pool.query<{ status: string; n: string }>(
    'SELECT validation_status AS status, count(*) AS n FROM meter_readings_raw GROUP BY 1',
  );
  const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  return `readings stored: ${by.valid ?? 0} valid, ${by.invalid ?? 0} invalid`;
}
