import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

export const INFLUX_URL = process.env.TEST_INFLUXDB_URL ?? 'http://127.0.0.1:8086';
const SERVICES = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));
const HOME = process.env.INGESTD_INFLUXDB_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ingestd', 'influxdb');

/** InfluxQL against the test server; the rows of the first series of each statement. */
export async function influxQuery(db: string, q: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${INFLUX_URL}/query?${new URLSearchParams({ db, q, epoch: 'ms' }).toString()}`);
  const body = (await res.json()) as { results: Array<{ error?: string; series?: Array<{ columns: string[]; values: unknown[][] }> }> };
  const r = body.results[0]!;
  if (r.error !== undefined) throw new Error(`${r.error} (in ${q})`);
  const s = r.series?.[0];
  return s === undefined ? [] : s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
}

/** Kills the influxd the services script started (SIGKILL: a crash, not a shutdown). */
export async function killInflux(): Promise<void> {
  const pid = Number((await readFile(join(HOME, 'influxd.pid'), 'utf8')).trim());
  process.kill(pid, 'SIGKILL');
}

/** Starts it again through the services script, as CI does. */
export async function startInflux(): Promise<void> {
  await promisify(execFile)('bash', [SERVICES, 'influxdb']);
}

export async function dropInfluxDatabase(db: string): Promise<void> {
  await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${db}"` }) });
}
