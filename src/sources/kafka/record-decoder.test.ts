import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { decodeRecord, kafkajsDecodeRecord } from './record-decoder.ts';

const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => { readVarIntBytes(): Buffer };
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => { buffer: Buffer };
const Long = require('kafkajs/src/utils/long') as { fromString(s: string): unknown };
const LOG_APPEND_TIME = (require('kafkajs/src/protocol/timestampTypes') as { LOG_APPEND_TIME: number }).LOG_APPEND_TIME;

/** A record as kafkajs encodes it, decoded by `decode` (the record's body, as the batch decoder hands it over). */
function roundTrip(decode: typeof decodeRecord, record: object, ctx: object): unknown {
  const framed = new Decoder(encodeRecord(record).buffer);
  return decode(new Decoder(framed.readVarIntBytes()) as never, ctx as never);
}

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const nearSafe = fc.bigInt({ min: 2n ** 53n - 5000n, max: 2n ** 53n + 5000n });

test('records decode as kafkajs decodes them: offsets and timestamps of any size, headers, null keys', () => {
  const record = fc.record({
    offsetDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    timestampDelta: fc.oneof(fc.integer({ min: -1000, max: 1_000_000 }), int64.map((b) => Long.fromString(b.toString()))),
    key: fc.option(fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)), { nil: null }),
    value: fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), { nil: null }),
    headers: fc.dictionary(fc.constantFrom('a', 'x-attempts', '__proto__', 'constructor'),
      fc.oneof(fc.string().map((s) => Buffer.from(s)), fc.array(fc.string().map((s) => Buffer.from(s)), { minLength: 1, maxLength: 3 }))),
  });
  const ctx = fc.record({
    firstOffset: fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 12n }), nearSafe, int64).map(String),
    firstTimestamp: fc.oneof(fc.constant(-1n), fc.bigInt({ min: 0n, max: 4_102_444_800_000n }), nearSafe, int64).map(String),
    maxTimestamp: fc.bigInt({ min: 0n, max: 4_102_444_800_000n }).map(String),
    magicByte: fc.constant(2),
    isControlBatch: fc.boolean(),
    timestampType: fc.constantFrom(0, LOG_APPEND_TIME),
  });
  fc.assert(fc.property(record, ctx, (r, c) => {
    assert.deepEqual(roundTrip(decodeRecord, r, c), roundTrip(kafkajsDecodeRecord as typeof decodeRecord, r, c));
  }), { numRuns: 3000 });
});
