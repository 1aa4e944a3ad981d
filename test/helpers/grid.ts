import { queryRows } from './db.ts';

/**
 * The invariant of SPEC §4: every aggregate row equals the aggregate recomputed from the raw
 * rows. Returns the rows that differ (empty = holds), comparing every column.
 */
export async function aggregateMismatches(url: string, table: 'aggregates_1m' | 'aggregates_15m'): Promise<unknown[]> {
  const size = table === 'aggregates_1m' ? 60 : 900;
  return queryRows(
    url,
    `WITH recomputed AS (
       SELECT meter_id,
              to_timestamp(floor(extract(epoch FROM "timestamp") / ${size}) * ${size}) AS window_start,
              count(*)::int AS sample_count, sum(power_kw) AS sum_power, max(power_kw) AS max_power, min(power_kw) AS min_power,
              sum(coalesce(energy_kwh, power_kw * interval_s / 3600)) AS total_energy
         FROM telemetry_readings GROUP BY 1, 2)
     SELECT coalesce(a.meter_id, r.meter_id) AS meter_id, coalesce(a.window_start, r.window_start) AS window_start,
            a.sample_count, r.sample_count AS expected_count, a.avg_power, r.sum_power / r.sample_count AS expected_avg,
            a.total_energy, r.total_energy AS expected_energy
       FROM ${table} a FULL JOIN recomputed r ON a.meter_id = r.meter_id AND a.window_start = r.window_start
      WHERE a.meter_id IS NULL OR r.meter_id IS NULL
         OR a.sample_count <> r.sample_count
         OR a.window_end <> a.window_start + interval '${size} seconds'
         OR a.max_power <> r.max_power OR a.min_power <> r.min_power
         OR abs(a.sum_power - r.sum_power) > 1e-9 * greatest(1, abs(r.sum_power))
         OR abs(a.avg_power - r.sum_power / r.sample_count) > 1e-9 * greatest(1, abs(r.sum_power / r.sample_count))
         OR abs(a.total_energy - r.total_energy) > 1e-9 * greatest(1, abs(r.total_energy))
      LIMIT 10`,
  );
}
