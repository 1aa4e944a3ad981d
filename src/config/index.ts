import type { EnergyMeterSettings } from '../domains/energy-meter/settings.ts';
import type { GridTelemetrySettings } from '../domains/grid-telemetry/settings.ts';
import type { SmartGridSettings } from '../domains/smart-grid/settings.ts';
import { DEFAULT_EMA } from '../processors/anomaly/ema.ts';
import { parseZone, UTC } from '../processors/timestamps.ts';
import { DOMAINS } from '../domains/index.ts';
import type { AnalyticsSettings } from '../domains/analytics/settings.ts';
import type { RetrySettings } from '../dlq/retry-worker.ts';
import { isSourceKind, type SourceKind } from '../sources/kinds.ts';
import { EnvReader, parseDuration, type Env } from './env.ts';
import { planPipelines, type PipelinePlan } from './pipelines.ts';
import { parseApiTokens, TENANT_ID } from '../http/auth.ts';
import { COMPANY_ID } from '../domains/chat-events/subjects.ts';
import { opsSettings, type OpsSettings } from './ops.ts';
import { parseNatsServers, tlsFiles, withDatabaseTls, type TlsFiles } from './tls.ts';

/** Broker kinds this build has sources for (NATS and MQTT bindings are refused until then). */
export const AVAILABLE_SOURCES: ReadonlyArray<SourceKind> = ['amqp', 'kafka', 'nats', 'mqtt'];

export interface RabbitMqSettings {
  readonly url: string;
  readonly ingestExchange: string;
  readonly ingestQueue: string;
  readonly ingestRoutingKey: string;
  readonly workerExchange: string;
  readonly dlqQueue: string;
  readonly prefetch: number;
  /**
   * RABBITMQ_SINGLE_ACTIVE_CONSUMER: the ingest queue delivers to one consumer at a time, so
   * one worker owns every key and keeps their state in memory (others wait as standbys).
   */
  readonly singleActiveConsumer: boolean;
  /** RABBITMQ_TLS_*: CA and client certificate of an amqps:// connection. */
  readonly tls: TlsFiles | undefined;
}

export interface KafkaSettings {
  readonly brokers: ReadonlyArray<string>;
  readonly clientId: string;
  readonly groupId: string;
  /** KAFKA_TOPICS / KAFKA_TOPIC: overrides the topics of the enabled domains. */
  readonly topics: ReadonlyArray<string> | undefined;
  /** Partitions processed at once (KAFKA_CONSUMER_COUNT). */
  readonly concurrency: number;
  readonly batchSize: number;
  /** KAFKA_BATCH_TIMEOUT: how long the broker may hold a fetch to gather KAFKA_FETCH_MIN_BYTES. */
  readonly batchTimeoutMs: number;
  /**
   * KAFKA_FETCH_MIN_BYTES: what a fetch waits for (up to KAFKA_BATCH_TIMEOUT). At a few thousand
   * messages a second, fetching whatever is there (1 byte) means a fetch, a batch and a
   * checkpoint round every millisecond or two, each costing more than its messages.
   */
  readonly fetchMinBytes: number;
  /** Cap of one fetch response (KAFKA_FETCH_MAX_BYTES) and of each partition in it: what the client holds decoded at once. */
  readonly fetchMaxBytes: number;
  readonly partitionFetchMaxBytes: number;
  /** KAFKA_SESSION_TIMEOUT: how long the group waits for a silent member (a killed worker) before giving its partitions to others. */
  readonly sessionTimeoutMs: number;
  /** KAFKA_SSL, on by itself when a KAFKA_TLS_* file is set. */
  readonly ssl: boolean;
  readonly tls: TlsFiles | undefined;
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined;
}

