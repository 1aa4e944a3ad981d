-- One watermark row per domain and shard (the Kafka partition a batch came from), so that
-- concurrent transactions of different partitions do not queue on a single row. The
-- stream's watermark is the highest max_event_time over its shards, as before.
ALTER TABLE stream_watermarks ADD COLUMN IF NOT EXISTS shard text NOT NULL DEFAULT '';
ALTER TABLE stream_watermarks DROP CONSTRAINT IF EXISTS stream_watermarks_pkey;
ALTER TABLE stream_watermarks ADD PRIMARY KEY (domain, shard);
