import { BadRequest, choice, integer, iso, range, text, type Query } from '../params.ts';
import { quoteIdent } from '../../sinks/postgres/sql-text.ts';
import { analyticsTable, enabled, seesUntenanted, tenantFilter, type RequestView } from './context.ts';

const DAY = 86_400_000;
const TS = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;

/**
 * GET /v1/aggregates?domain=&meter_id=&window=&from=&to=&limit=: window aggregates, oldest
 * first. grid-telemetry: window 1m or 15m per meter. analytics: a WINDOWS size in seconds
 * (meter_id = machine id). smart-grid: 1s (whole grid) or 1m (meter_id = region).
 */
export async function aggregates(v: RequestView, q: Query) {
  const domain = choice(q, 'domain', ['grid-telemetry', 'analytics', 'smart-grid'] as const, 'grid-telemetry');
  if (!enabled(v, domain)) throw new BadRequest(`domain: ${domain} is not enabled in this deployment (DOMAINS_ENABLED)`);
  const { from, to } = range(q, 3_600_000, 31 * DAY);
  const meter = text(q, 'meter_id');
  const limit = integer(q, 'limit', 1000, 1, 10_000);
  const base = { domain, from: iso(from), to: iso(to) };
  if (domain === 'grid-telemetry') {
    const window = choice(q, 'window', ['1m', '15m'] as const, '1m');
    if (!seesUntenanted(v)) return { ...base, window, aggregates: [] };
    const { rows } = await v.pool.query(
      `SELECT meter_id, region, ${TS('window_start')} AS window_start, ${TS('window_end')} AS window_end, avg_power, max_power, min_power,
              total_energy, sample_count, revision > 0 AND NOT dirty AS closed
         FROM ${quoteIdent(`aggregates_${window}`)} WHERE window_start >= $1 AND window_start < $2 AND ($3::text IS NULL OR meter_id = $3)
        ORDER BY window_start, meter_id LIMIT $4`,
      [iso(from), iso(to), meter ?? null, limit],
    );
    return { ...base, window, aggregates: rows };
  }
  if (domain === 'analytics') {
    const windows = v.config.analytics.windowsS.map(String);
    const window = choice(q, 'window', windows, windows[0]!);
    const { rows } = await v.pool.query(
      `SELECT tenant_id, factory_id, machine_id, sensor_id, metric, unit, ${TS('bucket_start')} AS window_start, window_s,
              count_n::float8 AS sample_count, avg_val AS avg, min_val AS min, max_val AS max, last_val AS last,
              CASE WHEN count_n > 1 THEN sqrt(greatest(sum_sq - sum_val * sum_val / count_n, 0) / (count_n - 1)) END AS stddev
         FROM ${analyticsTable(v, 'analytics_agg')}
        WHERE window_s = $1 AND bucket_start >= $2 AND bucket_start < $3 AND ($4::text IS NULL OR machine_id = $4) AND ($5::text IS NULL OR tenant_id = $5)
        ORDER BY bucket_start, machine_id, metric LIMIT $6`,
      [Number(window), iso(from), iso(to), meter ?? null, tenantFilter(v), limit],
    );
    return { ...base, window, aggregates: rows };
  }
  const window = choice(q, 'window', ['1s', '1m'] as const, '1m');
  if (!seesUntenanted(v)) return { ...base, window, aggregates: [] };
  const { rows } = window === '1s'
    ? await v.pool.query(
      `SELECT ${TS('bucket')} AS window_start, total_kwh, reading_count::float8 AS reading_count, max_kwh, min_kwh, active_count::float8 AS active_count,
              fault_count::float8 AS fault_count, offline_count::float8 AS offline_count
         FROM smart_grid_consumption_1s WHERE bucket >= $1 AND bucket < $2 ORDER BY bucket LIMIT $3`,
      [iso(from), iso(to), limit])
    : await v.pool.query(
      `SELECT region, ${TS('bucket')} AS window_start, total_kwh, reading_count::float8 AS reading_count, meter_count, max_consumption
         FROM smart_grid_region_1m WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR region = $3) ORDER BY bucket, region LIMIT $4`,
      [iso(from), iso(to), meter ?? null, limit]);
  return { ...base, window, aggregates: rows };
}
