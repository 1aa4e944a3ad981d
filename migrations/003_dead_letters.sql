-- Dead letters of sources that have no dead-letter queue of their own (MQTT): the original
-- bytes with the same headers a DLQ message carries. dedupe_key makes a re-dead-lettered
-- redelivery (crash between this insert and the broker ack) one row.
CREATE TABLE IF NOT EXISTS ingestd_dead_letters (
  id          bigserial PRIMARY KEY,
  source      text        NOT NULL,              -- mqtt
  route       text        NOT NULL,              -- the topic it came on
  body        bytea       NOT NULL,
  headers     jsonb       NOT NULL,
  error_class text        NOT NULL,
  error_code  text        NOT NULL,
  reason      text        NOT NULL,
  dedupe_key  text        NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_ingestd_dead_letters_route ON ingestd_dead_letters (source, route, created_at);
