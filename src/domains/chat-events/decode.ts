/**
 * Bytes + subject → chat event (SPEC §5.4). Structural failures (dead-lettered): a subject
 * that is not a chat route, a company id that is malformed or differs from the subject's,
 * a `type` that does not match the subject, an envelope or realtime `data` that fails its
 * JSON Schema (the reason gives the JSON Pointer, e.g. `/data: must have required property
 * 'message_id'`), a timestamp that is not RFC 3339. History items are checked one by one:
 * an invalid item is skipped and counted, the rest applies.
 */
import { parseRfc3339, storableInstant, STORABLE_RANGE } from '../../processors/timestamps.ts';
import { structural } from '../../runtime/errors.ts';
import { parseJsonBody } from '../../runtime/json-body.ts';
import { compileSchema } from '../../runtime/schema.ts';
import { ENTITIES, ENTITY_DEFS, itemSchema, timestampFields, type Entity } from './entities.ts';
import { COMPANY_ID, parseChatSubject, tenantSchema } from './subjects.ts';

export interface ChatItem {
  readonly data: Readonly<Record<string, unknown>>;
  readonly id: string;
  /** Epoch ms of `updated_at`. */
  readonly updatedAt: number;
}

export interface ChatEvent {
  readonly eventId: string;
  /** Lowercased. */
  readonly companyId: string;
  readonly schema: string;
  readonly entity: Entity;
  readonly mode: 'upsert' | 'history';
  readonly items: ReadonlyArray<ChatItem>;
  /** History: items in the batch, valid or not. */
  readonly itemsTotal: number;
}

const ENVELOPE = {
  event_id: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[^\\u0000]+$' },
  type: { type: 'string' },
  company_id: { type: 'string' },
  occurred_at: { type: 'string' },
};
const envelope = (data: object): object => ({ type: 'object', required: ['event_id', 'type', 'company_id', 'occurred_at', 'data'], properties: { ...ENVELOPE, data } });

/** The JSON Schema of one event type (`messages.upsert`, `history.chats`…), as docs/schemas/chat-events/ holds it. */
export function chatEventSchema(mode: 'upsert' | 'history', entity: Entity): object {
  return {
    $id: `ingestd/chat-events/${mode === 'upsert' ? `${entity}.upsert` : `history.${entity}`}`,
    ...(envelope(mode === 'upsert' ? itemSchema(entity) : { type: 'array', maxItems: 100_000, items: itemSchema(entity) }) as Record<string, unknown>),
  };
}

const checks = new Map<string, (v: unknown) => string | null>();
const itemChecks = new Map<Entity, (v: unknown) => string | null>();
for (const entity of ENTITIES) {
  checks.set(`upsert/${entity}`, compileSchema(envelope(itemSchema(entity))));
  // History items are checked one by one (an invalid item is skipped, not the batch).
  checks.set(`history/${entity}`, compileSchema(envelope({ type: 'array', maxItems: 100_000, items: { type: 'object' } })));
  itemChecks.set(entity, compileSchema(itemSchema(entity)));
}

// The stored timestamps reach PostgreSQL as written (a timestamptz cast of the payload), and
// its input refuses a written year 0000 and offsets past ±15:59, which RFC 3339 allows: either
// would make the database reject the whole batch.
const PG_REFUSED = /^0000|[+-](?:1[6-9]|2\d):\d\d$/;
const storable = (v: string): boolean => storableInstant(parseRfc3339(v)) !== null && !PG_REFUSED.test(v);

/** The item's problem (schema, then timestamps), or null. `at` prefixes the JSON Pointer. */
function itemProblem(entity: Entity, item: unknown, at: string): string | null {
  const problem = itemChecks.get(entity)!(item);
  if (problem !== null) return `${at}${problem.startsWith('/:') ? problem.slice(1) : problem}`;
  for (const f of timestampFields(entity)) {
    const v = (item as Record<string, unknown>)[f];
    if (typeof v === 'string' && !storable(v)) {
      return `${at}/${f}: must be an RFC 3339 date-time ${STORABLE_RANGE} with an offset within ±15:59, got ${JSON.stringify(v)}`;
    }
  }
  return null;
}

interface Envelope {
  event_id: string;
  type: string;
  company_id: string;
  occurred_at: string;
  data: unknown;
}

export function decodeChatEvent(subject: string, body: Uint8Array): { messageId: string; value: ChatEvent } {
  const route = parseChatSubject(subject);
  if (route === null) throw structural('INGESTD_ERR_UNKNOWN_ROUTE', `not a chat subject: "${subject}" (expected v1.<entity>.upsert.<company_id> or v1.history.<entity>.<company_id>; entities: ${ENTITIES.join(', ')})`);
  if (!COMPANY_ID.test(route.companyId)) throw structural('INGESTD_ERR_SCHEMA', `invalid company id in the subject: "${route.companyId}" (must match ${COMPANY_ID.source})`);
  const doc = parseJsonBody(body);
  const problem = checks.get(`${route.mode}/${route.entity}`)!(doc);
  if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', problem);
  const e = doc as Envelope;
  if (!COMPANY_ID.test(e.company_id)) throw structural('INGESTD_ERR_SCHEMA', `/company_id: must match ${COMPANY_ID.source}, got ${JSON.stringify(e.company_id)}`);
  if (e.company_id.toLowerCase() !== route.companyId.toLowerCase()) {
    throw structural('INGESTD_ERR_SCHEMA', `/company_id: "${e.company_id}" does not match the subject's company "${route.companyId}"`);
  }
  const expectedType = route.mode === 'upsert' ? `${route.entity}.upsert` : `history.${route.entity}`;
  if (e.type !== expectedType) throw structural('INGESTD_ERR_SCHEMA', `/type: must be "${expectedType}" on subject ${subject}, got ${JSON.stringify(e.type)}`);
  if (parseRfc3339(e.occurred_at) === null) throw structural('INGESTD_ERR_SCHEMA', `/occurred_at: must be an RFC 3339 date-time, got ${JSON.stringify(e.occurred_at)}`);

  const key = (item: Record<string, unknown>): string => item[ENTITY_DEFS[route.entity].key] as string;
  let items: ChatItem[];
  let itemsTotal = 1;
  if (route.mode === 'upsert') {
    const p = itemProblem(route.entity, e.data, '/data');
    if (p !== null) throw structural('INGESTD_ERR_SCHEMA', p);
    const data = e.data as Record<string, unknown>;
    items = [{ data, id: key(data), updatedAt: parseRfc3339(data['updated_at'] as string)! }];
  } else {
    const all = e.data as unknown[];
    itemsTotal = all.length;
    items = all
      .filter((item, i) => itemProblem(route.entity, item, `/data/${i}`) === null)
      .map((item) => {
        const data = item as Record<string, unknown>;
        return { data, id: key(data), updatedAt: parseRfc3339(data['updated_at'] as string)! };
      });
  }
  const companyId = route.companyId.toLowerCase();
  return {
    messageId: `${companyId}:${e.event_id}`,
    value: { eventId: e.event_id, companyId, schema: tenantSchema(companyId), entity: route.entity, mode: route.mode, items, itemsTotal },
  };
}