export interface NatsSettings {
  /** NATS_URL without credentials. */
  readonly servers: string[];
  /** Credentials of NATS_URL (`user:password@` or `token@`), passed to the client as options. */
  readonly auth: { readonly user: string; readonly pass: string } | { readonly token: string } | undefined;
  /** TLS required (a `tls://` URL or NATS_TLS_*); undefined: TLS only when the server asks for it. */
  readonly tls: TlsFiles | undefined;
  /** Stream of the consumed subjects (created if missing, subjects added). */
  readonly stream: string;
  /** Stream of the dead letters, on `dlq.` + each consumed subject. */
  readonly dlqStream: string;
  /** Stream that captures the output subjects no other stream captures (created if missing). */
  readonly outputStream: string;
  /** Retention of the output stream: message age in ms and size in bytes (0 = no limit). */
  readonly outputMaxAgeMs: number;
  readonly outputMaxBytes: number;
  /** Prefix of the durable consumer names (one per subject filter). */
  readonly durable: string;
  readonly ackWaitMs: number;
  /** Deliveries before JetStream gives up on a message (-1: never). */
  readonly maxDeliver: number;
  /** Redelivery delays after a missing ack. */
  readonly backoffMs: ReadonlyArray<number>;
  /** Unacknowledged messages per consumer: bounds the source's buffer. */
  readonly maxAckPending: number;
}

/** An MQTT URL whose connection is TLS. */
export const isTlsMqttUrl = (url: string): boolean => /^(mqtts|ssl|wss):/.test(url);

export interface MqttSettings {
  readonly url: string;
  /** Client id of the persistent session (one per deployment: instances must not share it). */
  readonly clientId: string;
  /** MQTT_TOPICS: overrides the subscription (filters with + and #). */
  readonly topics: ReadonlyArray<string> | undefined;
  /** Unacknowledged messages the broker may send (MQTT 5 receive maximum); the source buffers no more (it stops reading), and batches no larger. */
  readonly receiveMaximum: number;
  readonly sessionExpirySeconds: number;
  /** MQTT_TLS_*: CA and client certificate of an mqtts:// or wss:// connection. */
  readonly tls: TlsFiles | undefined;
  /** MQTT_SHARE_GROUP: subscribe as `$share/<group>/<filter>` so several instances (each its own client id) share the messages. */
  readonly shareGroup: string | undefined;
}

