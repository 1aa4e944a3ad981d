/**
 * Bytes → analytics records (SPEC §5.3). The route picks the registered sub-domain; every
 * failure is structural and dead-letters the original bytes with a reason naming the
 * sub-domain and the JSON path: a route no sub-domain is registered for, not UTF-8 or JSON,
 * a payload that fails the sub-domain's schema (a malformed tenant id included), or a time
 * that is not a real instant.
 */
import { uuidV5 } from '../../lib/ids.ts';
import { parseInstant, STORABLE_RANGE } from '../../processors/timestamps.ts';
import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { recordKey, type AnalyticsRecord } from './records.ts';
import type { SubDomain } from './subdomain.ts';

export interface AnalyticsMessage {
  readonly subDomain: string;
  /** Each with its id: UUIDv5 of its identity, so a re-sent record is the same row. */
  readonly records: ReadonlyArray<{ readonly id: string; readonly record: AnalyticsRecord }>;
}

export interface AnalyticsDecoder {
  decode(route: string, body: Uint8Array): { messageId: string; value: AnalyticsMessage };
}

/** A decoder for the given sub-domains, looked up by their topic (with the deployment's prefix). */
export function createAnalyticsDecoder(subDomains: ReadonlyArray<SubDomain>, topicPrefix = ''): AnalyticsDecoder {
  const byTopic = new Map(subDomains.map((s) => [topicPrefix + s.topic, { sub: s, check: compileSchema(s.schema) }]));
  const registered = subDomains.map((s) => `${topicPrefix}${s.topic} (${s.name})`).join(', ');
  return {
    decode(route, body) {
      const entry = byTopic.get(route);
      if (entry === undefined) throw structural('INGESTD_ERR_UNKNOWN_ROUTE', `no analytics handler is registered for "${route}" (registered: ${registered})`);
      const { sub, check } = entry;
      const doc = parseJsonBody(body);
      const problem = check(doc);
      if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', `${sub.name}: ${problem}`);
      const raw = (doc as { time: string | number }).time;
      const time = parseInstant(raw);
      if (time === null) {
        throw structural('INGESTD_ERR_SCHEMA', `${sub.name}: /time: must be an RFC 3339 date-time or integer epoch milliseconds ${STORABLE_RANGE}, got ${JSON.stringify(raw)}`);
      }
      const records = sub.map(doc, time).map((record) => ({ id: uuidV5(`analytics:${recordKey(sub.name, record)}`), record }));
      return { messageId: records.map((r) => r.id).join('+'), value: { subDomain: sub.name, records } };
    },
  };
}
