import type { EnvReader } from './env.ts';

/** Who may read the operational endpoints, and where they are served. */
export interface OpsSettings {
  /** METRICS_TOKEN: `Authorization: Bearer` required on /metrics and /v1/metrics. */
  readonly metricsToken: string | undefined;
  /** HEALTH_TOKEN: required on /health, /ready and /v1/status (and their /v1 aliases). */
  readonly healthToken: string | undefined;
  /** OPS_PORT: serve health, readiness, status and metrics on their own listener (and not on PORT). */
  readonly port: number | undefined;
  /** OPS_HOST: listen address of that listener (default API_HOST). */
  readonly host: string;
}

const MIN_TOKEN = 16;
const TOKEN = /^[\x21-\x7e]+$/;

function token(r: EnvReader, name: string): string | undefined {
  const v = r.optionalString(name);
  if (v === undefined) return undefined;
  // The value is a secret: problems say what is wrong with it, never what it is.
  if (v.length < MIN_TOKEN) r.problem(`${name}: the token must have at least ${MIN_TOKEN} characters (got ${v.length})`);
  else if (!TOKEN.test(v)) r.problem(`${name}: the token must be printable ASCII without spaces (it is sent as Authorization: Bearer <token>)`);
  return v;
}

export function opsSettings(r: EnvReader, apiHost: string, apiPort: number): OpsSettings {
  const port = r.raw('OPS_PORT') === undefined ? undefined : r.int('OPS_PORT', 0, 1, 65535);
  if (port !== undefined && port === apiPort) r.problem(`OPS_PORT: must differ from PORT (${apiPort}); unset it to serve everything on PORT`);
  return {
    metricsToken: token(r, 'METRICS_TOKEN'),
    healthToken: token(r, 'HEALTH_TOKEN'),
    port,
    host: r.string('OPS_HOST', apiHost),
  };
}
