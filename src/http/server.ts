import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Readiness } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { registerReadApi } from './api/index.ts';
import type { ApiContext } from './api/context.ts';
import { PipelineStatus } from './api/pipeline.ts';
import { registerDashboard } from './dashboard.ts';

export interface HttpOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** Extra JSON for GET /v1/status (pipelines, counts). */
  readonly status?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** The read API and the dashboard over this database; absent: health, readiness and metrics only. */
  readonly api?: ApiContext;
}

/** Health, readiness, metrics, status, the read API and the dashboard. Request ids come from `x-request-id` when sent. */
export function createHttpServer(o: HttpOptions) {
  const app = Fastify({
    loggerInstance: o.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const id = req.headers['x-request-id'];
      return typeof id === 'string' && id.length > 0 && id.length <= 200 ? id : randomUUID();
    },
  });

  const health = async () => ({ status: 'ok' });
  app.get('/health', health);
  app.get('/v1/health', health);

  const ready = async (_req: unknown, reply: { code(n: number): unknown }) => {
    if (o.readiness.ready) return { status: 'ready' };
    reply.code(503);
    return { status: 'not ready', reasons: o.readiness.reasons() };
  };
  app.get('/ready', ready);
  app.get('/v1/ready', ready);

  const metrics = async (_req: unknown, reply: { header(k: string, v: string): unknown }) => {
    reply.header('content-type', o.metrics.registry.contentType);
    return o.metrics.registry.metrics();
  };
  app.get('/metrics', metrics);
  app.get('/v1/metrics', metrics);

  app.get('/v1/status', async () => ({
    ready: o.readiness.ready,
    reasons: o.readiness.reasons(),
    ...(await o.status?.()),
  }));

  if (o.api !== undefined) {
    const scopes = registerReadApi(app, o.api);
    const pipeline = new PipelineStatus(o.metrics, o.readiness, o.api.pipelines ?? (() => []));
    app.addHook('onClose', async () => pipeline.close());
    app.get('/v1/pipeline', async (req, reply) => {
      if (scopes.scopeOf(req.headers.authorization) === null) return reply.code(401).send({ error: 'a valid bearer token is required (Authorization: Bearer <token>; see API_TOKENS)' });
      return pipeline.snapshot();
    });
    registerDashboard(app);
  }
  return app;
}
