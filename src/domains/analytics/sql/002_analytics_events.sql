-- analytics events (device health, sweeps) and their per-window counts.
SELECT ingestd_create_time_table('analytics_event', $cols$
    id          uuid             NOT NULL,
    time        timestamptz      NOT NULL,
    tenant_id   text             NOT NULL,
    factory_id  text             NOT NULL,
    domain      text             NOT NULL,
    entity_type text             NOT NULL,
    entity_id   text             NOT NULL,
    event_type  text             NOT NULL,
    value       double precision,
    payload     jsonb            NOT NULL DEFAULT '{}',
    ingested_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (id, time)
$cols$, 'time', 'tenant_id');
CREATE INDEX IF NOT EXISTS idx_analytics_event_entity ON analytics_event (tenant_id, entity_id, time DESC);

CREATE TABLE IF NOT EXISTS analytics_event_rollup (
  bucket_start timestamptz NOT NULL,
  window_s     integer     NOT NULL,
  tenant_id    text        NOT NULL,
  factory_id   text        NOT NULL,
  domain       text        NOT NULL,
  entity_type  text        NOT NULL,
  entity_id    text        NOT NULL,
  event_type   text        NOT NULL,
  count_n      bigint      NOT NULL,
  sum_val      double precision NOT NULL DEFAULT 0,   -- of the events that carry a value
  value_n      bigint      NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, factory_id, domain, entity_type, entity_id, event_type, window_s, bucket_start)
);
CREATE INDEX IF NOT EXISTS idx_analytics_event_rollup_recent ON analytics_event_rollup (window_s, bucket_start DESC);
