import type pg from 'pg';
import type { PoolClient } from 'pg';
import type { Config } from '../config/index.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { SourceKind } from '../sources/kinds.ts';
import type { Delivery, OutboundMessage, OutputDestination } from '../sources/types.ts';

/** A delivery that decoded cleanly, with the stable id it is deduplicated on. */
export interface Decoded<M> {
  /** Position in the source batch (for settle / dead-lettering). */
  readonly index: number;
  readonly delivery: Delivery;
  readonly messageId: string;
  readonly value: M;
}

/** What a batch changed, for metrics; counted only after COMMIT. */
export interface ApplyStats {
  readings: { valid: number; invalid: number };
  anomalies: Record<string, number>;
  /** Messages already stored before (redeliveries), skipped. */
  duplicates: number;
  /** Aggregate rows inserted or updated. */
  aggregatesWritten: number;
}

export const emptyStats = (): ApplyStats => ({ readings: { valid: 0, invalid: 0 }, anomalies: {}, duplicates: 0, aggregatesWritten: 0 });

/** Periodic work of a domain (closing windows, offline detection), one transaction per run. */
export interface DomainTask {
  /** Label of `stream_aggregation_flush_duration` and of logs, e.g. `flush-1m`. */
  readonly name: string;
  readonly intervalMs: number;
  /** Also run once during graceful shutdown (publish what has closed). */
  readonly onShutdown: boolean;
  run(tx: PoolClient): Promise<{ outbound: ReadonlyArray<OutboundMessage> }>;
  /** Gauges refreshed after each run (outside the transaction). */
  observe?(client: pg.Pool): Promise<void>;
}

export interface ApplyResult {
  readonly outbound: ReadonlyArray<OutboundMessage>;
  readonly stats: ApplyStats;
}

export interface DomainContext {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: pg.Pool;
  readonly metrics?: Metrics;
  /** The broker kind the domain is bound to (its outputs go to that kind's publisher). */
  readonly source: SourceKind;
}

/**
 * Per-key state held in memory between checkpoints (SPEC §1, keyed state), for pipelines
 * whose source owns keys by partition. Messages are absorbed as they arrive; at a checkpoint
 * the pipeline takes what changed and writes it in one transaction with the source
 * positions it reflects. After a failed checkpoint the pipeline calls `reset` and replays
 * the uncommitted batches through `apply`, the database-backed path.
 */
export interface KeyedState<M> {
  /**
   * Advances the state with messages assumed new (their raw rows not stored yet); reads the
   * stored state of keys it does not hold yet. `shard` is the source partition.
   */
  absorb(messages: ReadonlyArray<Decoded<M>>, shard: string): Promise<void>;
  /**
   * What changed in these shards since their last take, as one delta detached from the live
   * state (written by `write`). A key changed in several of them is written once, combined.
   * Shards not taken together commit independently, so their deltas never share a key's rows.
   */
  take(shards: ReadonlyArray<string>): StateDelta;
  /**
   * Writes a delta: raw rows, changed state, derived rows. A raw row that is already stored
   * fails the transaction (unique violation): the pipeline then replays through `apply`.
   */
  write(tx: PoolClient, delta: StateDelta): Promise<ApplyResult>;
  /** Forgets everything held (keys are read again when next seen); pending deltas included. */
  reset(): void;
  /**
   * Checkpoints of different shards write some of the same rows (smart-grid's per-second and
   * per-region rows, which every partition's transactions add to). Every checkpoint then takes
   * all shards' changes at once, merged: shards committing side by side would queue on each
   * other's row locks, each holding its own while it writes.
   */
  readonly sharedRows?: boolean;
  /**
   * Uncommitted messages held at most, for a state whose messages each hold much (analytics:
   * about 1.3 KB); the pipeline takes the lower of this and CHECKPOINT_MAX_MESSAGES.
   */
  readonly maxHeldMessages?: number;
}

/** A checkpoint's worth of changes of one KeyedState; opaque to the pipeline. */
export interface StateDelta {
  /** Messages the delta holds (0: nothing to write). */
  readonly messages: number;
}

/**
 * A domain: decode is pure (bytes → message or a structural IngestError); apply writes a
 * batch inside the unit of work's transaction and returns what to publish. Everything
 * between (validation, anomaly detection) lives in pure functions the domain calls.
 */
export interface DomainHandler<M = unknown> {
  readonly name: string;
  decode(delivery: Delivery): { messageId: string; value: M };
  apply(tx: PoolClient, messages: ReadonlyArray<Decoded<M>>): Promise<ApplyResult>;
  /** Outside the transaction, before it: DDL the batch needs (partitions). */
  prepare?(messages: ReadonlyArray<Decoded<M>>): Promise<void>;
  /** Periodic housekeeping (partitions ahead, retention); run at start and hourly. */
  maintain?(): Promise<void>;
  readonly tasks?: ReadonlyArray<DomainTask>;
  /** In-memory keyed state, used when the source owns keys by partition (Kafka). */
  readonly state?: KeyedState<M>;
}

export interface DomainPlugin {
  readonly name: string;
  /** Folder of numbered `.sql` migrations (`001_name.sql`). */
  readonly migrations: URL;
  /** Schema of the domain's tables; undefined = the connection's search_path. */
  schema?(config: Config): string;
  /** Default binding (the worker it replaces); `<NAME>_SOURCE` rebinds it. */
  readonly defaultSource: SourceKind;
  /** Names DOMAINS_ENABLED may use to enable only part of the domain (analytics sub-domains). */
  readonly parts?: ReadonlyArray<string>;
  /** Topics / routing keys / subjects the domain consumes when bound to `source`. */
  routes(config: Config, source: SourceKind): ReadonlyArray<string>;
  /**
   * Where its derived messages go when bound to `source` (topics, subjects, exchanges): the
   * worker declares them at start, as it does its inputs, so no output waits on an operator.
   */
  outputs(config: Config, source: SourceKind): ReadonlyArray<OutputDestination>;
  /** What the broker must capture for the domain when wider than its routes (JetStream stream subjects). */
  capture?(config: Config): ReadonlyArray<string>;
  /**
   * Takes every delivery of its source whose route no other domain claims (a single-stream
   * domain: any topic named in KAFKA_TOPICS, or a queue's default-exchange deliveries).
   */
  readonly catchAll: boolean;
  create(ctx: DomainContext): DomainHandler<any>;
}
