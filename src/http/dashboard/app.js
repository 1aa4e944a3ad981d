// @ts-check
/**
 * ingestd live dashboard. Plain browser ES module: no build step, no framework.
 * uPlot is loaded before this module as a classic script (window.uPlot).
 * Every card polls its own endpoint; a failed poll shows a discreet error on that card
 * and keeps the last good data on screen (dimmed). Nothing is written to the console.
 */

/** @type {any} */
const uPlot = /** @type {any} */ (globalThis).uPlot;

const LIVE_SECONDS = 300;
const TREND_HOURS = 24;
const TOKEN_KEY = 'ingestd.dashboard.token';

const C = {
  text: '#e2e8f0',
  axis: '#8b9bb4',
  grid: 'rgba(148, 163, 184, 0.12)',
  accent: '#38bdf8',
  accentFill: 'rgba(56, 189, 248, 0.55)',
  amber: '#f59e0b',
  violet: '#a78bfa',
};
const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif';
const LABEL_FONT = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif';

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** @type {Map<string, Intl.NumberFormat>} */
const numberFormats = new Map();
/** Number with thousands separators and exactly `min`..`max` decimals. */
function fmt(/** @type {number|null|undefined} */ v, max = 2, min = max) {
  if (v == null || !Number.isFinite(v)) return '–';
  const key = `${min}:${max}`;
  let f = numberFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { minimumFractionDigits: min, maximumFractionDigits: max });
    numberFormats.set(key, f);
  }
  return f.format(v);
}
/** Magnitude-aware: 2 decimals below 100, 1 decimal below 10 000, none above. */
function fmtAuto(/** @type {number|null|undefined} */ v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  return a >= 10000 ? fmt(v, 0) : a >= 100 ? fmt(v, 1) : fmt(v, 2);
}
const fmtInt = (/** @type {number|null|undefined} */ v) => fmt(v, 0);

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const hmFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** Local time; includes the date when it is not today. */
function fmtTime(/** @type {number} */ ms) {
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dayTimeFmt.format(d);
}
function fmtFull(/** @type {number} */ ms) {
  return Number.isFinite(ms) ? fullFmt.format(new Date(ms)) : 'unknown';
}
function fmtAgo(/** @type {number} */ ms) {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  const d = Math.floor(s / 86400);
  return `${d} day${d === 1 ? '' : 's'} ago`;
}
function fmtDuration(/** @type {number} */ s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
const esc = (/** @type {unknown} */ v) =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const ms = (/** @type {string} */ iso) => Date.parse(iso);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Smallest 1/2/2.5/5 × 10^n at or above v (keeps axes steady while data wiggles). */
function niceCeil(/** @type {number} */ v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------------------------------------
// API access, auth
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let token = readToken();
let authFailed = false;

function readToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    storeToken(fromUrl);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}
function storeToken(/** @type {string} */ t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: keep it in memory only */
  }
}

/** GET a JSON endpoint of the read API (relative URL, bearer token when known). */
async function api(/** @type {string} */ path) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'worker unreachable');
  }
  if (res.status === 401) {
    showTokenForm();
    throw new ApiError(401, 'authentication required — enter the API token at the top right');
  }
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const body = await res.json();
      if (body && typeof body.error === 'string') detail = body.error;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, `HTTP ${res.status}${detail ? ` — ${detail}` : ''}`);
  }
  if (authFailed) hideTokenForm();
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, 'response is not valid JSON');
  }
}

function showTokenForm() {
  const form = /** @type {HTMLFormElement} */ ($('token-form'));
  const label = /** @type {HTMLElement} */ (form.querySelector('label'));
  label.textContent = token ? 'API token rejected — enter a valid token' : 'API token required';
  if (!authFailed || form.hidden) {
    form.hidden = false;
    const input = /** @type {HTMLInputElement} */ ($('token-input'));
    if (document.activeElement !== input) input.value = '';
  }
  authFailed = true;
}
function hideTokenForm() {
  authFailed = false;
  $('token-form').hidden = true;
}
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  token = input.value.trim();
  storeToken(token);
  input.value = '';
  hideTokenForm();
  for (const p of pollers) p.now();
});

// ---------------------------------------------------------------------------------------------
// Polling and per-card error state
// ---------------------------------------------------------------------------------------------

/** @type {{ now(): void }[]} */
const pollers = [];

/**
 * Runs `fn` now and every `everyMs` after it settles; errors land on the card, not the console.
 * @param {string} cardId @param {number} everyMs @param {() => Promise<void>} fn
 */
function poll(cardId, everyMs, fn) {
  const card = $(cardId);
  const errBox = /** @type {HTMLElement} */ (card.querySelector('.card-error'));
  let timer = 0;
  let running = false;
  let hadData = false;
  const run = async () => {
    clearTimeout(timer);
    if (running) return;
    // Hidden tab: don't poll. Token rejected: only the pipeline card keeps asking (every 5 s)
    // until a token is saved, instead of every card collecting 401s.
    if (document.hidden || (authFailed && cardId !== 'card-pipe')) {
      timer = window.setTimeout(run, everyMs);
      return;
    }
    running = true;
    try {
      await fn();
      hadData = true;
      errBox.hidden = true;
      card.classList.remove('stale');
      $('updated').textContent = `Updated ${timeFmt.format(new Date())}`;
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(-1, e instanceof Error ? e.message : String(e));
      errBox.classList.toggle('auth', err.status === 401);
      errBox.textContent = `⚠ Couldn't refresh: ${err.message}${hadData ? ' · showing last data' : ''} · retrying every ${Math.round(everyMs / 1000)} s`;
      errBox.hidden = false;
      card.classList.toggle('stale', hadData);
      if (!hadData) {
        // Nothing to show yet: say so where the data would be instead of drawing empty axes.
        const placeholder = /** @type {HTMLElement | null} */ (card.querySelector('.empty'));
        if (placeholder) {
          placeholder.hidden = false;
          placeholder.classList.remove('ok');
          placeholder.textContent = err.status === 401
            ? 'Waiting for a valid API token (see the top right).'
            : 'No data yet — this panel could not be loaded (see the message above). Retrying…';
        }
      }
      if (cardId === 'card-pipe') setPill('unknown', err.status === 401 ? 'auth required' : 'unreachable', err.message);
    } finally {
      running = false;
      timer = window.setTimeout(run, everyMs);
    }
  };
  pollers.push({ now: () => void run() });
  void run();
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) for (const p of pollers) p.now();
});

