import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IngestError } from '../../runtime/errors.ts';
import { decodeTransaction } from './decode.ts';

const valid = {
  transaction_id: 'tx-1', meter_id: 'SM-00001', region: 'north', status: 'active', building_type: 'residential',
  consumption_kwh: 0.42, latitude: 52.6, longitude: 4.9, peak_load: 1.2, timestamp: '2026-11-23T10:00:00.250Z',
};
const decode = (doc: unknown): ReturnType<typeof decodeTransaction> => decodeTransaction(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)));
const refuses = (doc: unknown, reason: RegExp): void => {
  assert.throws(() => decode(doc), (err: unknown) => err instanceof IngestError && err.errorClass === 'structural' && reason.test(err.message));
};

describe('smart-grid decode', () => {
  it('maps a transaction; the message id is the transaction id; epoch ms accepted', () => {
    const { messageId, value } = decode(valid);
    assert.equal(messageId, 'tx-1');
    assert.deepEqual(value, {
      transactionId: 'tx-1', meterId: 'SM-00001', region: 'north', status: 'active', buildingType: 'residential',
      consumptionKwh: 0.42, latitude: 52.6, longitude: 4.9, peakLoad: 1.2, timestampMs: Date.parse('2026-11-23T10:00:00.250Z'),
    });
    assert.equal(decode({ ...valid, timestamp: 1_763_892_000_000 }).value.timestampMs, 1_763_892_000_000);
  });

  it('refuses each bad field with its JSON Pointer', () => {
    refuses({ ...valid, meter_id: undefined }, /\/: must have required property 'meter_id'/);
    refuses({ ...valid, status: 'broken' }, /\/status: must be equal to one of the allowed values/);
    refuses({ ...valid, consumption_kwh: '0.4' }, /\/consumption_kwh: must be number/);
    refuses({ ...valid, consumption_kwh: -0.1 }, /\/consumption_kwh: must be >= 0/);
    refuses({ ...valid, peak_load: -1 }, /\/peak_load: must be >= 0/);
    refuses({ ...valid, latitude: 91 }, /\/latitude: must be <= 90/);
    refuses({ ...valid, longitude: -180.5 }, /\/longitude: must be >= -180/);
    refuses({ ...valid, region: 'north\nsouth' }, /\/region: must match pattern/);
    refuses({ ...valid, meter_id: '   ' }, /\/meter_id: must match pattern/);
    refuses({ ...valid, timestamp: '2026-02-30T00:00:00Z' }, /\/timestamp: must be an RFC 3339/);
    refuses('{"transaction_id": ', /not JSON/);
    refuses([valid], /\/: must be object/);
  });
  it('refuses a consumption large enough to overflow the per-second sums', () => {
    refuses({ ...valid, consumption_kwh: 1e308 }, /^\/consumption_kwh: must be <= 1e\+100$/);
    assert.equal(decode({ ...valid, consumption_kwh: 1e100 }).value.consumptionKwh, 1e100);
  });
});
