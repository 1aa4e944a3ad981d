-- analytics: raw measurements, window aggregates, specifications, series state, anomalies,
-- KPIs. Applied with search_path = DB_SCHEMA first, so every table lands in that schema.

-- Raw measurements, one row per reading identity (UUIDv5 of tenant, factory, machine,
-- sensor, metric, sample and time): a redelivery inserts nothing, and only rows inserted
-- now move the aggregates, KPIs and detectors.
SELECT ingestd_create_time_table('analytics_measurement', $cols$
    id          uuid             NOT NULL,
    time        timestamptz      NOT NULL,
    tenant_id   text             NOT NULL,
    factory_id  text             NOT NULL,
    machine_id  text             NOT NULL,
    sensor_id   text             NOT NULL DEFAULT '',
    metric      text             NOT NULL,
    unit        text             NOT NULL DEFAULT '',
    value       double precision NOT NULL,
    sub_domain  text             NOT NULL,
    sample_id   text,
    ingested_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (id, time)
$cols$, 'time', 'tenant_id');
CREATE INDEX IF NOT EXISTS idx_analytics_measurement_series ON analytics_measurement (tenant_id, machine_id, metric, time DESC);

-- One row per series, window and bucket, for every window of WINDOWS. Kept as sums (count,
-- sum, sum of squares) so that deltas add; avg_val is maintained, std is in the views.
SELECT ingestd_create_time_table('analytics_agg', $cols$
    bucket_start timestamptz      NOT NULL,
    window_s     integer          NOT NULL CHECK (window_s > 0),
    tenant_id    text             NOT NULL,
    factory_id   text             NOT NULL,
    machine_id   text             NOT NULL,
    sensor_id    text             NOT NULL,
    metric       text             NOT NULL,
    unit         text             NOT NULL,
    count_n      bigint           NOT NULL,
    sum_val      double precision NOT NULL,
    sum_sq       double precision NOT NULL,
    avg_val      double precision NOT NULL,
    min_val      double precision NOT NULL,
    max_val      double precision NOT NULL,
    last_val     double precision NOT NULL,
    last_time    timestamptz      NOT NULL,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, factory_id, machine_id, sensor_id, metric, window_s, bucket_start)
$cols$, 'bucket_start', 'tenant_id, machine_id, metric');
CREATE INDEX IF NOT EXISTS idx_analytics_agg_recent ON analytics_agg (window_s, bucket_start DESC);

-- Specifications per tenant and metric: what out-of-spec, the in-spec KPI and the Western
-- Electric rules (centre = target, else mid-limits; sigma, else tolerance / 6) use.
CREATE TABLE IF NOT EXISTS analytics_spec_limits (
  tenant_id  text NOT NULL,
  metric     text NOT NULL,
  lsl        double precision,
  usl        double precision,
  target     double precision,
  sigma      double precision CHECK (sigma IS NULL OR sigma > 0),
  unit       text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, metric),
  CHECK (lsl IS NULL OR usl IS NULL OR lsl <= usl)
);

-- Detector state per series (last classified points, rolling baseline), advanced in the
-- same transaction as the measurements, so a restart or a moved partition resumes it.
CREATE TABLE IF NOT EXISTS analytics_series_state (
  tenant_id  text NOT NULL,
  factory_id text NOT NULL,
  machine_id text NOT NULL,
  sensor_id  text NOT NULL,
  metric     text NOT NULL,
  recent     jsonb NOT NULL DEFAULT '[]',
  baseline   double precision[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, factory_id, machine_id, sensor_id, metric)
);

-- Each anomaly once (UUIDv5 of rule and measurement), with the points that triggered it.
SELECT ingestd_create_time_table('analytics_anomaly', $cols$
    id          uuid             NOT NULL,
    time        timestamptz      NOT NULL,
    tenant_id   text             NOT NULL,
    factory_id  text             NOT NULL,
    machine_id  text             NOT NULL,
    sensor_id   text             NOT NULL,
    metric      text             NOT NULL,
    rule        text             NOT NULL CHECK (rule IN ('out_of_spec', 'we1', 'we2', 'we3', 'we4')),
    basis       text             NOT NULL CHECK (basis IN ('spec', 'rolling')),
    value       double precision NOT NULL,
    center      double precision,
    sigma       double precision,
    lsl         double precision,
    usl         double precision,
    points      jsonb            NOT NULL,
    detected_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (id, time)
$cols$, 'time', 'tenant_id');
CREATE INDEX IF NOT EXISTS idx_analytics_anomaly_recent ON analytics_anomaly (tenant_id, time DESC);

-- KPIs per machine and window: availability (share of health reports saying the machine
-- was up) and in-spec rate per metric (share of measurements within the spec limits).
CREATE TABLE IF NOT EXISTS analytics_kpi (
  bucket_start timestamptz NOT NULL,
  window_s     integer     NOT NULL,
  tenant_id    text        NOT NULL,
  factory_id   text        NOT NULL,
  machine_id   text        NOT NULL,
  kpi          text        NOT NULL CHECK (kpi IN ('availability', 'in_spec_rate')),
  metric       text        NOT NULL DEFAULT '',
  numerator    bigint      NOT NULL,
  denominator  bigint      NOT NULL CHECK (denominator > 0),
  value        double precision NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, factory_id, machine_id, kpi, metric, window_s, bucket_start)
);
CREATE INDEX IF NOT EXISTS idx_analytics_kpi_recent ON analytics_kpi (window_s, bucket_start DESC);

-- The Kafka offsets stored with the data live in the core table; the reference layout had
-- worker_checkpoints in this schema, so it is visible here too.
DO $$
DECLARE core text;
BEGIN
  SELECT n.nspname INTO core FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relname = 'worker_checkpoints' AND c.relkind IN ('r', 'p') AND n.nspname <> current_schema()
   ORDER BY n.nspname = 'public' DESC LIMIT 1;
  IF core IS NOT NULL AND to_regclass(quote_ident(current_schema()) || '.worker_checkpoints') IS NULL THEN
    EXECUTE format('CREATE VIEW worker_checkpoints AS SELECT * FROM %I.worker_checkpoints', core);
  END IF;
END $$;
