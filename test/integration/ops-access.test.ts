import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '../helpers/db.ts';
import { WorkerProcess } from '../helpers/worker.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const METRICS_TOKEN = 'prom-scrape-token-4f1c9a7e';
const HEALTH_TOKEN = 'kubelet-probe-token-8d2b6e10';
const API_TOKEN = 'api-admin-token-0123456789';

const status = async (port: number, path: string, token?: string): Promise<number> =>
  (await fetch(`http://127.0.0.1:${port}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })).status;

/** An API-only instance (no broker, no database needed) with these settings. */
async function start(port: number, env: Record<string, string>, probe: { port: number; token?: string }): Promise<WorkerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'ingestd-ops-'));
  const w = new WorkerProcess({ ENABLE_WORKER: 'false', API_TOKENS: `*:${API_TOKEN}`, ...env }, port, join(dir, 'worker.log'));
  w.start();
  await eventually(async () => (await status(probe.port, '/health', probe.token).catch(() => 0)) === 200, 20_000, 'worker serving');
  return w;
}

describe('operational endpoints: METRICS_TOKEN, HEALTH_TOKEN, OPS_PORT on the real server', () => {
  const workers: WorkerProcess[] = [];
  after(async () => {
    for (const w of workers) await w.kill();
  });

  test('tokens: 401 without or with the other token, 200 with the right one; neither token reaches the log', async () => {
    const port = 18_871;
    const w = await start(port, { METRICS_TOKEN, HEALTH_TOKEN }, { port, token: HEALTH_TOKEN });
    workers.push(w);
    for (const path of ['/metrics', '/v1/metrics']) {
      assert.deepEqual([await status(port, path), await status(port, path, HEALTH_TOKEN), await status(port, path, API_TOKEN), await status(port, path, METRICS_TOKEN)], [401, 401, 401, 200], path);
    }
    for (const path of ['/health', '/v1/health', '/ready', '/v1/ready', '/v1/status']) {
      assert.deepEqual([await status(port, path), await status(port, path, METRICS_TOKEN), await status(port, path, HEALTH_TOKEN)], [401, 401, 200], path);
    }
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.match(await scrape.text(), /^# HELP /m);
    const refused = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="ingestd"');
    // The read API keeps its own tokens: an operational token opens nothing there.
    assert.deepEqual([await status(port, '/v1/pipeline', METRICS_TOKEN), await status(port, '/v1/pipeline', API_TOKEN)], [401, 200]);
    assert.equal(await w.kill('SIGTERM'), 0);
    const log = await readFile(w.logFile, 'utf8');
    assert.match(log, /http listening/);
    for (const secret of [METRICS_TOKEN, HEALTH_TOKEN, API_TOKEN]) assert.ok(!log.includes(secret), `a token in the log:\n${log}`);
  });

  test('OPS_PORT: health and metrics on their own listener only; the API port serves the API', async () => {
    const port = 18_872;
    const ops = 18_873;
    const w = await start(port, { OPS_PORT: String(ops), METRICS_TOKEN }, { port: ops });
    workers.push(w);
    assert.deepEqual([await status(ops, '/health'), await status(ops, '/ready'), await status(ops, '/v1/status')], [200, 200, 200]);
    assert.deepEqual([await status(ops, '/metrics'), await status(ops, '/metrics', METRICS_TOKEN)], [401, 200]);
    assert.deepEqual([await status(ops, '/'), await status(ops, '/v1/pipeline', API_TOKEN)], [404, 404]);
    for (const path of ['/health', '/ready', '/v1/status', '/metrics', '/v1/metrics']) assert.equal(await status(port, path, METRICS_TOKEN), 404, path);
    assert.deepEqual([await status(port, '/'), await status(port, '/v1/pipeline'), await status(port, '/v1/pipeline', API_TOKEN)], [200, 401, 200]);
    assert.equal(await w.kill('SIGTERM'), 0);
    assert.match(await readFile(w.logFile, 'utf8'), /health, readiness and metrics listening \(OPS_PORT\)/);
  });

  test('check-config shows that the tokens are set, never the tokens; bad ones are one line each', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, METRICS_TOKEN, HEALTH_TOKEN, OPS_PORT: '9100', DOMAINS_ENABLED: 'energy-meter' };
    const { stdout } = await run(process.execPath, [MAIN, 'check-config'], { env });
    assert.match(stdout, /access {4}read API open \(API_TOKENS unset\); metrics bearer token \(METRICS_TOKEN\); health bearer token \(HEALTH_TOKEN\); health and metrics 0\.0\.0\.0:9100 \(OPS_PORT\)/);
    const json = JSON.parse((await run(process.execPath, [MAIN, 'check-config', '--json'], { env })).stdout) as { access: Record<string, string> };
    assert.equal(json.access['metrics'], 'bearer token (METRICS_TOKEN)');
    for (const out of [stdout, JSON.stringify(json)]) for (const secret of [METRICS_TOKEN, HEALTH_TOKEN]) assert.ok(!out.includes(secret));
    const bad = await run(process.execPath, [MAIN, 'check-config'], { env: { ...env, METRICS_TOKEN: 'tiny-secret', OPS_PORT: '8080' } }).catch((err: { code: number; stderr: string }) => err);
    assert.equal((bad as { code: number }).code, 2);
    assert.equal((bad as { stderr: string }).stderr, [
      'ingestd: invalid configuration:',
      '  - OPS_PORT: must differ from PORT (8080); unset it to serve everything on PORT',
      '  - METRICS_TOKEN: the token must have at least 16 characters (got 11)',
      '',
    ].join('\n'));
  });
});
