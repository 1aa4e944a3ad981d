-- The peer's table: the columns of ingestd's raw readings (telemetry_readings) that a reading
-- carries, keyed the same way, without ingestd's partitioning, created_at or secondary index.
-- The JDBC sink upserts on the primary key.
CREATE TABLE grid_raw (
  meter_id   text             NOT NULL,
  region     text             NOT NULL,
  ts         timestamptz      NOT NULL,
  power_kw   double precision NOT NULL,
  voltage    double precision,
  energy_kwh double precision,
  interval_s double precision NOT NULL,
  PRIMARY KEY (meter_id, ts)
);
