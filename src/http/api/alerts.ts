import { choices, instant, integer, iso, type Query } from '../params.ts';
import { analyticsTable, enabled, seesUntenanted, tenantFilter, type RequestView } from './context.ts';

const TS = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const ALERT_DOMAINS = ['smart-grid', 'grid-telemetry', 'analytics', 'energy-meter'] as const;

/**
 * GET /v1/alerts?since=&limit=50&domain=: alerts and anomalies of every enabled domain that
 * has them, newest first, in one shape.
 */
export async function alerts(v: RequestView, q: Query) {
  const limit = integer(q, 'limit', 50, 1, 1000);
  const since = instant(q, 'since', Date.now() - 86_400_000);
  const domains = choices(q, 'domain', ALERT_DOMAINS, ALERT_DOMAINS).filter((d) => enabled(v, d));
  // Every part names its columns: whichever comes first names the union's.
  const parts: string[] = [];
  const untenanted = seesUntenanted(v);
  if (domains.includes('smart-grid') && untenanted) {
    parts.push(`(SELECT alert_id::text AS id, 'smart-grid' AS domain, type, meter_id AS subject, region, consumption_kwh AS value, NULL::float8 AS baseline,
        'meter ' || meter_id || ' reported ' || type || coalesce(' (was ' || previous_status || ')', '') AS message, "timestamp" AS ts, detected_at
       FROM smart_grid_alerts WHERE "timestamp" >= $1 ORDER BY "timestamp" DESC LIMIT $2)`);
  }
  if (domains.includes('grid-telemetry') && untenanted) {
    parts.push(`(SELECT alert_id::text AS id, 'grid-telemetry' AS domain, type, meter_id AS subject, region, value, baseline,
        CASE type WHEN 'offline' THEN 'meter ' || meter_id || ' silent' || CASE WHEN cleared_at IS NULL THEN '' ELSE ' (back since ' || ${TS('cleared_at')} || ')' END
                  ELSE type || ': ' || round(value::numeric, 2) || ' kW' ||
                       coalesce(' against a baseline of ' || round(baseline::numeric, 2) || ' kW', ' (no baseline yet)') END AS message,
        "timestamp" AS ts, detected_at
       FROM grid_alerts WHERE "timestamp" >= $1 ORDER BY "timestamp" DESC LIMIT $2)`);
  }
  if (domains.includes('energy-meter') && untenanted) {
    parts.push(`(SELECT r.id::text AS id, 'energy-meter' AS domain, 'spike' AS type, c.client_fingerprint || '/' || r.metric_name AS subject, NULL AS region,
        r.metric_value AS value, NULL::float8 AS baseline, r.anomaly_reason AS message, r.reading_timestamp AS ts, r.created_at AS detected_at
       FROM meter_readings_raw r JOIN meter_clients c ON c.id = r.client_id
      WHERE r.reading_timestamp >= $1 AND r.anomaly_reason LIKE '%sudden spike detected%' ORDER BY r.reading_timestamp DESC LIMIT $2)`);
  }
  if (domains.includes('analytics')) {
    parts.push(`(SELECT id::text AS id, 'analytics' AS domain, rule AS type, machine_id || '/' || metric AS subject, NULL AS region, value, center AS baseline,
        metric || ' on ' || machine_id || ' (' || tenant_id || '): ' || CASE rule WHEN 'out_of_spec' THEN 'outside its specification limits' ELSE 'Western Electric rule ' || substr(rule, 3) END AS message,
        time AS ts, detected_at
       FROM ${analyticsTable(v, 'analytics_anomaly')} WHERE time >= $1 AND ($3::text IS NULL OR tenant_id = $3) ORDER BY time DESC LIMIT $2)`);
  }
  if (parts.length === 0) return { alerts: [] };
  const { rows } = await v.pool.query(
    `SELECT id, domain, type, subject, region, value, baseline, message, ${TS('ts')} AS timestamp, ${TS('detected_at')} AS detected_at
       FROM (${parts.join(' UNION ALL ')}) a ORDER BY a.ts DESC, a.id LIMIT $2`,
    // $3 (tenant) only exists in the analytics part: PostgreSQL must be able to type every parameter.
    domains.includes('analytics') ? [iso(since), limit, tenantFilter(v)] : [iso(since), limit],
  );
  return { alerts: rows };
}
