/**
 * SPEC §3 and §9: credentials never appear in logs or error messages. The real worker runs
 * with a password in every URL (PostgreSQL, RabbitMQ, NATS, MQTT, InfluxDB, Kafka SASL) and
 * tokens for every endpoint, at LOG_LEVEL=debug: while everything works, while every broker
 * refuses, while the database refuses, and with a refused RabbitMQ login (fatal). The CLI's
 * check-config, invalid configuration, migrate and dlq outputs are added; then every byte
 * written, and every HTTP answer, is searched for each secret (raw, URL-encoded, and as
 * the base64 of user:password of HTTP basic auth).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { uniqueTopology } from '../helpers/amqp.ts';
import { ADMIN_URL, createTestDatabase, queryRows } from '../helpers/db.ts';
import { dropInfluxDatabase } from '../helpers/influx.ts';
import { KAFKA_BROKERS } from '../helpers/kafka.ts';
import { TestNats, uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const exec = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const id = randomBytes(4).toString('hex');
const USER = `ingestd_leak_${id}`;
// Distinct, greppable, and with characters that URLs must encode.
const SECRETS = {
  db: `pgPw:${id}@x/y`,
  rabbitmq: `mqPw-${id}!#`,
  nats: `natsPw-${id}$`,
  mqtt: `mqttPw:${id}`,
  influx: `influxPw-${id}`,
  kafka: `kafkaPw-${id}`,
  apiToken: `apiToken-${id}-0123456789`,
  metricsToken: `metricsToken-${id}-0123456789`,
  healthToken: `healthToken-${id}-0123456789`,
} as const;
const enc = encodeURIComponent;
/** A port nothing listens on: connections are refused at once. */
const CLOSED = 18_899;

const run = async (args: string[], env: Record<string, string>, timeout = 20_000): Promise<string> => {
  const r = await exec(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout }).catch((err: { stdout?: string; stderr?: string; code?: unknown }) => ({ stdout: err.stdout ?? '', stderr: `${err.stderr ?? ''}\n[exit ${String(err.code)}]` }));
  return `$ ingestd ${args.join(' ')}\n${r.stdout}${r.stderr}`;
};

const leaks = (text: string): string[] => {
  const found: string[] = [];
  for (const [name, s] of Object.entries(SECRETS)) {
    for (const form of new Set([s, enc(s)])) if (text.includes(form)) found.push(`${name} (${form})`);
  }
  // InfluxDB gets basic auth: the header value must not be logged either.
  if (text.includes(Buffer.from(`${USER}:${SECRETS.influx}`).toString('base64'))) found.push('influx basic auth');
  return found;
};

