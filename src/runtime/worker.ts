import type pg from 'pg';
import { DOMAINS } from '../domains/index.ts';
import type { DomainHandler, DomainPlugin } from '../domains/types.ts';
import type { Config } from '../config/index.ts';
import { migrate, type MigrationSet } from '../sinks/postgres/migrate.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { PUBLISHER_KINDS, SOURCE_KINDS } from '../sources/index.ts';
import { routeMatches } from '../sources/kinds.ts';
import type { Publisher, Source } from '../sources/types.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { errorMessage } from './errors.ts';
import { Readiness } from './health.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { deadLetterQueues } from '../dlq/index.ts';
import { DeadLetterRetryWorker } from '../dlq/retry-worker.ts';
import { Pipeline } from './pipeline.ts';
import { TaskRunner } from './tasks.ts';

export const CORE_MIGRATIONS: MigrationSet = { scope: 'core', folder: new URL('../../migrations/', import.meta.url) };

export function migrationSets(domains: ReadonlyArray<DomainPlugin>, config: Config): MigrationSet[] {
  return [CORE_MIGRATIONS, ...domains.map((d) => {
    const schema = d.schema?.(config);
    return schema === undefined ? { scope: d.name, folder: d.migrations } : { scope: d.name, folder: d.migrations, schema };
  })];
}

/** The handler whose route pattern (broker wildcards: `*`/`>`, `*`/`#`, `+`/`#`) matches. */
function patternRoute(kind: string, routes: ReadonlyMap<string, DomainHandler>, route: string): DomainHandler | undefined {
  for (const [pattern, handler] of routes) if (routeMatches(kind, pattern, route)) return handler;
  return undefined;
}

/** How many routes `rememberRoutes` keeps: topics and subjects are few; MQTT device topics may not be. */
const REMEMBERED_ROUTES = 4096;

/**
 * `resolve` with its answers remembered per route: every message asks, and a route that no
 * name matches exactly (a wildcard, a catch-all topic) would walk the patterns each time.
 */
function rememberRoutes(resolve: (route: string) => DomainHandler | undefined): (route: string) => DomainHandler | undefined {
  const known = new Map<string, DomainHandler | undefined>();
  return (route) => {
    if (known.has(route)) return known.get(route);
    if (known.size >= REMEMBERED_ROUTES) known.clear();
    const handler = resolve(route);
    known.set(route, handler);
    return handler;
  };
}

export const enabledDomains = (config: Config): DomainPlugin[] => DOMAINS.filter((d) => config.domains.includes(d.name));

/** Overrides for embedding (the demo's in-process transport, tests). */
export interface WorkerOverrides {
  /** Replaces the source of a kind (`amqp`, `kafka`…), given the routes it must consume. */
  readonly source?: (kind: string, routes: ReadonlyArray<string>) => Source;
  readonly publisher?: Publisher;
  readonly pool?: pg.Pool;
}

export interface Worker {
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly pool: pg.Pool;
  readonly pipelines: ReadonlyArray<Pipeline>;
  /** Graceful stop: finish in-flight batches, publish the outbox, close everything. */
  stop(): Promise<void>;
}

/** Applies migrations, waiting for the database while it is unavailable. */
async function migrateWhenReady(pool: pg.Pool, sets: MigrationSet[], log: Logger, readiness: Readiness, signal: AbortSignal): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await migrate(pool, sets, log);
      readiness.set('database', null);
      return;
    } catch (err) {
      const message = errorMessage(err);
      if (/migration .* failed/.test(message) || signal.aborted) throw err;
      readiness.set('database', `unavailable: ${message}`);
      const delay = backoffDelay(attempt, 500, 10_000);
      log.warn({ err: message, retry_in_ms: delay }, 'database unavailable at start; waiting');
      await sleep(delay, signal);
    }
  }
}

export interface WorkerRuntime {
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** A failure retrying cannot fix (broker topology mismatch, refused login). */
  readonly onFatal: (err: Error) => void;
}

