/**
 * Pure roll-ups of a batch's new transactions: per-second consumption (with counts per
 * status), per-region per-minute consumption, and each meter's latest state. Deltas add to
 * the stored rows, so only transactions inserted now are passed in.
 */
import { windowStart } from '../../processors/windows/tumbling.ts';
import type { MeterStatus } from './schema.ts';
import type { Transaction } from './decode.ts';

export interface SecondDelta {
  /** Epoch ms of the second. */
  readonly bucket: number;
  totalKwh: number;
  count: number;
  maxKwh: number;
  minKwh: number;
  active: number;
  fault: number;
  offline: number;
}

export interface RegionMinuteDelta {
  readonly region: string;
  readonly bucket: number;
  totalKwh: number;
  count: number;
  maxKwh: number;
  /** Distinct meters of the batch in this region and minute (the store counts only meters new to the minute). */
  readonly meters: Set<string>;
}

export interface MeterLatest {
  readonly meterId: string;
  readonly region: string;
  readonly status: MeterStatus;
  readonly buildingType: string;
  readonly latitude: number;
  readonly longitude: number;
  readonly consumptionKwh: number;
  readonly peakLoad: number;
  readonly timestampMs: number;
  readonly transactionId: string;
}

export function secondDeltas(txs: ReadonlyArray<Transaction>): SecondDelta[] {
  const out = new Map<number, SecondDelta>();
  for (const t of txs) {
    const bucket = windowStart(t.timestampMs, 1000);
    let d = out.get(bucket);
    if (d === undefined) out.set(bucket, (d = { bucket, totalKwh: 0, count: 0, maxKwh: -Infinity, minKwh: Infinity, active: 0, fault: 0, offline: 0 }));
    d.totalKwh += t.consumptionKwh;
    d.count++;
    if (t.consumptionKwh > d.maxKwh) d.maxKwh = t.consumptionKwh;
    if (t.consumptionKwh < d.minKwh) d.minKwh = t.consumptionKwh;
    d[t.status]++;
  }
  return [...out.values()].sort((a, b) => a.bucket - b.bucket);
}

export function regionMinuteDeltas(txs: ReadonlyArray<Transaction>): RegionMinuteDelta[] {
  const out = new Map<string, RegionMinuteDelta>();
  for (const t of txs) {
    const bucket = windowStart(t.timestampMs, 60_000);
    const key = `${t.region}\u0000${bucket}`;
    let d = out.get(key);
    if (d === undefined) out.set(key, (d = { region: t.region, bucket, totalKwh: 0, count: 0, maxKwh: -Infinity, meters: new Set() }));
    d.totalKwh += t.consumptionKwh;
    d.count++;
    if (t.consumptionKwh > d.maxKwh) d.maxKwh = t.consumptionKwh;
    d.meters.add(t.meterId);
  }
  return [...out.values()].sort((a, b) => (a.region === b.region ? a.bucket - b.bucket : a.region < b.region ? -1 : 1));
}

/** The newest transaction of each meter (ties by transaction id, so every instance agrees). */
export function latestPerMeter(txs: ReadonlyArray<Transaction>): MeterLatest[] {
  const out = new Map<string, Transaction>();
  for (const t of txs) {
    const prev = out.get(t.meterId);
    if (prev === undefined || t.timestampMs > prev.timestampMs || (t.timestampMs === prev.timestampMs && t.transactionId > prev.transactionId)) out.set(t.meterId, t);
  }
  return [...out.values()]
    .sort((a, b) => (a.meterId < b.meterId ? -1 : a.meterId > b.meterId ? 1 : 0))
    .map((t) => ({
      meterId: t.meterId, region: t.region, status: t.status, buildingType: t.buildingType, latitude: t.latitude, longitude: t.longitude,
      consumptionKwh: t.consumptionKwh, peakLoad: t.peakLoad, timestampMs: t.timestampMs, transactionId: t.transactionId,
    }));
}
