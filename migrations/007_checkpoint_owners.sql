-- Fencing for in-memory keyed state. A worker claims each partition it is assigned by raising
-- owner_epoch, and writes its checkpoints only while the epoch is still the one it claimed: a
-- worker that lost the partition (rebalance, a long pause) finds a higher epoch and its late
-- commit fails instead of overwriting the new owner's state with its stale copy.
-- "offset" -1 marks a partition claimed before anything of it was committed.
ALTER TABLE worker_checkpoints ADD COLUMN IF NOT EXISTS owner_epoch bigint NOT NULL DEFAULT 0;
