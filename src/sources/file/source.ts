import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { IngestError } from '../../runtime/errors.ts';
import type { Delivery, DeliveryBatch, Source, SourceStatus } from '../types.ts';

/** A line the pipeline refused (dead-lettered), with where it was and why. */
export interface RejectedLine {
  readonly line: number;
  readonly body: string;
  readonly error: IngestError;
}

/**
 * NDJSON lines as deliveries of one route (`ingestd backfill`): one message per non-empty
 * line, in batches. Reading waits for each batch to settle, so memory stays bounded by
 * the batch size however large the file.
 */
export class FileSource implements Source {
  readonly name: string;
  readonly kind = 'file';
  readonly #input: Readable;
  readonly #route: string;
  readonly #batchSize: number;
  readonly #onSettled: (accepted: number, rejected: RejectedLine[]) => void;
  /** Bytes read so far (for progress against the file size). */
  bytesRead = 0;

  constructor(options: { path: string; route: string; batchSize: number; onSettled: (accepted: number, rejected: RejectedLine[]) => void; input?: Readable }) {
    this.#input = options.input ?? (options.path === '-' ? process.stdin : createReadStream(options.path));
    this.#route = options.route;
    this.#batchSize = options.batchSize;
    this.#onSettled = options.onSettled;
    this.name = `file:${options.path === '-' ? 'stdin' : options.path}`;
  }

  async start(): Promise<void> {}

  status(): SourceStatus {
    return { connected: true };
  }

  async *batches(signal: AbortSignal): AsyncIterable<DeliveryBatch> {
    const lines = createInterface({ input: this.#input, crlfDelay: Infinity });
    let batch: Delivery[] = [];
    let lineNo = 0;
    try {
      for await (const line of lines) {
        lineNo++;
        this.bytesRead += Buffer.byteLength(line) + 1;
        if (line.trim() === '') continue;
        batch.push({
          id: `line:${lineNo}`, route: this.#route, body: Buffer.from(line), headers: {}, receivedAt: Date.now(), origin: { offset: String(lineNo), attempts: 1 },
        });
        if (batch.length >= this.#batchSize) {
          yield this.#batch(batch);
          batch = [];
        }
        if (signal.aborted) return;
      }
      if (batch.length > 0 && !signal.aborted) yield this.#batch(batch);
    } finally {
      lines.close();
    }
  }

  #batch(deliveries: Delivery[]): DeliveryBatch {
    return {
      deliveries,
      settle: async (outcome) => {
        if (outcome.kind === 'release') return;
        const rejected = outcome.deadLetter.map(({ index, error }) => ({ line: Number(deliveries[index]!.origin.offset), body: deliveries[index]!.body.toString(), error }));
        this.#onSettled(deliveries.length - rejected.length, rejected);
      },
    };
  }

  async close(): Promise<void> {
    this.#input.destroy();
  }
}
