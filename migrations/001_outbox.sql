-- Transactional outbox: derived messages written in the same transaction as the data
-- they describe, published by the relay after COMMIT. One row per batch and publisher.
CREATE TABLE IF NOT EXISTS ingestd_outbox (
  id         bigserial PRIMARY KEY,
  publisher  text        NOT NULL,
  messages   text        NOT NULL,   -- JSON array of {id, destination, key, body}
  message_count int      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Source positions committed with the data (Kafka offsets, JetStream sequences).
CREATE TABLE IF NOT EXISTS worker_checkpoints (
  source     text        NOT NULL,
  stream     text        NOT NULL,
  partition  int         NOT NULL,
  "offset"   bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, stream, partition)
);
