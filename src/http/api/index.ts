import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TokenScopes, unauthorized, type Scope } from '../auth.ts';
import { BadRequest, type Query } from '../params.ts';
import { aggregates } from './aggregates.ts';
import { alerts } from './alerts.ts';
import { consumptionTrend, liveConsumption } from './consumption.ts';
import type { ApiContext, RequestView } from './context.ts';
import { meters } from './meters.ts';
import { regions } from './regions.ts';

type Handler = (v: RequestView, q: Query) => Promise<unknown>;

const ROUTES: ReadonlyArray<[string, Handler]> = [
  ['/v1/consumption/live', liveConsumption],
  ['/v1/consumption/trend', consumptionTrend],
  ['/v1/meters', meters],
  ['/v1/regions', regions],
  ['/v1/alerts', alerts],
  ['/v1/aggregates', aggregates],
];

/**
 * The read API (SPEC §7): JSON over the domains' tables, each request scoped to its bearer
 * token's tenant. Bad parameters answer 400 with the reason; a missing or unknown token 401.
 */
export function registerReadApi(app: FastifyInstance, ctx: ApiContext): TokenScopes {
  const scopes = new TokenScopes(ctx.config.api.tokens);
  const scopeOf = (req: FastifyRequest, reply: FastifyReply): Scope | null => {
    const scope = scopes.scopeOf(req.headers.authorization);
    if (scope === null) {
      void unauthorized(reply, 'API_TOKENS');
    }
    return scope;
  };
  for (const [path, handler] of ROUTES) {
    app.get(path, async (req, reply) => {
      const scope = scopeOf(req, reply);
      if (scope === null) return reply;
      try {
        return await handler({ ...ctx, scope }, req.query as Query);
      } catch (err) {
        if (err instanceof BadRequest) return reply.code(400).send({ error: err.message });
        req.log.error({ err, path }, 'read API query failed');
        return reply.code(503).send({ error: 'the database could not answer; try again' });
      }
    });
  }
  return scopes;
}
