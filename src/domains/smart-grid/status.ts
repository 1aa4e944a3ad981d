/**
 * Meter state and status alerts, pure: every new transaction of a batch is a step, in the
 * order the batch delivered it, from the meter's stored state. A batch therefore alerts and
 * moves `status_since` exactly as the same transactions would one batch each: a fault that
 * starts and ends inside one batch still alerts, whatever the consumer's backlog.
 */
import { uuidV5 } from '../../lib/ids.ts';
import type { Transaction } from './decode.ts';
import type { MeterStatus } from './schema.ts';
import { compareText } from '../../lib/order.ts';

/** What deciding on a transaction needs of a meter's stored row. */
export interface MeterHead {
  readonly status: MeterStatus;
  /** Epoch ms of the transaction that brought the current status. */
  readonly statusSinceMs: number;
  /** Event time and id of the newest transaction applied: the order transactions are accepted in. */
  readonly lastSeenMs: number;
  readonly lastTransactionId: string;
}

/** A meter's row as the store writes it. */
export interface MeterRow extends MeterHead {
  readonly meterId: string;
  readonly region: string;
  /** Status before the newest transaction; null on a meter's first. */
  readonly previousStatus: MeterStatus | null;
  readonly buildingType: string;
  readonly latitude: number;
  readonly longitude: number;
  readonly consumptionKwh: number;
  readonly peakLoad: number;
}

export interface StatusAlert {
  readonly alertId: string;
  readonly meterId: string;
  readonly region: string;
  readonly type: 'fault' | 'offline';
  readonly previousStatus: MeterStatus | null;
  readonly consumptionKwh: number;
  readonly timestampMs: number;
}

export interface MeterPlan {
  /** The new row of every meter a transaction moved, by meter id: batches inserting the same new meters wait in one order. */
  readonly rows: MeterRow[];
  /** Alerts in the order their transactions were applied. */
  readonly alerts: StatusAlert[];
}

/** A meter's row being stepped (in place, by planMeters and by the keyed state). */
export type MutableMeterRow = { -readonly [K in keyof MeterRow]: MeterRow[K] };

/** A row to step into; every field is set by its first step (one shape for every row). */
export const blankRow = (): MutableMeterRow => ({
  meterId: '', region: '', status: 'active', previousStatus: null, statusSinceMs: 0, buildingType: '', latitude: 0, longitude: 0,
  consumptionKwh: 0, peakLoad: 0, lastSeenMs: 0, lastTransactionId: '',
});

/** Rows in meter order: concurrent writers lock meter rows in one order. */
export const byMeterId = (a: MeterRow, b: MeterRow): number => compareText(a.meterId, b.meterId);

/** Newer by event time, ties by transaction id, so every instance and every batching agrees. */
const isNewer = (t: Transaction, head: MeterHead): boolean =>
  t.timestampMs > head.lastSeenMs || (t.timestampMs === head.lastSeenMs && t.transactionId > head.lastTransactionId);

/**
 * Whether a transaction moves a meter whose state is `current` (undefined: never seen). One
 * not newer than the state changes nothing (a late transaction, as it would alone in its batch).
 */
export const moves = (current: MeterHead | undefined, t: Transaction): boolean => current === undefined || isNewer(t, current);

/**
 * One transaction on a meter's state, when it `moves` it: the new state is written into `row`,
 * which may be `current` itself (stepped in place, no object per transaction). Returns the
 * alert it raises: a meter alerts when it enters fault or offline (first seen that way, or
 * changed to it).
 */
export function stepMeter(current: MeterHead | undefined, t: Transaction, row: MutableMeterRow): StatusAlert | null {
  // Read before writing: `row` may be `current`.
  const previousStatus = current === undefined ? null : current.status;
  const changed = previousStatus !== t.status;
  const statusSinceMs = changed ? t.timestampMs : current!.statusSinceMs;
  row.meterId = t.meterId;
  row.region = t.region;
  row.status = t.status;
  row.previousStatus = previousStatus;
  row.statusSinceMs = statusSinceMs;
  row.buildingType = t.buildingType;
  row.latitude = t.latitude;
  row.longitude = t.longitude;
  row.consumptionKwh = t.consumptionKwh;
  row.peakLoad = t.peakLoad;
  row.lastSeenMs = t.timestampMs;
  row.lastTransactionId = t.transactionId;
  if (!changed || (t.status !== 'fault' && t.status !== 'offline')) return null;
  // The id names the transition (meter, time, status): a redelivery or a replay stores it once.
  return {
    alertId: uuidV5(`smart-grid-alert:${t.meterId}:${t.timestampMs}:${t.status}`), meterId: t.meterId, region: t.region, type: t.status,
    previousStatus, consumptionKwh: t.consumptionKwh, timestampMs: t.timestampMs,
  };
}

/** Steps every transaction, in order, from the stored heads (meters absent from `stored` are new). */
export function planMeters(stored: ReadonlyMap<string, MeterHead>, txs: ReadonlyArray<Transaction>): MeterPlan {
  const rows = new Map<string, MutableMeterRow>();
  const alerts = new Map<string, StatusAlert>();
  for (const t of txs) {
    let row = rows.get(t.meterId);
    const current = row ?? stored.get(t.meterId);
    if (!moves(current, t)) continue;
    if (row === undefined) rows.set(t.meterId, (row = blankRow()));
    const alert = stepMeter(current, t, row);
    // The same transition twice (same meter, time and status): once, as its stored id makes the second a no-op in a batch of its own.
    if (alert !== null && !alerts.has(alert.alertId)) alerts.set(alert.alertId, alert);
  }
  return { rows: [...rows.values()].sort(byMeterId), alerts: [...alerts.values()] };
}
