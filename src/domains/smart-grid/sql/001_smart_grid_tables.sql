-- smart-grid: raw transactions, per-second consumption, per-region per-minute consumption,
-- current meter state and status alerts. PostgreSQL is the dashboard's store (and the
-- source of the aggregate points written to InfluxDB).

-- Raw transactions: a redelivered transaction inserts nothing, and only transactions that
-- were actually inserted move the aggregates.
SELECT ingestd_create_time_table('smart_grid_transactions', $cols$
    transaction_id  text             NOT NULL,
    "timestamp"     timestamptz      NOT NULL,
    meter_id        text             NOT NULL,
    region          text             NOT NULL,
    status          text             NOT NULL,
    building_type   text             NOT NULL,
    consumption_kwh double precision NOT NULL,
    latitude        double precision NOT NULL,
    longitude       double precision NOT NULL,
    peak_load       double precision NOT NULL,
    PRIMARY KEY (transaction_id, "timestamp")
$cols$, 'timestamp', 'meter_id');
CREATE INDEX IF NOT EXISTS idx_smart_grid_transactions_time ON smart_grid_transactions ("timestamp" DESC);

-- One row per second of event time, added to by every batch. revision counts changes and
-- synced_revision the last one written to InfluxDB: rows with revision > synced_revision
-- are still to be written.
CREATE TABLE IF NOT EXISTS smart_grid_consumption_1s (
  bucket          timestamptz      PRIMARY KEY,
  total_kwh       double precision NOT NULL,
  reading_count   bigint           NOT NULL,
  max_kwh         double precision NOT NULL,
  min_kwh         double precision NOT NULL,
  active_count    bigint           NOT NULL,
  fault_count     bigint           NOT NULL,
  offline_count   bigint           NOT NULL,
  revision        bigint           NOT NULL DEFAULT 1,
  synced_revision bigint           NOT NULL DEFAULT 0,
  updated_at      timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_smart_grid_consumption_1s_unsynced ON smart_grid_consumption_1s (bucket) WHERE revision > synced_revision;

CREATE TABLE IF NOT EXISTS smart_grid_region_1m (
  region          text             NOT NULL,
  bucket          timestamptz      NOT NULL,
  total_kwh       double precision NOT NULL,
  reading_count   bigint           NOT NULL,
  meter_count     integer          NOT NULL,  -- distinct meters heard in the region this minute
  max_consumption double precision NOT NULL,
  revision        bigint           NOT NULL DEFAULT 1,
  synced_revision bigint           NOT NULL DEFAULT 0,
  updated_at      timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (region, bucket)
);
CREATE INDEX IF NOT EXISTS idx_smart_grid_region_1m_bucket ON smart_grid_region_1m (bucket DESC);
CREATE INDEX IF NOT EXISTS idx_smart_grid_region_1m_unsynced ON smart_grid_region_1m (bucket) WHERE revision > synced_revision;

-- Which meters were already counted in a region's minute (exact distinct counts across
-- batches and instances). Kept for SMART_GRID_DISTINCT_RETENTION only.
CREATE TABLE IF NOT EXISTS smart_grid_region_meters_1m (
  region   text        NOT NULL,
  bucket   timestamptz NOT NULL,
  meter_id text        NOT NULL,
  PRIMARY KEY (region, bucket, meter_id)
);
CREATE INDEX IF NOT EXISTS idx_smart_grid_region_meters_1m_bucket ON smart_grid_region_meters_1m (bucket);

-- Current state of each meter: the newest transaction by event time wins (ties by id).
CREATE TABLE IF NOT EXISTS smart_grid_meters (
  meter_id            text PRIMARY KEY,
  region              text             NOT NULL,
  status              text             NOT NULL,
  previous_status     text,
  status_since        timestamptz      NOT NULL,
  building_type       text             NOT NULL,
  latitude            double precision NOT NULL,
  longitude           double precision NOT NULL,
  consumption_kwh     double precision NOT NULL,
  peak_load           double precision NOT NULL,
  last_seen           timestamptz      NOT NULL,  -- event time of the newest transaction
  last_transaction_id text             NOT NULL,
  updated_at          timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_smart_grid_meters_status ON smart_grid_meters (status) WHERE status <> 'active';

-- A meter entering fault or offline, once per transition (UUIDv5 of meter, time, status).
CREATE TABLE IF NOT EXISTS smart_grid_alerts (
  alert_id        uuid PRIMARY KEY,
  meter_id        text             NOT NULL,
  region          text             NOT NULL,
  type            text             NOT NULL CHECK (type IN ('fault', 'offline')),
  previous_status text,
  consumption_kwh double precision,
  "timestamp"     timestamptz      NOT NULL,
  detected_at     timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_smart_grid_alerts_time ON smart_grid_alerts ("timestamp" DESC);
