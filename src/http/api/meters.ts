import { choice, choices, integer, text, type Query } from '../params.ts';
import { BadRequest } from '../params.ts';
import { enabled, seesUntenanted, type RequestView } from './context.ts';

const STATUSES = ['active', 'fault', 'offline', 'all'] as const;

/**
 * GET /v1/meters?status=fault,offline&region=&limit=200&domain=smart-grid: current meter
 * state, newest first. grid-telemetry meters are `offline` while an offline alert is open.
 */
export async function meters(v: RequestView, q: Query) {
  const domain = choice(q, 'domain', ['smart-grid', 'grid-telemetry'] as const, 'smart-grid');
  if (!enabled(v, domain)) throw new BadRequest(`domain: ${domain} is not enabled in this deployment (DOMAINS_ENABLED)`);
  const wanted = choices(q, 'status', STATUSES, ['fault', 'offline']);
  const statuses = wanted.includes('all') ? ['active', 'fault', 'offline'] : wanted;
  const region = text(q, 'region');
  const limit = integer(q, 'limit', 200, 1, 10_000);
  if (!seesUntenanted(v)) return { total: 0, meters: [] };
  if (domain === 'grid-telemetry') {
    const { rows } = await v.pool.query(
      `WITH m AS (
         SELECT meter_id, region, CASE WHEN offline_since IS NULL THEN 'active' ELSE 'offline' END AS status, last_received_at
           FROM grid_meters WHERE ($2::text IS NULL OR region = $2))
       SELECT meter_id, region, status, NULL AS building_type, NULL::float8 AS latitude, NULL::float8 AS longitude,
              NULL::float8 AS consumption_kwh, NULL::float8 AS peak_load,
              to_char(last_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen, count(*) OVER () AS total
         FROM m WHERE status = ANY($1::text[]) ORDER BY last_received_at DESC LIMIT $3`,
      [statuses, region ?? null, limit],
    );
    return shape(rows);
  }
  const { rows } = await v.pool.query(
    `SELECT meter_id, region, status, building_type, latitude, longitude, consumption_kwh, peak_load,
            to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen,
            to_char(status_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS status_since, count(*) OVER () AS total
       FROM smart_grid_meters WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR region = $2)
      ORDER BY last_seen DESC, meter_id LIMIT $3`,
    [statuses, region ?? null, limit],
  );
  return shape(rows);
}

function shape(rows: Array<Record<string, unknown>>) {
  const total = rows.length === 0 ? 0 : Number(rows[0]!['total']);
  return { total, meters: rows.map(({ total: _t, ...m }) => m) };
}
