import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { describeOutputs, type OutputDestination } from '../types.ts';

const notFound = (err: unknown): boolean =>
  (err as { name?: string }).name === 'StreamNotFoundError' || /stream not found/i.test((err as Error).message);

/** Adds `subjects` to a stream, creating it (with `limits`) if missing; never removes what others put there. */
export async function ensureStream(jsm: JetStreamManager, name: string, subjects: ReadonlyArray<string>, limits: Partial<StreamConfig> = {}): Promise<void> {
  try {
    const info = await jsm.streams.info(name);
    const missing = subjects.filter((s) => !info.config.subjects.includes(s));
    if (missing.length > 0) await jsm.streams.update(name, { ...info.config, subjects: [...info.config.subjects, ...missing] });
  } catch (err) {
    if (!notFound(err)) throw err;
    await jsm.streams.add({ name, subjects: [...subjects], retention: RetentionPolicy.Limits, storage: StorageType.File, ...limits });
  }
}

/** Whether some stream already captures `subject` (an operator's, or the input stream). */
async function captured(jsm: JetStreamManager, subject: string): Promise<boolean> {
  for await (const _ of jsm.streams.names(subject)) return true;
  return false;
}

export interface OutputStream {
  readonly name: string;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/**
 * Makes every output subject land in a stream: a publish to a subject no stream captures is
 * refused, and the outbox would keep those messages forever. Subjects already captured stay
 * where they are; the others are added to the output stream, created with its retention.
 */
export async function ensureOutputs(jsm: JetStreamManager, outputs: ReadonlyArray<OutputDestination>, stream: OutputStream): Promise<void> {
  const missing: OutputDestination[] = [];
  for (const o of outputs) if (!(await captured(jsm, o.name))) missing.push(o);
  if (missing.length === 0) return;
  try {
    await ensureStream(jsm, stream.name, missing.map((o) => o.name), {
      max_age: nanos(stream.maxAgeMs),
      max_bytes: stream.maxBytes === 0 ? -1 : stream.maxBytes,
      discard: DiscardPolicy.Old,
    });
  } catch (err) {
    throw new Error(`nats: cannot capture the output subjects ${describeOutputs(missing)} in stream "${stream.name}" (NATS_OUTPUT_STREAM): ${(err as Error).message}; ` +
      'let the user create and update that stream, or create a stream that captures these subjects', { cause: err });
  }
}
