import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { OutboundMessage } from '../../sources/types.ts';
import { PerShard } from '../per-shard.ts';
import { emptyStats, type ApplyResult, type ApplyStats, type Decoded, type KeyedState, type StateDelta } from '../types.ts';
import type { MeterMessage } from './decode.ts';
import { seriesKey } from './detect.ts';
import { clientSightings, planMeterBatch, seriesOf } from './plan.ts';
import type { EnergyMeterSettings } from './settings.ts';
import { copyReadingText, readHistories, readingLines, upsertClients, writeHistories, type ClientSighting, type SeriesRef } from './store.ts';

interface MeterDelta extends StateDelta {
  /** The new readings as COPY text, one chunk per absorbed batch. */
  readonly copy: ReadonlyArray<string>;
  readonly clients: ReadonlyArray<ClientSighting>;
  /** Spike histories of the series the delta advanced, as they were when taken. */
  readonly histories: ReadonlyArray<SeriesRef & { recent: ReadonlyArray<number> }>;
  readonly outbound: ReadonlyArray<OutboundMessage>;
  readonly stats: ApplyStats;
}

/** One shard's changes since its last checkpoint. */
interface Building {
  messages: number;
  copy: string[];
  readonly clients: Map<string, ClientSighting>;
  /** Series keys (seriesKey) whose history changed, with their reference. */
  readonly series: Map<string, SeriesRef>;
  outbound: OutboundMessage[];
  readonly stats: ApplyStats;
}

const building = (): Building => ({ messages: 0, copy: [], clients: new Map(), series: new Map(), outbound: [], stats: emptyStats() });

/** Adds `from`'s changes to `into`: a client in both (its messages on two partitions) once, its sightings widened. */
function mergeBuilding(into: Building, from: Building): void {
  into.messages += from.messages;
  into.copy.push(...from.copy);
  for (const c of from.clients.values()) addSighting(into.clients, c);
  for (const [key, ref] of from.series) into.series.set(key, ref);
  into.outbound.push(...from.outbound);
  addStats(into.stats, from.stats);
}

/** A client seen again: first and last sighting widened. */
function addSighting(clients: Map<string, ClientSighting>, c: ClientSighting): void {
  const had = clients.get(c.id);
  clients.set(c.id, had === undefined ? c : { ...had, firstSeen: Math.min(had.firstSeen, c.firstSeen), lastSeen: Math.max(had.lastSeen, c.lastSeen) });
}

/** How many of a client's latest message ids are remembered to skip a producer's repeat. */
const RECENT = 8;

/**
 * energy-meter's keyed state (SPEC §1): the spike history of every (client, metric) series in
 * memory. A checkpoint writes the raw rows by COPY, each client seen once (first and last
 * sighting) and each advanced history once, however many messages it got; the careful path
 * (`apply`) does the same per batch with the histories locked in the database.
 */
export class EnergyMeterState implements KeyedState<MeterMessage> {
  readonly #pool: pg.Pool;
  readonly #s: EnergyMeterSettings;
  /** Spike histories by seriesKey, oldest value first; a key is present once read. */
  readonly #histories = new Map<string, number[]>();
  /** Per client: the first reading ids of its latest messages (a ring). */
  readonly #recent = new Map<string, string[]>();
  readonly #buildings = new PerShard(building, mergeBuilding);

  constructor(o: { pool: pg.Pool; settings: EnergyMeterSettings }) {
    this.#pool = o.pool;
    this.#s = o.settings;
  }

  async absorb(messages: ReadonlyArray<Decoded<MeterMessage>>, shard: string): Promise<void> {
    const series = seriesOf(messages);
    const unknown = [...series].filter(([key]) => !this.#histories.has(key));
    if (unknown.length > 0) {
      const stored = await readHistories(this.#pool, unknown.map(([, ref]) => ref));
      const found = new Map(stored.map((h) => [seriesKey(h.clientId, h.metric), h.recent]));
      for (const [key] of unknown) if (!this.#histories.has(key)) this.#histories.set(key, found.get(key) ?? []);
    }
    const b = this.#buildings.of(shard);
    b.messages += messages.length;
    for (const c of clientSightings(messages)) addSighting(b.clients, c);
    // Every message is a client sighting; only those with readings not seen lately are planned.
    const fresh = messages.filter((d) => d.value.readings.length > 0 && this.#isNew(d.value));
    b.stats.duplicates += messages.filter((d) => d.value.readings.length > 0).length - fresh.length;
    const planned = planMeterBatch(fresh, this.#histories, this.#s);
    for (const [key, ref] of seriesOf(fresh)) b.series.set(key, ref);
    if (planned.rows.length > 0) b.copy.push(readingLines(planned.rows));
    for (const o of planned.outbound) b.outbound.push(o);
    addStats(b.stats, planned.stats);
  }

  /** Remembers the message; false when it is a repeat of one of its client's latest. */
  #isNew(m: MeterMessage): boolean {
    const id = m.readingIds[0]!;
    let ring = this.#recent.get(m.clientId);
    if (ring === undefined) this.#recent.set(m.clientId, (ring = []));
    if (ring.includes(id)) return false;
    if (ring.length >= RECENT) ring.shift();
    ring.push(id);
    return true;
  }

  take(shards: ReadonlyArray<string>): MeterDelta {
    const b = this.#buildings.take(shards);
    return {
      messages: b.messages,
      copy: b.copy,
      clients: [...b.clients.values()],
      // Copied: the live histories move on while the checkpoint writes.
      histories: [...b.series].map(([key, ref]) => ({ ...ref, recent: [...(this.#histories.get(key) ?? [])] })),
      outbound: b.outbound,
      stats: b.stats,
    };
  }

  async write(tx: PoolClient, delta: StateDelta): Promise<ApplyResult> {
    const d = delta as MeterDelta;
    // Clients first: readings and histories reference them.
    await upsertClients(tx, d.clients);
    await copyReadingText(tx, d.copy);
    await writeHistories(tx, d.histories);
    return { outbound: d.outbound, stats: d.stats };
  }

  reset(): void {
    this.#histories.clear();
    this.#recent.clear();
    this.#buildings.clear();
  }
}

function addStats(into: ApplyStats, from: ApplyStats): void {
  into.readings.valid += from.readings.valid;
  into.readings.invalid += from.readings.invalid;
  into.duplicates += from.duplicates;
  into.aggregatesWritten += from.aggregatesWritten;
  for (const [k, n] of Object.entries(from.anomalies)) into.anomalies[k] = (into.anomalies[k] ?? 0) + n;
}
