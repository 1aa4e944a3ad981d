import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tenantSchema } from '../domains/chat-events/subjects.ts';
import { loadConfig } from './index.ts';
import type { Env } from './env.ts';

let dir = '';
let ca = '';
let cert = '';
let key = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ingestd-config-'));
  [ca, cert, key] = ['ca.pem', 'client.pem', 'client.key'].map((f) => {
    const path = join(dir, f);
    writeFileSync(path, `-----BEGIN ${f}-----\n`);
    return path;
  }) as [string, string, string];
});
after(() => rmSync(dir, { recursive: true, force: true }));

const load = (env: Env) => loadConfig({ DOMAINS_ENABLED: 'energy-meter', ...env });
const problems = (env: Env): string[] => load(env).problems;
const ok = (env: Env) => {
  const { config, problems: p } = load(env);
  assert.deepEqual(p, []);
  return config;
};

describe('operational endpoints: METRICS_TOKEN, HEALTH_TOKEN, OPS_PORT', () => {
  it('defaults: open, served with the API', () => {
    assert.deepEqual(ok({ API_HOST: '10.0.0.5' }).ops, { metricsToken: undefined, healthToken: undefined, port: undefined, host: '10.0.0.5' });
  });

  it('tokens and a separate listener', () => {
    const c = ok({ METRICS_TOKEN: 'm'.repeat(16), HEALTH_TOKEN: 'h'.repeat(20), OPS_PORT: '9090', OPS_HOST: '127.0.0.1' });
    assert.deepEqual(c.ops, { metricsToken: 'm'.repeat(16), healthToken: 'h'.repeat(20), port: 9090, host: '127.0.0.1' });
  });

  it('one line per problem naming the variable, never the token', () => {
    assert.deepEqual(problems({ METRICS_TOKEN: 'short-secret', HEALTH_TOKEN: 'has a space in-secret', OPS_PORT: '8080' }), [
      'OPS_PORT: must differ from PORT (8080); unset it to serve everything on PORT',
      'METRICS_TOKEN: the token must have at least 16 characters (got 12)',
      'HEALTH_TOKEN: the token must be printable ASCII without spaces (it is sent as Authorization: Bearer <token>)',
    ]);
    assert.deepEqual(problems({ OPS_PORT: 'x' }), ['OPS_PORT: must be an integer between 1 and 65535, got "x"']);
  });
});

describe('tenant identifiers', () => {
  it('COMPANY_ID: a subject token and a schema name, so letters, digits and _ only', () => {
    assert.equal(ok({ COMPANY_ID: 'Acme_01' }).chat.companyId, 'Acme_01');
    assert.equal(ok({ COMPANY_ID: '*' }).chat.companyId, undefined);
    for (const bad of ['acme.eu', 'a"; DROP SCHEMA x; --', 'v1.>', 'x'.repeat(49)]) {
      assert.deepEqual(problems({ COMPANY_ID: bad }), [`COMPANY_ID: must match ^[A-Za-z0-9_]{1,48}$ or be *, got "${bad}"`]);
    }
  });

  it('API_TOKENS tenants and DEFAULT_TENANT are checked; the problems never show a token', () => {
    const p = problems({ API_TOKENS: 'bad tenant:token-secret-0123456789,t1:short-secret', DEFAULT_TENANT: 'a/b' });
    assert.deepEqual(p, [
      'API_TOKENS: entry 1 must be tenant:token (tenant of letters, digits, _ . -, or *)',
      'API_TOKENS: entry 2 (tenant t1): the token must have at least 16 characters',
      'DEFAULT_TENANT: letters, digits, _ . - only (at most 64), got "a/b"',
    ]);
    assert.ok(!p.join('\n').includes('secret'));
  });

  it('a company id becomes a schema name only if it is one the subjects accept', () => {
    assert.equal(tenantSchema('AcmeCo'), 'tenant_acmeco');
    for (const bad of ['', 'a.b', 'x"; DROP SCHEMA public; --', 'x'.repeat(49)]) assert.throws(() => tenantSchema(bad), /invalid company id .*must match/);
  });

  it('ingestd migrate --tenant refuses a malformed id before touching the database', () => {
    const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
    const run = (): string => execFileSync(process.execPath, [main, 'migrate', '--tenant', 'x"; DROP SCHEMA public; --'], { env: { ...process.env, DATABASE_URL: 'postgres://127.0.0.1:1/none' }, stdio: 'pipe' }).toString();
    assert.throws(run, (err: { status?: number; stderr?: Buffer }) => err.status === 2 && /--tenant: must match \^\[A-Za-z0-9_\]\{1,48\}\$/.test(String(err.stderr)));
  });

  it('DB_SCHEMA becomes an identifier: a plain one only', () => {
    assert.deepEqual(problems({ DB_SCHEMA: 'analytics"; --' }), ['DB_SCHEMA: must be a plain SQL identifier (letters, digits, _; at most 63), got "analytics"; --"']);
  });
});