/** Shows or hides the empty-state overlay of a chart card. */
function setEmpty(/** @type {string} */ chartId, /** @type {string | null} */ html) {
  const el = /** @type {HTMLElement} */ ($(chartId).querySelector('.empty'));
  if (html == null) el.hidden = true;
  else {
    el.innerHTML = html;
    el.hidden = false;
  }
}

// ---------------------------------------------------------------------------------------------
// uPlot helpers
// ---------------------------------------------------------------------------------------------

/** Y axis whose tick labels carry just the decimals the tick increment needs (0, 0.5, 1 / 2,000, 4,000). */
function yAxis(/** @type {string} */ label, size = 64) {
  return {
    stroke: C.axis, font: FONT, labelFont: LABEL_FONT, label, labelSize: 20, labelGap: 2, size, gap: 6,
    grid: { stroke: C.grid, width: 1 }, ticks: { stroke: C.grid, width: 1, size: 4 },
    values: (/** @type {any} */ _u, /** @type {number[]} */ splits, /** @type {number} */ _axis, /** @type {number} */ _space, /** @type {number} */ incr) => {
      const d = incr > 0 ? Math.min(3, Math.max(0, Math.ceil(-Math.log10(incr) - 1e-9))) : 2;
      return splits.map((v) => fmt(v, d));
    },
  };
}
/**
 * Time axis. A tick label that would be cut by the right edge of the canvas is left out
 * (the live chart slides, so ticks keep arriving at that edge).
 * @param {(s: number) => string} values @param {number} space
 */
function xAxis(values, space) {
  return {
    stroke: C.axis, font: FONT, labelFont: LABEL_FONT, label: 'local time', labelSize: 18, labelGap: 0, space, gap: 4, size: 30,
    grid: { stroke: C.grid, width: 1 }, ticks: { stroke: C.grid, width: 1, size: 4 },
    values: (/** @type {any} */ u, /** @type {number[]} */ splits) => {
      const room = u.over.clientWidth + 10;
      return splits.map((v) => {
        const label = values(v);
        return u.valToPos(v, 'x') + label.length * 3.6 > room ? '' : label;
      });
    },
  };
}
/** Creates a chart that follows the size of its container (the chart itself is absolutely positioned). */
function makeChart(/** @type {HTMLElement} */ wrap, /** @type {any} */ opts, /** @type {any[]} */ data) {
  const size = () => ({ width: Math.max(160, wrap.clientWidth), height: Math.max(100, wrap.clientHeight) });
  let pending = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      const s = size();
      if (s.width !== u.width || s.height !== u.height) u.setSize(s);
    });
  });
  const hooks = { ...opts.hooks, destroy: [() => { ro.disconnect(); cancelAnimationFrame(pending); }] };
  const u = new uPlot({ ...opts, hooks, ...size() }, data, wrap);
  ro.observe(wrap);
  return u;
}

// ---------------------------------------------------------------------------------------------
// 1. Live consumption per second
// ---------------------------------------------------------------------------------------------

const live = {
  /** server clock minus browser clock, ms */
  offset: 0,
  hasData: false,
  /** @type {{ t: number, total: number, count: number, min: number, max: number, avg: number }[]} */
  byIndex: [],
  lastPointMs: NaN,
};

const liveChart = makeChart($('live-chart'), {
  padding: [10, 12, 0, 0],
  legend: { show: false },
  cursor: { drag: { x: false, y: false }, points: { size: 7, fill: C.accent } },
  scales: {
    x: { time: true, auto: false },
    y: { range: (/** @type {any} */ _u, /** @type {number} */ _min, /** @type {number} */ max) => [0, niceCeil(max * 1.08)] },
  },
  axes: [xAxis((s) => timeFmt.format(new Date(s * 1000)), 100), yAxis('kWh / s')],
  series: [
    {},
    {
      label: 'kWh per second', stroke: C.accent, fill: C.accentFill, width: 0,
      paths: uPlot.paths.bars({ size: [1, Infinity, 1], align: 1, gap: 1 }), points: { show: false },
    },
    { label: '15 s average', stroke: C.amber, width: 2, points: { show: false }, spanGaps: false },
  ],
  hooks: { setCursor: [(/** @type {any} */ u) => liveReadout(u.cursor.idx)] },
}, [[], [], []]);

function liveWindow() {
  const right = (Date.now() + live.offset) / 1000;
  return { min: right - LIVE_SECONDS, max: right };
}

/** Slides the x window with the clock (~15 fps) so the chart scrolls smoothly between polls. */
let lastSlide = 0;
function slide(/** @type {number} */ ts) {
  if (ts - lastSlide > 66) {
    lastSlide = ts;
    liveChart.setScale('x', liveWindow());
  }
  requestAnimationFrame(slide);
}
requestAnimationFrame(slide);

function liveReadout(/** @type {number | null | undefined} */ idx) {
  const el = $('live-readout');
  const p = idx == null ? undefined : live.byIndex[idx];
  if (p) {
    el.innerHTML = `<b>${esc(timeFmt.format(new Date(p.t * 1000)))}</b> · ${esc(fmt(p.total, 3, 2))} kWh · ${esc(fmtInt(p.count))} readings`
      + (p.count > 0 ? ` · min ${esc(fmt(p.min, 3, 2))} / avg ${esc(fmt(p.avg, 3, 2))} / max ${esc(fmt(p.max, 3, 2))} kWh per reading` : '');
    return;
  }
  if (!live.hasData) {
    el.textContent = '';
    return;
  }
  const age = (Date.now() + live.offset - live.lastPointMs) / 1000;
  el.innerHTML = age > 15
    ? `<span class="up">No readings for ${esc(fmtDuration(age))}</span> · last at ${esc(fmtTime(live.lastPointMs))}`
    : `Last reading at <b>${esc(timeFmt.format(new Date(live.lastPointMs)))}</b> · hover the chart for per-second detail`;
}

