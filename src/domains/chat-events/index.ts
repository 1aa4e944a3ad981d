import type { PoolClient } from 'pg';
import { emptyStats, type ApplyResult, type Decoded, type DomainHandler, type DomainPlugin } from '../types.ts';
import { decodeChatEvent, type ChatEvent } from './decode.ts';
import type { Entity } from './entities.ts';
import { dbClock, importedEvents, logImports, upsertItems, type ItemRow } from './store.ts';
import { chatFilter } from './subjects.ts';
import { TenantSchemas } from './tenants.ts';

export const DOMAIN = 'chat-events';

/**
 * The items of a batch per (tenant schema, entity), in rounds: round k holds the k-th item
 * of every id in arrival order, so one statement never touches a row twice and several
 * events of one row in a batch apply as if they had come one per batch. (Not sorted by
 * updated_at: an older event that arrives after a newer one must be ignored entirely, and
 * the status rule depends on what was applied before.)
 */
function rounds(items: ReadonlyArray<{ schema: string; entity: Entity; id: string; row: ItemRow }>): Map<string, ItemRow[][]> {
  const byId = new Map<string, typeof items[number][]>();
  for (const it of items) {
    const k = `${it.schema}\u0000${it.entity}\u0000${it.id}`;
    let list = byId.get(k);
    if (list === undefined) byId.set(k, (list = []));
    list.push(it);
  }
  const out = new Map<string, ItemRow[][]>();
  for (const list of byId.values()) {
    const group = `${list[0]!.schema}\u0000${list[0]!.entity}`;
    let rs = out.get(group);
    if (rs === undefined) out.set(group, (rs = []));
    list.forEach((it, i) => (rs[i] ??= []).push(it.row));
  }
  return out;
}

async function applyChatBatch(tx: PoolClient, batch: ReadonlyArray<Decoded<ChatEvent>>): Promise<ApplyResult> {
  const stats = emptyStats();
  // History events already imported are acknowledged without re-import.
  const done = new Map<string, Set<string>>();
  for (const schema of new Set(batch.filter((d) => d.value.mode === 'history').map((d) => d.value.schema))) {
    done.set(schema, await importedEvents(tx, schema, batch.filter((d) => d.value.schema === schema && d.value.mode === 'history').map((d) => d.value.eventId)));
  }
  const items: Array<{ schema: string; entity: Entity; id: string; row: ItemRow }> = [];
  const imports: Array<{ schema: string; eventId: string; entity: Entity; total: number; applied: number }> = [];
  for (const { value: e } of batch) {
    if (e.mode === 'history') {
      if (done.get(e.schema)?.has(e.eventId)) {
        stats.duplicates++;
        continue;
      }
      imports.push({ schema: e.schema, eventId: e.eventId, entity: e.entity, total: e.itemsTotal, applied: e.items.length });
      stats.readings.invalid += e.itemsTotal - e.items.length;
    }
    for (const it of e.items) items.push({ schema: e.schema, entity: e.entity, id: it.id, row: { data: it.data, eventId: e.eventId } });
  }
  // The imports start here, on the database's clock that also stamps their end.
  const startedAt = imports.length > 0 ? await dbClock(tx) : null;
  let changed = 0;
  for (const [group, rs] of rounds(items)) {
    const [schema, entity] = group.split('\u0000') as [string, Entity];
    for (const r of rs) changed += await upsertItems(tx, schema, entity, r);
  }
  if (startedAt !== null) {
    for (const schema of new Set(imports.map((i) => i.schema))) await logImports(tx, schema, startedAt, imports.filter((i) => i.schema === schema));
  }
  stats.readings.valid = items.length;
  // Items that changed nothing were older than the stored state, or redeliveries.
  stats.duplicates += items.length - changed;
  return { outbound: [], stats };
}

export const chatEvents: DomainPlugin = {
  name: DOMAIN,
  migrations: new URL('./sql/', import.meta.url),
  defaultSource: 'nats',
  routes: (config) => [chatFilter(config.chat.companyId)],
  outputs: () => [],
  // The stream holds every company's events; a restricted deployment only filters.
  capture: () => ['v1.>'],
  catchAll: false,
  create: ({ pool, log }): DomainHandler<ChatEvent> => {
    const tenants = new TenantSchemas(pool, log);
    return {
      name: DOMAIN,
      decode: (delivery) => decodeChatEvent(delivery.route, delivery.body),
      apply: (tx, messages) => applyChatBatch(tx, messages),
      prepare: async (messages) => tenants.ensure(new Set(messages.map((m) => m.value.schema))),
    };
  },
};
