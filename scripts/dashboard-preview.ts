/**
 * Dashboard preview: serves the live dashboard (GET /) with generated but realistic data for
 * every read-API endpoint it uses, so the page can be designed and checked without brokers or
 * PostgreSQL.
 *
 *   node scripts/dashboard-preview.ts [port]        (default 8090, listens on 127.0.0.1)
 *
 * Environment:
 *   PREVIEW_EMPTY=1            every endpoint answers with empty arrays (empty states)
 *   PREVIEW_TOKEN=secret       the API requires `Authorization: Bearer secret` (token form)
 *   PREVIEW_FAIL=trend,alerts  these endpoints answer 503 (card error states); names:
 *                              live, trend, meters, regions, alerts, pipeline
 *   PREVIEW_HOST=0.0.0.0       listen address
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { registerDashboard } from '../src/http/dashboard.ts';

const port = Number(process.argv[2] ?? 8090);
const host = process.env.PREVIEW_HOST ?? '127.0.0.1';
const empty = process.env.PREVIEW_EMPTY === '1';
const token = process.env.PREVIEW_TOKEN ?? '';
const failing = new Set((process.env.PREVIEW_FAIL ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const started = Date.now() - 3 * 3600_000 - 17 * 60_000;

// ----- deterministic pseudo-random helpers -------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Stable noise in [0, 1) for an integer key (same second → same value on every request). */
function noise(key: number, salt = 0): number {
  return mulberry32(Math.imul(key, 2654435761) ^ Math.imul(salt + 1, 40503))();
}
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

/** Daily load curve, 0.55..1.25: night trough, morning bump, evening peak (local time of the server). */
function dailyFactor(ms: number): number {
  const d = new Date(ms);
  const h = d.getHours() + d.getMinutes() / 60;
  const morning = Math.exp(-((h - 8) ** 2) / 4);
  const evening = Math.exp(-((h - 19) ** 2) / 6);
  return 0.55 + 0.35 * morning + 0.7 * evening;
}

// ----- fixture: 40 meters over 5 regions -----------------------------------------------------------

const REGIONS = [
  { region: 'North', lat: 52.64, lon: 4.93, weight: 1.1 },
  { region: 'West', lat: 52.45, lon: 4.76, weight: 0.8 },
  { region: 'Central', lat: 52.47, lon: 4.92, weight: 1.6 },
  { region: 'East', lat: 52.42, lon: 5.06, weight: 0.9 },
  { region: 'South', lat: 52.33, lon: 4.88, weight: 1.3 },
];
const BUILDINGS = ['residential', 'residential', 'residential', 'commercial', 'industrial', 'office', 'school'];

interface FakeMeter {
  meter_id: string; region: string; status: 'active' | 'fault' | 'offline'; building_type: string;
  latitude: number | null; longitude: number | null; base_kwh: number; peak_load: number; silent_s: number;
}

const rng = mulberry32(42);
const METERS: FakeMeter[] = Array.from({ length: 40 }, (_, i) => {
  const r = REGIONS[i % REGIONS.length]!;
  const status = [7, 18, 26, 33].includes(i) ? 'fault' : [4, 21, 38].includes(i) ? 'offline' : 'active';
  const building = BUILDINGS[Math.floor(rng() * BUILDINGS.length)]!;
  const scale = building === 'industrial' ? 6 : building === 'commercial' || building === 'office' ? 3 : 1;
  return {
    meter_id: `SGM-${String(1001 + i * 7).padStart(5, '0')}`,
    region: r.region,
    status,
    building_type: building,
    latitude: i === 12 ? null : round(r.lat + (rng() - 0.5) * 0.1, 5),
    longitude: i === 12 ? null : round(r.lon + (rng() - 0.5) * 0.12, 5),
    base_kwh: round((0.4 + rng()) * scale, 3),
    peak_load: round((2 + rng() * 4) * scale, 2),
    silent_s: status === 'offline' ? 600 + Math.floor(rng() * 7200) : status === 'fault' ? 20 + Math.floor(rng() * 900) : Math.floor(rng() * 20),
  };
});

// ----- endpoint data ---------------------------------------------------------------------------------

