import type { Checkpoint, DeadLetter, DeadLetterTarget, Delivery, OutboundMessage } from '../sources/types.ts';
import { uuidV5 } from '../lib/ids.ts';
import type { PoolClient } from 'pg';
import { writeCheckpoints } from '../sinks/postgres/checkpoints.ts';
import { insertDeadLetters, type DeadLetterRow } from '../sinks/postgres/dead-letters.ts';
import { writeOutbox } from '../sinks/postgres/outbox.ts';
import { deadLetterHeaders } from './dead-letter.ts';

/** What commits with a batch besides its data: source positions, and dead letters of sources that commit them. */
export interface Extras {
  readonly checkpoints: ReadonlyArray<Checkpoint>;
  /** Dead letters the outbox relay publishes (Kafka's DLQ topics). */
  readonly outbox: ReadonlyArray<{ publisher: string; message: OutboundMessage }>;
  /** Dead letters stored as rows (brokers without a DLQ). */
  readonly rows: ReadonlyArray<DeadLetterRow>;
}

/** Each dead letter where its source sends it: the original bytes, its headers plus the error headers. */
export function deadLettersFor(
  deliveries: ReadonlyArray<Delivery>,
  dead: ReadonlyArray<DeadLetter>,
  target: (d: Delivery) => DeadLetterTarget,
): Pick<Extras, 'outbox' | 'rows'> {
  const outbox: Array<{ publisher: string; message: OutboundMessage }> = [];
  const rows: DeadLetterRow[] = [];
  for (const { index, error } of dead) {
    const d = deliveries[index]!;
    const t = target(d);
    if (t.kind === 'table') {
      rows.push({ source: t.source, route: d.route, body: d.body, headers: deadLetterHeaders(d, error), errorClass: error.errorClass, errorCode: error.code, reason: error.message });
      continue;
    }
    const where = d.origin.partition === undefined ? (d.id ?? String(index)) : `${d.origin.partition}/${d.origin.offset ?? ''}`;
    outbox.push({
      publisher: t.publisher,
      message: {
        id: uuidV5(`dead-letter:${d.route}:${where}`),
        destination: t.destination,
        key: t.key,
        body: d.body.toString('base64'),
        bodyEncoding: 'base64',
        headers: { ...d.headers, ...deadLetterHeaders(d, error) },
        kind: 'dead-letter',
      },
    });
  }
  return { outbox, rows };
}

export function groupByPublisher(letters: ReadonlyArray<{ publisher: string; message: OutboundMessage }>): Map<string, OutboundMessage[]> {
  const out = new Map<string, OutboundMessage[]>();
  for (const { publisher, message } of letters) {
    let list = out.get(publisher);
    if (list === undefined) out.set(publisher, (list = []));
    list.push(message);
  }
  return out;
}

/**
 * Writes a batch's extras in its transaction: checkpoints first (a fenced worker fails before
 * writing anything else), then dead letters. True when it wrote outbox rows.
 */
export async function writeExtras(tx: PoolClient, extras: Extras): Promise<boolean> {
  await writeCheckpoints(tx, extras.checkpoints);
  for (const [publisher, messages] of groupByPublisher(extras.outbox)) await writeOutbox(tx, publisher, messages);
  await insertDeadLetters(tx, extras.rows);
  return extras.outbox.length > 0;
}