poll('card-live', 2000, async () => {
  /** @type {{ from: string, to: string, points: { t: string, total_kwh: number, reading_count: number, max_kwh: number, min_kwh: number, avg_kwh: number }[] }} */
  const body = await api(`/v1/consumption/live?seconds=${LIVE_SECONDS}`);
  const toMs = ms(body.to);
  if (Number.isFinite(toMs)) live.offset = toMs - Date.now();
  const points = (body.points ?? []).map((p) => ({
    t: Math.floor(ms(p.t) / 1000), total: p.total_kwh, count: p.reading_count, min: p.min_kwh, max: p.max_kwh, avg: p.avg_kwh,
  })).filter((p) => Number.isFinite(p.t)).sort((a, b) => a.t - b.t);

  live.hasData = points.length > 0;
  if (!live.hasData) {
    liveChart.setData([[], [], []], false);
    live.byIndex = [];
    $('card-live').classList.add('no-data');
    setEmpty('live-chart', 'No smart-grid transactions in the last 5 minutes — is the smart-grid domain enabled and its topic receiving?');
    for (const id of ['live-current', 'live-rate', 'live-total']) $(id).textContent = '–';
    liveReadout(null);
    return;
  }
  setEmpty('live-chart', null);
  $('card-live').classList.remove('no-data');

  // One slot per second between the first and the last point: a second without data inside
  // that span consumed nothing (0); before the first / after the last point it is unknown (gap).
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  /** @type {number[]} */
  const xs = [];
  /** @type {number[]} */
  const ys = [];
  /** @type {typeof live.byIndex} */
  const byIndex = [];
  let j = 0;
  for (let t = t0; t <= t1; t++) {
    const p = points[j]?.t === t ? points[j++] : { t, total: 0, count: 0, min: 0, max: 0, avg: 0 };
    while (points[j]?.t === t) j++; // duplicate seconds: keep the first
    xs.push(t);
    ys.push(p.total);
    byIndex.push(p);
  }
  // 15-second trailing moving average (only where the window is complete).
  const avg = ys.map((_, i) => {
    if (i < 14) return null;
    let s = 0;
    for (let k = i - 14; k <= i; k++) s += ys[k];
    return s / 15;
  });
  live.byIndex = byIndex;
  live.lastPointMs = t1 * 1000;
  liveChart.setData([xs, ys, avg], false);
  liveChart.setScale('x', liveWindow());

  // KPIs: the last 10 s that have data (current rate), the total over the window.
  const recent = byIndex.slice(-10);
  const secs = Math.max(1, recent.length);
  $('live-current').textContent = fmt(recent.reduce((s, p) => s + p.total, 0) / secs, 2);
  $('live-rate').textContent = fmt(recent.reduce((s, p) => s + p.count, 0) / secs, 1);
  $('live-total').textContent = fmtAuto(points.reduce((s, p) => s + p.total, 0));
  liveReadout(liveChart.cursor.idx);
});

// ---------------------------------------------------------------------------------------------
// 2. 24-hour power trend
// ---------------------------------------------------------------------------------------------

/** @type {{ t: number, kw: number | null, kwh: number, count: number }[]} */
let trendByIndex = [];

const trendChart = makeChart($('trend-chart'), {
  padding: [10, 12, 0, 0],
  legend: { show: false },
  cursor: { drag: { x: false, y: false }, points: { size: 7, fill: C.violet } },
  scales: {
    x: { time: true, auto: false },
    y: { range: (/** @type {any} */ _u, /** @type {number} */ _min, /** @type {number} */ max) => [0, niceCeil(max * 1.08)] },
  },
  axes: [
    xAxis((s) => {
      const d = new Date(s * 1000);
      return d.getHours() === 0 && d.getMinutes() === 0 ? dayFmt.format(d) : hmFmt.format(d);
    }, 70),
    yAxis('kW (average)', 70),
  ],
  series: [
    {},
    {
      label: 'average kW', stroke: C.violet, width: 2, points: { show: false },
      fill: (/** @type {any} */ u) => {
        const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
        g.addColorStop(0, 'rgba(167, 139, 250, 0.35)');
        g.addColorStop(1, 'rgba(167, 139, 250, 0.02)');
        return g;
      },
    },
  ],
  hooks: { setCursor: [(/** @type {any} */ u) => trendReadout(u.cursor.idx)] },
}, [[], []]);

trendChart.setScale('x', { min: Date.now() / 1000 - TREND_HOURS * 3600, max: Date.now() / 1000 });
let trendStep = 0;
function trendReadout(/** @type {number | null | undefined} */ idx) {
  const el = $('trend-readout');
  const p = idx == null ? undefined : trendByIndex[idx];
  if (p && p.kw != null) {
    el.innerHTML = `<b>${esc(fmtTime(p.t * 1000))}</b> · ${esc(fmtAuto(p.kw))} kW average · ${esc(fmtAuto(p.kwh))} kWh · ${esc(fmtInt(p.count))} readings`;
  } else if (p) {
    el.innerHTML = `<b>${esc(fmtTime(p.t * 1000))}</b> · no data`;
  } else {
    el.textContent = trendByIndex.length ? `Resolution ${fmtDuration(trendStep)} per point · hover the chart for detail` : '';
  }
}

