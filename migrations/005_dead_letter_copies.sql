-- Two messages with the same bytes on the same topic are two dead letters: a first delivery
-- always gets its own row (dedupe_key made unique per delivery). Only a redelivery (MQTT DUP
-- flag: the worker stopped before its PUBACK) is skipped when its bytes are already here.
ALTER TABLE ingestd_dead_letters ADD COLUMN IF NOT EXISTS content_key text;
UPDATE ingestd_dead_letters SET content_key = dedupe_key WHERE content_key IS NULL;
CREATE INDEX IF NOT EXISTS idx_ingestd_dead_letters_content ON ingestd_dead_letters (content_key);