export interface Config {
  readonly serviceName: string;
  readonly port: number;
  readonly apiHost: string;
  /** Tokens of the operational endpoints and their optional own listener. */
  readonly ops: OpsSettings;
  readonly logLevel: string;
  readonly shutdownTimeoutMs: number;
  readonly enableWorker: boolean;
  /** Enabled domains. */
  readonly domains: ReadonlyArray<string>;
  /** Enabled parts of domains that have them (analytics sub-domains), by domain. */
  readonly domainParts: Readonly<Record<string, ReadonlyArray<string>>>;
  /** Source bound to each enabled domain (`<NAME>_SOURCE`, else the domain's default). */
  readonly sources: Readonly<Record<string, SourceKind>>;
  /** Sources and the domains they feed, resolved. */
  readonly pipelines: ReadonlyArray<PipelinePlan>;
  readonly maxMessageBytes: number;
  readonly batchSize: number;
  readonly database: {
    readonly url: string;
    readonly poolMax: number;
    readonly statementTimeoutMs: number;
  };
  readonly rabbitmq: RabbitMqSettings;
  readonly kafka: KafkaSettings;
  readonly nats: NatsSettings;
  readonly mqtt: MqttSettings;
  /** chat-events: COMPANY_ID (undefined: every company). */
  readonly chat: { readonly companyId: string | undefined };
  readonly energyMeter: EnergyMeterSettings;
  readonly gridTelemetry: GridTelemetrySettings;
  readonly analytics: AnalyticsSettings;
  readonly smartGrid: SmartGridSettings;
  /** Read API: bearer tokens and their tenants (none: open), and the tenant of domains whose messages carry none. */
  readonly api: { readonly tokens: ReadonlyArray<{ readonly tenant: string; readonly token: string }>; readonly defaultTenant: string };
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  /** An outbox relay failing for longer than this makes the worker unready. */
  readonly outboxStallMs: number;
  /**
   * Keyed state in memory (partitioned sources): CHECKPOINT_INTERVAL, the longest a change
   * waits before it is committed while the source has a backlog (caught up, it commits at
   * once); CHECKPOINT_MAX_MESSAGES, the uncommitted messages held at most (memory bound).
   */
  readonly checkpoint: { readonly intervalMs: number; readonly maxMessages: number };
  readonly dlqRetry: RetrySettings;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function databaseUrl(r: EnvReader): string {
  const direct = r.raw('DATABASE_URL', 'POSTGRES_URL', 'POSTGRES_DSN');
  if (direct !== undefined) return withDatabaseTls(r, r.url(['DATABASE_URL', 'POSTGRES_URL', 'POSTGRES_DSN'], direct.value, ['postgres', 'postgresql']), direct.name);
  const host = r.optionalString('DB_HOST');
  if (host === undefined) return withDatabaseTls(r, 'postgres://postgres@127.0.0.1:5432/postgres', 'DATABASE_URL');
  const u = new URL('postgres://localhost');
  u.hostname = host;
  u.port = String(r.int('DB_PORT', 5432, 1, 65535));
  u.pathname = `/${encodeURIComponent(r.string('DB_NAME', 'postgres'))}`;
  u.username = encodeURIComponent(r.string('DB_USER', 'postgres'));
  const password = r.optionalString('DB_PASSWORD');
  if (password !== undefined) u.password = encodeURIComponent(password);
  return withDatabaseTls(r, u.toString(), 'DB_HOST');
}

/** Resolves the whole configuration; `problems` lists every invalid variable. */
export function loadConfig(env: Env): { config: Config; problems: string[] } {
  const r = new EnvReader(env);

  const logLevel = r.string('LOG_LEVEL', 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) r.problem(`LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const { domains, domainParts } = enabledDomainNames(r);
  const sources: Record<string, SourceKind> = {};
  for (const d of DOMAINS.filter((x) => domains.includes(x.name))) {
    const variable = `${d.name.toUpperCase().replace(/-/g, '_')}_SOURCE`;
    const value = r.string(variable, d.defaultSource).toLowerCase();
    if (!isSourceKind(value)) r.problem(`${variable}: must be one of amqp, kafka, nats, mqtt, got "${value}"`);
    else if (!AVAILABLE_SOURCES.includes(value)) r.problem(`${variable}: the ${value} source is not available in this version (available: ${AVAILABLE_SOURCES.join(', ')})`);
    else sources[d.name] = value;
  }

  const zoneRaw = r.string('METER_TIMESTAMP_ZONE', 'UTC');
  const zone = parseZone(zoneRaw);
  if (zone === null) r.problem(`METER_TIMESTAMP_ZONE: not a UTC offset (+07:00) or IANA zone name (Asia/Jakarta): "${zoneRaw}"`);

  const rabbitmq: RabbitMqSettings = {
    url: r.url('RABBITMQ_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp', 'amqps']),
    ingestExchange: r.string('RABBITMQ_INGEST_EXCHANGE', 'energy-metering.ingest.exchange'),
    ingestQueue: r.string('RABBITMQ_INGEST_QUEUE', 'energy-metering.ingest.queue'),
    ingestRoutingKey: r.string('RABBITMQ_INGEST_ROUTING_KEY', 'meter.reading.ingested'),
    workerExchange: r.string('RABBITMQ_WORKER_EXCHANGE', 'energy-metering.worker.events.exchange'),
    dlqQueue: r.string('RABBITMQ_DLQ_QUEUE', 'energy-metering.ingest.dlq'),
    prefetch: r.int('RABBITMQ_PREFETCH', 10, 1, 65535),
    singleActiveConsumer: r.bool('RABBITMQ_SINGLE_ACTIVE_CONSUMER', true),
    tls: tlsFiles(r, 'RABBITMQ'),
  };
  if (rabbitmq.tls !== undefined && rabbitmq.url.startsWith('amqp:')) r.problem('RABBITMQ_TLS_*: set, but RABBITMQ_URL is a plain amqp:// URL; use amqps:// (port 5671)');

  const topics = r.list('KAFKA_TOPICS', []);
  const singleTopic = r.optionalString('KAFKA_TOPIC');
  const saslMechanism = r.optionalString('KAFKA_SASL_MECHANISM')?.toLowerCase();
  if (saslMechanism !== undefined && !['plain', 'scram-sha-256', 'scram-sha-512'].includes(saslMechanism)) {
    r.problem(`KAFKA_SASL_MECHANISM: must be plain, scram-sha-256 or scram-sha-512, got "${saslMechanism}"`);
  }
  const kafkaTls = tlsFiles(r, 'KAFKA');
  const kafkaSsl = r.bool('KAFKA_SSL', kafkaTls !== undefined);
  if (kafkaTls !== undefined && !kafkaSsl) r.problem('KAFKA_TLS_*: set, but KAFKA_SSL is false; TLS files need KAFKA_SSL=true (or KAFKA_SSL unset)');
  const kafka: KafkaSettings = {
    brokers: r.list('KAFKA_BROKERS', ['127.0.0.1:9092']),
    clientId: r.string('KAFKA_CLIENT_ID', 'ingestd'),
    groupId: r.string(['KAFKA_GROUP_ID', 'CONSUMER_GROUP'], 'ingestd'),
    sessionTimeoutMs: r.duration('KAFKA_SESSION_TIMEOUT', 30_000, 's'),
    topics: topics.length > 0 ? topics : singleTopic === undefined ? undefined : [singleTopic],
    concurrency: r.int(['KAFKA_CONSUMER_COUNT', 'PROCESSOR_WORKER_COUNT'], 4, 1, 256),
    batchSize: r.int('KAFKA_BATCH_SIZE', 2000, 1, 100_000),
    batchTimeoutMs: r.duration('KAFKA_BATCH_TIMEOUT', 20, 'ms'),
    fetchMinBytes: r.int('KAFKA_FETCH_MIN_BYTES', 64 << 10, 1, 1 << 30),
    fetchMaxBytes: r.int('KAFKA_FETCH_MAX_BYTES', 2 << 20, 1024, 1 << 30),
    partitionFetchMaxBytes: r.int('KAFKA_PARTITION_FETCH_MAX_BYTES', 512 << 10, 1024, 1 << 30),
    ssl: kafkaSsl,
    tls: kafkaTls,
    sasl: saslMechanism === undefined ? undefined : {
      mechanism: saslMechanism as 'plain' | 'scram-sha-256' | 'scram-sha-512',
      username: r.string('KAFKA_SASL_USERNAME', ''),
      password: r.string('KAFKA_SASL_PASSWORD', ''),
    },
  };
  if (kafka.sessionTimeoutMs < 6_000 || kafka.sessionTimeoutMs > 1_800_000) {
    r.problem(`KAFKA_SESSION_TIMEOUT: must be between 6s and 30m (the broker's group.min/max.session.timeout.ms defaults), got ${kafka.sessionTimeoutMs / 1000}s`);
  }

  if (kafka.sasl !== undefined && (kafka.sasl.username === '' || kafka.sasl.password === '')) {
    r.problem('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: both are required with KAFKA_SASL_MECHANISM');
  }

  const natsUrl = r.string('NATS_URL', 'nats://127.0.0.1:4222');
  const backoffMs: number[] = [];
  for (const b of r.list('NATS_BACKOFF', ['30s', '1m', '2m', '5m'])) {
    const ms = parseDuration(b, 's');
    if (ms === null || ms <= 0) r.problem(`NATS_BACKOFF: each delay is a duration such as 30s or 2m, got "${b}"`);
    else backoffMs.push(ms);
  }
  const natsServers = parseNatsServers(r, natsUrl);
  const natsTls = tlsFiles(r, 'NATS');
  const nats: NatsSettings = {
    servers: natsServers.servers,
    auth: natsServers.auth,
    tls: natsTls ?? (natsServers.tlsRequired ? { ca: undefined, cert: undefined, key: undefined } : undefined),
    stream: r.string('NATS_STREAM', 'MESSAGE_EVENTS'),
    dlqStream: r.string('NATS_DLQ_STREAM', 'MESSAGE_EVENTS_DLQ'),
    outputStream: r.string('NATS_OUTPUT_STREAM', 'INGESTD_OUTPUTS'),
    outputMaxAgeMs: r.duration('NATS_OUTPUT_MAX_AGE', 7 * 86_400_000, 's'),
    outputMaxBytes: r.int('NATS_OUTPUT_MAX_BYTES', 1 << 30, 0),
    durable: r.string('NATS_DURABLE', 'ingestd'),
    ackWaitMs: r.duration('NATS_ACK_WAIT', 30_000, 's'),
    maxDeliver: r.int('NATS_MAX_DELIVER', 20, -1, 1_000_000),
    backoffMs,
    maxAckPending: r.int('NATS_MAX_ACK_PENDING', 5000, 1, 1_000_000),
  };
  if (nats.maxDeliver !== -1 && nats.maxDeliver <= backoffMs.length) r.problem(`NATS_MAX_DELIVER: must exceed the number of NATS_BACKOFF delays (${backoffMs.length}), or be -1`);

  const mqttTopics = r.list('MQTT_TOPICS', []);
  const mqtt: MqttSettings = {
    url: r.url('MQTT_URL', 'mqtt://127.0.0.1:1883', ['mqtt', 'mqtts', 'tcp', 'ssl', 'ws', 'wss']),
    clientId: r.string('MQTT_CLIENT_ID', 'ingestd'),
    topics: mqttTopics.length > 0 ? mqttTopics : undefined,
    receiveMaximum: r.int('MQTT_RECEIVE_MAXIMUM', 1000, 1, 65535),
    sessionExpirySeconds: r.duration('MQTT_SESSION_EXPIRY', 7 * 86_400_000, 's') / 1000,
    tls: tlsFiles(r, 'MQTT'),
    shareGroup: r.optionalString('MQTT_SHARE_GROUP'),
  };
  if (mqtt.shareGroup !== undefined && !/^[^/+#\s]+$/.test(mqtt.shareGroup)) r.problem(`MQTT_SHARE_GROUP: a shared subscription group name without /, +, # or spaces, got "${mqtt.shareGroup}"`);

  if (mqtt.tls !== undefined && !isTlsMqttUrl(mqtt.url)) r.problem('MQTT_TLS_*: set, but MQTT_URL is not a TLS URL; use mqtts:// (port 8883) or wss://');

  const port = r.int(['PORT', 'ANALYTICS_WORKER_PORT'], 8080, 0, 65535);
  const apiHost = r.string('API_HOST', '0.0.0.0');
  const config: Config = {
    serviceName: r.string('SERVICE_NAME', 'ingestd'),
    port,
    apiHost,
    ops: opsSettings(r, apiHost, port),
    logLevel,
    shutdownTimeoutMs: r.duration('SHUTDOWN_TIMEOUT', 30_000, 's'),
    enableWorker: r.bool('ENABLE_WORKER', true),
    domains,
    domainParts,
    sources,
    pipelines: [],
    maxMessageBytes: r.int('MAX_MESSAGE_BYTES', 1 << 20, 1),
    batchSize: r.int('BATCH_SIZE', 1000, 1, 100_000),
    database: {
      url: databaseUrl(r),
      poolMax: r.int('DB_POOL_MAX', 10, 2, 1000),
      statementTimeoutMs: r.duration('DB_STATEMENT_TIMEOUT', 60_000, 'ms'),
    },
    rabbitmq,
    kafka,
    nats,
    mqtt,
    chat: { companyId: companyId(r) },
    gridTelemetry: {
      decode: { defaultIntervalS: r.number('GRID_READING_INTERVAL_S', 1, Number.MIN_VALUE) },
      ema: DEFAULT_EMA,
      allowedLatenessMs: r.duration('ALLOWED_LATENESS', 30_000, 's'),
      flushInterval1mMs: r.duration('FLUSH_INTERVAL_1M', 60_000, 'ms'),
      flushInterval15mMs: r.duration('FLUSH_INTERVAL_15M', 900_000, 'ms'),
      offlineAfterMs: r.duration('OFFLINE_AFTER', 300_000, 's'),
      topics: {
        input: singleTopic ?? 'raw_readings',
        aggregates: r.string('GRID_AGGREGATES_TOPIC', 'aggregates'),
        alerts: r.string('GRID_ALERTS_TOPIC', 'alerts'),
      },
      retentionMonths: r.int('GRID_RETENTION_MONTHS', 12, 1, 1200),
    },
    energyMeter: {
      rules: {
        toleranceMs: r.duration('TIMESTAMP_TOLERANCE', 300_000, 's'),
        zone: zone ?? UTC,
        maxNameLength: 100,
      },
      spike: {
        factor: r.number('SPIKE_FACTOR', 3, 1),
        window: r.int('SPIKE_WINDOW', 10, 1, 1000),
        minHistory: r.int('SPIKE_MIN_HISTORY', 10, 1, 1000),
      },
      outputExchange: rabbitmq.workerExchange,
      retentionMonths: r.int('METER_RETENTION_MONTHS', 12, 1, 1200),
    },
    analytics: analyticsSettings(r, domainParts['analytics'] ?? []),
    smartGrid: smartGridSettings(r),
    api: apiSettings(r),
    dlqRetry: {
      enabled: r.bool('DLQ_RETRY_ENABLED', true),
      maxRetries: r.int('DLQ_MAX_RETRIES', 5, 0, 1000),
      initialDelayMs: r.duration('DLQ_RETRY_DELAY', 30_000, 's'),
      maxDelayMs: r.duration('DLQ_RETRY_MAX_DELAY', 3_600_000, 's'),
      intervalMs: r.duration('DLQ_RETRY_INTERVAL', 15_000, 's'),
    },
    retry: {
      initialMs: r.duration('RETRY_INITIAL', 200, 'ms'),
      maxMs: r.duration('RETRY_MAX', 10_000, 'ms'),
    },
    outboxStallMs: r.duration('OUTBOX_STALL_TIMEOUT', 60_000, 's'),
    checkpoint: {
      intervalMs: r.duration('CHECKPOINT_INTERVAL', 1_000, 'ms'),
      maxMessages: r.int('CHECKPOINT_MAX_MESSAGES', 100_000, 1, 10_000_000),
    },
  };
  if (config.energyMeter.spike.minHistory > config.energyMeter.spike.window) {
    r.problem('SPIKE_MIN_HISTORY: cannot exceed SPIKE_WINDOW (the history holds at most SPIKE_WINDOW values)');
  }
  const pipelines = planPipelines(config, DOMAINS.filter((d) => domains.includes(d.name)), r.problems);
  return { config: { ...config, pipelines }, problems: r.problems };
}

/**
 * DOMAINS_ENABLED: domain names (`analytics` enables all its sub-domains) or parts of a
 * domain (`sensor,device`). A name nothing registers is an error, so a typo or a handler
 * that was never registered fails at start instead of silently consuming nothing.
 */
function enabledDomainNames(r: EnvReader): { domains: string[]; domainParts: Record<string, string[]> } {
  const names = r.list('DOMAINS_ENABLED', DOMAINS.map((d) => d.name));
  const domains: string[] = [];
  const domainParts: Record<string, string[]> = {};
  const enable = (domain: string, parts: ReadonlyArray<string>): void => {
    if (!domains.includes(domain)) domains.push(domain);
    domainParts[domain] = [...new Set([...(domainParts[domain] ?? []), ...parts])];
  };
  for (const name of names) {
    const plugin = DOMAINS.find((d) => d.name === name);
    const owner = DOMAINS.find((d) => d.parts?.includes(name));
    if (plugin !== undefined) enable(plugin.name, plugin.parts ?? []);
    else if (owner !== undefined) enable(owner.name, [name]);
    else {
      const parts = DOMAINS.filter((d) => d.parts !== undefined).map((d) => `${d.name}: ${d.parts!.join(', ')}`);
      r.problem(`DOMAINS_ENABLED: "${name}" is not a registered domain or sub-domain (domains: ${DOMAINS.map((d) => d.name).join(', ')}; sub-domains of ${parts.join('; ')}); a new analytics sub-domain needs its handler registered in src/domains/analytics/registry.ts`);
    }
  }
  return { domains, domainParts };
}

/** COMPANY_ID: one company (as in its subjects), or unset / `*` for all. */
function companyId(r: EnvReader): string | undefined {
  const v = r.optionalString('COMPANY_ID');
  if (v === undefined || v === '*') return undefined;
  // It becomes a NATS subject token and the schema name tenant_<id>.
  if (!COMPANY_ID.test(v)) r.problem(`COMPANY_ID: must match ${COMPANY_ID.source} or be *, got "${v}"`);
  return v;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const MAX_WINDOW_S = 31 * 86_400;

function analyticsSettings(r: EnvReader, subDomains: ReadonlyArray<string>): AnalyticsSettings {
  const schema = r.string('DB_SCHEMA', 'analytics');
  if (!SCHEMA_NAME.test(schema)) r.problem(`DB_SCHEMA: must be a plain SQL identifier (letters, digits, _; at most 63), got "${schema}"`);
  const windowsS: number[] = [];
  for (const w of r.list('WINDOWS', ['60', '300', '3600'])) {
    const n = Number(w);
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_WINDOW_S) r.problem(`WINDOWS: each window is a whole number of seconds in [1, ${MAX_WINDOW_S}], got "${w}"`);
    else if (!windowsS.includes(n)) windowsS.push(n);
  }
  if (windowsS.length === 0) r.problem('WINDOWS: at least one window is needed');
  const rolling = { window: r.int('ANALYTICS_BASELINE_WINDOW', 30, 2, 10_000), minHistory: r.int('ANALYTICS_BASELINE_MIN', 10, 2, 10_000) };
  if (rolling.minHistory > rolling.window) r.problem('ANALYTICS_BASELINE_MIN: cannot exceed ANALYTICS_BASELINE_WINDOW');
  return {
    schema,
    windowsS: windowsS.sort((a, b) => a - b),
    subDomains,
    topicPrefix: r.string('ANALYTICS_TOPIC_PREFIX', ''),
    upStatuses: r.list('ANALYTICS_UP_STATUSES', ['online', 'running', 'up', 'ok']).map((x) => x.toLowerCase()),
    rolling,
    anomalyTopic: r.string('ANALYTICS_ANOMALY_TOPIC', 'analytics.anomalies'),
    retentionMonths: r.int('ANALYTICS_RETENTION_MONTHS', 12, 1, 1200),
  };
}

function apiSettings(r: EnvReader): Config['api'] {
  const { entries, problems } = parseApiTokens(r.optionalString('API_TOKENS'));
  for (const p of problems) r.problem(p);
  const defaultTenant = r.string('DEFAULT_TENANT', 'default');
  if (!TENANT_ID.test(defaultTenant)) r.problem(`DEFAULT_TENANT: letters, digits, _ . - only (at most 64), got "${defaultTenant}"`);
  return { tokens: entries, defaultTenant };
}

const INFLUX_DURATION = /^(INF|[1-9]\d*[hdw])$/;

function smartGridSettings(r: EnvReader): SmartGridSettings {
  const rawUrl = r.optionalString('INFLUXDB_URL');
  let influx: SmartGridSettings['influx'];
  if (rawUrl !== undefined) {
    const url = new URL(r.url('INFLUXDB_URL', rawUrl, ['http', 'https']));
    const user = r.optionalString(['INFLUXDB_USERNAME', 'INFLUXDB_USER']);
    const password = r.optionalString('INFLUXDB_PASSWORD');
    if (user !== undefined) url.username = encodeURIComponent(user);
    if (password !== undefined) url.password = encodeURIComponent(password);
    const policy = (nameVar: string, name: string, durationVar: string, duration: string): { name: string; duration: string } => {
      const p = { name: r.string(nameVar, name), duration: r.string(durationVar, duration) };
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(p.name)) r.problem(`${nameVar}: letters, digits, _ and - only, got "${p.name}"`);
      if (!INFLUX_DURATION.test(p.duration)) r.problem(`${durationVar}: an InfluxDB duration in whole hours, days or weeks (30d, 52w, INF), got "${p.duration}"`);
      return p;
    };
    influx = {
      url: url.toString(),
      database: r.string('INFLUXDB_DATABASE', 'smart_grid_monitoring'),
      rawPolicy: policy('INFLUXDB_RETENTION_POLICY', 'raw_data', 'INFLUXDB_RAW_RETENTION', '30d'),
      aggregatePolicy: policy('INFLUXDB_AGGREGATE_RETENTION_POLICY', 'aggregated_data', 'INFLUXDB_AGGREGATE_RETENTION', '365d'),
      batchSize: r.int('INFLUXDB_BATCH_SIZE', 5000, 1, 1_000_000),
      timeoutMs: r.duration('INFLUXDB_TIMEOUT', 10_000, 'ms'),
      maxRetries: r.int('INFLUXDB_MAX_RETRIES', 3, 0, 100),
      retryIntervalMs: r.duration('INFLUXDB_RETRY_INTERVAL', 1_000, 'ms'),
    };
  }
  return {
    topics: {
      input: r.string('SMART_GRID_TOPIC', 'smart-grid-transactions'),
      alerts: r.string('SMART_GRID_ALERTS_TOPIC', 'smart-grid-alerts'),
    },
    influx,
    influxFlushIntervalMs: r.duration('INFLUXDB_BATCH_TIMEOUT', 500, 'ms'),
    distinctRetentionMs: r.duration('SMART_GRID_DISTINCT_RETENTION', 7_200_000, 's'),
    retentionMonths: r.int('SMART_GRID_RETENTION_MONTHS', 12, 1, 1200),
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** loadConfig that throws ConfigError listing every problem. */
export function requireConfig(env: Env): Config {
  const { config, problems } = loadConfig(env);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