poll('card-trend', 60000, async () => {
  /** @type {{ step_seconds: number, points: { t: string, total_kwh: number, avg_kw: number, reading_count: number }[] }} */
  const body = await api(`/v1/consumption/trend?hours=${TREND_HOURS}`);
  const step = Number(body.step_seconds) > 0 ? Number(body.step_seconds) : 300;
  trendStep = step;
  const pts = (body.points ?? []).map((p) => ({ t: ms(p.t) / 1000, kw: p.avg_kw, kwh: p.total_kwh, count: p.reading_count }))
    .filter((p) => Number.isFinite(p.t)).sort((a, b) => a.t - b.t);
  const now = Date.now() / 1000;
  const win = { min: now - TREND_HOURS * 3600, max: now };

  if (pts.length === 0) {
    trendByIndex = [];
    trendChart.setData([[], []], false);
    trendChart.setScale('x', win);
    setEmpty('trend-chart', 'No consumption stored in the last 24 hours — the trend appears once the smart-grid domain has written readings.');
    $('trend-peak').textContent = '–';
    $('trend-total').textContent = '–';
    trendReadout(null);
    return;
  }
  setEmpty('trend-chart', null);
  // Break the line where steps are missing instead of drawing a straight bridge across them.
  /** @type {typeof trendByIndex} */
  const rows = [];
  for (const p of pts) {
    const prev = rows[rows.length - 1];
    if (prev && p.t - prev.t > step * 1.5) rows.push({ t: prev.t + step, kw: null, kwh: 0, count: 0 });
    rows.push(p);
  }
  trendByIndex = rows;
  trendChart.setData([rows.map((r) => r.t), rows.map((r) => r.kw)], false);
  trendChart.setScale('x', win);

  let peak = pts[0];
  for (const p of pts) if (p.kw > peak.kw) peak = p;
  $('trend-peak').textContent = fmtAuto(peak.kw);
  $('trend-peak').title = `at ${fmtFull(peak.t * 1000)}`;
  $('trend-total').textContent = fmtAuto(pts.reduce((s, p) => s + (p.kwh || 0), 0));
  trendReadout(trendChart.cursor.idx);
});

// ---------------------------------------------------------------------------------------------
// Status helpers (badges)
// ---------------------------------------------------------------------------------------------

const KNOWN_STATUS = new Set(['active', 'fault', 'offline']);
function statusBadge(/** @type {string} */ status) {
  const cls = status === 'fault' ? 'b-fault' : status === 'offline' ? 'b-offline' : status === 'active' ? 'b-active' : 'b-warn';
  return `<span class="badge ${cls}">${esc(status || 'unknown')}</span>`;
}
function alertBadge(/** @type {string} */ type) {
  const t = String(type || '').toLowerCase();
  const cls = /spike|outage|fault|overload|over|high|critical|error/.test(t) ? 'b-crit'
    : /offline|stale|silent|missing/.test(t) ? 'b-offline'
      : /drop|low|under/.test(t) ? 'b-info' : 'b-warn';
  return `<span class="badge ${cls}">${esc(type || 'alert')}</span>`;
}

// ---------------------------------------------------------------------------------------------
// 3. Faulty / offline meters
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {{ meter_id: string, region: string, status: string, building_type: string | null, latitude: number | null,
 *   longitude: number | null, consumption_kwh: number | null, peak_load: number | null, last_seen: string }} Meter
 */

const PROBLEM_LIMIT = 200;

poll('card-meters', 15000, async () => {
  problemMeters = /** @type {{ total: number, meters: Meter[] }} */ (await api(`/v1/meters?status=fault,offline&limit=${PROBLEM_LIMIT}`));
  renderProblemMeters();
  syncMapStatuses();
});

/**
 * The table (every 15 s) and the map (every 30 s) poll at different times. Whichever answer is
 * newer updates the other, so the two never disagree about which meters are faulty or offline.
 */
function syncMapStatuses() {
  if (!mapData || !problemMeters) return;
  const list = problemMeters.meters ?? [];
  if (list.length < problemMeters.total) return; // a partial list cannot tell which meters are active
  const bad = new Map(list.map((m) => [m.meter_id, m]));
  let changed = false;
  mapData.meters = mapData.meters.map((m) => {
    const p = bad.get(m.meter_id);
    const status = p ? p.status : m.status === 'fault' || m.status === 'offline' ? 'active' : m.status;
    if (status === m.status) return m;
    changed = true;
    return p ? { ...m, status, last_seen: p.last_seen } : { ...m, status };
  });
  if (changed) drawMap();
}
/** The faulty/offline list from the map's complete meter list (newest first, as the API orders it). */
function problemsFromMap() {
  if (!mapData || mapData.meters.length < mapData.total) return;
  const bad = mapData.meters.filter((m) => m.status === 'fault' || m.status === 'offline');
  problemMeters = { total: bad.length, meters: bad.slice(0, PROBLEM_LIMIT) };
}

/** @type {{ total: number, meters: Meter[] } | null} */
let problemMeters = null;

function renderProblemMeters() {
  const body = problemMeters;
  if (!body) return;
  const meters = [...(body.meters ?? [])];
  const total = Number.isFinite(body.total) ? body.total : meters.length;
  $('meters-total').textContent = fmtInt(total);
  const wrap = $('meters-body');
  const sub = /** @type {HTMLElement} */ ($('card-meters').querySelector('.card-sub'));
  if (meters.length === 0) {
    sub.textContent = 'Meters whose last status is fault or offline · every 15 s';
    wrap.innerHTML = total > 0
      ? `<div class="empty">${esc(fmtInt(total))} meters are faulty or offline, but none was returned.</div>`
      : mapData && mapData.meters.length === 0
        ? '<div class="empty">No meters known yet — faulty or offline meters are listed here once the smart-grid domain has seen meters.</div>'
        : `<div class="empty ok">✓ All ${mapData ? `${esc(fmtInt(mapData.total))} ` : ''}meters healthy — none currently reports fault or offline.</div>`;
    return;
  }
  const rank = (/** @type {string} */ s) => (s === 'fault' ? 0 : s === 'offline' ? 1 : 2);
  meters.sort((a, b) => rank(a.status) - rank(b.status) || ms(b.last_seen) - ms(a.last_seen));
  const faults = meters.filter((m) => m.status === 'fault').length;
  const offline = meters.filter((m) => m.status === 'offline').length;
  const rows = meters.map((m) => {
    const seen = ms(m.last_seen);
    return `<tr>
      <td class="mono nowrap">${esc(m.meter_id)}</td>
      <td>${esc(m.region || '–')}</td>
      <td>${statusBadge(m.status)}</td>
      <td>${esc(m.building_type || '–')}</td>
      <td class="num" title="${esc(fmtFull(seen))}">${esc(fmtAgo(seen))}</td>
    </tr>`;
  }).join('');
  const more = total > meters.length ? ` · showing ${fmtInt(meters.length)} of ${fmtInt(total)}` : '';
  wrap.innerHTML = `<table>
    <thead><tr><th>Meter</th><th>Region</th><th>Status</th><th title="Building type">Building</th><th class="num">Last seen</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`;
  sub.textContent = `${fmtInt(faults)} fault · ${fmtInt(offline)} offline${more} · refreshed every 15 s`;
}

