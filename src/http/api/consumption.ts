import { BadRequest, integer, iso, type Query } from '../params.ts';
import { enabled, seesUntenanted, type RequestView } from './context.ts';

const requireSmartGrid = (v: RequestView): void => {
  if (!enabled(v, 'smart-grid')) throw new BadRequest('the smart-grid domain is not enabled in this deployment (DOMAINS_ENABLED)');
};

/** GET /v1/consumption/live?seconds=300: kWh per second of event time, up to now. */
export async function liveConsumption(v: RequestView, q: Query) {
  requireSmartGrid(v);
  const seconds = integer(q, 'seconds', 300, 1, 86_400);
  const to = Date.now();
  const from = to - seconds * 1000;
  if (!seesUntenanted(v)) return { from: iso(from), to: iso(to), points: [] };
  const { rows } = await v.pool.query<{ t: string; total_kwh: number; reading_count: string; max_kwh: number; min_kwh: number }>(
    `SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t, total_kwh, reading_count, max_kwh, min_kwh
       FROM smart_grid_consumption_1s WHERE bucket >= $1 AND bucket <= $2 ORDER BY bucket`,
    [iso(from), iso(to)],
  );
  return {
    from: iso(from), to: iso(to),
    points: rows.map((r) => ({ t: r.t, total_kwh: r.total_kwh, reading_count: Number(r.reading_count), max_kwh: r.max_kwh, min_kwh: r.min_kwh, avg_kwh: r.total_kwh / Number(r.reading_count) })),
  };
}

/** GET /v1/consumption/trend?hours=24: energy and average power per step (at most ~300 points). */
export async function consumptionTrend(v: RequestView, q: Query) {
  requireSmartGrid(v);
  const hours = integer(q, 'hours', 24, 1, 24 * 31);
  const step = Math.max(60, Math.ceil((hours * 3600) / 288 / 60) * 60);
  const to = Date.now();
  // Whole steps from the first boundary; only the current (last) step is partial.
  const from = Math.floor((to - hours * 3_600_000) / (step * 1000)) * step * 1000;
  if (!seesUntenanted(v)) return { step_seconds: step, from: iso(from), to: iso(to), points: [] };
  const { rows } = await v.pool.query<{ t: string; total_kwh: number; reading_count: string }>(
    `SELECT to_char(date_bin(make_interval(secs => $3), bucket, 'epoch') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t,
            sum(total_kwh) AS total_kwh, sum(reading_count) AS reading_count
       FROM smart_grid_consumption_1s WHERE bucket >= $1 AND bucket <= $2
      GROUP BY 1 ORDER BY 1`,
    [iso(from), iso(to), step],
  );
  return {
    step_seconds: step, from: iso(from), to: iso(to),
    // kWh over S seconds is an average power of kWh × 3600 / S kW (S: the part of the step already elapsed).
    points: rows.map((r) => {
      const seconds = Math.max(1, Math.min(step, (to - Date.parse(r.t)) / 1000));
      return { t: r.t, total_kwh: r.total_kwh, avg_kw: (r.total_kwh * 3600) / seconds, reading_count: Number(r.reading_count) };
    }),
  };
}
