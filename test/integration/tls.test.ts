/**
 * Real TLS connections with a throwaway CA: a Mosquitto listener and a NATS server that
 * both require client certificates, and a private PostgreSQL cluster with ssl on that asks
 * for one. The worker reaches all three through MQTT_URL=mqtts://, MQTT_TLS_*, NATS_URL=tls://,
 * NATS_TLS_*, DB_SSLMODE=verify-full and DB_SSL*; a message goes through each broker. Kafka
 * and RabbitMQ TLS are unit-tested only (src/sources/tls.test.ts): their servers here are
 * shared and plain.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import { createTestDatabase, eventually, queryRows } from '../helpers/db.ts';
import { uniqueNatsNames } from '../helpers/nats.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const run = promisify(execFile);
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));
const MQTT_PORT = 18_891;
const NATS_PORT = 18_892;
const PG_PORT = 55_447;

/** A CA, a server certificate for localhost / 127.0.0.1 and a client certificate (CN=ingestd). */
async function makeCerts(dir: string): Promise<Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>> {
  const p = (f: string): string => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=ingestd test CA']);
  for (const [name, cn, ext] of [['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'ingestd', 'extendedKeyUsage=clientAuth']] as const) {
    await writeFile(p(`${name}.ext`), `${ext}\n`);
    await run('openssl', ['req', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p(`${name}.ext`)]);
  }
  // Brokers that drop root privileges must still read them: a throwaway key, world-readable.
  for (const f of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) await chmod(p(f), 0o644);
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

const waitForPort = (child: ChildProcess, what: string, probe: () => Promise<unknown>): Promise<void> =>
  eventually(async () => {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}`);
    return probe().then(() => true, () => false);
  }, 20_000, `${what} up`);

describe('TLS to MQTT, NATS and PostgreSQL with client certificates', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('the worker connects over TLS with the configured CA and client certificate, and messages flow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ingestd-tls-'));
    await chmod(dir, 0o755);
    const certs = await makeCerts(dir);

    // Mosquitto: TLS only, a client certificate signed by the CA required.
    await writeFile(join(dir, 'mosquitto.conf'), [
      `listener ${MQTT_PORT} 127.0.0.1`, 'allow_anonymous true', `cafile ${certs.ca}`, `certfile ${certs.serverCert}`, `keyfile ${certs.serverKey}`,
      'require_certificate true', 'persistence false', '',
    ].join('\n'));
    const mosquitto = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    cleanups.push(async () => mosquitto.kill());
    // NATS: JetStream, TLS with client certificate verification.
    const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(NATS_PORT), '-js', '-sd', join(dir, 'nats'), '--tlsverify', '--tlscert', certs.serverCert, '--tlskey', certs.serverKey, '--tlscacert', certs.ca], { stdio: 'ignore' });
    cleanups.push(async () => nats.kill());
    // PostgreSQL: a private cluster with ssl on, asking for client certificates of the CA.
    const pgDir = join(dir, 'pg');
    await run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'start', pgDir, String(PG_PORT)]);
    cleanups.push(() => run('bash', [join(SCRIPTS, 'pg-scratch.sh'), 'stop', pgDir]));
    const admin = `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`;
    for (const [f, src] of [['server.pem', certs.serverCert], ['server.key', certs.serverKey], ['ca.pem', certs.ca]] as const) {
      await writeFile(join(pgDir, f), await readFile(src), { mode: 0o600 });
      await run('chown', ['postgres:', join(pgDir, f)]);
    }
    for (const [k, v] of [['ssl_cert_file', 'server.pem'], ['ssl_key_file', 'server.key'], ['ssl_ca_file', 'ca.pem'], ['ssl', 'on']]) {
      await queryRows(admin, `ALTER SYSTEM SET ${k} = '${v}'`);
    }
    await queryRows(admin, 'SELECT pg_reload_conf()');
    await eventually(async () => (await queryRows<{ ssl: string }>(admin, 'SHOW ssl'))[0]!.ssl === 'on', 10_000, 'ssl on');
    const db = await createTestDatabase(admin);
    cleanups.push(db.drop);

    const tlsClient = { ca: await readFile(certs.ca), cert: await readFile(certs.clientCert), key: await readFile(certs.clientKey) };
    await waitForPort(mosquitto, 'mosquitto', async () => (await mqtt.connectAsync(`mqtts://localhost:${MQTT_PORT}`, { ...tlsClient, reconnectPeriod: 0, connectTimeout: 2000 })).endAsync());
    await waitForPort(nats, 'nats-server', async () => (await natsConnect({ servers: `tls://localhost:${NATS_PORT}`, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } })).close());
    // Verification is on: the same broker without the CA, or without a client certificate, is refused.
    await assert.rejects(mqtt.connectAsync(`mqtts://localhost:${MQTT_PORT}`, { cert: tlsClient.cert, key: tlsClient.key, reconnectPeriod: 0, connectTimeout: 2000 }), /self[- ]signed|unable to verify|certificate/i);
    await assert.rejects(natsConnect({ servers: `tls://localhost:${NATS_PORT}`, tls: { caFile: certs.ca }, reconnect: false }));

    const names = uniqueNatsNames();
    const prefix = `t${randomBytes(3).toString('hex')}.`;
    const dbUrl = new URL(db.url);
    dbUrl.hostname = 'localhost';
    const worker = new WorkerProcess({
      DATABASE_URL: dbUrl.toString(), DB_SSLMODE: 'verify-full', DB_SSLROOTCERT: certs.ca, DB_SSLCERT: certs.clientCert, DB_SSLKEY: certs.clientKey,
      DOMAINS_ENABLED: 'analytics,chat-events', ANALYTICS_SOURCE: 'mqtt', ANALYTICS_TOPIC_PREFIX: prefix,
      MQTT_URL: `mqtts://localhost:${MQTT_PORT}`, MQTT_TLS_CA: certs.ca, MQTT_TLS_CERT: certs.clientCert, MQTT_TLS_KEY: certs.clientKey, MQTT_CLIENT_ID: `tls-${prefix}`,
      NATS_URL: `tls://localhost:${NATS_PORT}`, NATS_TLS_CA: certs.ca, NATS_TLS_CERT: certs.clientCert, NATS_TLS_KEY: certs.clientKey, ...names,
      DLQ_RETRY_ENABLED: 'false',
    }, 18_893, join(dir, 'worker.log'));
    cleanups.push(() => worker.kill());
    worker.start();
    await worker.waitReady(60_000).catch(async (err: unknown) => assert.fail(`${String(err)}\n${(await readFile(worker.logFile, 'utf8')).slice(-3000)}`));

    // The worker's database connections are encrypted and present the client certificate.
    const sessions = await queryRows<{ ssl: boolean; client_dn: string | null }>(admin,
      "SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'ingestd%'");
    assert.ok(sessions.length > 0);
    assert.ok(sessions.every((s) => s.ssl && s.client_dn === '/CN=ingestd'), JSON.stringify(sessions));

    // One message through each broker, over TLS, lands in the database.
    const reading = { time: new Date().toISOString(), tenant_id: 't1', factory_id: 'f1', machine_id: 'mc-tls', sensor_id: 's1', metric: 'temp', value: 21.5 };
    const pub = await mqtt.connectAsync(`mqtts://localhost:${MQTT_PORT}`, { ...tlsClient, protocolVersion: 5 });
    await pub.publishAsync(`${prefix}sensors.device.readings`, JSON.stringify(reading), { qos: 1 });
    await pub.endAsync();
    const nc = await natsConnect({ servers: `tls://localhost:${NATS_PORT}`, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } });
    const now = new Date().toISOString();
    await jetstream(nc).publish('v1.contacts.upsert.tlsco', JSON.stringify({
      event_id: 'tls-1', type: 'contacts.upsert', company_id: 'tlsco', occurred_at: now,
      data: { contact_id: 'c-1', name: 'Over TLS', updated_at: now },
    }));
    await nc.close();
    await eventually(async () => (await queryRows(db.url, "SELECT 1 FROM analytics.analytics_measurement WHERE machine_id = 'mc-tls'")).length === 1, 30_000, 'MQTT reading stored');
    await eventually(async () => (await queryRows(db.url, "SELECT 1 FROM tenant_tlsco.contacts WHERE contact_id = 'c-1'").catch(() => [])).length === 1, 30_000, 'NATS event stored');
    assert.equal(await worker.kill('SIGTERM'), 0);
  });
});
