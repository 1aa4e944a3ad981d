import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { InfluxClient } from '../../sinks/influxdb/client.ts';
import type { OutboundMessage } from '../../sources/types.ts';
import { PerShard } from '../per-shard.ts';
import { emptyStats, type ApplyResult, type Decoded, type KeyedState, type StateDelta } from '../types.ts';
import type { Transaction } from './decode.ts';
import { transactionPoint } from './points.ts';
import {
  addRegionMinute, addSecond, mergeRegionMinutes, mergeSeconds, sortedRegionMinutes, sortedSeconds, type RegionMinuteDelta, type RegionMinutes, type SecondDelta, type Seconds,
} from './rollup.ts';
import { blankRow, byMeterId, moves, stepMeter, type MeterRow, type MutableMeterRow, type StatusAlert } from './status.ts';
import {
  addRegionMinutes, addSeconds, copyTransactionText, insertStatusAlerts, readMeterHeads, transactionLine, transactionsOfText, upsertMeters,
} from './store.ts';

/** The alert message published for a stored alert. */
export type AlertMessage = (alert: StatusAlert, detectedAt: string) => OutboundMessage;

interface SmartGridDelta extends StateDelta {
  /** The new transactions as COPY text, one chunk per absorbed batch. */
  readonly copy: ReadonlyArray<string>;
  /** New transactions (stored, counted in the aggregates). */
  readonly transactions: number;
  /** Repeats of a meter's recent transactions, skipped. */
  readonly duplicates: number;
  /** Every meter a transaction moved, as it was when taken, by meter id. */
  readonly meters: ReadonlyArray<MeterRow>;
  /** In the order their transactions were absorbed, each alert id once. */
  readonly alerts: ReadonlyArray<StatusAlert>;
  readonly seconds: ReadonlyArray<SecondDelta>;
  readonly regions: ReadonlyArray<RegionMinuteDelta>;
}

/** How many of a meter's latest transactions are remembered to skip a producer's repeat. */
const RECENT = 8;

interface Meter {
  readonly meterId: string;
  /** Its state (stored, then stepped in place); undefined while it has none (never stored, nothing absorbed). */
  row: MutableMeterRow | undefined;
  /** Ids and event times of its latest transactions (a ring, the primary key of the raw rows), kept across checkpoints. */
  readonly recentIds: Array<string | undefined>;
  readonly recentMs: Float64Array;
  recentNext: number;
}

/** One shard's changes since its last checkpoint. */
interface Building {
  messages: number;
  /** Raw rows as COPY text, one string per absorbed batch (a few large strings, not an object per transaction). */
  readonly copy: string[];
  transactions: number;
  duplicates: number;
  /** Meters a transaction moved (each written once). */
  readonly meters: Set<Meter>;
  readonly alerts: Map<string, StatusAlert>;
  readonly seconds: Seconds;
  readonly regions: RegionMinutes;
}

const building = (): Building => ({ messages: 0, copy: [], transactions: 0, duplicates: 0, meters: new Set(), alerts: new Map(), seconds: new Map(), regions: new Map() });

/** Adds `from`'s changes to `into`: the seconds and region-minutes every partition shares are summed, each meter and alert kept once. */
function mergeBuilding(into: Building, from: Building): void {
  into.messages += from.messages;
  into.copy.push(...from.copy);
  into.transactions += from.transactions;
  into.duplicates += from.duplicates;
  for (const m of from.meters) into.meters.add(m);
  for (const [id, a] of from.alerts) if (!into.alerts.has(id)) into.alerts.set(id, a);
  mergeSeconds(into.seconds, from.seconds);
  mergeRegionMinutes(into.regions, from.regions);
}

function newMeter(meterId: string, head: { status: MutableMeterRow['status']; statusSinceMs: number; lastSeenMs: number; lastTransactionId: string } | undefined): Meter {
  const m: Meter = { meterId, row: undefined, recentIds: new Array<string | undefined>(RECENT).fill(undefined), recentMs: new Float64Array(RECENT).fill(Number.NaN), recentNext: 0 };
  if (head !== undefined) {
    const row = blankRow();
    row.meterId = meterId;
    row.status = head.status;
    row.statusSinceMs = head.statusSinceMs;
    row.lastSeenMs = head.lastSeenMs;
    row.lastTransactionId = head.lastTransactionId;
    m.row = row;
    // The transaction that brought the stored state is stored: its repeat is known without a replay.
    remember(m, head.lastTransactionId, head.lastSeenMs);
  }
  return m;
}

function isRecent(m: Meter, t: Transaction): boolean {
  for (let i = 0; i < RECENT; i++) if (m.recentMs[i] === t.timestampMs && m.recentIds[i] === t.transactionId) return true;
  return false;
}

function remember(m: Meter, id: string, ms: number): void {
  m.recentIds[m.recentNext] = id;
  m.recentMs[m.recentNext] = ms;
  m.recentNext = (m.recentNext + 1) % RECENT;
}

/**
 * smart-grid's keyed state (SPEC §1): each meter's head in memory (read once, when first seen),
 * stepped by every new transaction in the order its partition delivered it, as `apply` steps the
 * locked stored rows batch by batch. A checkpoint writes the raw rows by COPY, each moved meter
 * once, its alerts, and the per-second and per-region-minute deltas of its new transactions
 * (late ones included: they count in the aggregates without moving their meter, as on the
 * careful path). A repeat of a meter's recent transaction is skipped; an older repeat fails
 * the COPY (unique violation) and the checkpoint is replayed through `apply`.
 */
