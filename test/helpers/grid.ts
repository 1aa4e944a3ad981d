import { decodeGridReading } from '../../src/domains/grid-telemetry/decode.ts';
import { emaStep } from '../../src/processors/anomaly/ema.ts';
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

/**
 * The alerts the EMA rules give for messages in this order (per meter, the order of its
 * partition): `meter|timestamp|type`. Undecodable messages and repeats are skipped, as the
 * worker skips them.
 */
export function expectedAlerts(bodies: Iterable<Buffer>): Set<string> {
  const expected = new Set<string>();
  const baselines = new Map<string, number | null>();
  const seen = new Set<string>();
  for (const b of bodies) {
    let r;
    try {
      r = decodeGridReading(b);
    } catch {
      continue;
    }
    if (seen.has(r.messageId)) continue;
    seen.add(r.messageId);
    const v = r.value;
    const step = emaStep({ baseline: baselines.get(v.meterId) ?? null }, v.powerKw);
    baselines.set(v.meterId, step.next.baseline);
    if (step.anomaly) expected.add(`${v.meterId}|${new Date(v.timestampMs).toISOString()}|${step.anomaly.type}`);
  }
  return expected;
}

/** Stored spike/drop/outage alerts as `meter|timestamp|type`, one entry per row. */
export async function storedAlerts(url: string): Promise<string[]> {
  const rows = await queryRows<{ k: string }>(
    url,
    `SELECT meter_id || '|' || to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '|' || type AS k
       FROM grid_alerts WHERE type <> 'offline'`,
  );
  return rows.map((r) => r.k);
}

/** Rows of telemetry_readings. */
export async function storedReadings(url: string): Promise<number> {
  const [r] = await queryRows<{ n: string }>(url, 'SELECT count(*) AS n FROM telemetry_readings');
  return Number(r!.n);
}

/** Distinct decodable readings among these messages. */
export function distinctReadings(bodies: Iterable<Buffer>): number {
  const ids = new Set<string>();
  for (const b of bodies) {
    try {
      ids.add(decodeGridReading(b).messageId);
    } catch {
      // dead-lettered
    }
  }
  return ids.size;
}
