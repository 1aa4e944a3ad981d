-- One way to create a time-series table, shared by the domains: a TimescaleDB hypertable
-- with compression (7 days) and retention (1 year) when the extension is loaded, otherwise
-- native range partitioning on the time column with a DEFAULT partition, so that a row with
-- any timestamp is stored (the worker creates monthly partitions ahead and drops old ones).
CREATE OR REPLACE FUNCTION ingestd_create_time_table(tbl text, columns text, time_column text, segment_by text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('shared_preload_libraries', true) LIKE '%timescaledb%'
     AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXECUTE format('CREATE TABLE %I (%s)', tbl, columns);
    PERFORM create_hypertable(tbl::regclass, time_column);
    EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L)', tbl, segment_by);
    PERFORM add_compression_policy(tbl::regclass, INTERVAL '7 days');
    PERFORM add_retention_policy(tbl::regclass, INTERVAL '1 year');
  ELSE
    EXECUTE format('CREATE TABLE %I (%s) PARTITION BY RANGE (%I)', tbl, columns, time_column);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', tbl || '_default', tbl);
  END IF;
END $$;