function live(seconds: number) {
  const to = Math.floor(Date.now() / 1000);
  const from = to - seconds;
  const points = [];
  if (!empty) {
    for (let s = from; s < to; s++) {
      if (noise(s, 1) < 0.04) continue; // a few seconds without data
      const count = 28 + Math.floor(noise(s, 2) * 24);
      const wave = 1 + 0.12 * Math.sin(s / 23) + 0.06 * Math.sin(s / 7);
      const perReading = 0.055 * dailyFactor(s * 1000) * wave;
      const spike = noise(s, 3) < 0.015 ? 2.4 : 1;
      const total = count * perReading * (0.85 + noise(s, 4) * 0.3) * spike;
      points.push({
        t: new Date(s * 1000).toISOString(),
        total_kwh: round(total, 4),
        reading_count: count,
        max_kwh: round(perReading * (1.9 + noise(s, 5)) * spike, 4),
        min_kwh: round(perReading * 0.2 * noise(s, 6), 4),
        avg_kwh: round(total / count, 4),
      });
    }
  }
  return { from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), points };
}

function trend(hours: number) {
  const step = hours <= 6 ? 60 : 300;
  const end = Math.floor(Date.now() / 1000 / step) * step;
  const points = [];
  if (!empty) {
    for (let t = end - hours * 3600; t < end; t += step) {
      if (t > end - 11 * 3600 && t < end - 10.6 * 3600) continue; // a short outage: gap in the line
      const kw = 6200 * dailyFactor(t * 1000) * (0.96 + noise(t, 7) * 0.08);
      points.push({
        t: new Date(t * 1000).toISOString(),
        total_kwh: round((kw * step) / 3600, 2),
        avg_kw: round(kw, 2),
        reading_count: Math.round(step * 40 * (0.9 + noise(t, 8) * 0.2)),
      });
    }
  }
  return { step_seconds: step, points };
}

function meterView(m: FakeMeter) {
  const now = Date.now();
  return {
    meter_id: m.meter_id, region: m.region, status: m.status, building_type: m.building_type,
    latitude: m.latitude, longitude: m.longitude,
    consumption_kwh: m.status === 'offline' ? null : round(m.base_kwh * dailyFactor(now), 3),
    peak_load: m.peak_load,
    last_seen: new Date(now - m.silent_s * 1000).toISOString(),
  };
}

function meters(status: string, limit: number) {
  if (empty) return { total: 0, meters: [] };
  const wanted = status === 'all' ? null : new Set(status.split(',').map((s) => s.trim()));
  const all = METERS.filter((m) => wanted == null || wanted.has(m.status));
  return { total: all.length, meters: all.slice(0, limit).map(meterView) };
}

function regions(from: string | undefined, to: string | undefined) {
  const toMs = to ? Date.parse(to) : Date.now();
  const fromMs = from ? Date.parse(from) : toMs - 3600_000;
  const hoursSpan = Math.max(0, (toMs - fromMs) / 3600_000);
  const totalWeight = REGIONS.reduce((a, r) => a + r.weight, 0);
  const list = empty ? [] : REGIONS.map((r, i) => {
    const mine = METERS.filter((m) => m.region === r.region && m.latitude != null);
    const total = 6200 * dailyFactor(toMs) * hoursSpan * (r.weight / totalWeight);
    const readings = Math.round(hoursSpan * 3600 * 40 * (r.weight / totalWeight));
    return {
      region: r.region,
      total_kwh: round(total, 2),
      reading_count: readings,
      meter_count: METERS.filter((m) => m.region === r.region).length,
      average_kwh: round(total / Math.max(1, readings), 4),
      max_consumption: round(0.2 + noise(i, 9) * 0.4, 3),
      latitude: round(mine.reduce((a, m) => a + m.latitude!, 0) / mine.length, 5),
      longitude: round(mine.reduce((a, m) => a + m.longitude!, 0) / mine.length, 5),
    };
  });
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), regions: list };
}

function alerts(limit: number) {
  if (empty) return { alerts: [] };
  const now = Date.now();
  const base = [
    { domain: 'smart-grid', type: 'spike', subject: 'SGM-01120', region: 'Central', value: 4.82, baseline: 1.31, ago: 95, message: 'Consumption 3.7× above the rolling mean' },
    { domain: 'grid-telemetry', type: 'offline', subject: 'SGM-01148', region: 'West', value: null, baseline: null, ago: 420, message: 'No reading for 10 minutes' },
    { domain: 'smart-grid', type: 'fault', subject: 'SGM-01050', region: 'Central', value: 0, baseline: 2.14, ago: 1260, message: 'Meter reported status fault' },
    { domain: 'grid-telemetry', type: 'drop', subject: 'SGM-01183', region: 'South', value: 0.42, baseline: 3.9, ago: 2400, message: 'Power dropped 89 % below baseline' },
    { domain: 'energy-meter', type: 'anomaly', subject: 'client-7731', region: null, value: 1250.5, baseline: 310.2, ago: 5100, message: 'metric_value outside the expected band (z = 4.1)' },
    { domain: 'grid-telemetry', type: 'outage', subject: 'SGM-01029', region: 'East', value: 0, baseline: 5.6, ago: 9800, message: 'Zero power with non-zero baseline for 3 consecutive readings' },
    { domain: 'analytics', type: 'threshold', subject: 'machine-42', region: null, value: 88.1, baseline: 70, ago: 21000, message: 'Vibration above configured threshold' },
    { domain: 'smart-grid', type: 'spike', subject: 'SGM-01232', region: 'North', value: 9.7, baseline: 3.02, ago: 56000, message: 'Consumption 3.2× above the rolling mean (industrial)' },
  ];
  return {
    alerts: base.slice(0, limit).map((a, i) => ({
      id: `00000000-0000-5000-8000-${String(i + 1).padStart(12, '0')}`,
      domain: a.domain, type: a.type, subject: a.subject, region: a.region, value: a.value, baseline: a.baseline,
      message: a.message,
      timestamp: new Date(now - a.ago * 1000).toISOString(),
      detected_at: new Date(now - a.ago * 1000 + 800).toISOString(),
    })),
  };
}

