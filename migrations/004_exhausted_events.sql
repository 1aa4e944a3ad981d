-- Dead letters the retry worker gave up on (DLQ_MAX_RETRIES reached): kept here, out of
-- the broker, until an operator replays them (`ingestd dlq exhausted replay`).
CREATE TABLE IF NOT EXISTS exhausted_events (
  id              bigserial PRIMARY KEY,
  source          text        NOT NULL,             -- amqp, kafka, nats, mqtt
  dlq             text        NOT NULL,             -- the queue / topic / stream / table it left
  route           text        NOT NULL,             -- where a replay goes
  body            bytea       NOT NULL,
  headers         jsonb       NOT NULL,
  error_class     text        NOT NULL,
  error_code      text        NOT NULL,
  reason          text        NOT NULL,
  attempts        integer     NOT NULL,
  tenant          text,
  first_failed_at timestamptz,
  exhausted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_exhausted_events_time ON exhausted_events (exhausted_at);

-- Kafka dead letters cannot be deleted one by one: those replayed or purged are noted here.
CREATE TABLE IF NOT EXISTS ingestd_dlq_handled (
  topic      text   NOT NULL,
  partition  int    NOT NULL,
  "offset"   bigint NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition, "offset")
);
