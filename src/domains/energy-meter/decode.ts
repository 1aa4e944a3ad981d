import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { parseRfc3339 } from '../../processors/timestamps.ts';
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
}

const checkEnvelope = compileSchema(energyMeterSchema);

export const clientIdOf = (fingerprint: string): string => uuidV5(`meter-client:${fingerprint}`);
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
  const receivedAt = parseRfc3339(msg.received_at);
  if (receivedAt === null) {
    throw structural('INGESTD_ERR_SCHEMA', `/received_at: must be an RFC 3339 date-time, got ${JSON.stringify(msg.received_at)}`);
  }
  const readings = msg.payload.PM.map((raw) => checkReading(raw, receivedAt, rules));
  return {
    messageId: msg.request_id ?? `sha256:${sha256Hex(body)}`,
    value: { fingerprint: msg.client_fingerprint, clientId: clientIdOf(msg.client_fingerprint), receivedAt, readings },
  };
}
