/**
 * Meter state and status alerts, pure: every new transaction of a batch is a step, in the
 * order the batch delivered it, from the meter's stored state. A batch therefore alerts and
 * moves `status_since` exactly as the same transactions would one batch each: a fault that
 * starts and ends inside one batch still alerts, whatever the consumer's backlog.
 */
import { uuidV5 } from '../../lib/ids.ts';
import type { Transaction } from './decode.ts';
import type { MeterStatus } from './schema.ts';

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

/** Newer by event time, ties by transaction id, so every instance and every batching agrees. */
const isNewer = (t: Transaction, head: MeterHead): boolean =>
  t.timestampMs > head.lastSeenMs || (t.timestampMs === head.lastSeenMs && t.transactionId > head.lastTransactionId);

/**
 * One transaction on a meter's state: null when it is not newer than the state (a late
 * transaction changes nothing, as it would alone in its batch). A meter alerts when it
 * enters fault or offline: first seen that way, or changed to it.
 */
function stepMeter(current: MeterHead | undefined, t: Transaction): { row: MeterRow; alert: StatusAlert | null } | null {
  if (current !== undefined && !isNewer(t, current)) return null;
  const changed = current === undefined || current.status !== t.status;
  const previousStatus = current?.status ?? null;
  const row: MeterRow = {
    meterId: t.meterId, region: t.region, status: t.status, previousStatus, statusSinceMs: changed ? t.timestampMs : current.statusSinceMs,
    buildingType: t.buildingType, latitude: t.latitude, longitude: t.longitude, consumptionKwh: t.consumptionKwh, peakLoad: t.peakLoad,
    lastSeenMs: t.timestampMs, lastTransactionId: t.transactionId,
  };
  if (!changed || (t.status !== 'fault' && t.status !== 'offline')) return { row, alert: null };
  // The id names the transition (meter, time, status): a redelivery or a replay stores it once.
  const alert: StatusAlert = {
    alertId: uuidV5(`smart-grid-alert:${t.meterId}:${t.timestampMs}:${t.status}`), meterId: t.meterId, region: t.region, type: t.status,
    previousStatus, consumptionKwh: t.consumptionKwh, timestampMs: t.timestampMs,
  };
  return { row, alert };
}

/** Steps every transaction, in order, from the stored heads (meters absent from `stored` are new). */
export function planMeters(stored: ReadonlyMap<string, MeterHead>, txs: ReadonlyArray<Transaction>): MeterPlan {
  const rows = new Map<string, MeterRow>();
  const alerts = new Map<string, StatusAlert>();
  for (const t of txs) {
    const step = stepMeter(rows.get(t.meterId) ?? stored.get(t.meterId), t);
    if (step === null) continue;
    rows.set(t.meterId, step.row);
    // The same transition twice (same meter, time and status): once, as its stored id makes the second a no-op in a batch of its own.
    if (step.alert !== null && !alerts.has(step.alert.alertId)) alerts.set(step.alert.alertId, step.alert);
  }
  return { rows: [...rows.values()].sort((a, b) => (a.meterId < b.meterId ? -1 : a.meterId > b.meterId ? 1 : 0)), alerts: [...alerts.values()] };
}
