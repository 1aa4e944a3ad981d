import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { requireConfig } from '../../config/index.ts';
import { registerReadApi } from './index.ts';

test('docs/openapi.yaml documents every read API route, and only those', async () => {
  const doc = readFileSync(new URL('../../../docs/openapi.yaml', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^ {2}(\/v1\/[^:]+):$/gm)].map((m) => m[1]).sort();
  const app = Fastify();
  const routes: string[] = [];
  app.addHook('onRoute', (r) => {
    if (r.method === 'GET' || (Array.isArray(r.method) && r.method.includes('GET'))) routes.push(r.url);
  });
  registerReadApi(app, { pool: {} as never, config: requireConfig({}) });
  await app.ready();
  // /v1/pipeline is registered by the server next to the API (it needs the metrics).
  assert.deepEqual(documented, [...routes, '/v1/pipeline'].sort());
  await app.close();
});
