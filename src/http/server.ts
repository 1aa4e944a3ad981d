import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Readiness } from '../runtime/health.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { registerReadApi } from './api/index.ts';
import { bearerCheck, unauthorized } from './auth.ts';
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
  /** Bearer tokens of the operational endpoints (METRICS_TOKEN, HEALTH_TOKEN); unset: open. */
  readonly opsTokens?: { readonly metrics: string | undefined; readonly health: string | undefined };
  /**
   * What this listener serves: everything (the default); the read API and dashboard only
   * (`api`), or health, readiness, status and metrics only (`ops`), when OPS_PORT gives the
   * operational endpoints a listener of their own.
   */
  readonly serve?: 'all' | 'api' | 'ops';
}

/** Health, readiness, metrics, status, the read API and the dashboard. Request ids come from `x-request-id` when sent. */
export function createHttpServer(o: HttpOptions) {
  const serve = o.serve ?? 'all';
  const app = Fastify({
    loggerInstance: o.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const id = req.headers['x-request-id'];
      return typeof id === 'string' && id.length > 0 && id.length <= 200 ? id : randomUUID();
    },
  });

  if (serve !== 'api') registerOps(app, o);
  if (o.api !== undefined && serve !== 'ops') {
    const scopes = registerReadApi(app, o.api);
    const pipeline = new PipelineStatus(o.metrics, o.readiness, o.api.pipelines ?? (() => []));
    app.addHook('onClose', async () => pipeline.close());
    app.get('/v1/pipeline', async (req, reply) => {
      if (scopes.scopeOf(req.headers.authorization) === null) {
        return unauthorized(reply, 'API_TOKENS');
      }
      return pipeline.snapshot();
    });
    registerDashboard(app);
  }
  return app;
}

/**
 * Liveness, readiness, status and metrics. HEALTH_TOKEN guards the first three (readiness
 * reasons name hosts and errors), METRICS_TOKEN the metrics; each is open when unset.
 */
function registerOps(app: FastifyInstance, o: HttpOptions): void {
  const guard = (token: string | undefined, variable: string) => {
    const ok = bearerCheck(token);
    return {
      onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
        if (ok(req.headers.authorization)) return;
        return unauthorized(reply, variable);
      },
    };
  };
  const healthAccess = guard(o.opsTokens?.health, 'HEALTH_TOKEN');
  const metricsAccess = guard(o.opsTokens?.metrics, 'METRICS_TOKEN');

  const health = async () => ({ status: 'ok' });
  app.get('/health', healthAccess, health);
  app.get('/v1/health', healthAccess, health);

  const ready = async (_req: FastifyRequest, reply: FastifyReply) => {
    if (o.readiness.ready) return { status: 'ready' };
    reply.code(503);
    return { status: 'not ready', reasons: o.readiness.reasons() };
  };
  app.get('/ready', healthAccess, ready);
  app.get('/v1/ready', healthAccess, ready);

  const metrics = async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-type', o.metrics.registry.contentType);
    return o.metrics.registry.metrics();
  };
  app.get('/metrics', metricsAccess, metrics);
  app.get('/v1/metrics', metricsAccess, metrics);

  app.get('/v1/status', healthAccess, async () => ({
    ready: o.readiness.ready,
    reasons: o.readiness.reasons(),
    ...(await o.status?.()),
  }));
}
