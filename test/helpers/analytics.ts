import { queryRows } from './db.ts';

/**
 * Rows of analytics_agg that differ from the aggregate recomputed from the raw measurements
 * (or exist on one side only), for the given windows. Empty when the invariant holds.
 */
export async function analyticsAggMismatches(url: string, windowsS: number[], schema = 'analytics'): Promise<unknown[]> {
  return queryRows(url, `
    WITH w(window_s) AS (SELECT unnest($1::int[])),
    r AS (
      SELECT w.window_s, to_timestamp(floor(extract(epoch FROM m.time) / w.window_s) * w.window_s) AS bucket_start,
             m.tenant_id, m.factory_id, m.machine_id, m.sensor_id, m.metric, m.value, m.time
        FROM "${schema}".analytics_measurement m CROSS JOIN w),
    e AS (
      SELECT window_s, bucket_start, tenant_id, factory_id, machine_id, sensor_id, metric,
             count(*) AS count_n, sum(value) AS sum_val, min(value) AS min_val, max(value) AS max_val,
             (array_agg(value ORDER BY time DESC, value DESC))[1] AS last_val
        FROM r GROUP BY 1, 2, 3, 4, 5, 6, 7)
    SELECT coalesce(e.tenant_id, a.tenant_id) AS tenant_id, coalesce(e.metric, a.metric) AS metric,
           coalesce(e.window_s, a.window_s) AS window_s, coalesce(e.bucket_start, a.bucket_start) AS bucket_start,
           e.count_n AS expected_count, a.count_n AS stored_count, e.sum_val AS expected_sum, a.sum_val AS stored_sum
      FROM e FULL JOIN "${schema}".analytics_agg a USING (window_s, bucket_start, tenant_id, factory_id, machine_id, sensor_id, metric)
     WHERE e.count_n IS DISTINCT FROM a.count_n OR abs(e.sum_val - a.sum_val) > 1e-9 * greatest(1, abs(e.sum_val))
        OR e.min_val IS DISTINCT FROM a.min_val OR e.max_val IS DISTINCT FROM a.max_val OR e.last_val IS DISTINCT FROM a.last_val
        OR abs(a.avg_val - e.sum_val / e.count_n) > 1e-9 * greatest(1, abs(a.avg_val))`, [windowsS]);
}

/** Rollup rows that differ from the counts recomputed from analytics_event. */
export async function analyticsRollupMismatches(url: string, windowsS: number[], schema = 'analytics'): Promise<unknown[]> {
  return queryRows(url, `
    WITH w(window_s) AS (SELECT unnest($1::int[])),
    e AS (
      SELECT w.window_s, to_timestamp(floor(extract(epoch FROM ev.time) / w.window_s) * w.window_s) AS bucket_start,
             ev.tenant_id, ev.factory_id, ev.domain, ev.entity_type, ev.entity_id, ev.event_type, count(*) AS count_n
        FROM "${schema}".analytics_event ev CROSS JOIN w GROUP BY 1, 2, 3, 4, 5, 6, 7, 8)
    SELECT * FROM e FULL JOIN "${schema}".analytics_event_rollup r
      USING (window_s, bucket_start, tenant_id, factory_id, domain, entity_type, entity_id, event_type)
     WHERE e.count_n IS DISTINCT FROM r.count_n`, [windowsS]);
}

/** Availability rows that differ from the share of up statuses recomputed from the health events. */
export async function availabilityMismatches(url: string, windowsS: number[], up: string[], schema = 'analytics'): Promise<unknown[]> {
  return queryRows(url, `
    WITH w(window_s) AS (SELECT unnest($1::int[])),
    e AS (
      SELECT w.window_s, to_timestamp(floor(extract(epoch FROM ev.time) / w.window_s) * w.window_s) AS bucket_start,
             ev.tenant_id, ev.factory_id, ev.entity_id AS machine_id,
             count(*) FILTER (WHERE ev.payload->>'status' = ANY ($2::text[])) AS numerator, count(*) AS denominator
        FROM "${schema}".analytics_event ev CROSS JOIN w WHERE ev.event_type LIKE 'health.%' GROUP BY 1, 2, 3, 4, 5)
    SELECT * FROM e FULL JOIN (SELECT * FROM "${schema}".analytics_kpi WHERE kpi = 'availability') k
      USING (window_s, bucket_start, tenant_id, factory_id, machine_id)
     WHERE e.numerator IS DISTINCT FROM k.numerator OR e.denominator IS DISTINCT FROM k.denominator`, [windowsS, up]);
}

/** A table's rows as sorted JSON text: equal snapshots mean nothing changed. */
export async function snapshot(url: string, table: string, schema = 'analytics'): Promise<string> {
  const rows = await queryRows<{ j: string }>(url, `SELECT row_to_json(t)::text AS j FROM "${schema}"."${table}" t`);
  return rows.map((r) => r.j.replace(/"(updated_at|ingested_at|detected_at)":"[^"]*"/g, '')).sort().join('\n');
}
