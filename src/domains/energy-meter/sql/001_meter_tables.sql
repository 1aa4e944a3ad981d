-- energy-meter: clients, raw readings and the rolling history the spike detector reads.

CREATE TABLE IF NOT EXISTS meter_clients (
  id                 uuid PRIMARY KEY,            -- UUIDv5 of the fingerprint
  client_fingerprint varchar(255) UNIQUE NOT NULL,
  first_seen_at      timestamptz NOT NULL,
  last_seen_at       timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Readings are stored whatever their verdict, names and raw entries verbatim; the row
-- says why it is invalid. TimescaleDB when the extension is loaded, else native monthly
-- range partitions (created ahead by the worker) with a DEFAULT partition so that a row
-- with any timestamp is stored.
SELECT ingestd_create_time_table('meter_readings_raw', $cols$
    id                uuid        NOT NULL,        -- UUIDv5 of (message id, reading index)
    message_id        text        NOT NULL,
    client_id         uuid        NOT NULL REFERENCES meter_clients (id),
    metric_name       text        NOT NULL,
    metric_value      double precision,           -- NULL when data is not a number
    reading_timestamp timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    validation_status varchar(20) NOT NULL CHECK (validation_status IN ('valid', 'invalid')),
    anomaly_reason    text,
    raw_payload       jsonb       NOT NULL,        -- the PM entry as received
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, reading_timestamp)
$cols$, 'reading_timestamp', 'client_id, metric_name');

CREATE INDEX IF NOT EXISTS idx_meter_readings_client_metric
  ON meter_readings_raw (client_id, metric_name, reading_timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_meter_readings_validation ON meter_readings_raw (validation_status);
CREATE INDEX IF NOT EXISTS idx_meter_readings_timestamp ON meter_readings_raw (reading_timestamp DESC);

-- The last valid values per (client, metric), oldest first: the spike detector's window,
-- advanced in the same transaction as the readings so that restarts and several
-- instances see the same history.
CREATE TABLE IF NOT EXISTS meter_metric_history (
  client_id   uuid NOT NULL REFERENCES meter_clients (id),
  metric_name text NOT NULL,
  recent      double precision[] NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, metric_name)
);
