-- grid-telemetry: raw readings, 1-minute and 15-minute aggregates, EMA baselines, alerts.

-- Raw readings, one row per (meter, event time): a redelivered reading inserts nothing, and
-- only readings that were actually inserted advance the aggregates and the baselines.
SELECT ingestd_create_time_table('telemetry_readings', $cols$
    meter_id    text             NOT NULL,
    region      text             NOT NULL,
    "timestamp" timestamptz      NOT NULL,
    power_kw    double precision NOT NULL,
    voltage     double precision,
    energy_kwh  double precision,
    interval_s  double precision NOT NULL,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, "timestamp")
$cols$, 'timestamp', 'meter_id');
CREATE INDEX IF NOT EXISTS idx_telemetry_readings_time ON telemetry_readings ("timestamp" DESC);

-- Aggregates are maintained additively from the deltas of new readings. sum_power keeps the
-- average exact; revision counts publications; dirty marks rows changed since the last one.
CREATE TABLE IF NOT EXISTS aggregates_1m (
  meter_id     text             NOT NULL,
  region       text             NOT NULL,
  window_start timestamptz      NOT NULL,
  window_end   timestamptz      NOT NULL,
  avg_power    double precision NOT NULL,
  max_power    double precision NOT NULL,
  min_power    double precision NOT NULL,
  total_energy double precision NOT NULL,
  sample_count integer          NOT NULL,
  sum_power    double precision NOT NULL,
  revision     integer          NOT NULL DEFAULT 0,
  dirty        boolean          NOT NULL DEFAULT true,
  created_at   timestamptz      NOT NULL DEFAULT now(),
  updated_at   timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (meter_id, window_start)
);
CREATE TABLE IF NOT EXISTS aggregates_15m (LIKE aggregates_1m INCLUDING ALL);
CREATE INDEX IF NOT EXISTS idx_aggregates_1m_pending ON aggregates_1m (window_end) WHERE dirty;
CREATE INDEX IF NOT EXISTS idx_aggregates_15m_pending ON aggregates_15m (window_end) WHERE dirty;
CREATE INDEX IF NOT EXISTS idx_aggregates_1m_start ON aggregates_1m (window_start DESC);
CREATE INDEX IF NOT EXISTS idx_aggregates_15m_start ON aggregates_15m (window_start DESC);

-- Per-meter detector state, advanced in the same transaction as the readings.
CREATE TABLE IF NOT EXISTS grid_meters (
  meter_id         text PRIMARY KEY,
  region           text        NOT NULL,
  baseline         double precision,            -- EMA of power_kw; NULL until the first reading
  last_received_at timestamptz NOT NULL,        -- wall clock of the last reading (offline detection)
  offline_since    timestamptz,                 -- set while an offline alert is open
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS grid_alerts (
  alert_id    uuid PRIMARY KEY,                 -- UUIDv5 of (meter, reading time, type)
  meter_id    text             NOT NULL,
  region      text             NOT NULL,
  type        text             NOT NULL CHECK (type IN ('spike', 'drop', 'outage', 'offline')),
  value       double precision,
  baseline    double precision,
  "timestamp" timestamptz      NOT NULL,
  detected_at timestamptz      NOT NULL DEFAULT now(),
  cleared_at  timestamptz
);
CREATE INDEX IF NOT EXISTS idx_grid_alerts_time ON grid_alerts ("timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_grid_alerts_meter ON grid_alerts (meter_id, "timestamp" DESC);

-- Highest event time seen per domain: the watermark is this minus ALLOWED_LATENESS.
CREATE TABLE IF NOT EXISTS stream_watermarks (
  domain         text PRIMARY KEY,
  max_event_time timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
