import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireConfig } from '../config/index.ts';
import { Readiness } from '../runtime/health.ts';
import { createLogger } from '../runtime/logger.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { createHttpServer, type HttpOptions } from './server.ts';

const METRICS = 'metrics-token-0123456789';
const HEALTH = 'health-token-0123456789';
const OPS = ['/health', '/v1/health', '/ready', '/v1/ready', '/v1/status', '/metrics', '/v1/metrics'];

const server = (o: Partial<HttpOptions> = {}) =>
  createHttpServer({ log: createLogger({ service: 't', level: 'silent' }), metrics: createMetrics(), readiness: new Readiness(), ...o });

const status = async (app: ReturnType<typeof server>, url: string, token?: string): Promise<number> =>
  (await app.inject({ url, ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }) })).statusCode;

describe('operational endpoints: tokens and listeners', () => {
  it('open when no token is configured', async () => {
    const app = server();
    for (const url of OPS) assert.equal(await status(app, url), 200, url);
    await app.close();
  });

  it('METRICS_TOKEN guards the metrics, HEALTH_TOKEN health, readiness and status; each only its own', async () => {
    const app = server({ opsTokens: { metrics: METRICS, health: HEALTH } });
    for (const url of ['/metrics', '/v1/metrics']) {
      assert.deepEqual([await status(app, url), await status(app, url, HEALTH), await status(app, url, `${METRICS}x`), await status(app, url, METRICS)], [401, 401, 401, 200], url);
    }
    for (const url of ['/health', '/v1/health', '/ready', '/v1/ready', '/v1/status']) {
      assert.deepEqual([await status(app, url), await status(app, url, METRICS), await status(app, url, HEALTH)], [401, 401, 200], url);
    }
    const res = await app.inject({ url: '/metrics', headers: { authorization: 'Basic eDp5' } });
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="ingestd"');
    assert.deepEqual(res.json(), { error: 'a valid bearer token is required (Authorization: Bearer <token>; see METRICS_TOKEN)' });
    await app.close();
  });

  it('a token set for one group leaves the other open', async () => {
    const app = server({ opsTokens: { metrics: METRICS, health: undefined } });
    assert.deepEqual([await status(app, '/ready'), await status(app, '/metrics')], [200, 401]);
    await app.close();
  });

  it('OPS_PORT: the API listener has no operational endpoints, the ops listener nothing else', async () => {
    const config = requireConfig({ API_TOKENS: `*:${'a'.repeat(20)}` });
    const api = server({ api: { pool: {} as never, config }, serve: 'api' });
    for (const url of OPS) assert.equal(await status(api, url), 404, url);
    assert.equal(await status(api, '/v1/meters'), 401);
    assert.equal(await status(api, '/'), 200);
    const ops = server({ serve: 'ops', opsTokens: { metrics: METRICS, health: undefined } });
    assert.deepEqual([await status(ops, '/health'), await status(ops, '/metrics', METRICS), await status(ops, '/'), await status(ops, '/v1/meters')], [200, 200, 404, 404]);
    await api.close();
    await ops.close();
  });
});
