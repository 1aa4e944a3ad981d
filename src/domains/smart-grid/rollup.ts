/**
 * Pure roll-ups of a batch's new transactions: per-second consumption (with counts per
 * status) and per-region per-minute consumption. Deltas add to the stored rows, so only
 * transactions inserted now are passed in: a batch's (apply) or a checkpoint's (the keyed state,
 * which adds one transaction at a time). (Meter state is stepped per transaction: status.ts.)
 */
import { mergeMaps } from '../../lib/maps.ts';
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

/** Per-second deltas by second (epoch ms). */
export type Seconds = Map<number, SecondDelta>;
/** Per-region per-minute deltas by region, then by minute (few per region): no string key per transaction. */
export type RegionMinutes = Map<string, RegionMinuteDelta[]>;

/** Adds a new transaction to its second's delta. */
export function addSecond(seconds: Seconds, t: Transaction): void {
  const bucket = windowStart(t.timestampMs, 1000);
  let d = seconds.get(bucket);
  if (d === undefined) seconds.set(bucket, (d = { bucket, totalKwh: 0, count: 0, maxKwh: -Infinity, minKwh: Infinity, active: 0, fault: 0, offline: 0 }));
  d.totalKwh += t.consumptionKwh;
  d.count++;
  if (t.consumptionKwh > d.maxKwh) d.maxKwh = t.consumptionKwh;
  if (t.consumptionKwh < d.minKwh) d.minKwh = t.consumptionKwh;
  d[t.status]++;
}

/**
 * Adds a new transaction to its region and minute's delta. `meterId` is what the delta's set
 * keeps (a caller holding deltas for long passes its own long-lived copy of the id).
 */
export function addRegionMinute(regions: RegionMinutes, t: Transaction, meterId: string = t.meterId): void {
  const bucket = windowStart(t.timestampMs, 60_000);
  let minutes = regions.get(t.region);
  if (minutes === undefined) regions.set(t.region, (minutes = []));
  let d: RegionMinuteDelta | undefined;
  for (const m of minutes) {
    if (m.bucket === bucket) {
      d = m;
      break;
    }
  }
  if (d === undefined) minutes.push((d = { region: t.region, bucket, totalKwh: 0, count: 0, maxKwh: -Infinity, meters: new Set() }));
  d.totalKwh += t.consumptionKwh;
  d.count++;
  if (t.consumptionKwh > d.maxKwh) d.maxKwh = t.consumptionKwh;
  d.meters.add(meterId);
}

/** Adds the per-second deltas of `from` to `into` (another shard's, taken by the same checkpoint). */
export function mergeSeconds(into: Seconds, from: Seconds): void {
  mergeMaps(into, from, (d, f) => {
    d.totalKwh += f.totalKwh;
    d.count += f.count;
    d.maxKwh = Math.max(d.maxKwh, f.maxKwh);
    d.minKwh = Math.min(d.minKwh, f.minKwh);
    d.active += f.active;
    d.fault += f.fault;
    d.offline += f.offline;
  });
}

/** Adds the per-region per-minute deltas of `from` to `into` (distinct meters: the union). */
export function mergeRegionMinutes(into: RegionMinutes, from: RegionMinutes): void {
  mergeMaps(into, from, (minutes, fromMinutes) => {
    for (const f of fromMinutes) {
      const d = minutes.find((m) => m.bucket === f.bucket);
      if (d === undefined) {
        minutes.push(f);
        continue;
      }
      d.totalKwh += f.totalKwh;
      d.count += f.count;
      d.maxKwh = Math.max(d.maxKwh, f.maxKwh);
      for (const m of f.meters) d.meters.add(m);
    }
  });
}

/** Seconds in order (concurrent writers lock the rows in one order). */
export const sortedSeconds = (seconds: Seconds): SecondDelta[] => [...seconds.values()].sort((a, b) => a.bucket - b.bucket);

/** By region, then minute (concurrent writers lock the rows in one order). */
export function sortedRegionMinutes(regions: RegionMinutes): RegionMinuteDelta[] {
  const out: RegionMinuteDelta[] = [];
  for (const minutes of regions.values()) out.push(...minutes);
  return out.sort((a, b) => (a.region === b.region ? a.bucket - b.bucket : a.region < b.region ? -1 : 1));
}

export function secondDeltas(txs: ReadonlyArray<Transaction>): SecondDelta[] {
  const seconds: Seconds = new Map();
  for (const t of txs) addSecond(seconds, t);
  return sortedSeconds(seconds);
}

export function regionMinuteDeltas(txs: ReadonlyArray<Transaction>): RegionMinuteDelta[] {
  const regions: RegionMinutes = new Map();
  for (const t of txs) addRegionMinute(regions, t);
  return sortedRegionMinutes(regions);
}