describe('TLS and credentials of every connection', () => {
  it('PostgreSQL: DB_SSLMODE and certificate files join DATABASE_URL; the URL\'s own parameters win', () => {
    const c = ok({ DATABASE_URL: 'postgres://app:pw@db:5432/x', DB_SSLMODE: 'verify-full', DB_SSLROOTCERT: ca, PGSSLCERT: cert, DB_SSLKEY: key });
    const u = new URL(c.database.url);
    assert.deepEqual([u.password, u.searchParams.get('sslmode'), u.searchParams.get('sslrootcert'), u.searchParams.get('sslcert'), u.searchParams.get('sslkey')], ['pw', 'verify-full', ca, cert, key]);
    const own = ok({ DATABASE_URL: `postgres://app@db/x?sslmode=no-verify`, PGSSLMODE: 'verify-full' });
    assert.equal(new URL(own.database.url).searchParams.get('sslmode'), 'no-verify');
    const built = ok({ DB_HOST: 'db', DB_PASSWORD: 'p@ss', DB_SSLMODE: 'require' });
    assert.equal(built.database.url, 'postgres://postgres:p%40ss@db:5432/postgres?sslmode=require');
    assert.equal(ok({ DATABASE_URL: 'postgres://app@db/x' }).database.url, 'postgres://app@db/x');
  });

  it('PostgreSQL: bad modes and unreadable files are start-up problems', () => {
    assert.deepEqual(problems({ DB_SSLMODE: 'on' }), ['DB_SSLMODE: must be one of disable, prefer, require, verify-ca, verify-full, no-verify, got "on"']);
    assert.deepEqual(problems({ DATABASE_URL: 'postgres://db/x?sslmode=strict' }), ['DATABASE_URL: sslmode must be one of disable, prefer, require, verify-ca, verify-full, no-verify, got "strict"']);
    assert.deepEqual(problems({ DB_SSLROOTCERT: join(dir, 'missing.pem') }), [`DB_SSLROOTCERT: cannot read "${join(dir, 'missing.pem')}" (ENOENT)`]);
    assert.deepEqual(problems({ POSTGRES_URL: `postgres://db/x?sslrootcert=${dir}` }), [`POSTGRES_URL sslrootcert: cannot read "${dir}" (not a file)`]);
  });

  it('RabbitMQ: RABBITMQ_TLS_* with amqps:// only; certificate and key together', () => {
    assert.deepEqual(ok({ RABBITMQ_URL: 'amqps://u:p@mq:5671', RABBITMQ_TLS_CA: ca }).rabbitmq.tls, { ca, cert: undefined, key: undefined });
    assert.equal(ok({}).rabbitmq.tls, undefined);
    assert.deepEqual(problems({ RABBITMQ_URL: 'amqp://mq', RABBITMQ_TLS_CA: ca }), ['RABBITMQ_TLS_*: set, but RABBITMQ_URL is a plain amqp:// URL; use amqps:// (port 5671)']);
    assert.deepEqual(problems({ RABBITMQ_URL: 'amqps://mq', RABBITMQ_TLS_CERT: cert }), ['RABBITMQ_TLS_CERT and RABBITMQ_TLS_KEY: set both (a client certificate and its private key) or neither']);
  });

  it('Kafka: TLS files turn KAFKA_SSL on; SASL needs a user and a password', () => {
    const k = ok({ KAFKA_TLS_CA: ca, KAFKA_TLS_CERT: cert, KAFKA_TLS_KEY: key }).kafka;
    assert.deepEqual([k.ssl, k.tls], [true, { ca, cert, key }]);
    assert.deepEqual([ok({ KAFKA_SSL: 'true' }).kafka.ssl, ok({}).kafka.ssl], [true, false]);
    assert.deepEqual(problems({ KAFKA_SSL: 'false', KAFKA_TLS_CA: ca }), ['KAFKA_TLS_*: set, but KAFKA_SSL is false; TLS files need KAFKA_SSL=true (or KAFKA_SSL unset)']);
    assert.deepEqual(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc' }), ['KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: both are required with KAFKA_SASL_MECHANISM']);
    assert.deepEqual(ok({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' }).kafka.sasl, { mechanism: 'scram-sha-256', username: 'svc', password: 'pw' });
  });

  it('NATS: credentials leave the server URLs; tls:// or NATS_TLS_* require TLS', () => {
    const n = ok({ NATS_URL: 'tls://svc:p%40ss@n1:4222, nats://svc:p%40ss@n2:4223' }).nats;
    assert.deepEqual([n.servers, n.auth, n.tls], [['tls://n1:4222', 'nats://n2:4223'], { user: 'svc', pass: 'p@ss' }, { ca: undefined, cert: undefined, key: undefined }]);
    const t = ok({ NATS_URL: 's3cr3t-token@n1:4222', NATS_TLS_CA: ca }).nats;
    assert.deepEqual([t.servers, t.auth, t.tls], [['nats://n1:4222'], { token: 's3cr3t-token' }, { ca, cert: undefined, key: undefined }]);
    const plain = ok({}).nats;
    assert.deepEqual([plain.servers, plain.auth, plain.tls], [['nats://127.0.0.1:4222'], undefined, undefined]);
  });

  it('NATS: bad URLs are named by position, never printed (they may hold a password)', () => {
    const p = problems({ NATS_URL: 'nats://a:secret1@n1,http://a:secret2@n2,nats://b:secret3@n3' });
    assert.deepEqual(p, [
      'NATS_URL: server 2 must be a nats:// or tls:// URL, got protocol "http:"',
      'NATS_URL: the servers carry different credentials; the client logs in to every server with the same ones',
    ]);
    assert.deepEqual(problems({ NATS_URL: ' , ' }), ['NATS_URL: at least one server is needed']);
  });

  it('MQTT: MQTT_TLS_* with a TLS URL only', () => {
    assert.deepEqual(ok({ MQTT_URL: 'mqtts://u:p@broker:8883', MQTT_TLS_CA: ca, MQTT_TLS_CERT: cert, MQTT_TLS_KEY: key }).mqtt.tls, { ca, cert, key });
    assert.deepEqual(problems({ MQTT_URL: 'mqtt://broker', MQTT_TLS_CA: ca }), ['MQTT_TLS_*: set, but MQTT_URL is not a TLS URL; use mqtts:// (port 8883) or wss://']);
    assert.deepEqual(problems({ MQTT_URL: 'mqtts://broker', MQTT_TLS_KEY: join(dir, 'nope.key'), MQTT_TLS_CERT: cert }), [`MQTT_TLS_KEY: cannot read "${join(dir, 'nope.key')}" (ENOENT)`]);
  });

  it('URL problems never print the URL', () => {
    const p = problems({ DATABASE_URL: 'mysql://u:db-secret@h/x', RABBITMQ_URL: 'http://u:mq-secret@h', MQTT_URL: 'u:mqtt-secret@broker' });
    assert.equal(p.length, 3);
    assert.ok(!/secret/.test(p.join('\n')), p.join('\n'));
  });
});