// ---------------------------------------------------------------------------------------------
// 4. Region map (hand-drawn SVG, equirectangular projection)
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {{ region: string, total_kwh: number, reading_count: number, meter_count: number, average_kwh: number,
 *   max_consumption: number, latitude: number | null, longitude: number | null }} Region
 */

/** @type {{ meters: Meter[], total: number, regions: Region[] } | null} */
let mapData = null;

poll('card-map', 30000, async () => {
  const to = new Date();
  const from = new Date(to.getTime() - 3600 * 1000);
  const [m, r] = await Promise.all([
    /** @type {Promise<{ total: number, meters: Meter[] }>} */ (api('/v1/meters?status=all&limit=5000')),
    /** @type {Promise<{ regions: Region[] }>} */ (api(`/v1/regions?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`)),
  ]);
  mapData = { meters: m.meters ?? [], total: Number.isFinite(m.total) ? m.total : (m.meters ?? []).length, regions: r.regions ?? [] };
  problemsFromMap();
  drawMap();
  renderProblemMeters(); // also: its empty state depends on whether any meter is known
});
{
  let pending = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => mapData && drawMap());
  }).observe($('map'));
}

const isCoord = (/** @type {unknown} */ v) => typeof v === 'number' && Number.isFinite(v);

function drawMap() {
  if (!mapData) return;
  const wrap = $('map');
  const foot = $('map-foot');
  const { meters, regions, total } = mapData;
  const located = meters.filter((m) => isCoord(m.latitude) && isCoord(m.longitude));

  // Region centroids: from the API, else from the region's located meters.
  const regionPts = regions.map((r) => {
    if (isCoord(r.latitude) && isCoord(r.longitude)) return { ...r, lat: /** @type {number} */ (r.latitude), lon: /** @type {number} */ (r.longitude) };
    const mine = located.filter((m) => m.region === r.region);
    if (mine.length === 0) return null;
    return {
      ...r,
      lat: mine.reduce((s, m) => s + /** @type {number} */ (m.latitude), 0) / mine.length,
      lon: mine.reduce((s, m) => s + /** @type {number} */ (m.longitude), 0) / mine.length,
    };
  }).filter((r) => r != null);

  if (meters.length === 0 && regionPts.length === 0) {
    wrap.innerHTML = regions.length
      ? '<div class="empty">Regions reported consumption, but neither they nor any meter has a latitude/longitude to place on the map.</div>'
      : '<div class="empty">No meters known yet — they appear here once the smart-grid domain has stored readings that carry a meter location (latitude/longitude).</div>';
    foot.textContent = '';
    return;
  }
  if (located.length === 0 && regionPts.length === 0) {
    wrap.innerHTML = `<div class="empty">${esc(fmtInt(meters.length))} meters are known, but none has latitude/longitude — the map needs meter coordinates.</div>`;
    foot.textContent = '';
    return;
  }

  const W = Math.max(300, wrap.clientWidth);
  const H = Math.max(200, wrap.clientHeight);
  const lats = [...located.map((m) => /** @type {number} */ (m.latitude)), ...regionPts.map((r) => r.lat)];
  const lons = [...located.map((m) => /** @type {number} */ (m.longitude)), ...regionPts.map((r) => r.lon)];
  let latMin = Math.min(...lats), latMax = Math.max(...lats);
  let lonMin = Math.min(...lons), lonMax = Math.max(...lons);
  const lat0 = (latMin + latMax) / 2;
  const kx = Math.cos((lat0 * Math.PI) / 180) || 1e-6;
  // Avoid a degenerate box (single point / single line of points).
  const minSpan = 0.02;
  if (latMax - latMin < minSpan) { latMin = lat0 - minSpan / 2; latMax = lat0 + minSpan / 2; }
  if ((lonMax - lonMin) * kx < minSpan) { const c = (lonMin + lonMax) / 2; lonMin = c - minSpan / 2 / kx; lonMax = c + minSpan / 2 / kx; }

  const maxKwh = Math.max(0, ...regionPts.map((r) => r.total_kwh || 0));
  const rMax = Math.max(16, Math.min(W, H) * 0.075);
  const rMin = 8;
  const radius = (/** @type {number} */ kwh) => (maxKwh > 0 ? rMin + (rMax - rMin) * Math.sqrt(Math.max(0, kwh) / maxKwh) : rMin);

  // Fit the bounding box (plus room for circles and labels) into the viewport, keeping the aspect.
  const padX = Math.max(46, rMax + 8);
  const padTop = 38;
  const padBottom = 34;
  const spanX = (lonMax - lonMin) * kx;
  const spanY = latMax - latMin;
  const scale = Math.min((W - 2 * padX) / spanX, (H - padTop - padBottom) / spanY);
  const offX = (W - spanX * scale) / 2;
  const offY = padTop + (H - padTop - padBottom - spanY * scale) / 2;
  const px = (/** @type {number} */ lon) => offX + (lon - lonMin) * kx * scale;
  const py = (/** @type {number} */ lat) => offY + (latMax - lat) * scale;
  const lonAt = (/** @type {number} */ x) => lonMin + (x - offX) / (kx * scale);
  const latAt = (/** @type {number} */ y) => latMax - (y - offY) / scale;

  // Graticule over the whole viewport, ~4–8 lines per axis.
  const parts = [];
  const steps = [0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 15, 30];
  const pickStep = (/** @type {number} */ span, /** @type {number} */ target) => steps.find((s) => span / s <= target) ?? 30;
  const vLonMin = lonAt(0), vLonMax = lonAt(W), vLatMin = latAt(H), vLatMax = latAt(0);
  const lonStep = pickStep(vLonMax - vLonMin, Math.max(3, Math.round(W / 95)));
  const latStep = pickStep(vLatMax - vLatMin, Math.max(3, Math.round(H / 70)));
  const decimals = (/** @type {number} */ s) => (s >= 1 ? 0 : s >= 0.1 ? (s * 10 % 1 === 0 ? 1 : 2) : s >= 0.01 ? (s * 100 % 1 === 0 ? 2 : 3) : 3);
  const latLabel = (/** @type {number} */ v) => `${fmt(Math.abs(v), decimals(latStep))}°${v >= 0 ? 'N' : 'S'}`;
  const lonLabel = (/** @type {number} */ v) => `${fmt(Math.abs(v), decimals(lonStep))}°${v >= 0 ? 'E' : 'W'}`;
  for (let v = Math.ceil(vLonMin / lonStep) * lonStep; v <= vLonMax; v += lonStep) {
    const x = px(v);
    parts.push(`<line class="grat" x1="${x.toFixed(1)}" y1="0" x2="${x.toFixed(1)}" y2="${H}"/>`);
    if (x > 40 && x < W - 30) parts.push(`<text class="grat-label" x="${(x + 4).toFixed(1)}" y="${H - 6}">${esc(lonLabel(v))}</text>`);
  }
  for (let v = Math.ceil(vLatMin / latStep) * latStep; v <= vLatMax; v += latStep) {
    const y = py(v);
    parts.push(`<line class="grat" x1="0" y1="${y.toFixed(1)}" x2="${W}" y2="${y.toFixed(1)}"/>`);
    if (y > 24 && y < H - 22) parts.push(`<text class="grat-label" x="6" y="${(y - 4).toFixed(1)}">${esc(latLabel(v))}</text>`);
  }

  // Region circles (largest first so small ones stay hoverable on top).
  const byR = [...regionPts].sort((a, b) => (b.total_kwh || 0) - (a.total_kwh || 0));
  for (const r of byR) {
    const tip = `${r.region} — ${fmtAuto(r.total_kwh)} kWh in the last hour\n${fmtInt(r.meter_count)} meters · ${fmtInt(r.reading_count)} readings\naverage ${fmtAuto(r.average_kwh)} kWh · max ${fmtAuto(r.max_consumption)} kWh per reading`;
    parts.push(`<circle class="region" cx="${px(r.lon).toFixed(1)}" cy="${py(r.lat).toFixed(1)}" r="${radius(r.total_kwh || 0).toFixed(1)}"><title>${esc(tip)}</title></circle>`);
  }
  // Meter dots: active below, problems on top.
  const order = (/** @type {string} */ s) => (s === 'fault' ? 2 : s === 'offline' ? 1 : 0);
  for (const m of [...located].sort((a, b) => order(a.status) - order(b.status))) {
    const cls = KNOWN_STATUS.has(m.status) ? `m-${m.status}` : 'm-offline';
    const seen = ms(m.last_seen);
    const tip = `${m.meter_id} · ${m.status}\n${m.region}${m.building_type ? ` · ${m.building_type}` : ''}\n`
      + `${m.consumption_kwh != null ? `${fmtAuto(m.consumption_kwh)} kWh · ` : ''}${m.peak_load != null ? `peak ${fmtAuto(m.peak_load)} kW · ` : ''}`
      + `last seen ${fmtAgo(seen)} (${fmtTime(seen)})\n${fmt(/** @type {number} */ (m.latitude), 4)}°, ${fmt(/** @type {number} */ (m.longitude), 4)}°`;
    const r = m.status === 'active' ? 4 : 5;
    parts.push(`<circle class="m ${cls}" cx="${px(/** @type {number} */ (m.longitude)).toFixed(1)}" cy="${py(/** @type {number} */ (m.latitude)).toFixed(1)}" r="${r}"><title>${esc(tip)}</title></circle>`);
  }
  // Region labels on top of everything: two lines (name, kWh) placed above, below, right or left
  // of the circle, whichever is first free of the labels already placed and inside the map.
  /** @type {{ x0: number, y0: number, x1: number, y1: number }[]} */
  const placed = [];
  const hits = (/** @type {{ x0: number, y0: number, x1: number, y1: number }} */ b) =>
    b.x0 < 2 || b.y0 < 2 || b.x1 > W - 2 || b.y1 > H - 2 || placed.some((p) => b.x0 < p.x1 && b.x1 > p.x0 && b.y0 < p.y1 && b.y1 > p.y0);
  for (const r of regionPts) {
    const x = px(r.lon), y = py(r.lat), rr = radius(r.total_kwh || 0);
    const kwh = `${fmtAuto(r.total_kwh)} kWh`;
    const w = Math.max(r.region.length * 7.4, kwh.length * 6.6) + 6;
    const h = 30;
    const candidates = [
      { x0: x - w / 2, y0: y - rr - 4 - h, anchor: 'middle', tx: x },
      { x0: x - w / 2, y0: y + rr + 4, anchor: 'middle', tx: x },
      { x0: x + rr + 6, y0: y - h / 2, anchor: 'start', tx: x + rr + 6 },
      { x0: x - rr - 6 - w, y0: y - h / 2, anchor: 'end', tx: x - rr - 6 },
    ].map((c) => ({ ...c, x1: c.x0 + w, y1: c.y0 + h }));
    const c = candidates.find((k) => !hits(k)) ?? candidates[0];
    placed.push(c);
    parts.push(`<text class="region-label" x="${c.tx.toFixed(1)}" y="${(c.y0 + 12).toFixed(1)}" text-anchor="${c.anchor}">${esc(r.region)}</text>`);
    parts.push(`<text class="region-kwh" x="${c.tx.toFixed(1)}" y="${(c.y0 + 26).toFixed(1)}" text-anchor="${c.anchor}">${esc(kwh)}</text>`);
  }
  wrap.innerHTML = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Map of meters and regions">${parts.join('')}</svg>`;

  const counts = { active: 0, fault: 0, offline: 0 };
  for (const m of meters) if (m.status in counts) counts[/** @type {'active'|'fault'|'offline'} */ (m.status)]++;
  const notes = [
    `${fmtInt(meters.length)} meters`,
    `${fmtInt(counts.active)} active · ${fmtInt(counts.fault)} fault · ${fmtInt(counts.offline)} offline`,
    `${fmtInt(regionPts.length)} regions`,
  ];
  if (total > meters.length) notes.push(`showing ${fmtInt(meters.length)} of ${fmtInt(total)} meters`);
  if (meters.length > located.length) notes.push(`${fmtInt(meters.length - located.length)} without coordinates not shown`);
  if (regions.length === 0) notes.push('no regional consumption in the last hour');
  else if (regions.length > regionPts.length) notes.push(`${fmtInt(regions.length - regionPts.length)} regions without location`);
  foot.textContent = notes.join(' · ');
}

