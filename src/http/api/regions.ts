import { BadRequest, choice, iso, range, type Query } from '../params.ts';
import { enabled, seesUntenanted, type RequestView } from './context.ts';

const DAY = 86_400_000;

/**
 * GET /v1/regions?from=&to= (default: the last hour): per region, what it reported in the
 * whole minutes from `from`'s to `to`: consumption and readings from the per-minute rows, the
 * distinct meters heard (not the meters known today), and the centroid of those meters.
 * Which meters a minute heard is kept in smart_grid_region_meters_1m for the minutes at most
 * SMART_GRID_DISTINCT_RETENTION behind the newest (the prune task's bound, so those minutes
 * are complete there); older minutes are read from the raw transactions.
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
       -- date_trunc(x + 1 minute - 1 µs): the first minute boundary at or after x.
       kept AS (SELECT date_trunc('minute', max(bucket) - make_interval(secs => $3::float8 / 1000) + interval '1 minute' - interval '1 microsecond') AS since
                  FROM smart_grid_region_1m),
       heard AS (
         SELECT region, meter_id FROM smart_grid_region_meters_1m, kept
          WHERE bucket >= greatest(date_trunc('minute', $1::timestamptz), kept.since) AND bucket < $2
         UNION
         SELECT region, meter_id FROM smart_grid_transactions, kept
          WHERE "timestamp" >= date_trunc('minute', $1::timestamptz)
            AND "timestamp" < least(date_trunc('minute', $2::timestamptz + interval '1 minute' - interval '1 microsecond'), kept.since)),
       m AS (
         SELECT h.region, count(*) AS meter_count, avg(g.latitude) AS latitude, avg(g.longitude) AS longitude
           FROM heard h LEFT JOIN smart_grid_meters g USING (meter_id) GROUP BY h.region)
       SELECT c.region, c.total_kwh, c.reading_count, coalesce(m.meter_count, 0) AS meter_count,
              c.total_kwh / greatest(coalesce(m.meter_count, 0), 1) AS average_kwh, c.max_consumption, m.latitude, m.longitude
         FROM c LEFT JOIN m USING (region) ORDER BY c.total_kwh DESC`
    : `SELECT region, sum(total_energy) AS total_kwh, sum(sample_count) AS reading_count, count(DISTINCT meter_id) AS meter_count,
              sum(total_energy) / greatest(count(DISTINCT meter_id), 1) AS average_kwh, max(max_power) AS max_consumption,
              NULL::float8 AS latitude, NULL::float8 AS longitude
         FROM aggregates_1m WHERE window_start >= date_trunc('minute', $1::timestamptz) AND window_start < $2
        GROUP BY region ORDER BY 2 DESC`;
  const params = domain === 'smart-grid' ? [iso(from), iso(to), v.config.smartGrid.distinctRetentionMs] : [iso(from), iso(to)];
  const { rows } = await v.pool.query<Record<string, unknown>>(sql, params);
  return {
    from: iso(from), to: iso(to),
    regions: rows.map((r) => ({ ...r, reading_count: Number(r['reading_count']), meter_count: Number(r['meter_count']) })),
  };
}
