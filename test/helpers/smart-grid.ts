import { queryRows } from './db.ts';

/**
 * smart-grid's aggregate rows that differ from their recomputation from the raw transactions:
 * per second (consumption, count, min, max, counts per status) and per region and minute.
 */
export async function smartGridAggregateMismatches(url: string): Promise<{ seconds: unknown[]; regions: unknown[] }> {
  const seconds = await queryRows(url, `
    WITH r AS (
      SELECT date_trunc('second', "timestamp") AS bucket, sum(consumption_kwh) AS kwh, count(*) AS n, max(consumption_kwh) AS mx, min(consumption_kwh) AS mn,
             count(*) FILTER (WHERE status = 'active') AS a, count(*) FILTER (WHERE status = 'fault') AS f, count(*) FILTER (WHERE status = 'offline') AS o
        FROM smart_grid_transactions GROUP BY 1)
    SELECT coalesce(r.bucket, s.bucket) AS bucket FROM r FULL JOIN smart_grid_consumption_1s s USING (bucket)
     WHERE s.bucket IS NULL OR r.bucket IS NULL OR abs(r.kwh - s.total_kwh) > 1e-6 OR r.n <> s.reading_count OR r.mx <> s.max_kwh OR r.mn <> s.min_kwh
        OR r.a <> s.active_count OR r.f <> s.fault_count OR r.o <> s.offline_count`);
  const regions = await queryRows(url, `
    WITH r AS (
      SELECT region, date_trunc('minute', "timestamp") AS bucket, sum(consumption_kwh) AS kwh, count(*) AS n, count(DISTINCT meter_id) AS meters, max(consumption_kwh) AS mx
        FROM smart_grid_transactions GROUP BY 1, 2)
    SELECT coalesce(r.region, s.region) AS region, coalesce(r.bucket, s.bucket) AS bucket FROM r FULL JOIN smart_grid_region_1m s USING (region, bucket)
     WHERE s.bucket IS NULL OR r.bucket IS NULL OR abs(r.kwh - s.total_kwh) > 1e-6 OR r.n <> s.reading_count OR r.meters <> s.meter_count OR r.mx <> s.max_consumption`);
  return { seconds, regions };
}