// ---------------------------------------------------------------------------------------------
// 5. Recent alerts
// ---------------------------------------------------------------------------------------------

/**
 * Alert subjects can carry long fingerprints (energy-meter clients are `sha256:<64 hex>/metric`):
 * hex runs of 16+ characters are cut to their first 8 (the full subject stays in the tooltip).
 */
function shortSubject(/** @type {string} */ subject) {
  return String(subject ?? '').replace(/[0-9a-f]{16,}/gi, (hex) => `${hex.slice(0, 8)}…`);
}

poll('card-alerts', 10000, async () => {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  /** @type {{ alerts: { id: string, domain: string, type: string, subject: string, region: string | null, value: number | null, baseline: number | null, message: string, timestamp: string, detected_at: string }[] }} */
  const body = await api(`/v1/alerts?since=${encodeURIComponent(since)}&limit=50`);
  const alerts = body.alerts ?? []; // already newest first
  $('alerts-count').textContent = fmtInt(alerts.length);
  const wrap = $('alerts-body');
  if (alerts.length === 0) {
    wrap.innerHTML = '<div class="empty ok">✓ No alerts in the last 24 hours across all domains.</div>';
    return;
  }
  const rows = alerts.map((a) => {
    const t = ms(a.timestamp);
    const det = ms(a.detected_at);
    let vs = '–';
    if (a.value != null && a.baseline != null) {
      const pct = a.baseline !== 0 ? ((a.value - a.baseline) / Math.abs(a.baseline)) * 100 : null;
      const delta = pct == null ? '' : ` <span class="${pct >= 0 ? 'up' : 'down'}">${pct >= 0 ? '+' : '−'}${esc(fmt(Math.abs(pct), 0))} %</span>`;
      vs = `<b>${esc(fmtAuto(a.value))}</b> <span class="muted">vs</span> ${esc(fmtAuto(a.baseline))}${delta}`;
    } else if (a.value != null) {
      vs = `<b>${esc(fmtAuto(a.value))}</b> <span class="muted">(no baseline)</span>`;
    }
    return `<tr>
      <td class="nowrap num" title="event ${esc(fmtFull(t))} · detected ${esc(fmtFull(det))}">${esc(fmtTime(t))}<span class="sub">${esc(fmtAgo(t))}</span></td>
      <td><span class="badge b-domain">${esc(a.domain)}</span></td>
      <td>${alertBadge(a.type)}</td>
      <td class="subject"><span class="mono" title="${esc(a.subject)}">${esc(shortSubject(a.subject))}</span>${a.region ? `<span class="sub">${esc(a.region)}</span>` : ''}</td>
      <td class="num">${vs}</td>
      <td class="msg">${esc(a.message)}</td>
    </tr>`;
  }).join('');
  wrap.innerHTML = `<table>
    <thead><tr><th class="num">Time</th><th>Domain</th><th>Type</th><th>Subject</th><th class="num">Value vs baseline</th><th>Message</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`;
});