describe('credentials never appear in logs, error messages or HTTP answers', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('a worker with a password in every URL: working, refused by every broker, by the database, and by a bad login; plus the CLI', async () => {
    const db = await createTestDatabase();
    // The database's owner logs in with a password (this server trusts local TCP, so the
    // password is not checked; it is still in the URL, which is what must not leak).
    await queryRows(ADMIN_URL, `CREATE ROLE ${USER} LOGIN PASSWORD '${SECRETS.db.replace(/'/g, "''")}'`);
    cleanups.push(() => queryRows(ADMIN_URL, `DROP ROLE IF EXISTS ${USER}`));
    cleanups.push(db.drop);
    await queryRows(ADMIN_URL, `ALTER DATABASE ${db.name} OWNER TO ${USER}`);
    // The migrations read shared_preload_libraries (TimescaleDB or not).
    await queryRows(ADMIN_URL, `GRANT pg_read_all_settings TO ${USER}`);
    await exec('rabbitmqctl', ['add_user', USER, SECRETS.rabbitmq]);
    cleanups.push(() => exec('rabbitmqctl', ['delete_user', USER]));
    await exec('rabbitmqctl', ['set_permissions', '-p', '/', USER, '.*', '.*', '.*']);
    cleanups.push(() => dropInfluxDatabase(`leak_${id}`));
    const natsNames = uniqueNatsNames();
    cleanups.push(async () => {
      const nats = await TestNats.open();
      await nats.deleteStreams(natsNames.NATS_STREAM!, natsNames.NATS_DLQ_STREAM!);
      await nats.close();
    });

    const url = (scheme: string, port: number, path = ''): string => `${scheme}://${USER}:${enc(SECRETS[scheme === 'postgres' ? 'db' : scheme === 'amqp' ? 'rabbitmq' : scheme === 'http' ? 'influx' : (scheme as 'nats' | 'mqtt')])}@127.0.0.1:${port}${path}`;
    const dbUrl = url('postgres', 5432, `/${db.name}`);
    const base: Record<string, string> = {
      LOG_LEVEL: 'debug',
      // One domain per broker, each on names of its own (chat-events' fixed v1.> subjects
      // would collide with streams other tests leave on the shared NATS server).
      DOMAINS_ENABLED: 'energy-meter,grid-telemetry,analytics,smart-grid',
      ANALYTICS_SOURCE: 'mqtt',
      SMART_GRID_SOURCE: 'nats',
      ...uniqueTopology(),
      ...natsNames,
      KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      KAFKA_GROUP_ID: `t.${id}.group`,
      KAFKA_TOPIC: `t.${id}.raw`,
      GRID_AGGREGATES_TOPIC: `t.${id}.aggregates`,
      GRID_ALERTS_TOPIC: `t.${id}.alerts`,
      SMART_GRID_TOPIC: `t${id}.sg`,
      SMART_GRID_ALERTS_TOPIC: `t${id}.sg-alerts`,
      ANALYTICS_TOPIC_PREFIX: `t${id}.`,
      MQTT_CLIENT_ID: `leak-${id}`,
      MQTT_SESSION_EXPIRY: '30s',
      INFLUXDB_DATABASE: `leak_${id}`,
      API_TOKENS: `*:${SECRETS.apiToken}`,
      METRICS_TOKEN: SECRETS.metricsToken,
      HEALTH_TOKEN: SECRETS.healthToken,
      SHUTDOWN_TIMEOUT: '10s',
    };
    const working = {
      ...base,
      DATABASE_URL: dbUrl,
      RABBITMQ_URL: url('amqp', 5672),
      NATS_URL: url('nats', 4222),
      MQTT_URL: url('mqtt', 1884),
      INFLUXDB_URL: url('http', 8086),
    };
    const refusing = {
      ...working,
      RABBITMQ_URL: url('amqp', CLOSED),
      NATS_URL: url('nats', CLOSED),
      MQTT_URL: url('mqtt', CLOSED),
      INFLUXDB_URL: url('http', CLOSED),
      // The broker here speaks no SASL: the handshake fails with the password in hand.
      KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: USER, KAFKA_SASL_PASSWORD: SECRETS.kafka,
      RETRY_MAX: '1s',
    };
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-leak-'));
    const outputs: Array<{ what: string; text: string }> = [];
    const answers: string[] = [];
    const get = async (port: number, path: string, token: string): Promise<{ status: number; body: string }> => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      answers.push(`${path} ${res.status} ${body}`);
      return { status: res.status, body };
    };
    // A smart-grid transaction over NATS: the first write is what makes the worker talk to InfluxDB.
    const sendTransaction = async (): Promise<void> => {
      const nats = await TestNats.open();
      await nats.publish([{ subject: base['SMART_GRID_TOPIC']!, body: Buffer.from(JSON.stringify({
        transaction_id: randomBytes(8).toString('hex'), meter_id: 'SM-LEAK', region: 'north', status: 'active', building_type: 'residential',
        consumption_kwh: 0.5, latitude: 52.1, longitude: 4.9, peak_load: 1.2, timestamp: new Date().toISOString(),
      })) }]);
      await nats.close();
    };
    const phase = async (what: string, port: number, env: Record<string, string>, until: (port: number) => Promise<boolean>, expectExit?: number, traffic?: () => Promise<void>): Promise<void> => {
      const w = new WorkerProcess(env, port, join(dir, `${what}.log`));
      cleanups.push(() => w.kill());
      w.start();
      if (expectExit === undefined) {
        if (traffic !== undefined) {
          for (const deadline = Date.now() + 60_000; !(await ready(port).catch(() => false)); await new Promise((r) => setTimeout(r, 200))) {
            assert.ok(w.child!.exitCode === null && Date.now() < deadline, `${what}: not ready; last answer: ${answers.at(-1)}`);
          }
          await traffic();
        }
        for (const deadline = Date.now() + 60_000; !(await until(port).catch(() => false)); await new Promise((r) => setTimeout(r, 200))) {
          if (w.child!.exitCode !== null || Date.now() > deadline) {
            const tail = (await readFile(w.logFile, 'utf8')).split('\n').filter((l) => !l.includes('"level":"debug"')).slice(-5).join('\n');
            assert.fail(`${what}: ${w.child!.exitCode === null ? 'timed out' : `the worker exited ${w.child!.exitCode}`}; last answer: ${answers.at(-1)}\n${tail}`);
          }
        }
        // A few more rounds of reconnects and their log lines.
        if (what !== 'working') await new Promise((r) => setTimeout(r, 3_000));
        for (const path of ['/ready', '/v1/status']) await get(port, path, SECRETS.healthToken);
        await get(port, '/metrics', SECRETS.metricsToken);
        await get(port, '/v1/pipeline', SECRETS.apiToken);
        assert.equal(await w.kill('SIGTERM'), 0, `${what}: graceful stop`);
      } else {
        const code = await new Promise<number | null>((resolve) => w.child!.once('exit', resolve));
        assert.equal(code, expectExit, `${what}: exit code`);
      }
      outputs.push({ what, text: await readFile(w.logFile, 'utf8') });
    };
    const ready = async (port: number) => (await get(port, '/ready', SECRETS.healthToken)).status === 200;
    // Unready for every broker (each one has tried, and failed, at least once).
    const refusedBy = (parts: RegExp[]) => async (port: number) => {
      const { status, body } = await get(port, '/ready', SECRETS.healthToken);
      return status === 503 && parts.every((p) => p.test(body));
    };

    const stored = async (): Promise<boolean> => (await queryRows(db.url, "SELECT 1 FROM smart_grid_transactions WHERE meter_id = 'SM-LEAK'")).length > 0;
    await phase('working', 18_881, working, async (port) => (await ready(port)) && (await stored()), undefined, sendTransaction);
    await phase('brokers-refusing', 18_882, refusing, refusedBy([/rabbitmq: connect ECONNREFUSED/, /nats: (?!connecting)/, /mqtt: (?!connecting)/, /kafka consumer: (?!not connected)/]));
    await phase('influxdb-refusing', 18_885, { ...working, INFLUXDB_URL: url('http', CLOSED), INFLUXDB_MAX_RETRIES: '0', RETRY_MAX: '1s' }, refusedBy([/InfluxDB unavailable/]), undefined, sendTransaction);
    await phase('database-refusing', 18_883, { ...refusing, DATABASE_URL: url('postgres', CLOSED, `/${db.name}`) }, refusedBy([/database: unavailable: .*ECONNREFUSED/]));
    await phase('rabbitmq-login-refused', 18_884, { ...working, RABBITMQ_URL: `amqp://${USER}:${enc(`${SECRETS.rabbitmq}-wrong`)}@127.0.0.1:5672` }, ready, 1);

    const cli = { ...refusing, DATABASE_URL: url('postgres', CLOSED, '/x') };
    for (const args of [['check-config'], ['check-config', '--json'], ['migrate'], ['dlq', 'list', '--source', 'amqp'], ['dlq', 'list', '--source', 'nats'], ['dlq', 'list', '--source', 'mqtt']]) {
      outputs.push({ what: `cli ${args.join(' ')}`, text: await run(args, cli) });
    }
    outputs.push({ what: 'cli invalid config', text: await run(['check-config'], {
      ...cli,
      DATABASE_URL: `mysql://${USER}:${enc(SECRETS.db)}@h/x`, RABBITMQ_URL: `http://${USER}:${enc(SECRETS.rabbitmq)}@h`,
      NATS_URL: `http://${USER}:${enc(SECRETS.nats)}@h,nats://x:${enc(SECRETS.nats)}@h2`, MQTT_URL: `ftp://${USER}:${enc(SECRETS.mqtt)}@h`,
      INFLUXDB_URL: `ftp://${USER}:${enc(SECRETS.influx)}@h`, METRICS_TOKEN: 'short', HEALTH_TOKEN: `${SECRETS.healthToken} x`,
      API_TOKENS: `bad tenant:${SECRETS.apiToken}`, KAFKA_SASL_MECHANISM: 'gssapi',
    }) });
    outputs.push({ what: 'cli invalid DB_HOST config', text: await run(['check-config'], { ...base, DB_HOST: 'db', DB_USER: USER, DB_PASSWORD: SECRETS.db, DB_SSLMODE: 'sometimes', DB_PORT: 'x' }) });

    // The runs did what they are meant to: connected, then failed to, and said so.
    const text = (what: string): string => outputs.find((o) => o.what === what)!.text;
    assert.match(text('working'), /"msg":"worker started"/);
    assert.match(text('brokers-refusing'), /rabbitmq unavailable; retrying/);
    assert.match(text('brokers-refusing'), /nats unavailable; retrying/);
    assert.match(text('brokers-refusing'), /mqtt/);
    assert.match(text('brokers-refusing'), /SASL|sasl/);
    assert.match(text('database-refusing'), /database unavailable at start; waiting/);
    assert.match(text('working'), /InfluxDB retention policy created/);
    assert.match(text('influxdb-refusing'), /InfluxDB unavailable/);
    assert.match(text('rabbitmq-login-refused'), /ACCESS_REFUSED/);
    assert.match(text('cli check-config'), /configuration OK/);
    assert.match(text('cli invalid config'), /invalid configuration/);
    assert.match(text('cli migrate'), /ingestd migrate: .*ECONNREFUSED/);
    // The URLs are there, redacted: the search below is not vacuous.
    assert.match(outputs.map((o) => o.text).join('\n'), new RegExp(`${USER}:\\*\\*\\*@`));

    const found = [...outputs.map((o) => ({ where: o.what, leaks: leaks(o.text) })), { where: 'HTTP answers', leaks: leaks(answers.join('\n')) }].filter((x) => x.leaks.length > 0);
    assert.deepEqual(found, [], `credentials found (outputs in ${dir})`);
  });
});
