import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { parseRfc3339, storableInstant, STORABLE_RANGE } from '../../processors/timestamps.ts';
import { sha256Hex, uuidV5 } from '../../lib/ids.ts';
import { energyMeterSchema } from './schema.ts';
import { checkReading, type CheckedReading, type ReadingRules } from './validate.ts';

export interface MeterMessage {
  readonly fingerprint: string;
  /** Deterministic UUIDv5 of the fingerprint: every instance agrees without a lookup. */
  readonly clientId: string;
  /** Epoch ms. */
  readonly receivedAt: number;
  readonly readings: CheckedReading[];
  /** readingIdOf(messageId, i) for each reading, derived once: the probe, the rows and the events share them. */
  readonly readingIds: string[];
}

const checkEnvelope = compileSchema(energyMeterSchema);

// A deployment sees a bounded set of meters again and again: remember their ids rather than
// hashing the fingerprint of every message. Forgotten wholesale when full (cheap, and rare).
const CLIENT_IDS_KEPT = 100_000;
const clientIds = new Map<string, string>();

export function clientIdOf(fingerprint: string): string {
  let id = clientIds.get(fingerprint);
  if (id === undefined) {
    if (clientIds.size >= CLIENT_IDS_KEPT) clientIds.clear();
    clientIds.set(fingerprint, (id = uuidV5(`meter-client:${fingerprint}`)));
  }
  return id;
}

export const readingIdOf = (messageId: string, index: number): string => uuidV5(`meter-reading:${messageId}:${index}`);

/** Bytes → message, or a structural error naming what is wrong (SPEC §5.1). */
export function decodeMeterMessage(body: Buffer, rules: ReadingRules): { messageId: string; value: MeterMessage } {
  const doc = parseJsonBody(body);
  const problem = checkEnvelope(doc);
  if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', problem);
  const msg = doc as {
    request_id?: string;
    client_fingerprint: string;
    received_at: string;
    payload: { PM: unknown[] };
  };
  const receivedAt = storableInstant(parseRfc3339(msg.received_at));
  if (receivedAt === null) {
    throw structural('INGESTD_ERR_SCHEMA', `/received_at: must be an RFC 3339 date-time ${STORABLE_RANGE}, got ${JSON.stringify(msg.received_at)}`);
  }
  const readings = msg.payload.PM.map((raw) => checkReading(raw, receivedAt, rules));
  const messageId = msg.request_id ?? `sha256:${sha256Hex(body)}`;
  const readingIds = readings.map((_, i) => readingIdOf(messageId, i));
  return {
    messageId,
    value: { fingerprint: msg.client_fingerprint, clientId: clientIdOf(msg.client_fingerprint), receivedAt, readings, readingIds },
  };
}