// ---------------------------------------------------------------------------------------------
// 6. Pipeline status (+ header readiness pill)
// ---------------------------------------------------------------------------------------------

/** Client-side throughput history (the API gives only the current rate): last 10 minutes. */
const SPARK_SECONDS = 600;
const PALETTE = ['#38bdf8', '#a78bfa', '#f59e0b', '#34d399', '#f472b6', '#2dd4bf', '#facc15', '#fb7185'];
/** @type {{ t: number, rates: Record<string, number> }[]} */
const sparkHistory = [];
/** @type {any} */
let sparkChart = null;
let sparkKey = '';

function updateSpark(/** @type {{ name: string, messages_per_s: number }[]} */ pipelines) {
  const now = Date.now() / 1000;
  /** @type {Record<string, number>} */
  const rates = {};
  for (const p of pipelines) rates[p.name] = p.messages_per_s;
  sparkHistory.push({ t: now, rates });
  while (sparkHistory.length && sparkHistory[0].t < now - SPARK_SECONDS) sparkHistory.shift();

  const names = pipelines.map((p) => p.name);
  const key = names.join('\u0000');
  if (key !== sparkKey || !sparkChart) {
    sparkChart?.destroy();
    sparkKey = key;
    sparkChart = makeChart($('pipe-chart'), {
      padding: [8, 10, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, auto: false },
        y: { range: (/** @type {any} */ _u, /** @type {number} */ _min, /** @type {number} */ max) => [0, niceCeil(max * 1.1)] },
      },
      axes: [
        { ...xAxis((s) => hmFmt.format(new Date(s * 1000)), 70), label: null, labelSize: 0, incrs: [60, 120, 180, 300, 600, 900] },
        yAxis('msg / s', 56),
      ],
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.75, points: { show: false } }))],
    }, [[], ...names.map(() => [])]);
    $('spark-legend').innerHTML = names.map((n, i) =>
      `<span title="${esc(n)}"><i class="ln" style="--c:${PALETTE[i % PALETTE.length]}"></i><span class="nm">${esc(n)}</span></span>`).join('');
  }
  const data = [sparkHistory.map((h) => h.t), ...names.map((n) => sparkHistory.map((h) => h.rates[n] ?? null))];
  sparkChart.setData(data, false);
  // The window grows from the first sample to the full 10 minutes.
  const first = sparkHistory[0]?.t ?? now;
  sparkChart.setScale('x', { min: Math.min(now - 60, Math.max(now - SPARK_SECONDS, first)), max: now });
  setEmpty('pipe-chart', names.length === 0 ? 'No pipelines to chart.'
    : sparkHistory.length < 2 ? 'Collecting throughput samples… (one every 5 s while this page is open)' : null);
}

