-- Meter state is written at checkpoints (upsert, no read-then-lock); a meter heard from again
-- closes its open offline alert. This partial index keeps that lookup to the open alerts only.
CREATE INDEX IF NOT EXISTS idx_grid_alerts_open_offline ON grid_alerts (meter_id) WHERE type = 'offline' AND cleared_at IS NULL;
