-- Convenience views. security_invoker (PostgreSQL 15+) makes them obey the callers' Row
-- Level Security; on older servers the read role is not granted them (see 004).
DO $$
DECLARE opts text := CASE WHEN current_setting('server_version_num')::int >= 150000 THEN 'WITH (security_invoker = true) ' ELSE '' END;
BEGIN
  EXECUTE 'CREATE OR REPLACE VIEW analytics_agg_v ' || opts || $v$AS
    SELECT bucket_start, bucket_start + make_interval(secs => window_s) AS bucket_end, window_s, tenant_id, factory_id, machine_id,
           sensor_id, metric, unit, count_n, avg_val, min_val, max_val, last_val,
           sqrt(greatest(sum_sq / count_n - avg_val * avg_val, 0)) AS std_val
      FROM analytics_agg$v$;
  EXECUTE 'CREATE OR REPLACE VIEW analytics_latest_v ' || opts || $v$AS
    SELECT DISTINCT ON (tenant_id, factory_id, machine_id, sensor_id, metric)
           tenant_id, factory_id, machine_id, sensor_id, metric, unit, time, value
      FROM analytics_measurement
     ORDER BY tenant_id, factory_id, machine_id, sensor_id, metric, time DESC$v$;
  EXECUTE 'CREATE OR REPLACE VIEW analytics_sweep_v ' || opts || $v$AS
    SELECT time, tenant_id, factory_id, entity_id AS machine_id, payload->>'metric' AS metric, payload->>'unit' AS unit,
           (payload->>'n')::bigint AS n, (payload->>'min')::float8 AS min_val, (payload->>'max')::float8 AS max_val,
           (payload->>'mean')::float8 AS mean_val, (payload->>'std')::float8 AS std_val
      FROM analytics_event WHERE domain = 'sweep'$v$;
  EXECUTE 'CREATE OR REPLACE VIEW analytics_machine_status_v ' || opts || $v$AS
    SELECT DISTINCT ON (tenant_id, factory_id, entity_id)
           tenant_id, factory_id, entity_id AS machine_id, payload->>'status' AS status, payload->>'level' AS level, time
      FROM analytics_event WHERE domain = 'device'
     ORDER BY tenant_id, factory_id, entity_id, time DESC$v$;
END $$;
