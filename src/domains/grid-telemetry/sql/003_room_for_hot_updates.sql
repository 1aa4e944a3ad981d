-- Aggregates and meter state are updated by every batch that touches them. With full pages
-- each update writes a new entry into every index of the row; leaving 30 % of each page free
-- lets PostgreSQL put the new version next to the old one (a HOT update) with no index write,
-- as no indexed column changes while a window fills.
ALTER TABLE aggregates_1m SET (fillfactor = 70);
ALTER TABLE aggregates_15m SET (fillfactor = 70);
ALTER TABLE grid_meters SET (fillfactor = 70);
