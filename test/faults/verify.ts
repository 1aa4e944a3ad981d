/**
 * What a scenario must end with, counted rather than asserted so the suite can print the
 * faults × sources table: every sent reading stored once, aggregates equal to their
 * recomputation from raw rows, one row per alert, the dead letters exactly the injected
 * bad messages, the outbox published, the workers ready.
 */
import pg from 'pg';
import { loadConfig } from '../../src/config/index.ts';
import { deadLetterQueues } from '../../src/dlq/index.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import type { LoadMessage } from '../../src/cli/load/generators.ts';
import { queryRows } from '../helpers/db.ts';
import { aggregateMismatches, expectedAlerts, storedAlerts } from '../helpers/grid.ts';

export interface Counts {
  sent: number;
  /** Valid readings among them (the rest are the injected bad messages). */
  expected: number;
  stored: number;
  /** Readings counted more than once by an aggregate, plus alert rows beyond one per alert. */
  duplicates: number;
  lost: number;
  /** Stored readings that were never sent (must be 0). */
  unexpected: number;
  injectedBad: number;
  deadLettered: number;
  /** Copies beyond the first of one dead letter (at-least-once into the DLQ, see docs). */
  deadLetterCopies: number;
  /** Aggregate rows that differ from their recomputation (any column). */
  aggregateMismatches: number;
  alerts: number;
  /**
   * EMA alerts (spike, drop, outage) that an uninterrupted run raises and this one did not, and
   * the reverse: the EMA of each meter in the order its messages were sent.
   */
  alertsMissing: number;
  alertsExtra: number;
  outboxPending: number;
}

const BAD_KINDS = new Set(['undecodable', 'schema-invalid']);

export const isBad = (m: LoadMessage): boolean => BAD_KINDS.has(m.kind);

/** Stored readings as `meter@epoch-ms`, the id `ingestd load` gives each grid message. */
export async function storedIds(url: string): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(url, `SELECT meter_id || '@' || (extract(epoch FROM "timestamp") * 1000)::bigint AS id FROM telemetry_readings`);
  return rows.map((r) => r.id);
}

export async function outboxPending(url: string): Promise<number> {
  const [r] = await queryRows<{ n: string }>(url, 'SELECT count(*) AS n FROM ingestd_outbox');
  return Number(r!.n);
}

/** Readings an aggregate row counts beyond its raw rows, over both window tables. */
async function overCounted(url: string): Promise<number> {
  let n = 0;
  for (const [table, size] of [['aggregates_1m', 60], ['aggregates_15m', 900]] as const) {
    const [r] = await queryRows<{ n: string | null }>(
      url,
      `WITH raw AS (SELECT meter_id, to_timestamp(floor(extract(epoch FROM "timestamp") / ${size}) * ${size}) AS w, count(*) AS c FROM telemetry_readings GROUP BY 1, 2)
       SELECT sum(greatest(a.sample_count - coalesce(raw.c, 0), 0)) AS n FROM ${table} a LEFT JOIN raw ON raw.meter_id = a.meter_id AND raw.w = a.window_start`,
    );
    n += Number(r!.n ?? 0);
  }
  return n;
}

/** Dead letters of the scenario's source, read with the same code as `ingestd dlq list`. */
export async function deadLetterBodies(env: Record<string, string>, url: string): Promise<string[]> {
  const { config, problems } = loadConfig({ ...env, DATABASE_URL: url });
  if (problems.length > 0) throw new Error(`fault suite config: ${problems.join('; ')}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const queues = deadLetterQueues(config, pool, createLogger({ level: 'silent', service: 'faults' }));
  try {
    const out: string[] = [];
    for (const q of queues) for (const r of await q.list()) out.push(r.body.toString('latin1'));
    return out;
  } finally {
    for (const q of queues) await q.close().catch(() => undefined);
    await pool.end();
  }
}

const tally = (items: Iterable<string>): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

/** The counts of a drained scenario; `deadLetters` are the bodies read from its DLQ. */
export async function count(sent: ReadonlyArray<LoadMessage>, deadLetters: ReadonlyArray<string>, url: string): Promise<Counts> {
  const wanted = new Set(sent.filter((m) => !isBad(m)).map((m) => m.id));
  const stored = await storedIds(url);
  const have = new Set(stored);
  // Bodies compared as multisets: two bad messages may carry the same bytes.
  const bad = tally(sent.filter(isBad).map((m) => m.body.toString('latin1')));
  const letters = tally(deadLetters);
  let missingLetters = 0;
  let copies = 0;
  let strangers = 0;
  for (const [body, n] of bad) missingLetters += Math.max(0, n - (letters.get(body) ?? 0));
  for (const [body, n] of letters) {
    const injected = bad.get(body);
    if (injected === undefined) strangers += n;
    else copies += Math.max(0, n - injected);
  }
  const [alerts] = await queryRows<{ n: string; distinct: string }>(
    url,
    `SELECT count(*) AS n, count(DISTINCT (meter_id, "timestamp", type)) AS distinct FROM grid_alerts`,
  );
  const mismatches = (await aggregateMismatches(url, 'aggregates_1m')).length + (await aggregateMismatches(url, 'aggregates_15m')).length;
  const injectedBad = [...bad.values()].reduce((a, b) => a + b, 0);
  const uninterrupted = expectedAlerts(sent.map((m) => m.body));
  const raised = new Set(await storedAlerts(url));
  return {
    sent: sent.length,
    expected: wanted.size,
    stored: have.size,
    duplicates: (stored.length - have.size) + (await overCounted(url)) + (Number(alerts!.n) - Number(alerts!.distinct)),
    lost: [...wanted].filter((id) => !have.has(id)).length + missingLetters,
    unexpected: [...have].filter((id) => !wanted.has(id)).length + strangers,
    injectedBad,
    deadLettered: injectedBad - missingLetters,
    deadLetterCopies: copies,
    aggregateMismatches: mismatches,
    alerts: Number(alerts!.distinct),
    alertsMissing: [...uninterrupted].filter((a) => !raised.has(a)).length,
    alertsExtra: [...raised].filter((a) => !uninterrupted.has(a)).length,
    outboxPending: await outboxPending(url),
  };
}

/** The problems in a scenario's counts; empty = it held. */
export function problemsOf(c: Counts, orderedPerKey: boolean): string[] {
  const p: string[] = [];
  if (c.lost > 0) p.push(`${c.lost} lost`);
  if (c.duplicates > 0) p.push(`${c.duplicates} duplicated`);
  if (c.unexpected > 0) p.push(`${c.unexpected} unexpected rows or dead letters`);
  if (c.aggregateMismatches > 0) p.push(`${c.aggregateMismatches} aggregate rows differ from their recomputation`);
  if (orderedPerKey && c.alertsMissing + c.alertsExtra > 0) p.push(`alerts differ from an uninterrupted run's: ${c.alertsMissing} missing, ${c.alertsExtra} extra`);
  if (c.outboxPending > 0) p.push(`${c.outboxPending} outbox rows unpublished`);
  return p;
}