let deadLetters = 17;
function pipeline() {
  const uptime = (Date.now() - started) / 1000;
  if (empty) {
    return {
      ready: false, reasons: ['no pipeline connected to a broker', 'postgres: migrations pending'], uptime_s: round(uptime, 1),
      pipelines: [], dead_letters: { total: 0, per_s: 0 }, domains: [],
    };
  }
  const s = Math.floor(Date.now() / 1000);
  if (noise(s, 10) < 0.05) deadLetters++;
  return {
    ready: true, reasons: [], uptime_s: round(uptime, 1),
    pipelines: [
      { name: 'smart-grid', source: 'kafka · smart-grid.transactions', messages_per_s: round(38 + noise(s, 11) * 10, 1), lag_seconds: round(0.4 + noise(s, 12) * 1.2, 2), paused: false },
      { name: 'grid-telemetry', source: 'mqtt · grid/+/telemetry', messages_per_s: round(112 + noise(s, 13) * 30, 1), lag_seconds: round(2 + noise(s, 14) * 40, 1), paused: false },
    ],
    dead_letters: { total: deadLetters, per_s: round(noise(s, 15) * 0.05, 3) },
    domains: [
      { domain: 'smart-grid', messages: Math.round(uptime * 41), readings_valid: Math.round(uptime * 40.6), readings_invalid: Math.round(uptime * 0.4), anomalies: 37 },
      { domain: 'grid-telemetry', messages: Math.round(uptime * 118), readings_valid: Math.round(uptime * 118), readings_invalid: 0, anomalies: 12 },
    ],
  };
}

// ----- server --------------------------------------------------------------------------------------

const app = Fastify({ logger: false });
registerDashboard(app);

type Q = Record<string, string | undefined>;
const num = (v: string | undefined, d: number) => (v != null && Number.isFinite(Number(v)) ? Number(v) : d);

function guard(name: string, req: FastifyRequest, reply: FastifyReply): boolean {
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    void reply.code(401).send({ error: 'missing or invalid bearer token' });
    return false;
  }
  if (failing.has(name)) {
    void reply.code(503).send({ error: `preview: ${name} failing on purpose (PREVIEW_FAIL)` });
    return false;
  }
  return true;
}

app.get('/v1/consumption/live', async (req, reply) => {
  if (!guard('live', req, reply)) return reply;
  return live(Math.min(3600, Math.max(1, num((req.query as Q).seconds, 300))));
});
app.get('/v1/consumption/trend', async (req, reply) => {
  if (!guard('trend', req, reply)) return reply;
  return trend(Math.min(168, Math.max(1, num((req.query as Q).hours, 24))));
});
app.get('/v1/meters', async (req, reply) => {
  if (!guard('meters', req, reply)) return reply;
  const q = req.query as Q;
  return meters(q.status ?? 'all', Math.max(1, num(q.limit, 100)));
});
app.get('/v1/regions', async (req, reply) => {
  if (!guard('regions', req, reply)) return reply;
  const q = req.query as Q;
  return regions(q.from, q.to);
});
app.get('/v1/alerts', async (req, reply) => {
  if (!guard('alerts', req, reply)) return reply;
  return alerts(Math.max(1, num((req.query as Q).limit, 50)));
});
app.get('/v1/pipeline', async (req, reply) => {
  if (!guard('pipeline', req, reply)) return reply;
  return pipeline();
});

await app.listen({ port, host });
const flags = [empty && 'EMPTY', token && 'TOKEN', failing.size > 0 && `FAIL=${[...failing].join(',')}`].filter(Boolean).join(' ');
process.stdout.write(`dashboard preview on http://${host}:${port}/ ${flags}\n`);
