/**
 * Pure roll-ups of a batch's new transactions: per-second consumption (with counts per
 * status) and per-region per-minute consumption. Deltas add to the stored rows, so only
 * transactions inserted now are passed in. (Meter state is stepped per transaction: status.ts.)
 */
import { windowStart } from '../../processors/windows/tumbling.ts';
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
