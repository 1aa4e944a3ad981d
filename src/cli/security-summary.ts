import { isTlsMqttUrl, type Config } from '../config/index.ts';
import type { TlsFiles } from '../config/tls.ts';
import { redactUrl } from '../runtime/redact.ts';

/**
 * What `ingestd check-config` shows of access control and TLS: whether each token is set
 * (never the token), the endpoints' listeners, and per connection in use whether it is
 * encrypted and with which files. URLs are redacted.
 */
export function securitySummary(config: Config) {
  const kinds = new Set(config.pipelines.map((p) => p.source));
  const files = (f: TlsFiles | undefined): string =>
    f === undefined ? '' : [f.ca === undefined ? '' : `CA ${f.ca}`, f.cert === undefined ? '' : `client certificate ${f.cert}`].filter((x) => x !== '').join(', ');
  const tlsNote = (on: boolean, f: TlsFiles | undefined): string => (on ? `TLS${files(f) === '' ? ' (system CAs)' : ` (${files(f)})`}` : 'no TLS');
  const db = new URL(config.database.url);
  const sslmode = db.searchParams.get('sslmode');
  const dbFiles = ['sslrootcert', 'sslcert'].map((p) => (db.searchParams.has(p) ? `${p} ${db.searchParams.get(p)}` : '')).filter((x) => x !== '');
  const tls: Record<string, string> = {
    database: sslmode === null && dbFiles.length === 0 ? 'sslmode not set (no TLS)' : [`sslmode ${sslmode ?? '(verify-full: certificate files set)'}`, ...dbFiles].join(', '),
  };
  if (kinds.has('amqp')) tls['rabbitmq'] = tlsNote(config.rabbitmq.url.startsWith('amqps:'), config.rabbitmq.tls);
  if (kinds.has('kafka')) {
    const sasl = config.kafka.sasl === undefined ? '' : `; SASL ${config.kafka.sasl.mechanism} as ${config.kafka.sasl.username}`;
    tls['kafka'] = `${tlsNote(config.kafka.ssl, config.kafka.tls)}${sasl}`;
  }
  if (kinds.has('nats')) {
    const auth = config.nats.auth === undefined ? '' : 'token' in config.nats.auth ? '; token auth' : `; user ${config.nats.auth.user}`;
    tls['nats'] = `${config.nats.tls === undefined ? 'TLS if the server offers it' : tlsNote(true, config.nats.tls)}${auth}`;
  }
  if (kinds.has('mqtt')) tls['mqtt'] = tlsNote(isTlsMqttUrl(config.mqtt.url), config.mqtt.tls);
  const open = (token: string | undefined, variable: string): string => (token === undefined ? 'open' : `bearer token (${variable})`);
  return {
    access: {
      read_api: config.api.tokens.length === 0 ? 'open (API_TOKENS unset)' : `${config.api.tokens.length} token(s) (API_TOKENS)`,
      metrics: open(config.ops.metricsToken, 'METRICS_TOKEN'),
      health: open(config.ops.healthToken, 'HEALTH_TOKEN'),
      ops_listener: config.ops.port === undefined ? `on ${config.apiHost}:${config.port} with the API` : `${config.ops.host}:${config.ops.port} (OPS_PORT)`,
    },
    tls,
    servers: {
      ...(kinds.has('nats') ? { nats: config.nats.servers.join(', ') } : {}),
      ...(kinds.has('mqtt') ? { mqtt: redactUrl(config.mqtt.url) } : {}),
      ...(kinds.has('kafka') ? { kafka: config.kafka.brokers.join(', ') } : {}),
    },
  };
}
