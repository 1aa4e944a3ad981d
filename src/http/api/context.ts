import type pg from 'pg';
import type { Config } from '../../config/index.ts';
import type { Scope } from '../auth.ts';
import type { PipelineRef } from './pipeline.ts';
import { qualified } from '../../sinks/postgres/sql-text.ts';

export interface ApiContext {
  readonly pool: pg.Pool;
  readonly config: Config;
  /** The worker's pipelines (none while it starts, or with ENABLE_WORKER=false). */
  readonly pipelines?: () => ReadonlyArray<PipelineRef>;
}

/** A request's view: its tenant scope over the enabled domains. */
export interface RequestView extends ApiContext {
  readonly scope: Scope;
}

export const enabled = (v: ApiContext, domain: string): boolean => v.config.domains.includes(domain);

/**
 * Domains whose messages carry no tenant (smart-grid, grid-telemetry, energy-meter) belong
 * to DEFAULT_TENANT: a token of another tenant sees none of their rows.
 */
export const seesUntenanted = (v: RequestView): boolean => v.scope.all || v.scope.tenant === v.config.api.defaultTenant;

/** The tenant filter of tenanted tables: null = all tenants. */
export const tenantFilter = (v: RequestView): string | null => (v.scope.all ? null : v.scope.tenant);

/** An analytics table in its schema (DB_SCHEMA), quoted. */
export const analyticsTable = (v: ApiContext, table: string): string => qualified(table, v.config.analytics.schema);
