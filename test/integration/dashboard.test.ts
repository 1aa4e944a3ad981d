import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { freePort } from '../helpers/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The page functions below run in the browser; tsconfig has no DOM lib, so they see it untyped. */
declare const document: any;

const SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
/** The demo's smart-grid simulator has 40 meters in 5 regions. */
const METERS = 40;
const REGIONS = 5;


/** `ingestd demo` as a child process, as a user starts it, its output in `logFile`. */
class Demo {
  readonly child: ChildProcess;
  readonly base: string;
  readonly logFile: string;
  readonly dataDir: string;

  constructor(dataDir: string, port: number, pgPort: number, logFile: string, cwd: string) {
    this.dataDir = dataDir;
    this.base = `http://127.0.0.1:${port}`;
    this.logFile = logFile;
    const log = createWriteStream(logFile, { flags: 'a' });
    // A clean environment: no DATABASE_URL, API_TOKENS, INFLUXDB_URL … from the caller's shell
    // (and cwd in the tmp dir, so no developer's .env is read either).
    const env: Record<string, string> = { PORT: String(port), LOG_LEVEL: 'warn' };
    for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
    this.child = spawn(process.execPath, [MAIN, 'demo', '--data-dir', dataDir, '--pg-port', String(pgPort)], {
      cwd, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.pipe(log);
    this.child.stderr!.pipe(log);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async json<T = Record<string, any>>(path: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  async logTail(): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-25).join('\n');
  }

  /** Polls `check` until true; fails at once if the demo exits, else after `timeoutMs`. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`the demo exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) while waiting for ${what}; log ${this.logFile}:\n${await this.logTail()}`);
      }
      try {
        if (await check()) return;
        last = undefined;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last === undefined ? '' : ` (${String(last)})`}; log ${this.logFile}:\n${await this.logTail()}`);
  }

  /** Sends `signal`; resolves with the exit code, or null if it did not exit within `timeoutMs`. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<number | null> {
    const child = this.child;
    if (!this.running) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      child.kill(signal);
    });
  }

  /**
   * The embedded PostgreSQL runs in its own session (pg_ctl): if the demo was killed before it
   * could stop it, stop it by the pid in its postmaster.pid (SIGINT = fast shutdown).
   */
  async stopOrphanedPostgres(): Promise<void> {
    const pidFile = join(this.dataDir, 'pg', 'postmaster.pid');
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
    if (!(pid > 0)) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return; // not running
    }
    for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

/** What the browser reported that a healthy dashboard never causes. */
interface Problems {
  console: string[];
  pageErrors: string[];
  failedRequests: string[];
  badResponses: string[];
  foreignRequests: string[];
}

/** Waits (in the page) until `fn(arg)` is truthy; on timeout, says what and shows the card's text. */
async function until(page: Page, what: string, fn: (arg: any) => unknown, arg?: unknown, card?: string): Promise<void> {
  try {
    await page.waitForFunction(fn, arg, { timeout: 60_000, polling: 250 });
  } catch (err) {
    const text = card === undefined ? '' : await page.locator(card).innerText().catch(() => '(card not found)');
    throw new Error(`dashboard: timed out waiting for ${what}${text ? `; the card shows:\n${text}` : ''}\n${(err as Error).message.split('\n')[0]}`);
  }
}

/** Parses a number the dashboard formatted (en-US: thousands separators). */
const num = (s: string | null): number => Number((s ?? '').replace(/,/g, '').trim());

/** Pixels of a canvas under `selector` within `tol` of colour [r, g, b] (drawn, not background). */
function countPixels(page: Page, selector: string, rgb: [number, number, number], tol = 40): Promise<number> {
  return page.evaluate(({ selector, rgb, tol }) => {
    let n = 0;
    for (const canvas of document.querySelectorAll(selector)) {
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3]! > 60 && Math.abs(d[i]! - rgb[0]) <= tol && Math.abs(d[i + 1]! - rgb[1]) <= tol && Math.abs(d[i + 2]! - rgb[2]) <= tol) n++;
      }
    }
    return n;
  }, { selector, rgb, tol });
}

/** Fault/offline meters as the table lists them and as the map colours them (must agree). */
function statusCounts(page: Page): Promise<{ table: Record<string, number>; map: Record<string, number> }> {
  return page.evaluate(() => {
    const count = (values: string[]) => ({ fault: values.filter((v) => v === 'fault').length, offline: values.filter((v) => v === 'offline').length });
    return {
      table: count([...document.querySelectorAll('#meters-body tbody tr td:nth-child(3)')].map((td: any) => td.textContent.trim())),
      map: count([...document.querySelectorAll('#map svg circle.m')].map((c: any) => c.getAttribute('class').replace(/^m m-/, ''))),
    };
  });
}