export class SmartGridState implements KeyedState<Transaction> {
  readonly #pool: pg.Pool;
  readonly #influx: InfluxClient | undefined;
  readonly #alertMessage: AlertMessage;
  readonly #meters = new Map<string, Meter>();
  /** Per shard (partition), taken by its checkpoint alone or with other caught-up shards'. */
  readonly #buildings = new PerShard(building, mergeBuilding);
  /** Every partition's transactions add to the same per-second and per-region rows. */
  readonly sharedRows = true;
  /**
   * With every partition in one checkpoint, what it holds is bounded here: 25,000 kept a
   * 200,000-transaction drain over 32 partitions at 281–289 MB peak RSS and ~1 s checkpoints
   * (CHECKPOINT_MAX_MESSAGES alone let a checkpoint hold 66,000: 448–464 MB, 3 s each).
   */
  readonly maxHeldMessages = 25_000;

  constructor(o: { pool: pg.Pool; influx?: InfluxClient | undefined; alertMessage: AlertMessage }) {
    this.#pool = o.pool;
    this.#influx = o.influx;
    this.#alertMessage = o.alertMessage;
  }

  async absorb(messages: ReadonlyArray<Decoded<Transaction>>, shard: string): Promise<void> {
    const unknown = new Set<string>();
    for (const { value: t } of messages) if (!this.#meters.has(t.meterId)) unknown.add(t.meterId);
    // Reads first: nothing changes before they succeeded (a failed read is retried whole).
    if (unknown.size > 0) {
      const heads = await readMeterHeads(this.#pool, [...unknown]);
      for (const id of unknown) if (!this.#meters.has(id)) this.#meters.set(id, newMeter(id, heads.get(id)));
    }
    const b = this.#buildings.of(shard);
    b.messages += messages.length;
    const lines: string[] = [];
    for (const { value: t } of messages) {
      const m = this.#meters.get(t.meterId)!;
      // A repeat of one of the meter's latest transactions: stored or held already (its COPY
      // would refuse the checkpoint), a duplicate as apply counts it.
      if (isRecent(m, t)) {
        b.duplicates++;
        continue;
      }
      remember(m, t.transactionId, t.timestampMs);
      b.transactions++;
      lines.push(transactionLine(t));
      addSecond(b.seconds, t);
      addRegionMinute(b.regions, t, m.meterId);
      // A late transaction is stored and counted, but does not move its meter.
      const current = m.row;
      if (!moves(current, t)) continue;
      const row = current ?? (m.row = blankRow());
      const alert = stepMeter(current, t, row);
      b.meters.add(m);
      // The same transition twice (same meter, time and status): once, as insertStatusAlerts would store it.
      if (alert !== null && !b.alerts.has(alert.alertId)) b.alerts.set(alert.alertId, alert);
    }
    // Joined into one flat string: the lines themselves die young.
    if (lines.length > 0) b.copy.push(lines.join(''));
  }

  take(shards: ReadonlyArray<string>): SmartGridDelta {
    const b = this.#buildings.take(shards);
    return {
      messages: b.messages,
      copy: b.copy,
      transactions: b.transactions,
      duplicates: b.duplicates,
      // Copied: the live rows move on while the checkpoint writes.
      meters: [...b.meters].map((m) => ({ ...m.row! })).sort(byMeterId),
      alerts: [...b.alerts.values()],
      seconds: sortedSeconds(b.seconds),
      regions: sortedRegionMinutes(b.regions),
    };
  }

  /**
   * The writes of `apply`, in its order, once per checkpoint: raw rows (and their InfluxDB
   * points, written before the transaction commits), meter rows, alerts, then the shared
   * per-region and per-second rows last.
   */
  async write(tx: PoolClient, delta: StateDelta): Promise<ApplyResult> {
    const d = delta as SmartGridDelta;
    const stats = emptyStats();
    stats.duplicates = d.duplicates;
    stats.readings.valid = d.transactions;
    if (d.transactions === 0) return { outbound: [], stats };
    await copyTransactionText(tx, d.copy);
    // The InfluxDB write overlaps the PostgreSQL statements below; both finish before COMMIT.
    const written = this.#influx === undefined ? undefined : this.#influx.write('raw', transactionsOfText(d.copy).map(transactionPoint));
    written?.catch(() => undefined); // awaited below; this only stops an early PostgreSQL failure leaving it unhandled
    await upsertMeters(tx, d.meters);
    const stored = await insertStatusAlerts(tx, d.alerts);
    const outbound: OutboundMessage[] = [];
    for (const a of d.alerts) {
      if (!stored.ids.has(a.alertId)) continue;
      stats.anomalies[a.type] = (stats.anomalies[a.type] ?? 0) + 1;
      outbound.push(this.#alertMessage(a, stored.detectedAt));
    }
    await addRegionMinutes(tx, d.regions);
    await addSeconds(tx, d.seconds);
    stats.aggregatesWritten = d.regions.length + d.seconds.length;
    await written;
    return { outbound, stats };
  }

  reset(): void {
    this.#meters.clear();
    this.#buildings.clear();
  }
}
