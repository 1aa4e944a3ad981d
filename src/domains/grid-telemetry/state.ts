import type pg from 'pg';
import type { PoolClient } from 'pg';
import { mergeMaps } from '../../lib/maps.ts';
import { accumulate, emptyAggregate, mergeAggregates, type AggregateBuilder } from '../../processors/windows/tumbling.ts';
import { PerShard } from '../per-shard.ts';
import { emptyStats, type ApplyResult, type Decoded, type KeyedState, type StateDelta } from '../types.ts';
import type { GridReading } from './decode.ts';
import { detect } from './detect.ts';
import { readingEnergyKwh } from './energy.ts';
import type { GridTelemetrySettings } from './settings.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import {
  clearOfflineAlerts, copyReadingText, insertAlerts, readingKeyColumns, readingLine, readBaselines, writeCheckpointState, type AlertRow, type MeterCheckpoint,
} from './store.ts';

/** The windows a reading feeds, with their tables. */
export const WINDOWS = [
  { label: '1m', sizeMs: 60_000, table: 'aggregates_1m' },
  { label: '15m', sizeMs: 900_000, table: 'aggregates_15m' },
] as const;

interface GridDelta extends StateDelta {
  /** The new readings as COPY text, one chunk per absorbed batch. */
  readonly copy: ReadonlyArray<string>;
  readonly readings: number;
  /** Per window table: the new readings' sums per (meter, window), added to the stored rows. */
  readonly windows: ReadonlyArray<ReadonlyArray<AggregateBuilder>>;
  readonly meters: ReadonlyArray<MeterCheckpoint>;
  readonly alerts: ReadonlyArray<AlertRow>;
  /** Highest event time per shard. */
  readonly watermarks: ReadonlyMap<string, number>;
  readonly duplicates: number;
}

/** One shard's changes since its last checkpoint. */
interface Building {
  /**
   * Raw rows as COPY text, one string per absorbed batch: held until the checkpoint as a few
   * large strings, not as an object per reading (which every young-generation GC would copy).
   */
  copy: string[];
  readings: number;
  /** Window sums per meter touched, per window size (usually one window each). */
  readonly windows: Map<Meter, AggregateBuilder[][]>;
  alerts: AlertRow[];
  /** Highest event time per shard (one entry, until merged with other shards' changes). */
  readonly watermarks: Map<string, number>;
  duplicates: number;
}

const building = (): Building => ({ copy: [], readings: 0, windows: new Map(), alerts: [], watermarks: new Map(), duplicates: 0 });

/** Adds `from`'s changes to `into`: a meter in both (its readings on two partitions) gets each window once, summed. */
function mergeBuilding(into: Building, from: Building): void {
  into.copy.push(...from.copy);
  into.readings += from.readings;
  into.duplicates += from.duplicates;
  into.alerts.push(...from.alerts);
  for (const [shard, t] of from.watermarks) into.watermarks.set(shard, Math.max(into.watermarks.get(shard) ?? -Infinity, t));
  mergeMaps(into.windows, from.windows, (had, sums) => {
    for (let i = 0; i < WINDOWS.length; i++) {
      const list = had[i]!;
      for (const agg of sums[i]!) {
        const j = list.findIndex((a) => a.windowStart === agg.windowStart);
        if (j < 0) list.push(agg);
        else list[j] = { ...mergeAggregates(list[j]!, agg) };
      }
    }
  });
}

/** How many of a meter's latest event times are remembered to skip a producer's repeat. */
const RECENT = 16;

/** The alert message published for a stored alert. */
export type AlertMessage = (alert: AlertRow, detectedAt: string) => OutboundMessage;

interface Meter {
  readonly meterId: string;
  baseline: number | null;
  region: string;
  /** Event times of its latest readings (a ring), kept across checkpoints. */
  readonly recent: Float64Array;
  recentNext: number;
  /** Its raw rows' meter and region columns (COPY text), for `region` ('' before its first reading). */
  keyColumns: string;
}

/** Whether `t` is one of `recent`: a loop, which compiles to a few compares (TypedArray#includes is a call, 0.3 µs). */
function seenRecently(recent: Float64Array, t: number): boolean {
  for (let i = 0; i < recent.length; i++) if (recent[i] === t) return true;
  return false;
}

const newMeter = (meterId: string, baseline: number | null): Meter => ({
  meterId, baseline, region: '', recent: new Float64Array(RECENT).fill(Number.NaN), recentNext: 0, keyColumns: '',
});

/**
 * grid-telemetry's keyed state (SPEC §1): each meter's EMA baseline in memory, and the raw
 * rows, window sums, alerts and watermarks of the readings since the last checkpoint. A
 * checkpoint writes each touched meter and each touched window once, however many readings
 * it got, and the raw rows by COPY. Windows themselves stay in their tables (the stored row
 * plus this delta is the window), so closing and late revisions work as on the careful path.
 */
export class GridState implements KeyedState<GridReading> {
  readonly #pool: pg.Pool;
  readonly #s: GridTelemetrySettings;
  readonly #domain: string;
  readonly #alertMessage: AlertMessage;
  readonly #meters = new Map<string, Meter>();
  /** Per shard (partition), taken by its checkpoint alone or with other caught-up shards'. */
  readonly #buildings = new PerShard(building, mergeBuilding);

