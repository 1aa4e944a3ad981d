/**
 * What the end-to-end benchmarks share: where the services are, the sources, the path of the
 * worker's entry point, and small helpers (no side effects: the commit clock's thread and the
 * raw consumer's process load this too).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { BenchContext } from '../lib.ts';

export const PG_ADMIN_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const KAFKA_BROKERS = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',').map((s) => s.trim());
export const AMQP_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
/** The tests' Mosquitto (scripts/mosquitto.conf: raised queue limits), never the system one on 1883. */
export const MQTT_URL = process.env['BENCH_MQTT_URL'] ?? 'mqtt://127.0.0.1:1884';
/** A persistent MQTT v5 session (the worker's, and the raw consumer's). */
export const MQTT_SESSION_OPTIONS = { clean: false, protocolVersion: 5, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600, receiveMaximum: 1000 } } as const;

/** The CLI's entry point: `node <MAIN> run` is `ingestd run`. */
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The launcher `npx ingestd` runs (its shebang sets the memory options): what a deployment gets. */
export const BIN = fileURLToPath(new URL('../../bin/ingestd.js', import.meta.url));

export type SourceName = 'kafka' | 'rabbitmq' | 'nats' | 'mqtt';
export type E2eDomain = 'grid-telemetry' | 'energy-meter' | 'smart-grid';
export const INFLUX_URL = process.env['BENCH_INFLUXDB_URL'] ?? 'http://127.0.0.1:8086';
export const SOURCES: ReadonlyArray<SourceName> = ['kafka', 'rabbitmq', 'nats', 'mqtt'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Epoch milliseconds with sub-millisecond resolution (the same clock PostgreSQL's clock_timestamp() reads on this host). */
export const nowMs = (): number => performance.timeOrigin + performance.now();
export const hex = (n: number): string => randomBytes(n).toString('hex');
export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
/** A whole number with thousands separators, for the notes. */
export const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
/** Event time / received_at of the first message: the current hour (monthly partitions stay within retention). */
export const startOfHour = (): number => Math.floor(Date.now() / 3_600_000) * 3_600_000;

/** fn with a connection from open(), closed by close() afterwards, whatever happens. */
export async function using<C, T>(open: () => Promise<C>, close: (c: C) => Promise<unknown>, fn: (c: C) => Promise<T>): Promise<T> {
  const c = await open();
  try {
    return await fn(c);
  } finally {
    await close(c);
  }
}

/** fn with a PostgreSQL connection of its own. */
export const withPg = <T>(url: string, fn: (c: pg.Client) => Promise<T>, applicationName?: string): Promise<T> =>
  using(async () => {
    const c = new pg.Client({ connectionString: url, ...(applicationName === undefined ? {} : { application_name: applicationName }) });
    await c.connect();
    return c;
  }, (c) => c.end(), fn);

/** fn run `--reps` times (default once: a repetition is a whole drain or latency window), from scratch each. */
export async function repeat<T>(ctx: BenchContext, fn: () => Promise<T>): Promise<T[]> {
  const runs: T[] = [];
  for (let rep = 0; rep < (ctx.reps ?? 1); rep++) runs.push(await fn());
  return runs;
}
