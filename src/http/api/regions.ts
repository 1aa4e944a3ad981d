import { BadRequest, choice, iso, range, type Query } from '../params.ts';
import { enabled, seesUntenanted, type RequestView } from './context.ts';

const DAY = 86_400_000;

/**
 * GET /v1/regions?from=&to= (default: the last hour): consumption per region, with the
 * centroid of its meters for the map. meter_count is the meters known in the region;
 * average_kwh is total_kwh per meter.
 */
export async function regions(v: RequestView, q: Query) {
  const domain = choice(q, 'domain', ['smart-grid', 'grid-telemetry'] as const, 'smart-grid');
  if (!enabled(v, domain)) throw new BadRequest(`domain: ${domain} is not enabled in this deployment (DOMAINS_ENABLED)`);
  const { from, to } = range(q, 3_600_000, 31 * DAY);
  if (!seesUntenanted(v)) return { from: iso(from), to: iso(to), regions: [] };
  const sql = domain === 'smart-grid'
    ? `WITH c AS (
         SELECT region, sum(total_kwh) AS total_kwh, sum(reading_count) AS reading_count, max(max_consumption) AS max_consumption
           FROM smart_grid_region_1m WHERE bucket >= date_trunc('minute', $1::timestamptz) AND bucket < $2 GROUP BY region),
       m AS (SELECT region, count(*) AS meter_count, avg(latitude) AS latitude, avg(longitude) AS longitude FROM smart_grid_meters GROUP BY region)
       SELECT c.region, c.total_kwh, c.reading_count, coalesce(m.meter_count, 0) AS meter_count,
              c.total_kwh / greatest(coalesce(m.meter_count, 0), 1) AS average_kwh, c.max_consumption, m.latitude, m.longitude
         FROM c LEFT JOIN m USING (region) ORDER BY c.total_kwh DESC`
    : `SELECT region, sum(total_energy) AS total_kwh, sum(sample_count) AS reading_count, count(DISTINCT meter_id) AS meter_count,
              sum(total_energy) / greatest(count(DISTINCT meter_id), 1) AS average_kwh, max(max_power) AS max_consumption,
              NULL::float8 AS latitude, NULL::float8 AS longitude
         FROM aggregates_1m WHERE window_start >= date_trunc('minute', $1::timestamptz) AND window_start < $2
        GROUP BY region ORDER BY 2 DESC`;
  const { rows } = await v.pool.query<Record<string, unknown>>(sql, [iso(from), iso(to)]);
  return {
    from: iso(from), to: iso(to),
    regions: rows.map((r) => ({ ...r, reading_count: Number(r['reading_count']), meter_count: Number(r['meter_count']) })),
  };
}