function setPill(/** @type {'ready'|'notready'|'unknown'} */ state, /** @type {string} */ text, /** @type {string} */ title) {
  const pill = $('ready-pill');
  pill.className = `pill pill-${state}`;
  /** @type {HTMLElement} */ (pill.querySelector('.pill-text')).textContent = text;
  pill.title = title;
}

poll('card-pipe', 5000, async () => {
  /**
   * @type {{ ready: boolean, reasons: string[], uptime_s: number,
   *   pipelines: { name: string, source: string, messages_per_s: number, lag_seconds: number | null, paused: boolean }[],
   *   dead_letters: { total: number, per_s: number },
   *   domains: { domain: string, messages: number, readings_valid: number, readings_invalid: number, anomalies: number }[] }}
   */
  const s = await api('/v1/pipeline');
  const reasons = s.reasons ?? [];
  setPill(s.ready ? 'ready' : 'notready', s.ready ? 'Ready' : 'Not ready', s.ready ? 'The worker is ready' : reasons.join('\n') || 'not ready');
  $('uptime').textContent = Number.isFinite(s.uptime_s) ? `Up ${fmtDuration(s.uptime_s)}` : '';

  const pipelines = s.pipelines ?? [];
  const domains = s.domains ?? [];
  const dl = s.dead_letters ?? { total: 0, per_s: 0 };
  const rate = pipelines.reduce((a, p) => a + (p.messages_per_s || 0), 0);
  const lags = pipelines.map((p) => p.lag_seconds).filter((v) => v != null && Number.isFinite(v));
  const maxLag = lags.length ? Math.max(.../** @type {number[]} */ (lags)) : null;
  const lagCls = (/** @type {number | null} */ v) => (v == null ? 'muted' : v > 300 ? 'up' : v > 30 ? 'warn-text' : '');

  const ready = s.ready
    ? `<div class="ready-box ok" data-testid="pipe-ready"><span class="big-dot"></span><div><strong>Ready</strong><span class="muted">All pipelines connected · up ${esc(fmtDuration(s.uptime_s))}</span></div></div>`
    : `<div class="ready-box bad" data-testid="pipe-ready"><span class="big-dot"></span><div><strong>Not ready</strong>${reasons.length
      ? `<ul>${reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`
      : '<span class="muted">no reason given</span>'}</div></div>`;

  const stats = `<div class="stat-row">
    <div class="stat"><span class="kpi-label">Throughput</span><span class="v" data-testid="pipe-throughput">${esc(fmtAuto(rate))}</span><span class="u">msg/s</span></div>
    <div class="stat${maxLag != null && maxLag > 30 ? ' warn' : ''}"><span class="kpi-label">Max lag</span><span class="v">${esc(maxLag == null ? '–' : fmt(maxLag, 1))}</span><span class="u">s</span></div>
    <div class="stat${dl.total > 0 ? ' warn' : ''}" title="${esc(fmt(dl.per_s, 2))} dead letters per second"><span class="kpi-label">Dead letters</span><span class="v">${esc(fmtInt(dl.total))}</span><span class="u">${esc(fmt(dl.per_s, 2))}/s</span></div>
  </div>`;

  const pipeTable = pipelines.length
    ? `<table><thead><tr><th>Pipeline</th><th class="num">msg/s</th><th class="num">Lag (s)</th><th>State</th></tr></thead><tbody>${pipelines.map((p) => `<tr>
        <td class="pipe-name" title="${esc(p.name)}"><span class="mono">${p.name.split('+').map((d) => `<span class="seg">${esc(d)}</span>`).join('+<wbr>')}</span><span class="sub">${esc(p.source)}</span></td>
        <td class="num">${esc(fmtAuto(p.messages_per_s))}</td>
        <td class="num ${lagCls(p.lag_seconds)}">${esc(p.lag_seconds == null ? '–' : fmt(p.lag_seconds, 1))}</td>
        <td>${p.paused ? '<span class="badge b-warn">paused</span>' : '<span class="badge b-active">running</span>'}</td>
      </tr>`).join('')}</tbody></table>`
    : '<div class="empty">No pipelines running — start the worker with at least one domain enabled.</div>';

  const domainTable = domains.length
    ? `<table><thead><tr><th>Domain</th><th class="num">Messages</th><th class="num">Valid</th><th class="num">Invalid</th><th class="num">Anomalies</th></tr></thead><tbody>${domains.map((d) => `<tr>
        <td>${esc(d.domain)}</td>
        <td class="num">${esc(fmtInt(d.messages))}</td>
        <td class="num">${esc(fmtInt(d.readings_valid))}</td>
        <td class="num${d.readings_invalid > 0 ? ' warn-text' : ''}">${esc(fmtInt(d.readings_invalid))}</td>
        <td class="num${d.anomalies > 0 ? ' warn-text' : ''}">${esc(fmtInt(d.anomalies))}</td>
      </tr>`).join('')}</tbody></table>`
    : '<div class="empty">No domain counters yet — no domain has processed a message since the worker started.</div>';

  updateSpark(pipelines);
  $('pipe-body').innerHTML = `${ready}${stats}
    <div><div class="section-title">Pipelines</div><div class="table-wrap">${pipeTable}</div></div>
    <div><div class="section-title">Domains</div><div class="table-wrap">${domainTable}</div></div>`;
});

$('tz').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
