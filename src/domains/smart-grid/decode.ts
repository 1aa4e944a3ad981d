/**
 * Bytes → smart-grid transaction. Every failure is structural (dead-lettered with the JSON
 * Pointer of the field): not UTF-8, not JSON, a missing field, a wrong type, a status other
 * than active/fault/offline, a negative consumption or peak load, a position off the globe,
 * a timestamp that is not a real instant.
 */
import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { parseInstant, STORABLE_RANGE } from '../../processors/timestamps.ts';
import { smartGridTransactionSchema, type MeterStatus } from './schema.ts';

export interface Transaction {
  readonly transactionId: string;
  readonly meterId: string;
  readonly region: string;
  readonly status: MeterStatus;
  readonly buildingType: string;
  readonly consumptionKwh: number;
  readonly latitude: number;
  readonly longitude: number;
  readonly peakLoad: number;
  /** Epoch ms, UTC. */
  readonly timestampMs: number;
}

interface RawTransaction {
  transaction_id: string;
  meter_id: string;
  region: string;
  status: MeterStatus;
  building_type: string;
  consumption_kwh: number;
  latitude: number;
  longitude: number;
  peak_load: number;
  timestamp: string | number;
}

const check = compileSchema(smartGridTransactionSchema);

export function decodeTransaction(body: Buffer): { messageId: string; value: Transaction } {
  const doc = parseJsonBody(body);
  const problem = check(doc);
  if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', problem);
  const t = doc as RawTransaction;
  const timestampMs = parseInstant(t.timestamp);
  if (timestampMs === null) {
    throw structural('INGESTD_ERR_SCHEMA', `/timestamp: must be an RFC 3339 date-time or epoch milliseconds ${STORABLE_RANGE}, got ${JSON.stringify(t.timestamp)}`);
  }
  return {
    messageId: t.transaction_id,
    value: {
      transactionId: t.transaction_id,
      meterId: t.meter_id,
      region: t.region,
      status: t.status,
      buildingType: t.building_type,
      consumptionKwh: t.consumption_kwh,
      latitude: t.latitude,
      longitude: t.longitude,
      peakLoad: t.peak_load,
      timestampMs,
    },
  };
}
