import type { IngestError } from './errors.ts';
import type { Delivery } from '../sources/types.ts';

/** Header names of a dead letter (SPEC §4), the same on every broker. */
export const DLQ_HEADERS = {
  errorClass: 'x-error-class',
  errorCode: 'x-error-code',
  reason: 'x-error-reason',
  source: 'x-original-source',
  routingKey: 'x-original-routing-key',
  partition: 'x-original-partition',
  offset: 'x-original-offset',
  attempts: 'x-attempts',
  firstFailedAt: 'x-first-failed-at',
  deadLetteredAt: 'x-dead-lettered-at',
} as const;

const MAX_REASON = 1024;

/** What a dead letter holds wherever it is kept: the original bytes, where they came from and why. */
export interface DeadLetterContent {
  /** The route a replay publishes it to (original topic, routing key, subject). */
  readonly route: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly errorClass: string;
  readonly errorCode: string;
  readonly reason: string;
}

/** The headers a dead letter carries, added to the original message's own headers. */
export function deadLetterHeaders(delivery: Delivery, error: IngestError, now = new Date()): Record<string, string> {
  const h: Record<string, string> = {
    [DLQ_HEADERS.errorClass]: error.errorClass,
    [DLQ_HEADERS.errorCode]: error.code,
    [DLQ_HEADERS.reason]: error.message.length > MAX_REASON ? `${error.message.slice(0, MAX_REASON)}…` : error.message,
    [DLQ_HEADERS.source]: delivery.origin.stream ?? delivery.route,
    [DLQ_HEADERS.attempts]: String(delivery.origin.attempts),
    [DLQ_HEADERS.firstFailedAt]: delivery.origin.firstFailedAt ?? now.toISOString(),
    [DLQ_HEADERS.deadLetteredAt]: now.toISOString(),
  };
  if (delivery.origin.stream !== undefined) h[DLQ_HEADERS.routingKey] = delivery.route;
  if (delivery.origin.partition !== undefined) h[DLQ_HEADERS.partition] = String(delivery.origin.partition);
  if (delivery.origin.offset !== undefined) h[DLQ_HEADERS.offset] = delivery.origin.offset;
  return h;
}
