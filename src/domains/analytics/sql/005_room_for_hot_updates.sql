-- Aggregates, KPIs, rollups and series state are updated by every batch that touches them.
-- Free room in each page lets those updates be HOT (no index write; no indexed column changes).
ALTER TABLE analytics_agg SET (fillfactor = 70);
ALTER TABLE analytics_kpi SET (fillfactor = 70);
ALTER TABLE analytics_event_rollup SET (fillfactor = 70);
ALTER TABLE analytics_series_state SET (fillfactor = 70);