describe('dashboard: the real demo in a real browser', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  test('every panel shows live data from the read API; no console error, failed request or external asset', { timeout: 480_000 }, async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`bash scripts/services.sh chromium\` (npm run test:integration does)`);

    const dir = await mkdtemp(join(tmpdir(), 'ingestd-dashboard-'));
    // The embedded PostgreSQL runs as the `postgres` user when we are root: it must reach its data dir.
    await chmod(dir, 0o755);
    let passed = false;
    cleanups.push(async () => {
      // On failure keep the log and the screenshots for diagnosis, not the database.
      await rm(passed ? dir : join(dir, 'data'), { recursive: true, force: true });
      if (!passed) process.stderr.write(`dashboard test: demo log and screenshots kept in ${dir}\n`);
    });
    const [port, pgPort] = [await freePort(), await freePort()];
    const demo = new Demo(join(dir, 'data'), port, pgPort, join(dir, 'demo.log'), dir);
    cleanups.push(async () => {
      if ((await demo.stop('SIGINT', 30_000)) === null) await demo.stop('SIGKILL', 5_000);
      await demo.stopOrphanedPostgres();
    });

    // 1. The demo is up and the read API has data for every panel (a fresh data dir: the 24 h
    // smart-grid history loads in the background, meters go into fault/offline spells).
    await demo.until('/ready to answer 200', async () => (await fetch(`${demo.base}/ready`)).status === 200, 180_000);
    // The history is published oldest first: once the trend covers the day (288 five-minute
    // steps, bar the last few), it is stored, and meter states come from the live simulation.
    await demo.until('the 24 h history (> 285 points in the trend)', async () => (await demo.json('/v1/consumption/trend?hours=24')).points.length > 285, 240_000);
    await demo.until(`${METERS} meters with coordinates`, async () => {
      const m = await demo.json('/v1/meters?status=all&limit=5000');
      return m.total === METERS && m.meters.every((x: { latitude: unknown; longitude: unknown }) => typeof x.latitude === 'number' && typeof x.longitude === 'number');
    }, 60_000);
    await demo.until(`${REGIONS} regions with consumption in the last hour`, async () => (await demo.json('/v1/regions')).regions.length === REGIONS, 60_000);
    // ~0.04 spells start per second (20 transactions/s × faultRate 0.002), each lasting 40-400 s.
    await demo.until('a meter in fault or offline', async () => (await demo.json('/v1/meters?status=fault,offline')).total > 0, 240_000);
    await demo.until('an alert', async () => (await demo.json('/v1/alerts?limit=1')).alerts.length > 0, 60_000);
    // Live traffic is ~165 msg/s; thousands mean the history is still being consumed (the
    // throughput sparkline would start with that burst).
    await demo.until('pipeline throughput at the live rate', async () => {
      const p = await demo.json('/v1/pipeline');
      const rate = (p.pipelines as Array<{ messages_per_s: number }>).reduce((n, x) => n + x.messages_per_s, 0);
      return p.ready === true && rate > 0 && rate < 1_000;
    }, 60_000);
    const pipelineNames = ((await demo.json('/v1/pipeline')).pipelines as Array<{ name: string }>).map((p) => p.name).sort();
    const regionNames = ((await demo.json('/v1/regions')).regions as Array<{ region: string }>).map((r) => r.region).sort();
    assert.ok(pipelineNames.includes('grid-telemetry+analytics+smart-grid'), `pipelines: ${pipelineNames.join(', ')}`);

    // 2. A real browser.
    let browser: Browser | undefined = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    cleanups.push(async () => browser?.close());
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
    const page = await context.newPage();
    const problems: Problems = { console: [], pageErrors: [], failedRequests: [], badResponses: [], foreignRequests: [] };
    const origin = new URL(demo.base).origin;
    const requested = new Set<string>();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()} (${m.location().url}:${m.location().lineNumber})`);
    });
    page.on('pageerror', (err) => problems.pageErrors.push(err.stack ?? err.message));
    page.on('request', (r) => {
      const u = new URL(r.url());
      requested.add(u.pathname);
      if (u.origin !== origin) problems.foreignRequests.push(r.url());
    });
    page.on('requestfailed', (r) => problems.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText ?? '?'}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.badResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });

    try {
      // 3. Every panel shows real data.
      const res = await page.goto(`${demo.base}/`, { waitUntil: 'load' });
      assert.equal(res?.status(), 200);
      assert.equal(await page.title(), 'ingestd · live dashboard');

      // Live consumption: the uPlot chart drew bars (the accent colour) and the KPIs are positive.
      await until(page, 'the live chart', () => {
        const current = Number(document.getElementById('live-current')?.textContent?.replace(/,/g, ''));
        return document.querySelector('#live-chart canvas') !== null && document.querySelector('#live-chart .empty')?.hidden === true
          && current > 0 && !document.getElementById('card-live')!.classList.contains('no-data');
      }, undefined, '#card-live');
      assert.ok(num(await page.textContent('#live-rate')) > 0, 'readings per second');
      assert.ok(num(await page.textContent('#live-total')) > 0, '5-minute total');
      assert.match((await page.textContent('#live-readout')) ?? '', /Last reading at \d/);
      const liveBars = await countPixels(page, '#live-chart canvas', [56, 189, 248], 50);
      assert.ok(liveBars > 500, `live chart bars drawn (${liveBars} accent pixels)`);

      // 24-hour trend: the line (violet) spans the day, peak and energy KPIs are positive.
      await until(page, 'the 24-hour trend', () =>
        document.querySelector('#trend-chart canvas') !== null && document.querySelector('#trend-chart .empty')?.hidden === true
        && /Resolution/.test(document.getElementById('trend-readout')?.textContent ?? ''), undefined, '#card-trend');
      assert.ok(num(await page.textContent('#trend-peak')) > 0, 'trend peak');
      assert.ok(num(await page.textContent('#trend-total')) > 0, '24 h energy');
      const trendLine = await countPixels(page, '#trend-chart canvas', [167, 139, 250], 30);
      const trendWidth = await page.evaluate(() => document.querySelector('#trend-chart canvas')!.width);
      assert.ok(trendLine > trendWidth * 0.6, `trend line drawn across the chart (${trendLine} violet pixels, canvas ${trendWidth} px wide)`);

      // Faulty / offline meters: rows of fault/offline meters, as many as the Total KPI says.
      await until(page, 'a faulty or offline meter row', () => document.querySelectorAll('#meters-body tbody tr').length > 0, undefined, '#card-meters');
      const meterRows = await page.$$eval('#meters-body tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent!.trim())));
      for (const [id, region, status] of meterRows) {
        assert.match(id!, /^SM-\d+$/);
        assert.ok(regionNames.includes(region!), `meter ${id} region ${region}`);
        assert.ok(status === 'fault' || status === 'offline', `meter ${id} status ${status}`);
      }
      assert.equal(num(await page.textContent('#meters-total')), meterRows.length);

      // Region map: a dot per meter, a circle and a label per region, labels inside the map and not overlapping.
      await until(page, 'the region map', (n) => document.querySelectorAll('#map svg circle.m').length === n
        && document.querySelectorAll('#map svg text.region-label').length >= 5, METERS, '#card-map');
      const map = await page.evaluate(() => {
        const svg = document.querySelector('#map svg')!;
        const { width, height } = svg.viewBox.baseVal;
        // A region's label is its name with its kWh below it (two texts, in that order).
        const texts = [...svg.querySelectorAll('text.region-label, text.region-kwh')];
        const labels = [];
        for (let i = 0; i + 1 < texts.length; i += 2) {
          const [a, b] = [texts[i]!.getBBox(), texts[i + 1]!.getBBox()];
          labels.push({
            text: `${texts[i]!.textContent} ${texts[i + 1]!.textContent}`,
            x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y), x1: Math.max(a.x + a.width, b.x + b.width), y1: Math.max(a.y + a.height, b.y + b.height),
          });
        }
        const dots = [...svg.querySelectorAll('circle.m')].map((c) => ({ x: c.cx.baseVal.value, y: c.cy.baseVal.value, cls: c.getAttribute('class') ?? '' }));
        return {
          width, height, labels, dots,
          regions: svg.querySelectorAll('circle.region').length,
          names: [...svg.querySelectorAll('text.region-label')].map((t) => t.textContent ?? '').sort(),
          foot: document.getElementById('map-foot')?.textContent ?? '',
        };
      });
      assert.deepEqual(map.names, regionNames);
      assert.equal(map.regions, REGIONS);
      for (const d of map.dots) assert.ok(d.x > 0 && d.x < map.width && d.y > 0 && d.y < map.height, `meter dot inside the map: ${JSON.stringify(d)}`);
      assert.ok(map.dots.some((d) => /m-(fault|offline)/.test(d.cls)), 'a fault/offline meter on the map');
      for (const [i, a] of map.labels.entries()) {
        assert.ok(a.x0 >= 0 && a.y0 >= 0 && a.x1 <= map.width && a.y1 <= map.height, `label "${a.text}" inside the map`);
        for (const b of map.labels.slice(i + 1)) {
          assert.ok(a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0, `labels "${a.text}" and "${b.text}" overlap`);
        }
      }
      assert.match(map.foot, new RegExp(`^${METERS} meters · \\d+ active · \\d+ fault · \\d+ offline · ${REGIONS} regions`));
      const counts = await statusCounts(page);
      assert.deepEqual(counts.map, counts.table, 'the map and the table agree on the faulty/offline meters');

      // Recent alerts: rows with a time, a domain and a message.
      await until(page, 'an alert row', () => document.querySelectorAll('#alerts-body tbody tr').length > 0, undefined, '#card-alerts');
      const alertRows = await page.$$eval('#alerts-body tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent!.trim())));
      assert.equal(num(await page.textContent('#alerts-count')), alertRows.length);
      for (const cells of alertRows) {
        assert.equal(cells.length, 6);
        assert.ok(['energy-meter', 'grid-telemetry', 'analytics', 'smart-grid', 'chat-events'].includes(cells[1]!), `alert domain ${cells[1]}`);
        assert.ok(cells[5]!.length > 0, 'alert message');
      }

      // Pipeline status: Ready, a positive throughput, the real pipelines, the throughput sparkline.
      await until(page, 'the pipeline status', () =>
        /Ready/.test(document.querySelector('[data-testid="pipe-ready"]')?.textContent ?? '')
        && Number(document.querySelector('[data-testid="pipe-throughput"]')?.textContent?.replace(/,/g, '')) > 0
        && document.querySelector('#pipe-chart canvas') !== null && document.querySelector('#pipe-chart .empty')?.hidden === true,
      undefined, '#card-pipe');
      assert.equal(await page.getAttribute('[data-testid="pipe-ready"]', 'class'), 'ready-box ok');
      assert.equal((await page.textContent('#ready-pill'))?.trim(), 'Ready');
      const shownPipelines = await page.$$eval('#pipe-body td.pipe-name .mono', (els) => els.map((e) => e.textContent ?? '').sort());
      assert.deepEqual(shownPipelines, pipelineNames);
      const domainsShown = await page.$$eval('#pipe-body table', (tables) => [...tables[1]!.querySelectorAll('tbody tr td:first-child')].map((td) => td.textContent ?? '').sort());
      assert.deepEqual(domainsShown, ['analytics', 'chat-events', 'energy-meter', 'grid-telemetry', 'smart-grid']);

      // Layout with real data: nothing wider than the page or its table (long pipeline names
      // wrap after a "+", long alert subjects are shortened), no card shows an error.
      const layout = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        tables: [...document.querySelectorAll('#card-pipe .table-wrap, #card-meters .table-wrap, #card-alerts .table-wrap')]
          .filter((w) => w.scrollWidth > w.clientWidth + 1).map((w) => w.closest('section')?.id),
        errors: [...document.querySelectorAll('.card-error')].filter((e) => !e.hidden).map((e) => e.textContent),
      }));
      assert.deepEqual(layout, { page: 0, tables: [], errors: [] });

      // A few more polls (and throughput samples for the screenshot's sparkline), then the screenshot.
      await page.mouse.move(0, 0);
      await page.waitForTimeout(15_000);
      const later = await statusCounts(page);
      assert.deepEqual(later.map, later.table, 'the map and the table still agree after their next polls');
      await page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true });
      await copyFile(join(dir, 'dashboard.png'), SCREENSHOT);
      const size = (await stat(SCREENSHOT)).size;
      assert.ok(size < 600_000, `docs/dashboard.png is ${size} bytes`);
    } catch (err) {
      await page.screenshot({ path: join(dir, 'failure.png'), fullPage: true }).catch(() => undefined);
      throw err;
    }

    // 4. Everything came from the worker itself, and nothing went wrong on the way.
    for (const path of ['/', '/dashboard/app.js', '/dashboard/style.css', '/dashboard/uplot.js', '/dashboard/uplot.css',
      '/v1/consumption/live', '/v1/consumption/trend', '/v1/meters', '/v1/regions', '/v1/alerts', '/v1/pipeline']) {
      assert.ok(requested.has(path), `the page requested ${path}`);
    }
    const seen = structuredClone(problems);
    await browser.close();
    browser = undefined;
    assert.deepEqual(seen, { console: [], pageErrors: [], failedRequests: [], badResponses: [], foreignRequests: [] });

    // 5. Ctrl-C stops the demo cleanly.
    assert.equal(await demo.stop('SIGINT', 30_000), 0, `the demo exits 0 within 30 s of SIGINT; log ${demo.logFile}:\n${await demo.logTail()}`);
    assert.match(await readFile(demo.logFile, 'utf8'), /ingestd demo stopped; data kept for the next start\./);
    passed = true;
  });
});