  constructor(o: { pool: pg.Pool; settings: GridTelemetrySettings; domain: string; alertMessage: AlertMessage }) {
    this.#pool = o.pool;
    this.#s = o.settings;
    this.#domain = o.domain;
    this.#alertMessage = o.alertMessage;
  }

  async absorb(messages: ReadonlyArray<Decoded<GridReading>>, shard: string): Promise<void> {
    // Each message's meter, looked up once (a lookup hashes the fresh id string).
    const meters = new Array<Meter | undefined>(messages.length);
    const unknown = new Set<string>();
    for (let i = 0; i < messages.length; i++) {
      const id = messages[i]!.value.meterId;
      if ((meters[i] = this.#meters.get(id)) === undefined) unknown.add(id);
    }
    if (unknown.size > 0) {
      const stored = await readBaselines(this.#pool, [...unknown]);
      for (const id of unknown) if (!this.#meters.has(id)) this.#meters.set(id, newMeter(id, stored.get(id) ?? null));
      for (let i = 0; i < messages.length; i++) meters[i] ??= this.#meters.get(messages[i]!.value.meterId);
    }
    const b = this.#buildings.of(shard);
    let maxEventTime = b.watermarks.get(shard) ?? -Infinity;
    const lines: string[] = [];
    // Per reading: no string keys and no per-window objects beyond a window's first reading;
    // this loop runs for every message at full rate.
    for (let m = 0; m < messages.length; m++) {
      const r = messages[m]!.value;
      const meter = meters[m]!;
      // A producer's repeat of one of the meter's latest readings: already counted (the primary
      // key would refuse it anyway, at the cost of replaying the checkpoint).
      if (seenRecently(meter.recent, r.timestampMs)) {
        b.duplicates++;
        continue;
      }
      meter.recent[meter.recentNext] = r.timestampMs;
      meter.recentNext = (meter.recentNext + 1) % RECENT;
      b.readings++;
      // `region` is the previous reading's until the end of this one.
      if (meter.keyColumns === '' || meter.region !== r.region) meter.keyColumns = readingKeyColumns(r.meterId, r.region);
      lines.push(readingLine(r, meter.keyColumns));
      let windows = b.windows.get(meter);
      if (windows === undefined) b.windows.set(meter, (windows = WINDOWS.map(() => [])));
      const energy = readingEnergyKwh(r);
      for (let i = 0; i < WINDOWS.length; i++) {
        const size = WINDOWS[i]!.sizeMs;
        const start = Math.floor(r.timestampMs / size) * size + 0;
        const sums = windows[i]!;
        let agg: AggregateBuilder | undefined;
        for (let j = 0; j < sums.length && agg === undefined; j++) if (sums[j]!.windowStart === start) agg = sums[j];
        if (agg === undefined) sums.push((agg = emptyAggregate(r.meterId, r.region, { start, end: start + size })));
        agg.region = r.region;
        accumulate(agg, r.powerKw, energy);
      }
      const step = detect(meter.baseline, r, this.#s.ema);
      meter.baseline = step.baseline;
      meter.region = r.region;
      if (step.alert !== null) b.alerts.push(step.alert);
      if (r.timestampMs > maxEventTime) maxEventTime = r.timestampMs;
    }
    if (maxEventTime > -Infinity) b.watermarks.set(shard, maxEventTime);
    // Joined into one flat string: the lines themselves die young.
    if (lines.length > 0) b.copy.push(lines.join(''));
  }

  take(shards: ReadonlyArray<string>): GridDelta {
    const b = this.#buildings.take(shards);
    const meters: MeterCheckpoint[] = [];
    const windows: AggregateBuilder[][] = WINDOWS.map(() => []);
    for (const [m, sums] of b.windows) {
      meters.push({ meterId: m.meterId, region: m.region, baseline: m.baseline });
      for (let i = 0; i < WINDOWS.length; i++) windows[i]!.push(...sums[i]!);
    }
    return {
      messages: b.readings + b.duplicates,
      copy: b.copy,
      readings: b.readings,
      windows,
      meters,
      alerts: b.alerts,
      watermarks: b.watermarks,
      duplicates: b.duplicates,
    };
  }

  async write(tx: PoolClient, delta: StateDelta): Promise<ApplyResult> {
    const d = delta as GridDelta;
    const stats = emptyStats();
    stats.duplicates = d.duplicates;
    stats.readings.valid = d.readings;
    await copyReadingText(tx, d.copy);
    await writeCheckpointState(tx, { windows1m: d.windows[0]!, windows15m: d.windows[1]!, meters: d.meters, domain: this.#domain, watermarks: d.watermarks });
    await clearOfflineAlerts(tx, d.meters.map((m) => m.meterId));
    for (const w of d.windows) stats.aggregatesWritten += w.length;
    const stored = await insertAlerts(tx, d.alerts);
    const outbound: OutboundMessage[] = [];
    for (const a of d.alerts) {
      stats.anomalies[a.type] = (stats.anomalies[a.type] ?? 0) + 1;
      if (stored.ids.has(a.alertId)) outbound.push(this.#alertMessage(a, stored.detectedAt));
    }
    return { outbound, stats };
  }

  reset(): void {
    this.#meters.clear();
    this.#buildings.clear();
  }
}
