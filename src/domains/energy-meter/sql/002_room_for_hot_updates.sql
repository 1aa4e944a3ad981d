-- Clients (last_seen_at) and spike histories are updated by every batch of their meters.
-- Free room in each page lets those updates be HOT (no index write; no indexed column changes).
ALTER TABLE meter_clients SET (fillfactor = 70);
ALTER TABLE meter_metric_history SET (fillfactor = 70);
