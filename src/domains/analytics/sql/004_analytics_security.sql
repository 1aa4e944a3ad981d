-- Roles and Row Level Security. analytics_writer: what the worker needs on these tables.
-- analytics_reader: read-only, and sees only the tenants granted to the querying role in
-- analytics_tenant_grants. Both are NOLOGIN groups: grant them to login roles. Creating
-- roles needs CREATEROLE; without it the roles are left to the operator (a notice says so).
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['analytics_writer', 'analytics_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
        WHEN insufficient_privilege THEN RAISE NOTICE 'cannot create role %: create it and rerun ingestd migrate', r;
      END;
    END IF;
  END LOOP;
END $$;

CREATE TABLE IF NOT EXISTS analytics_tenant_grants (
  role_name name NOT NULL,
  tenant_id text NOT NULL,
  PRIMARY KEY (role_name, tenant_id)
);

-- The tenants a role may read. Called by the policies with current_user of the query.
CREATE OR REPLACE FUNCTION analytics_reader_tenants(role_name name) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER AS $$
  SELECT coalesce(array_agg(g.tenant_id), '{}') FROM analytics_tenant_grants g WHERE g.role_name = $1
$$;
DO $$ BEGIN
  EXECUTE format('ALTER FUNCTION analytics_reader_tenants(name) SET search_path = %I, pg_temp', current_schema());
END $$;
REVOKE ALL ON FUNCTION analytics_reader_tenants(name) FROM PUBLIC;

DO $$
DECLARE
  s text := current_schema();
  t text;
  tenant_tables text[] := ARRAY['analytics_measurement', 'analytics_agg', 'analytics_event', 'analytics_event_rollup',
                                'analytics_anomaly', 'analytics_kpi', 'analytics_spec_limits', 'analytics_series_state'];
  has_writer boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_writer');
  has_reader boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader');
BEGIN
  FOREACH t IN ARRAY tenant_tables LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    IF has_writer THEN
      EXECUTE format('DROP POLICY IF EXISTS analytics_writer_all ON %I', t);
      EXECUTE format('CREATE POLICY analytics_writer_all ON %I TO analytics_writer USING (true) WITH CHECK (true)', t);
    END IF;
    IF has_reader THEN
      EXECUTE format('DROP POLICY IF EXISTS analytics_reader_tenant ON %I', t);
      EXECUTE format('CREATE POLICY analytics_reader_tenant ON %I FOR SELECT TO analytics_reader USING (tenant_id = ANY (analytics_reader_tenants(current_user)))', t);
    END IF;
  END LOOP;
  IF has_writer THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO analytics_writer', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO analytics_writer', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO analytics_writer', s);
    EXECUTE 'GRANT EXECUTE ON FUNCTION analytics_reader_tenants(name) TO analytics_writer';
    -- The worker's own tables (outbox, Kafka checkpoints) in the core schema.
    FOR t IN SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname IN ('ingestd_outbox', 'worker_checkpoints') AND c.relkind = 'r' LOOP
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO analytics_writer', t);
    END LOOP;
    FOR t IN SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname LIKE 'ingestd_outbox%seq' AND c.relkind = 'S' LOOP
      EXECUTE format('GRANT USAGE ON SEQUENCE %s TO analytics_writer', t);
    END LOOP;
  END IF;
  IF has_reader THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO analytics_reader', s);
    FOREACH t IN ARRAY tenant_tables LOOP
      EXECUTE format('GRANT SELECT ON %I TO analytics_reader', t);
    END LOOP;
    EXECUTE 'GRANT EXECUTE ON FUNCTION analytics_reader_tenants(name) TO analytics_reader';
    IF current_setting('server_version_num')::int >= 150000 THEN
      EXECUTE 'GRANT SELECT ON analytics_agg_v, analytics_latest_v, analytics_sweep_v, analytics_machine_status_v TO analytics_reader';
    END IF;
  END IF;
END $$;