export const createRuntime = (onFatal: (err: Error) => void): WorkerRuntime => ({
  metrics: createMetrics(),
  readiness: new Readiness(),
  onFatal,
});

export async function startWorker(config: Config, log: Logger, runtime: WorkerRuntime, overrides: WorkerOverrides = {}): Promise<Worker> {
  const { metrics, readiness } = runtime;
  const pool = overrides.pool ?? createPool({ ...config.database, applicationName: config.serviceName }, log);
  const stopping = new AbortController();
  readiness.set('database', 'connecting');
  readiness.set('worker', 'starting');

  const plugins = enabledDomains(config);
  await migrateWhenReady(pool, migrationSets(plugins, config), log, readiness, stopping.signal);

  const ctx = { config, log };

  const publishers = new Map<string, Publisher>();
  const sources: Source[] = [];
  const pipelines: Pipeline[] = [];
  const handlers: DomainHandler[] = [];
  const relay = new OutboxRelay({ pool, publishers, metrics, readiness, log: log.child({ component: 'outbox' }), retry: config.retry, stallMs: config.outboxStallMs });
  const tasks = new TaskRunner({ pool, metrics, log: log.child({ component: 'tasks' }), onOutbox: () => relay.poke() });

  // One source and one pipeline per broker kind (config.pipelines); deliveries are routed to
  // their domain by topic / routing key (SPEC §1: route).
  for (const plan of config.pipelines) {
    const kind = plan.source;
    const kindHandlers: DomainHandler[] = [];
    const routes = new Map<string, DomainHandler>();
    let catchAll: DomainHandler | undefined;
    for (const binding of plan.domains) {
      const plugin = plugins.find((p) => p.name === binding.domain)!;
      const handler = plugin.create({ config, log: log.child({ domain: plugin.name }), pool, metrics, source: kind });
      handlers.push(handler);
      kindHandlers.push(handler);
      for (const r of binding.routes) routes.set(r, handler);
      if (binding.catchAll) catchAll = plan.domains.filter((d) => d.catchAll).length === 1 ? handler : undefined;
    }
    const source = overrides.source?.(kind, plan.subscription) ?? SOURCE_KINDS[kind]?.({ ...ctx, pool, metrics, routes: plan.subscription, capture: plan.capture });
    if (source === undefined) throw new Error(`source "${kind}" (for ${kindHandlers.map((h) => h.name).join(', ')}) is not available`);
    const publisher = overrides.publisher ?? PUBLISHER_KINDS[kind]?.({ ...ctx, outputs: plan.outputs });
    if (publisher === undefined) throw new Error(`publisher "${kind}" is not available`);
    if (!publishers.has(publisher.kind)) publishers.set(publisher.kind, publisher);
    for (const h of kindHandlers) tasks.add(h, publisher.kind);
    sources.push(source);
    const name = kindHandlers.map((h) => h.name).join('+');
    const route = rememberRoutes((r) => routes.get(r) ?? patternRoute(kind, routes, r) ?? catchAll);
    pipelines.push(new Pipeline({
      name,
      source,
      route: (d) => route(d.route),
      publisher: publisher.kind,
      pool,
      metrics,
      readiness,
      log: log.child({ domain: name, source: source.kind }),
      maxMessageBytes: config.maxMessageBytes,
      retry: config.retry,
      checkpoint: { ...config.checkpoint, maxMessages: Math.min(config.checkpoint.maxMessages, ...kindHandlers.map((h) => h.state?.maxHeldMessages ?? Infinity)) },
      keyedState: kindHandlers.every((h) => h.state !== undefined),
      onOutbox: () => relay.poke(),
    }));
  }

  const maintain = async (): Promise<void> => {
    for (const h of handlers) await h.maintain?.().catch((err: unknown) => log.warn({ domain: h.name, err: errorMessage(err) }, 'maintenance failed'));
  };
  await maintain();
  const maintenance = setInterval(() => void maintain(), 3_600_000);
  maintenance.unref();

  // The database probe feeds readiness and `timescaledb_connected` even while idle.
  const probe = setInterval(() => {
    pool.query('SELECT 1').then(
      () => { metrics.dbConnected.set(1); readiness.set('database', null); },
      (err: unknown) => { metrics.dbConnected.set(0); readiness.set('database', `unavailable: ${errorMessage(err)}`); },
    );
  }, 2_000);
  probe.unref();
  metrics.dbConnected.set(1);

  // Broker connections feed readiness and the *_connected gauges; unready until connected.
  const watchConnections = (): void => {
    for (const c of [...sources.map((s) => ({ c: s, role: 'consumer' })), ...[...publishers.values()].map((p) => ({ c: p, role: 'publisher' }))]) {
      const s = c.c.status();
      readiness.set(c.c.name, s.connected ? null : (s.detail ?? 'disconnected'));
      if (c.c.kind === 'amqp') metrics.rabbitmqConnected.set({ role: c.role }, s.connected ? 1 : 0);
      if (c.c.kind === 'kafka') (c.role === 'consumer' ? metrics.kafkaConsumerConnected : metrics.kafkaProducerConnected).set(s.connected ? 1 : 0);
      if (c.c.kind === 'nats') metrics.natsConnected.set({ role: c.role }, s.connected ? 1 : 0);
      if (c.c.kind === 'mqtt') metrics.mqttConnected.set(s.connected ? 1 : 0);
    }
  };
  watchConnections();
  const watcher = setInterval(watchConnections, 500);
  watcher.unref();

  // Brokers connect in the background: a broker that is down at start makes the worker
  // unready, not dead; only failures that retrying cannot fix are fatal.
  for (const c of [...publishers.values(), ...sources]) {
    c.start().catch((err: unknown) => runtime.onFatal(err instanceof Error ? err : new Error(String(err))));
  }
  relay.start(stopping.signal);
  tasks.start();
  // The retry worker works on the brokers' own dead letters (not the demo's in-process ones).
  const retrying = config.dlqRetry.enabled && overrides.source === undefined
    ? new DeadLetterRetryWorker({ queues: deadLetterQueues(config, pool, log), pool, log: log.child({ component: 'dlq-retry' }), metrics, settings: config.dlqRetry }).run(stopping.signal)
    : Promise.resolve();
  const running = pipelines.map((p) =>
    p.run(stopping.signal).catch((err: unknown) => {
      // A bug, not a broker or database failure (those are retried inside): exit so the
      // supervisor restarts the process; unacknowledged messages are redelivered.
      readiness.set(`pipeline ${p.name}`, `crashed: ${errorMessage(err)}`);
      runtime.onFatal(new Error(`pipeline ${p.name} crashed: ${errorMessage(err)}`, { cause: err }));
    }),
  );
  readiness.set('worker', null);
  log.info({ domains: plugins.map((p) => p.name), sources: sources.map((s) => s.name) }, 'worker started');

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= (async () => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    log.info('stopping: finishing in-flight batches');
    stopping.abort();
    const grace = new AbortController();
    await Promise.race([Promise.all(running), sleep(Math.max(0, deadline - Date.now() - 1000), grace.signal)]);
    grace.abort();
    await tasks.stop(); // closes what the last batches completed
    await Promise.race([retrying, sleep(Math.max(0, deadline - Date.now() - 2000))]);
    await relay.stopped();
    const left = await relay.drain(deadline - 500);
    if (left > 0) log.warn({ outbox_rows: left }, 'outbox not empty at shutdown; the next start publishes it');
    clearInterval(probe);
    clearInterval(watcher);
    clearInterval(maintenance);
    for (const s of sources) await s.close().catch(() => undefined);
    for (const p of publishers.values()) await p.close().catch(() => undefined);
    if (overrides.pool === undefined) await pool.end().catch(() => undefined);
    log.info('stopped');
  })());

  return { metrics, readiness, pool, pipelines, stop };
}
