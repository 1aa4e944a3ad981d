import { createHash } from 'node:crypto';
import { DLQ_HEADERS, type DeadLetterContent } from '../runtime/dead-letter.ts';

/** One dead letter, whatever broker holds it. */
export interface DeadLetterRecord extends DeadLetterContent {
  /** Stable reference for the CLI: `<kind>:<where>:<position or digest>`. */
  readonly ref: string;
  readonly kind: string;
  /** The queue, topic, stream or table holding it. */
  readonly dlq: string;
  readonly attempts: number;
  readonly firstFailedAt: string | undefined;
  /** When it was dead-lettered (epoch ms), where the broker says. */
  readonly deadLetteredAt: number | undefined;
  readonly tenant: string | undefined;
}

/** The dead letters of one broker: listed as a snapshot, then replayed or removed. */
export interface DeadLetterQueue {
  readonly kind: string;
  /** Where they are: the queue, the topics, the stream, the table. */
  readonly name: string;
  list(): Promise<DeadLetterRecord[]>;
  /** Publishes each (body replaced where given) to its original route, confirmed by the broker. */
  publish(records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<void>;
  /** Removes them from the dead letters (for good). Returns how many were removed. */
  remove(records: ReadonlyArray<DeadLetterRecord>): Promise<number>;
  close(): Promise<void>;
}

/** The headers a replayed message carries: attempts and first failure kept, the last error dropped. */
export function replayHeaders(h: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === DLQ_HEADERS.errorClass || k === DLQ_HEADERS.errorCode || k === DLQ_HEADERS.reason || k.startsWith('x-original-') || k.startsWith('x-death') || k.startsWith('Nats-')) continue;
    out[k] = v;
  }
  return out;
}

// Analytics tenant ids and chat company ids both fit; anything else in a dead letter's body
// (it was dead-lettered for being malformed, after all) is not taken for a tenant.
const TENANT = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;

/** The tenant of a dead letter, when it can be told: tenant_id / company_id in the body, else a chat subject's company. */
export function tenantOf(body: Buffer, route: string): string | undefined {
  const valid = (v: unknown): string | undefined => (typeof v === 'string' && TENANT.test(v) ? v.toLowerCase() : undefined);
  try {
    const doc = JSON.parse(body.toString()) as Record<string, unknown> | null;
    for (const k of ['tenant_id', 'company_id']) if (typeof doc?.[k] === 'string') return valid(doc[k]);
  } catch {
    // not JSON: fall back to the route
  }
  const t = route.split('.');
  return t[0] === 'v1' && t.length === 4 ? valid(t[3]) : undefined;
}

/** A record from headers and body, the fields every broker shares. */
export function recordOf(fields: { ref: string; kind: string; dlq: string; route: string; body: Buffer; headers: Record<string, string>; deadLetteredAt: number | undefined }): DeadLetterRecord {
  const h = fields.headers;
  const attempts = Number(h[DLQ_HEADERS.attempts]);
  const stamped = h[DLQ_HEADERS.deadLetteredAt] === undefined ? NaN : Date.parse(h[DLQ_HEADERS.deadLetteredAt]);
  return {
    ...fields,
    deadLetteredAt: Number.isFinite(stamped) ? stamped : fields.deadLetteredAt,
    errorClass: h[DLQ_HEADERS.errorClass] ?? 'unknown',
    errorCode: h[DLQ_HEADERS.errorCode] ?? '',
    reason: h[DLQ_HEADERS.reason] ?? '',
    attempts: Number.isFinite(attempts) ? attempts : 0,
    firstFailedAt: h[DLQ_HEADERS.firstFailedAt],
    tenant: tenantOf(fields.body, fields.route),
  };
}

/** A short digest for brokers without positions (RabbitMQ): stable across listings. */
export const digestRef = (...parts: Array<string | Buffer>): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 16);
};

export interface DeadLetterFilter {
  readonly errorClass?: string;
  readonly reason?: RegExp;
  readonly since?: number;
  readonly until?: number;
  readonly tenant?: string;
  readonly route?: string;
}

export function matches(r: DeadLetterRecord, f: DeadLetterFilter): boolean {
  if (f.errorClass !== undefined && r.errorClass !== f.errorClass) return false;
  if (f.reason !== undefined && !f.reason.test(r.reason)) return false;
  if (f.tenant !== undefined && r.tenant !== f.tenant.toLowerCase()) return false;
  if (f.route !== undefined && r.route !== f.route) return false;
  const at = r.deadLetteredAt ?? (r.firstFailedAt === undefined ? undefined : Date.parse(r.firstFailedAt));
  if (f.since !== undefined && (at === undefined || at < f.since)) return false;
  if (f.until !== undefined && (at === undefined || at >= f.until)) return false;
  return true;
}

/** Re-injects dead letters into their original routes, then removes them (a crash in between replays one twice; the database dedupes). */
export async function replayDeadLetters(q: DeadLetterQueue, records: ReadonlyArray<DeadLetterRecord>, bodies?: ReadonlyMap<string, Buffer>): Promise<number> {
  if (records.length === 0) return 0;
  await q.publish(records, bodies);
  return q.remove(records);
}
