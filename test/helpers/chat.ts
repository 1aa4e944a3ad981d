import { isDeepStrictEqual } from 'node:util';
import { ENTITY_DEFS, type Entity } from '../../src/domains/chat-events/entities.ts';
import { queryRows } from './db.ts';

const RANK = ['pending', 'sent', 'delivered', 'read'];

/** The status rule of SPEC §5.4, written independently of the SQL function it checks. */
export function nextStatus(old: string | null, next: string | null): string | null {
  if (next === null) return old;
  if (old === null) return next;
  if (next === 'failed') return old === 'pending' || old === 'sent' ? next : old;
  if (old === 'failed') return next === 'delivered' || next === 'read' ? next : old;
  return RANK.indexOf(next) >= RANK.indexOf(old) ? next : old;
}

interface Row { fields: Record<string, unknown>; updatedAt: number; eventId: string; payload: unknown }

/** Expected table contents after applying the events in any order (last write wins). */
export function expectedChatState(bodies: ReadonlyArray<{ subject: string; body: Buffer }>): Map<string, Row> {
  const state = new Map<string, Row>();
  for (const { subject, body } of bodies) {
    let e: { event_id: string; data: unknown };
    try { e = JSON.parse(body.toString()); } catch { continue; }
    const t = subject.split('.');
    const history = t[1] === 'history';
    const entity = (history ? t[2] : t[1]) as Entity;
    const company = t[3]!.toLowerCase();
    const def = ENTITY_DEFS[entity];
    const items = (history ? (Array.isArray(e.data) ? e.data : []) : [e.data]) as Array<Record<string, unknown>>;
    for (const d of items) {
      if (d === null || typeof d !== 'object' || typeof d[def.key] !== 'string' || typeof d['updated_at'] !== 'string') continue;
      const key = `tenant_${company}/${entity}/${d[def.key] as string}`;
      const at = Date.parse(d['updated_at'] as string);
      const cur = state.get(key);
      if (cur !== undefined && (at < cur.updatedAt || (at === cur.updatedAt && Buffer.compare(Buffer.from(e.event_id), Buffer.from(cur.eventId)) <= 0))) continue;
      const fields = { ...(cur?.fields ?? {}) };
      for (const c of Object.keys(def.columns)) {
        if (!(c in d)) continue;
        fields[c] = entity === 'messages' && c === 'status' ? nextStatus((fields[c] as string | null) ?? null, d[c] as string | null) : d[c];
      }
      state.set(key, { fields, updatedAt: at, eventId: e.event_id, payload: d });
    }
  }
  return state;
}

/** Rows that differ from the expectation, as readable strings (empty when equal). */
export async function chatStateMismatches(url: string, expected: Map<string, Row>, schemas: string[]): Promise<string[]> {
  const got = new Map<string, { updated_at: Date; last_event_id: string; status?: string | null; payload: unknown }>();
  for (const schema of schemas) {
    for (const entity of Object.keys(ENTITY_DEFS) as Entity[]) {
      const key = ENTITY_DEFS[entity].key;
      const rows = await queryRows<Record<string, unknown>>(url, `SELECT * FROM "${schema}"."${entity}"`).catch(() => []);
      for (const r of rows) got.set(`${schema}/${entity}/${r[key] as string}`, r as never);
    }
  }
  const out: string[] = [];
  for (const [k, want] of expected) {
    const row = got.get(k) as Record<string, unknown> | undefined;
    if (row === undefined) { out.push(`${k}: missing`); continue; }
    if ((row['updated_at'] as Date).getTime() !== want.updatedAt || row['last_event_id'] !== want.eventId) out.push(`${k}: version ${String(row['last_event_id'])} instead of ${want.eventId}`);
    for (const [c, v] of Object.entries(want.fields)) {
      const stored = row[c] instanceof Date ? (row[c] as Date).getTime() : row[c];
      const wanted = typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : v;
      if (stored !== wanted) out.push(`${k}.${c}: ${JSON.stringify(stored)} instead of ${JSON.stringify(wanted)}`);
    }
    if (!isDeepStrictEqual(row['payload'], want.payload)) out.push(`${k}: payload differs`);
  }
  for (const k of got.keys()) if (!expected.has(k)) out.push(`${k}: unexpected row`);
  return out;
}
