/**
 * kafkajs's record decoder, replaced by one that computes the same record without a Long.
 *
 * kafkajs 2.2.4 (unmaintained, so this cannot go upstream) reads every record's timestamp
 * delta as a Long built byte by byte, parses the batch's first offset and timestamp from
 * strings into Longs again for every record, and adds Longs: in a 1M-reading drain that was
 * 0.75 GB of garbage (15 % of all the worker allocated) and 4 % of its CPU. Offsets and
 * timestamps below 2^53 are exact as numbers; anything larger, or a varlong longer than
 * seven bytes, goes through kafkajs's own Long arithmetic, so the result is always the one
 * kafkajs would give (`record-decoder.test.ts` decodes batches both ways).
 *
 * kafkajs loads its batch decoder, which binds the record decoder, at the first fetch:
 * `installRecordDecoder()` puts this one in the module cache before that.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

/** kafkajs's protocol decoder: the parts used here. */
interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): LongLike;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(reader: (d: KafkaDecoder) => T): T[];
}

interface BatchContext {
  readonly firstOffset: string;
  readonly firstTimestamp: string;
  readonly magicByte: number;
  readonly isControlBatch?: boolean;
  readonly timestampType: number;
  readonly maxTimestamp: string;
}

type LongLike = { add(x: unknown): LongLike; toString(): string };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: string | number): LongLike };
const HeaderDecoder = require('kafkajs/src/protocol/recordBatch/header/v0/decoder') as (d: KafkaDecoder) => { key: string; value: Buffer };
const TimestampTypes = require('kafkajs/src/protocol/timestampTypes') as { LOG_APPEND_TIME: number };

const RECORD_DECODER = 'kafkajs/src/protocol/recordBatch/record/v0/decoder';
const original = require(RECORD_DECODER) as (decoder: KafkaDecoder, ctx?: BatchContext) => unknown;

/**
 * A zigzag varlong as a number, or undefined (offset left unmoved) when it is longer than
 * seven bytes, i.e. possibly beyond 2^49 (then kafkajs reads it as a Long).
 */
function readSmallVarLong(d: KafkaDecoder): number | undefined {
  const buf = d.buffer;
  let at = d.offset;
  let raw = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const byte = buf[at++]!;
    raw += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      d.offset = at;
      return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
    }
    scale *= 128;
  }
  return undefined;
}

/** A batch's first offset or timestamp as a number (NaN beyond 2^53), parsed once per batch, not once per record. */
class BaseCache {
  #text = '';
  #value = Number.NaN;
  of(base: string): number {
    if (base !== this.#text) {
      const n = Number(base);
      this.#text = base;
      this.#value = Number.isSafeInteger(n) ? n : Number.NaN;
    }
    return this.#value;
  }
}
const offsets = new BaseCache();
const timestamps = new BaseCache();

/** `base + delta` as kafkajs prints it (a decimal string). */
function plus(cache: BaseCache, base: string, delta: number | LongLike): string {
  if (typeof delta === 'number') {
    const sum = cache.of(base) + delta;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return Long.fromValue(base).add(delta).toString();
}

/** One record, the object kafkajs's decoder returns (same fields, same values). */
export function decodeRecord(decoder: KafkaDecoder, batchContext: BatchContext = {} as BatchContext): unknown {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = decoder.readInt8();
  const timestampDelta = readSmallVarLong(decoder) ?? decoder.readVarLong();
  const timestamp = timestampType === TimestampTypes.LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : plus(timestamps, firstTimestamp, timestampDelta);
  const offset = plus(offsets, firstOffset, decoder.readVarInt());
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  const entries = decoder.readVarIntArray(HeaderDecoder);
  const headers: Record<string, unknown> = {};
  // A key sent twice becomes an array of its values, in order; defined, not assigned, like
  // kafkajs's spread (a `__proto__` header is a property, not the prototype).
  for (const { key: k, value: v } of entries) {
    const had = headers[k];
    Object.defineProperty(headers, k, {
      value: had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v], enumerable: true, writable: true, configurable: true,
    });
  }
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
}

/** kafkajs's own decoder, for the test that compares both. */
export const kafkajsDecodeRecord = original;

/**
 * Makes kafkajs use `decodeRecord`. Idempotent. Returns false when kafkajs had loaded its
 * batch decoder already (it then keeps its own record decoder: slower, equally correct).
 */
export function installRecordDecoder(): boolean {
  const path = require.resolve(RECORD_DECODER);
  const cached = require.cache[path];
  if (cached?.exports === decodeRecord) return true;
  if (require.cache[require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder')] !== undefined) return false;
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = decodeRecord;
  require.cache[path] = m;
  return true;
}
