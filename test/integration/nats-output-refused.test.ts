/**
 * A NATS user that may not create the output stream: the worker must stop at start with the
 * subjects and the variables to fix, not run with an outbox that can never publish.
 * A nats-server of its own (JetStream, one user denied that stream's creation), on a free port.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createTestDatabase, eventually } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test('NATS: a user refused the output stream stops the worker at start, naming NATS_OUTPUT_STREAM and the output variables', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ingestd-nats-refused-'));
  const port = await freePort();
  const stream = `REFUSED_${randomBytes(3).toString('hex').toUpperCase()}`;
  await writeFile(join(dir, 'nats.conf'), `
listen: 127.0.0.1:${port}
jetstream { store_dir: "${join(dir, 'js')}" }
authorization {
  users = [
    { user: worker, password: worker-secret, permissions: { publish: { allow: [">"], deny: ["$JS.API.STREAM.CREATE.${stream}"] } } }
  ]
}
`);
  const server = spawn('nats-server', ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
  cleanups.push(async () => server.kill('SIGTERM'));
  await eventually(async () => {
    const nc = await connect({ servers: `nats://127.0.0.1:${port}`, user: 'worker', pass: 'worker-secret' });
    await nc.close();
    return true;
  }, 10_000, 'nats-server up');

  const db = await createTestDatabase();
  cleanups.push(db.drop);
  const log = join(dir, 'worker.log');
  const worker = new WorkerProcess({
    DATABASE_URL: db.url, DOMAINS_ENABLED: 'grid-telemetry', GRID_TELEMETRY_SOURCE: 'nats', KAFKA_TOPIC: 'refused.raw',
    GRID_AGGREGATES_TOPIC: 'refused.aggregates', GRID_ALERTS_TOPIC: 'refused.alerts',
    NATS_URL: `nats://worker:worker-secret@127.0.0.1:${port}`, NATS_OUTPUT_STREAM: stream,
  }, await freePort(), log);
  cleanups.push(() => worker.kill());
  const exited = new Promise<number | null>((resolve) => {
    worker.start();
    worker.child!.once('exit', (code) => resolve(code));
  });
  // A worker that does not check its outputs starts and turns ready instead.
  assert.equal(await Promise.race([exited, worker.waitReady(30_000).then(() => 'ready')]), 1, 'the worker exits 1');
  const line = (await readFile(log, 'utf8')).split('\n').find((l) => l.includes('"level":"fatal"')) ?? '{}';
  const fatal = String((JSON.parse(line) as { err?: unknown }).err);
  assert.match(fatal, /nats: cannot capture the output subjects "refused\.aggregates" \(GRID_AGGREGATES_TOPIC\), "refused\.alerts" \(GRID_ALERTS_TOPIC\) in stream "REFUSED_\w+" \(NATS_OUTPUT_STREAM\)/);
  assert.match(fatal, /Permissions Violation/);
  assert.doesNotMatch(line, /worker-secret/, 'no password in the log');
});
