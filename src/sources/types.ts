import type { IngestError } from '../runtime/errors.ts';

/** One message as a source hands it over. Broker details stay inside the adapter. */
export interface Delivery {
  /** Broker-level id when there is one (AMQP message-id, Kafka key…); informational. */
  readonly id: string | undefined;
  /** What routes it to a domain: topic, queue, subject. */
  readonly route: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  /** Epoch ms when the source received it (for receive → commit latency). */
  readonly receivedAt: number;
  readonly origin: {
    /** Where it was consumed from when that is not the route (an AMQP queue; the route is its routing key). */
    readonly stream?: string;
    readonly partition?: number;
    readonly offset?: string;
    /** How many times this message has been delivered, this time included. */
    readonly attempts: number;
    /** RFC 3339 time of the first failure, carried over on replays. */
    readonly firstFailedAt?: string;
  };
}

export interface DeadLetter {
  readonly index: number;
  readonly error: IngestError;
}

export type Outcome =
  /** Everything committed; dead-letter the listed deliveries, acknowledge the rest. */
  | { readonly kind: 'ack'; readonly deadLetter: ReadonlyArray<DeadLetter> }
  /** Nothing committed and the source should redeliver later (used on shutdown). */
  | { readonly kind: 'release' };

/**
 * Source positions stored in the same transaction as the data (Kafka offsets). A queue has
 * no positions: its row carries only the owner epoch that fences the checkpoint.
 */
export interface Checkpoint {
  readonly source: string;
  readonly stream: string;
  readonly partition: number;
  readonly offset: string;
  /** The owner epoch this worker claimed for the partition: the write is fenced on it. */
  readonly epoch?: string;
}

export interface DeliveryBatch {
  readonly deliveries: ReadonlyArray<Delivery>;
  /** Positions to store with the batch's data (sources whose offsets live in the database). */
  readonly checkpoints?: ReadonlyArray<Checkpoint>;
  /**
   * Messages still waiting in the batch's partition after it (Kafka: high watermark minus the
   * next offset). Lets a checkpointing pipeline commit at once when it has caught up.
   */
  readonly backlog?: number;
  /**
   * A barrier, not messages: the source's assignment changed. The pipeline commits or drops
   * its uncommitted work and forgets in-memory state, then settles; only then does the source
   * claim its new partitions and seek them to their stored checkpoints.
   */
  readonly reassigned?: boolean;
  /**
   * The broker says some of its messages were delivered before (RabbitMQ's redelivered flag):
   * they may be stored already, so a pipeline holding keyed state commits what it holds and
   * takes this batch on the database-backed path.
   */
  readonly redelivered?: boolean;
  /**
   * Pipelined hand-over (sources with `partitioned`): the pipeline has taken the batch into
   * its uncommitted work, so the source may fetch and hand over the partition's next batch;
   * `settle` still follows the commit (or a release that the source answers by rewinding).
   */
  accept?(): void;
  /**
   * Exactly one call per batch; acknowledgements happen only here. A partitioned source's
   * settle must work detached from the batch (a checkpoint keeps it, not the messages).
   */
  settle(outcome: Outcome): Promise<void>;
}

export interface SourceStatus {
  readonly connected: boolean;
  readonly detail?: string;
}

/** Where a dead letter goes; it commits in the transaction of its batch (see Source). */
export type DeadLetterTarget =
  /** Published by the outbox relay (Kafka: `<topic>.dlq`). */
  | { readonly kind: 'outbox'; readonly publisher: string; readonly destination: string; readonly key: string }
  /** A row of `ingestd_dead_letters`, for brokers that have no dead-letter queue (MQTT). */
  | { readonly kind: 'table'; readonly source: string };

export interface Source {
  readonly name: string;
  /** Label for metrics (`source`): amqp, kafka, nats, mqtt, memory, file. */
  readonly kind: string;
  /**
   * Batches the pipeline may process at once. The source keeps per-partition order by
   * handing out a partition's next batch only after the previous one settled. Default 1.
   */
  readonly concurrency?: number;
  /**
   * Set when concurrent batches can hold messages of one key (a queue has no partitions): their
   * transactions then run one at a time, in the order the batches were handed out, so per-key
   * state (baselines, histories, rules) sees each key's messages in delivery order. Decoding
   * and settling still overlap with the other batch's transaction.
   */
  readonly orderedCommits?: boolean;
  /**
   * Set by sources whose dead letters must commit with the batch: Kafka (its positions are
   * stored in the database, so a dead letter settled later could be skipped past) and MQTT
   * (no dead-letter queue: the database is its DLQ). They are written in the batch's own
   * transaction, retried with it. Without it, the source dead-letters at settle.
   */
  deadLetterTarget?(delivery: Delivery): DeadLetterTarget;
  /**
   * Every key is owned by one worker at a time, claimed with a fencing epoch carried by the
   * batches' checkpoints (Kafka: by partition; RabbitMQ: the whole queue, single active
   * consumer): per-key state may live in memory between checkpoints. Such a source supports
   * `reassigned` barriers, and `accept` or a bounded number of unsettled deliveries.
   */
  readonly partitioned?: boolean;
  /**
   * Restarts every partition this worker holds from its stored checkpoint, dropping batches
   * not yet taken; called after the pipeline dropped uncommitted work. Sources that redeliver
   * what was released (queues) need none.
   */
  rewind?(): Promise<void>;
  start(): Promise<void>;
  /** Batches until the signal aborts; the next batch is only pulled after the previous one settled. */
  batches(signal: AbortSignal): AsyncIterable<DeliveryBatch>;
  status(): SourceStatus;
  close(): Promise<void>;
}

/** A destination derived messages are published to, and the variable that names it (for errors). */
export interface OutputDestination {
  readonly name: string;
  readonly variable?: string;
}

/** `"name" (VARIABLE)`, for errors that an operator fixes by setting or granting something. */
export const describeOutputs = (outputs: ReadonlyArray<OutputDestination>): string =>
  outputs.map((o) => (o.variable === undefined ? `"${o.name}"` : `"${o.name}" (${o.variable})`)).join(', ');

/** Output side: publishes derived messages with broker confirms. */
export interface OutboundMessage {
  /** Stable id (consumers dedupe on it). */
  readonly id: string;
  /** Exchange / topic / subject. */
  readonly destination: string;
  /** Routing key / partition key. */
  readonly key: string;
  /** JSON text, or the original bytes in base64 (dead letters keep them untouched). */
  readonly body: string;
  readonly bodyEncoding?: 'base64';
  readonly headers?: Readonly<Record<string, string>>;
  /** What it is, for the published-message metrics. */
  readonly kind?: 'event' | 'alert' | 'aggregate' | 'dead-letter';
}

/** The bytes to publish for an outbound message. */
export const outboundBytes = (m: OutboundMessage): Buffer =>
  m.bodyEncoding === 'base64' ? Buffer.from(m.body, 'base64') : Buffer.from(m.body);

export interface Publisher {
  /** For readiness reasons and logs, e.g. `amqp publisher`. */
  readonly name: string;
  readonly kind: string;
  start(): Promise<void>;
  /** Resolves once the broker confirmed every message. */
  publish(messages: ReadonlyArray<OutboundMessage>): Promise<void>;
  status(): SourceStatus;
  close(): Promise<void>;
}
