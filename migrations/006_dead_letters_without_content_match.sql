-- MQTT dead letters now commit in their batch's transaction. A redelivery of one whose
-- PUBACK was lost (worker killed after COMMIT, broker restarted) is stored again, a copy,
-- as on RabbitMQ: matching redeliveries by their bytes dropped other messages that carried
-- the same bytes. dedupe_key and content_key are no longer written; they stay (nullable)
-- for instances of the previous version during a rolling upgrade.
ALTER TABLE ingestd_dead_letters ALTER COLUMN dedupe_key DROP NOT NULL;
