import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { deadLetterHeaders } from '../../runtime/dead-letter.ts';
import { Doorbell, batchesOf } from '../../runtime/doorbell.ts';
import type { Delivery, DeliveryBatch, OutboundMessage, Publisher, Source, SourceStatus } from '../types.ts';

interface Queued {
  readonly route: string;
  readonly body: Buffer;
  readonly receivedAt: number;
  attempts: number;
}

/**
 * In-process transport for the embedded demo: a bounded queue (publishers wait when it is
 * full, so the simulator cannot outrun the worker), dead letters appended to an NDJSON
 * file, and a publisher that keeps the latest derived messages for inspection.
 */
export class MemoryBroker {
  readonly #queue: Queued[] = [];
  readonly #capacity: number;
  readonly #deadLetterFile: string | undefined;
  #space: Array<() => void> = [];
  readonly #bell = new Doorbell();
  deadLetters = 0;

  constructor(options: { capacity?: number; deadLetterFile?: string } = {}) {
    this.#capacity = options.capacity ?? 10_000;
    this.#deadLetterFile = options.deadLetterFile;
  }

  get depth(): number {
    return this.#queue.length;
  }

  async publish(route: string, body: Buffer): Promise<void> {
    while (this.#queue.length >= this.#capacity) await new Promise<void>((r) => this.#space.push(r));
    this.#queue.push({ route, body, receivedAt: Date.now(), attempts: 0 });
    this.#bell.ring();
  }

  source(name = 'memory'): Source {
    return {
      name,
      kind: 'memory',
      start: async () => undefined,
      status: (): SourceStatus => ({ connected: true }),
      close: async () => undefined,
      batches: (signal) => this.#batches(signal),
    };
  }

  async *#batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    for await (const taken of batchesOf(() => this.#queue, 500, this.#bell, signal)) {
      for (const r of this.#space.splice(0)) r();
      const deliveries: Delivery[] = taken.map((q) => ({
        id: undefined, route: q.route, body: q.body, headers: {}, receivedAt: q.receivedAt,
        origin: { attempts: ++q.attempts },
      }));
      yield {
        deliveries,
        settle: async (outcome) => {
          if (outcome.kind === 'release') {
            this.#queue.unshift(...taken);
            return;
          }
          for (const { index, error } of outcome.deadLetter) {
            this.deadLetters++;
            if (this.#deadLetterFile !== undefined) {
              const d = deliveries[index]!;
              await mkdir(dirname(this.#deadLetterFile), { recursive: true });
              await appendFile(this.#deadLetterFile, `${JSON.stringify({ headers: deadLetterHeaders(d, error), body: d.body.toString('base64') })}\n`);
            }
          }
        },
      };
    }
  }
}

/** Keeps counts and the last few messages per destination (the demo prints them). */
export class MemoryPublisher implements Publisher {
  readonly name = 'memory publisher';
  readonly kind = 'memory';
  published = 0;
  readonly recent: OutboundMessage[] = [];
  readonly #retain: number;

  /** Keeps the last `retain` messages. */
  constructor(retain = 100) {
    this.#retain = retain;
  }

  async start(): Promise<void> {}
  status(): SourceStatus {
    return { connected: true };
  }
  async publish(messages: ReadonlyArray<OutboundMessage>): Promise<void> {
    this.published += messages.length;
    for (const m of messages) this.recent.push(m);
    if (this.recent.length > this.#retain) this.recent.splice(0, this.recent.length - this.#retain);
  }
  async close(): Promise<void> {}
}
